//! Nodes whose arguments read `width(x)`: their op cannot be parsed until the shape of `x`
//! is known, so the builder keeps their arguments aside and this pass reads them once the
//! whole graph is expanded. It walks the expanded nodes in dependency order (inputs and
//! width targets first), infers shapes as far as it needs them with the ops' own rules,
//! evaluates each waiting node's expressions and parses its op.
//!
//! The pass runs only when some node waits, so graphs without `width(x)` pay nothing. Its
//! shapes are thrown away: `check` infers them again on the finished graph, and reports
//! the shape errors; here a failing shape only matters where a width reads it.

use super::NodeKind;
use super::arith::{self, ArithError};
use super::build::{BuildError, FlatNode};
use crate::ast::{Ident, Value};
use crate::ops::{ArgError, ArgReader, ResolvedArg};
use crate::shape::{Dim, Shape};
use std::collections::{HashMap, VecDeque};

/// What the pass knows of a node's output shape.
#[derive(Clone)]
enum Known {
    Shape(Shape),
    /// The shape check of node `origin` (this one or one before it) fails.
    Failed {
        origin: usize,
        expected: String,
        found: String,
    },
    /// Not worked out: an input is missing, broken or waits forever (all reported).
    Unknown,
}

/// Resolves every deferred node whose widths can be read; reports those that cannot.
pub(super) fn resolve(nodes: &mut [FlatNode], aliases: &HashMap<String, String>, errors: &mut Vec<BuildError>) {
    if nodes.iter().all(|n| n.deferred.is_none()) {
        return;
    }
    // Node indices by name, for input edges and the nodes widths read.
    let (inputs, widths, width_targets) = {
        let index: HashMap<&str, usize> = nodes.iter().enumerate().map(|(i, n)| (n.name.as_str(), i)).collect();
        let target = |name: &str| -> Option<usize> {
            let mut name = name;
            // An instance name stands for its block's result (bounded: aliases cannot loop far).
            for _ in 0..=aliases.len() {
                match aliases.get(name) {
                    Some(next) => name = next,
                    None => break,
                }
            }
            index.get(name).copied()
        };
        let inputs: Vec<Vec<Option<usize>>> =
            nodes.iter().map(|n| n.inputs.iter().map(|(name, _)| target(name)).collect()).collect();
        let names: Vec<Vec<&Ident>> =
            nodes.iter().map(|n| n.deferred.iter().flat_map(|d| width_names(&d.args)).collect()).collect();
        let widths: Vec<Vec<usize>> =
            names.iter().map(|ws| ws.iter().filter_map(|w| target(&w.name)).collect()).collect();
        let width_targets: HashMap<String, usize> =
            names.iter().flatten().filter_map(|w| Some((w.name.clone(), target(&w.name)?))).collect();
        (inputs, widths, width_targets)
    };
    let order = dependency_order(&inputs, &widths);
    let mut known = vec![Known::Unknown; nodes.len()];
    // Nodes whose failing shape check a width read, with the first read's place: reported
    // once each, at the node itself, instead of an error at every read.
    let mut failed_reads: Vec<(usize, crate::source::Span)> = Vec::new();
    for i in order {
        if let Some(deferred) = nodes[i].deferred.take() {
            let reads = std::cell::RefCell::new(Vec::new());
            let width_of = |name: &Ident| {
                let target = width_targets.get(&name.name).copied();
                if let Some(Known::Failed { origin, .. }) = target.map(|t| &known[t]) {
                    reads.borrow_mut().push((*origin, name.span));
                    return Ok(None);
                }
                width(&known, target, name)
            };
            match parse(&nodes[i].name, deferred.spec, &deferred.args, nodes[i].span, &width_of) {
                Ok(Some(op)) => nodes[i].kind = NodeKind::Op(op),
                Ok(None) => {}
                Err(mut found) => errors.append(&mut found),
            }
            for (origin, span) in reads.into_inner() {
                if !failed_reads.iter().any(|(o, _)| *o == origin) {
                    failed_reads.push((origin, span));
                }
            }
            if matches!(nodes[i].kind, NodeKind::Input { .. }) {
                // Still a placeholder: its error is reported; keep it waiting, shapeless.
                nodes[i].deferred = Some(deferred);
                continue;
            }
        }
        known[i] = infer(i, &nodes[i], &inputs[i], &known);
    }
    for (origin, reader) in failed_reads {
        if let (Known::Failed { expected, found, .. }, NodeKind::Op(op)) = (&known[origin], &nodes[origin].kind) {
            errors.push(BuildError::WidthSource {
                node: nodes[origin].name.clone(),
                op: op.name(),
                expected: expected.clone(),
                found: found.clone(),
                span: nodes[origin].span,
                reader,
            });
        }
    }
}

/// After a build with no other error: a node that still waits reads the width of a node
/// that depends on it (only a `width` can close such a loop; edges would be a cycle).
pub(super) fn report_unresolved(nodes: &[FlatNode], errors: &mut Vec<BuildError>) {
    for n in nodes {
        let Some(deferred) = &n.deferred else { continue };
        for w in width_names(&deferred.args) {
            let reason = format!("the shape of `{}` depends on node `{}` itself", w.name, n.name);
            let error = ArithError::WidthUnknown { of: w.name.clone(), reason, span: w.span };
            errors.push(BuildError::Arith { node: Some(n.name.clone()), error });
        }
    }
}

/// The nodes that `width(...)` reads in these arguments.
fn width_names(args: &[ResolvedArg]) -> Vec<&Ident> {
    fn walk<'v>(v: &'v Value, out: &mut Vec<&'v Ident>) {
        match &v.kind {
            crate::ast::ValueKind::Width(name) => out.push(name),
            crate::ast::ValueKind::Arith(a) => a.operands().for_each(|v| walk(v, out)),
            crate::ast::ValueKind::List(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    args.iter().for_each(|a| walk(&a.value, &mut out));
    out
}

/// Kahn's algorithm over input edges and width reads; nodes on a loop are left out.
fn dependency_order(inputs: &[Vec<Option<usize>>], widths: &[Vec<usize>]) -> Vec<usize> {
    let n = inputs.len();
    let mut pending = vec![0usize; n];
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); n];
    for i in 0..n {
        for &source in inputs[i].iter().flatten().chain(&widths[i]) {
            pending[i] += 1;
            users[source].push(i);
        }
    }
    let mut ready: VecDeque<usize> = (0..n).filter(|&i| pending[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop_front() {
        order.push(i);
        for &user in &users[i] {
            pending[user] -= 1;
            if pending[user] == 0 {
                ready.push_back(user);
            }
        }
    }
    order
}

/// The width of node `target` (the size of its last axis), or why it cannot be read.
fn width(known: &[Known], target: Option<usize>, name: &Ident) -> Result<Option<i64>, ArithError> {
    let unknown = |reason: String| ArithError::WidthUnknown { of: name.name.clone(), reason, span: name.span };
    let Some(i) = target else { return Ok(None) }; // a broken node, already reported
    match &known[i] {
        Known::Shape(shape) => match shape.dims().last() {
            Some(Dim::Fixed(n)) if shape.rank() > 1 => Ok(Some(*n)),
            Some(Dim::Sym(s)) => Err(unknown(format!("its last axis is `{s}` in {shape}, not a fixed size"))),
            _ => Err(unknown(format!("it is {shape}: one number per clip, no feature axis"))),
        },
        // Read by the caller, which reports the failing node itself.
        Known::Failed { .. } => Ok(None),
        Known::Unknown => Ok(None),
    }
}

/// Evaluates the arguments and parses the op; `Ok(None)` when a width is unknown for a
/// reason already reported.
fn parse(
    node: &str,
    spec: &'static crate::ops::OpSpec,
    args: &[ResolvedArg],
    node_span: crate::source::Span,
    width_of: &arith::WidthOf,
) -> Result<Option<crate::ops::Op>, Vec<BuildError>> {
    let mut values = Vec::with_capacity(args.len());
    let mut errors = Vec::new();
    for a in args {
        match arith::evaluate(&a.value, width_of) {
            Ok(Some(value)) => values.push(ResolvedArg { name: a.name.clone(), value }),
            Ok(None) => {}
            Err(error) => errors.push(BuildError::Arith { node: Some(node.to_string()), error }),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if values.len() < args.len() {
        return Ok(None);
    }
    ArgReader::new(spec, &values, node_span).parse().map(Some).map_err(|found| {
        let reported = found.into_iter().filter(|e| *e != ArgError::Unresolved);
        reported.map(|error| BuildError::Arg { node: node.to_string(), error }).collect()
    })
}

/// Node `index`'s shape from its inputs' (inputs are declared; ops infer).
fn infer(index: usize, node: &FlatNode, inputs: &[Option<usize>], known: &[Known]) -> Known {
    let op = match &node.kind {
        NodeKind::Input { shape, .. } => return Known::Shape(shape.clone()),
        NodeKind::Op(op) => op,
    };
    let mut shapes = Vec::with_capacity(inputs.len());
    for input in inputs {
        match input.map(|i| &known[i]) {
            Some(Known::Shape(s)) => shapes.push(s.clone()),
            Some(failed @ Known::Failed { .. }) => return failed.clone(),
            _ => return Known::Unknown,
        }
    }
    if !op.spec().arity.accepts(shapes.len()) {
        return Known::Unknown; // an arity error is reported
    }
    match op.infer(&shapes) {
        Ok(shape) => Known::Shape(shape),
        Err(e) => Known::Failed { origin: index, expected: e.expected.to_string(), found: e.found.to_string() },
    }
}
