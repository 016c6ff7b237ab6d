//! Checks on a built graph: shape inference with a symbolic batch (and sequence length
//! where ops allow it), parameter and multiply-add counts, output kinds, unused nodes.
//!
//! Results are side tables indexed by [`NodeId::index`]; the graph itself is not changed.
//! Shape inference goes on past a failing node (its dependants are skipped, not
//! reported), so independent mistakes surface in one run.

mod bounded;
mod factor;
mod fingerprint;
pub mod memory;
pub mod steps;
mod summary;
mod towers;

pub use factor::{FactorPart, FactorSite, factor_sites};
pub use fingerprint::fingerprint;
pub use steps::{StepStreams, step_streams};
pub use summary::{group as render_count, render_table};
pub use towers::Tower;

use crate::ast::OutputKind;
use crate::diag::Diagnostic;
use crate::ir::{Graph, NodeId, NodeKind};
use crate::ops::ShapeError;
use crate::shape::{Dim, Shape};
use crate::source::Span;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CheckError {
    #[error("node `{node}` ({op}): {}", describe_shape_error(error, inputs))]
    Shape {
        node: String,
        op: &'static str,
        inputs: Vec<String>,
        error: ShapeError,
        span: Span,
        input_span: Option<Span>,
    },
    #[error("node `{node}` is never used by an output")]
    Unused { node: String, span: Span },
    #[error("output `{output}` ({}) must be {expected}, found `{node}` with shape {found}", kind.keyword())]
    OutputShape { output: String, kind: OutputKind, node: String, expected: String, found: Shape, span: Span },
    /// A count past 64 bits: the sizes are far beyond any device, and a wrapped count
    /// would pass every later check.
    #[error("node `{node}` ({op}): its {what} does not fit in a 64-bit integer")]
    Overflow { node: String, op: &'static str, what: &'static str, span: Span },
    /// The model cannot fit in the memory of the device it would run on.
    #[error("{}", .0.message())]
    Memory(memory::TooLarge),
    #[error("logit output `{output}` reads `{node}` ({op}), which is bounded to {range}")]
    BoundedLogit { output: String, node: String, op: &'static str, range: &'static str, span: Span, node_span: Span },
}

fn describe_shape_error(e: &ShapeError, inputs: &[String]) -> String {
    let which = match e.input {
        Some(i) if inputs.len() > 1 => format!("input {} `{}`", i + 1, inputs.get(i).map_or("?", |s| s.as_str())),
        Some(i) => format!("input `{}`", inputs.get(i).map_or("?", |s| s.as_str())),
        None => "the inputs".to_string(),
    };
    let axis = e.axis.map(|a| format!(" (axis {a} differs)")).unwrap_or_default();
    format!("{which} has shape {}, expected {}{axis}", e.found, e.expected)
}

impl CheckError {
    pub fn to_diagnostic(&self) -> Diagnostic {
        let msg = self.to_string();
        match self {
            CheckError::Shape { error, span, input_span, .. } => {
                let mut d = Diagnostic::error("shape::mismatch", msg);
                if let Some(s) = input_span {
                    d = d.with_label(*s, format!("this input is {}", error.found));
                }
                d = d.with_label(*span, "in this node");
                match &error.hint {
                    Some(h) => d.with_help(h.clone()),
                    None => d,
                }
            }
            CheckError::Unused { span, .. } => Diagnostic::warning("graph::unused", msg)
                .with_label(*span, "defined here")
                .with_help("remove it, or feed it into a node that an output reads"),
            CheckError::OutputShape { span, .. } => {
                Diagnostic::error("output::shape", msg).with_label(*span, "this output")
            }
            CheckError::Overflow { span, .. } => Diagnostic::error("size::overflow", msg)
                .with_label(*span, "in this node")
                .with_help("its sizes are far beyond what any device can hold; use smaller sizes"),
            CheckError::Memory(too_large) => too_large.to_diagnostic(msg),
            CheckError::BoundedLogit { span, node_span, node, op, range, .. } => {
                let why = match *range {
                    "[0, 1]" => "BCE applies its own sigmoid, so the probability is squashed twice",
                    _ => {
                        "BCE takes sigmoid(logit): a score in [-1, 1] only reaches probabilities 0.27 to 0.73, \
                          so even a perfect model keeps a loss above 0.31 and its gradients fade"
                    }
                };
                Diagnostic::warning("output::bounded-logit", msg)
                    .with_label(*node_span, format!("{op}: bounded"))
                    .with_label(*span, "read as a logit (trained with BCE)")
                    .with_help(format!(
                        "{why}; let a layer scale it (`head = linear({node}, out: 1)` learns a scale and a \
                         bias), or output the two towers' vectors as `embeddings` (ranked by cosine, trained \
                         with InfoNCE and a temperature)"
                    ))
            }
        }
    }
}

/// What checking learned about each node.
#[derive(Debug, Clone)]
pub struct Checked {
    /// Output shape per node; `None` where inference failed or was skipped.
    pub shapes: Vec<Option<Shape>>,
    pub params: Vec<i64>,
    pub macs: Vec<Option<i64>>,
    /// Which modality tower each node belongs to.
    pub towers: Vec<Tower>,
    pub errors: Vec<CheckError>,
    pub warnings: Vec<CheckError>,
}

impl Checked {
    pub fn shape(&self, id: NodeId) -> Option<&Shape> {
        self.shapes[id.index()].as_ref()
    }

    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn tower(&self, id: NodeId) -> Tower {
        self.towers[id.index()]
    }

    /// The parameters of every node, saturating at `i64::MAX` (only reachable in a model
    /// that failed the checks: each node's count is checked).
    pub fn total_params(&self) -> i64 {
        self.params.iter().fold(0i64, |sum, &p| sum.saturating_add(p))
    }

    /// Total multiply-adds per sample, `None` when a symbolic size leaves one open;
    /// saturating as [`Checked::total_params`].
    pub fn total_macs(&self) -> Option<i64> {
        self.macs.iter().try_fold(0i64, |sum, &m| Some(sum.saturating_add(m?)))
    }

    /// Errors then warnings; one mistake repeated in several block instances is one
    /// diagnostic listing them ([`crate::diag::merge_repeats`]).
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        crate::diag::merge_repeats(self.errors.iter().chain(&self.warnings).map(CheckError::to_diagnostic).collect())
    }
}

/// Runs every check on a graph.
pub fn check(graph: &Graph) -> Checked {
    let n = graph.len();
    let mut c = Checked {
        shapes: vec![None; n],
        params: vec![0; n],
        macs: vec![Some(0); n],
        towers: towers::towers(graph),
        errors: vec![],
        warnings: vec![],
    };
    for &id in graph.topo() {
        infer_node(graph, id, &mut c);
    }
    check_shares(graph, &mut c);
    check_outputs(graph, &mut c);
    bounded::check_bounded_logits(graph, &mut c);
    find_unused(graph, &mut c);
    c
}

fn infer_node(graph: &Graph, id: NodeId, c: &mut Checked) {
    let node = graph.node(id);
    let op = match &node.kind {
        NodeKind::Input { shape, .. } => {
            c.shapes[id.index()] = Some(shape.clone());
            return;
        }
        NodeKind::Op(op) => op,
    };
    let inputs = graph.inputs_of(id);
    let Some(in_shapes) = inputs.iter().map(|&i| c.shapes[i.index()].clone()).collect::<Option<Vec<Shape>>>() else {
        return; // an input already failed: its error is reported, this one would be noise
    };
    let unbatched =
        if op.takes_unbatched() { None } else { in_shapes.iter().position(|s| !crate::ops::arith::is_batched(s)) };
    let inferred = match unbatched {
        Some(i) => Err(ShapeError::input(i, "a batched tensor [B, ...]", &in_shapes[i]).hint(format!(
            "`{}` is a learned tensor (or arithmetic on learned tensors only) with no batch axis; `{}` reads axis 0 \
             as the batch, so only tensor arithmetic (`+ - * /`, `neg`), `matmul` and `slice` take it: combine it with \
             a batched tensor first",
            graph.node(inputs[i]).name,
            op.name()
        ))),
        None => op.infer(&in_shapes),
    };
    match inferred {
        Ok(out) => {
            // A node sharing another's weights adds no parameters of its own.
            let params = if node.shares.is_some() { 0 } else { op.param_count(&in_shapes) };
            let macs = op.macs(&in_shapes, &out);
            // Counts saturate at i64::MAX (ops::product): that value means "overflowed".
            let overflowed = [
                (params, "parameter count"),
                (macs.unwrap_or(0), "multiply-add count"),
                (out.per_sample_elems().unwrap_or(0), "output size"),
            ]
            .into_iter()
            .find(|&(n, _)| n == i64::MAX || n < 0);
            if let Some((_, what)) = overflowed {
                // Its dependants are skipped, as after a shape error.
                c.errors.push(CheckError::Overflow { node: node.name.clone(), op: op.name(), what, span: node.span });
                return;
            }
            c.params[id.index()] = params;
            c.macs[id.index()] = macs;
            c.shapes[id.index()] = Some(out);
        }
        Err(error) => {
            let input_span = error.input.and_then(|i| node.input_spans.get(i).copied());
            // The parts of one `a, b = chunk(x)` fail alike: the first part's error stands
            // for the statement.
            let parts = matches!(op.spec().results, crate::ops::Results::Parts { .. });
            let reported = |e: &CheckError| {
                matches!(e, CheckError::Shape { op: o, input_span: s, error: was, .. }
                    if *o == op.name() && *s == input_span && *was == error)
            };
            if parts && c.errors.iter().any(reported) {
                return;
            }
            c.errors.push(CheckError::Shape {
                node: node.name.clone(),
                op: op.name(),
                inputs: inputs.iter().map(|&i| graph.node(i).name.clone()).collect(),
                input_span,
                error,
                span: node.span,
            })
        }
    }
}

fn check_shares(graph: &Graph, c: &mut Checked) {
    for &id in graph.topo() {
        let node = graph.node(id);
        let (Some(owner), NodeKind::Op(op)) = (node.shares, &node.kind) else { continue };
        let inputs = graph.inputs_of(id);
        let Some(ins) = inputs.iter().map(|&i| c.shapes[i.index()].clone()).collect::<Option<Vec<Shape>>>() else {
            continue;
        };
        if let Some(error) = share_mismatch(graph, owner, &ins, c) {
            c.errors.push(CheckError::Shape {
                node: node.name.clone(),
                op: op.name(),
                inputs: inputs.iter().map(|&i| graph.node(i).name.clone()).collect(),
                input_span: error.input.and_then(|i| node.input_spans.get(i).copied()),
                error,
                span: node.span,
            });
        }
    }
}

/// Shared weights have the sizes the owner's inputs gave them: every fixed size of the
/// sharing node's inputs must be the owner's (symbolic sizes such as time may differ).
fn share_mismatch(graph: &Graph, owner: NodeId, ins: &[Shape], c: &Checked) -> Option<ShapeError> {
    let theirs: Vec<Shape> =
        graph.inputs_of(owner).iter().map(|&i| c.shapes[i.index()].clone()).collect::<Option<_>>()?;
    for (i, (mine, owners)) in ins.iter().zip(&theirs).enumerate() {
        let fits = mine.rank() == owners.rank()
            && mine.dims().iter().zip(owners.dims()).all(|(a, b)| match (a.fixed(), b.fixed()) {
                (Some(x), Some(y)) => x == y,
                _ => true,
            });
        if !fits {
            let owner = &graph.node(owner).name;
            return Some(
                ShapeError::input(i, format!("{owners}, the input shape of `{owner}` whose weights it shares"), mine)
                    .hint("shared weights need inputs of the same sizes"),
            );
        }
    }
    None
}

fn check_outputs(graph: &Graph, c: &mut Checked) {
    for out in &graph.outputs {
        let shapes: Vec<(NodeId, Shape)> =
            out.from.iter().filter_map(|&id| c.shape(id).map(|s| (id, s.clone()))).collect();
        if shapes.len() != out.from.len() {
            continue; // a producer failed; already reported
        }
        let mismatch = |expected: &str, id: NodeId, found: &Shape| CheckError::OutputShape {
            output: out.name.clone(),
            kind: out.kind,
            node: graph.node(id).name.clone(),
            expected: expected.to_string(),
            found: found.clone(),
            span: out.span,
        };
        match out.kind {
            OutputKind::Logit | OutputKind::Distance => {
                let (id, s) = &shapes[0];
                let is_score = matches!(s.dims(), [Dim::Batch] | [Dim::Batch, Dim::Fixed(1)]);
                if !is_score {
                    c.errors.push(mismatch("one score per pair, [B] or [B, 1]", *id, s));
                }
            }
            OutputKind::Embeddings => {
                for (id, s) in &shapes {
                    if !matches!(s.dims(), [Dim::Batch, Dim::Fixed(_)]) {
                        c.errors.push(mismatch("a vector per clip, [B, D]", *id, s));
                    }
                }
                if let [(_, a), (id, b)] = shapes.as_slice()
                    && a.rank() == 2
                    && b.rank() == 2
                    && a != b
                {
                    c.errors.push(mismatch(&format!("the same width as the video embedding {a}"), *id, b));
                }
            }
        }
    }
}

/// Nodes from which no output can be reached.
fn find_unused(graph: &Graph, c: &mut Checked) {
    let mut used = vec![false; graph.len()];
    let mut stack: Vec<NodeId> = graph.outputs.iter().flat_map(|o| o.from.iter().copied()).collect();
    while let Some(id) = stack.pop() {
        if std::mem::replace(&mut used[id.index()], true) {
            continue;
        }
        stack.extend(graph.inputs_of(id));
    }
    for &id in graph.topo() {
        if !used[id.index()] {
            let node = graph.node(id);
            c.warnings.push(CheckError::Unused { node: node.name.clone(), span: node.span });
        }
    }
}
