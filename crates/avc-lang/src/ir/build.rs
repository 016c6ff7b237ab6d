//! AST -> IR: constants substituted, blocks expanded (each instance under its own name,
//! with its own weights), names resolved, op arguments type-checked, cycles rejected.
//! Independent errors are all collected; the graph is returned only when there are none.

use super::arith::{self, ArithError};
use super::deferred;
use super::share::{self, Instance, InstanceShare};
use super::{Graph, Node, NodeId, NodeKind, Output};
use crate::ast::{self, BlockDecl, DimExpr, Ident, Module, NodeDecl, OutputKind, ParamType, Value, ValueKind};
use crate::diag::{Diagnostic, did_you_mean, one_of};
use crate::ops::{self, ArgError, ArgReader, Arity, ParamKind, ParamSpec, ResolvedArg};
use crate::shape::{Dim, Shape};
use crate::source::Span;
use petgraph::graph::DiGraph;
use std::collections::HashMap;

/// How deep blocks may call blocks before we call it runaway recursion.
const MAX_BLOCK_DEPTH: usize = 32;
/// Most nodes a model may have once its blocks are expanded: nested blocks that each use
/// the one below twice double at every level, and would otherwise expand until memory
/// runs out. docs/language.md, "Limits".
pub const MAX_NODES: usize = 500_000;
/// Largest size accepted for one declared dimension.
const MAX_DIM: i64 = 1 << 24;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BuildError {
    #[error("`{name}` is defined twice")]
    Duplicate { name: String, span: Span, first: Span },
    #[error("unknown op or block `{}`", name.name)]
    UnknownCallee { name: Ident, suggestion: Option<String> },
    #[error("node `{node}` reads `{}`, which is not defined", name.name)]
    UnknownRef { node: String, name: Ident, suggestion: Option<String>, known: Vec<String> },
    #[error("node `{node}`: {error}")]
    Arg { node: String, error: ArgError },
    #[error("node `{node}`: `{op}` takes {expected}, found {found}")]
    Arity { node: String, op: String, expected: Arity, found: usize, span: Span },
    #[error("the graph has a cycle: {}", nodes.join(" -> "))]
    Cycle { nodes: Vec<String>, span: Span },
    #[error("constants read each other in a cycle: {}", chain.join(" -> "))]
    ConstantCycle { chain: Vec<String>, span: Span },
    #[error("block `{}` calls itself: {}", chain[0], chain.join(" -> "))]
    Recursion { chain: Vec<String>, span: Span },
    /// Blocks nested past [`MAX_BLOCK_DEPTH`] without repeating: a limit, not a recursion.
    #[error(
        "blocks nest more than {} levels deep: {} -> {}",
        MAX_BLOCK_DEPTH, chain[0], chain.last().map_or("", String::as_str)
    )]
    TooDeep { chain: Vec<String>, span: Span },
    #[error("`{name}` is not a block parameter or constant")]
    UnknownValueRef {
        name: String,
        span: Span,
        known: Vec<String>,
        /// The parameter it was given to, when that parameter takes one of a few words (a
        /// choice written without quotes in the DSL).
        choice_of: Option<(String, &'static [&'static str])>,
    },
    #[error("block `{block}` parameter `{param}` must be {expected}, found {found}")]
    BlockParamType { block: String, param: String, expected: &'static str, found: String, span: Span },
    #[error("block `{block}` has no parameter `{}`", param.name)]
    BlockParamUnknown { block: String, param: Ident, allowed: Vec<String> },
    #[error("block `{block}` needs the parameter `{param}`")]
    BlockParamMissing { block: String, param: String, span: Span },
    #[error("block `{block}`'s output `{}` is not one of its nodes or inputs", output.name)]
    BlockOutput { block: String, output: Ident },
    #[error("input `{input}`: dimension {found} is not a valid size")]
    BadDim { input: String, found: String, span: Span },
    #[error("the model declares no inputs")]
    NoInputs { span: Span },
    #[error("the model declares no outputs")]
    NoOutputs { span: Span },
    #[error("node `{node}` shares the weights of `{}`, which is not defined", target.name)]
    UnknownShare { node: String, target: Ident, suggestion: Option<String> },
    #[error("node `{node}` ({op}) cannot share the weights of `{target}` ({found})")]
    ShareMismatch { node: String, op: String, target: String, found: String, span: Span, target_span: Span },
    /// `a` shares `b`, which shares `a` (perhaps through others): no node owns the weights.
    #[error("`share:` goes round in a cycle: {}", chain.join(" -> "))]
    ShareCycle { chain: Vec<String>, span: Span },
    #[error("`share` must name a node, found {found}")]
    ShareValue { found: String, span: Span },
    #[error("expanding the blocks gives more than {} nodes", crate::check::render_count(*limit as i64))]
    TooManyNodes { limit: usize, span: Span },
    #[error("instance `{node}` of block `{block}` cannot share the weights of `{target}`: it is {found}")]
    ShareNotInstance { node: String, block: String, target: String, found: String, span: Span },
    #[error(
        "instance `{node}` cannot share the weights of `{target}`: their node `{inner}` differs ({mine} vs {theirs})"
    )]
    ShareInstanceMismatch {
        node: String,
        target: String,
        inner: String,
        mine: String,
        theirs: String,
        span: Span,
        target_span: Span,
    },
    #[error("output `{output}` of kind `{}` takes {expected} node(s), found {found}", kind.keyword())]
    OutputArity { output: String, kind: OutputKind, expected: usize, found: usize, span: Span },
    /// A value expression that cannot be evaluated (a remainder, an overflow, a width that
    /// cannot be read), in a node's arguments or a constant (`node: None`).
    #[error("{}{error}", node.as_ref().map(|n| format!("node `{n}`: ")).unwrap_or_default())]
    Arith { node: Option<String>, error: ArithError },
}

impl BuildError {
    pub fn to_diagnostic(&self) -> Diagnostic {
        let msg = self.to_string();
        match self {
            BuildError::UnknownShare { target, suggestion, .. } => {
                let d = Diagnostic::error("name::unknown-share", msg).with_label(target.span, "not a node here");
                match suggestion {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None => d.with_help("`share` names a node of the same scope, defined anywhere in it"),
                }
            }
            BuildError::ShareMismatch { span, target_span, .. } => Diagnostic::error("share::mismatch", msg)
                .with_label(*span, "shared here")
                .with_label(*target_span, "weights owned here")
                .with_help("a shared node must run the same op with the same parameters; only its inputs differ"),
            BuildError::ShareCycle { span, .. } => Diagnostic::error("share::cycle", msg)
                .with_label(*span, "closes the cycle")
                .with_help("one node of the cycle must own the weights: remove its `share:`"),
            BuildError::ShareValue { span, .. } => Diagnostic::error("share::value", msg)
                .with_label(*span, "not a node name")
                .with_help("write the name of a node, e.g. `share: vfc`"),
            BuildError::ShareNotInstance { span, block, .. } => Diagnostic::error("share::instance", msg)
                .with_label(*span, "not an instance of this block")
                .with_help(format!(
                    "`share:` on a use of block `{block}` names another use of `{block}`; \
                     on an op node it names a node, possibly inside an instance (`v.proj`)"
                )),
            BuildError::ShareInstanceMismatch { span, target_span, .. } => Diagnostic::error("share::mismatch", msg)
                .with_label(*span, "shared here")
                .with_label(*target_span, "weights owned here")
                .with_help("the two uses need the same block arguments, so that every layer inside has the same sizes"),
            BuildError::Duplicate { span, first, .. } => Diagnostic::error("name::duplicate", msg)
                .with_label(*span, "defined again here")
                .with_label(*first, "first defined here")
                .with_help("names must be unique across inputs, nodes, blocks and outputs"),
            BuildError::UnknownCallee { name, suggestion } => {
                let d = Diagnostic::error("name::unknown-op", msg).with_label(name.span, "not an op or block");
                match suggestion {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None => d.with_help(format!("ops are {} (`avc ops` documents them)", ops::names().join(", "))),
                }
            }
            BuildError::UnknownRef { name, suggestion, known, .. } => {
                let d = Diagnostic::error("name::unknown-ref", msg).with_label(name.span, "not defined");
                match suggestion {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None => d.with_help(format!("defined names here: {}", known.join(", "))),
                }
            }
            BuildError::Arg { error, .. } => arg_diagnostic(error, msg),
            BuildError::Arity { span, .. } => Diagnostic::error("op::arity", msg).with_label(*span, "here"),
            BuildError::Cycle { span, .. } => Diagnostic::error("graph::cycle", msg)
                .with_label(*span, "this node depends on itself")
                .with_help("a model is a DAG: every node may only read nodes that do not read it back"),
            BuildError::ConstantCycle { span, .. } => Diagnostic::error("name::constant-cycle", msg)
                .with_label(*span, "closes the cycle")
                .with_help("a constant's value must come down to numbers: define one of them without the others"),
            BuildError::Recursion { span, .. } => Diagnostic::error("block::recursion", msg)
                .with_label(*span, "recursive use")
                .with_help("blocks are expanded at compile time, so they cannot call themselves"),
            BuildError::TooDeep { span, chain } => Diagnostic::error("block::depth", msg)
                .with_label(*span, format!("level {}", chain.len()))
                .with_help(format!(
                    "a block may use blocks {MAX_BLOCK_DEPTH} levels deep at most (the whole chain: {}); \
                     fold some levels into one block",
                    chain.join(" -> ")
                )),
            BuildError::UnknownValueRef { name, span, known, choice_of } => {
                let d = Diagnostic::error("name::unknown-value", msg).with_label(*span, "not defined");
                if let Some((param, choices)) = choice_of {
                    let takes = format!("`{param}` takes {}, written in quotes", one_of(choices));
                    let word = choices.iter().copied().find(|c| c == name).or_else(|| did_you_mean(name, choices.iter().copied()));
                    match word {
                        Some(word) => d.with_help(format!("{takes}: `{param}: \"{word}\"`")),
                        None => d.with_help(format!("{takes} (or a constant defined with `let`)")),
                    }
                } else if known.is_empty() {
                    d.with_help("define it with `constants:` (YAML) or `let` (DSL), or as a block parameter")
                } else {
                    d.with_help(format!("known here: {}", known.join(", ")))
                }
            }
            BuildError::BlockParamType { span, .. } => {
                Diagnostic::error("block::param-type", msg).with_label(*span, "wrong type")
            }
            BuildError::BlockParamUnknown { param, allowed, .. } => Diagnostic::error("block::unknown-param", msg)
                .with_label(param.span, "unknown parameter")
                .with_help(format!(
                    "the block's parameters are {}",
                    one_of(&allowed.iter().map(String::as_str).collect::<Vec<_>>())
                )),
            BuildError::BlockParamMissing { span, .. } => {
                Diagnostic::error("block::missing-param", msg).with_label(*span, "in this use")
            }
            BuildError::BlockOutput { output, .. } => {
                Diagnostic::error("block::output", msg).with_label(output.span, "not defined in the block")
            }
            BuildError::BadDim { span, .. } => Diagnostic::error("input::dim", msg)
                .with_label(*span, "here")
                .with_help(format!("a dimension is a whole number from 1 to {MAX_DIM}, or a symbol such as `T`")),
            BuildError::NoInputs { span } => Diagnostic::error("model::no-inputs", msg)
                .with_label(*span, "here")
                .with_help("declare them: `inputs: {video: [120, 1024]}` in YAML, `input video: [120, 1024]` in the DSL"),
            BuildError::NoOutputs { span } => Diagnostic::error("model::no-outputs", msg)
                .with_label(*span, "here")
                .with_help("declare one: `outputs: [{name: match, kind: logit, from: head}]` in YAML, `output match: logit(head)` in the DSL"),
            BuildError::TooManyNodes { span, .. } => Diagnostic::error("model::too-large", msg)
                .with_label(*span, "the limit is passed while expanding this")
                .with_help(format!(
                    "avc builds at most {} nodes (docs/language.md, \"Limits\"); a block that uses another \
                     block twice doubles the nodes at every level of nesting",
                    crate::check::render_count(MAX_NODES as i64)
                )),
            BuildError::Arith { error, .. } => error.to_diagnostic(msg),
            BuildError::OutputArity { span, .. } => Diagnostic::error("output::arity", msg)
                .with_label(*span, "here")
                .with_help("`logit` and `distance` read one node; `embeddings` reads two (video, audio)"),
        }
    }
}

fn arg_diagnostic(error: &ArgError, msg: String) -> Diagnostic {
    match error {
        ArgError::Unknown { param, allowed, .. } => {
            let d = Diagnostic::error("op::unknown-param", msg).with_label(param.span, "unknown parameter");
            let allowed_text = if allowed.is_empty() {
                "this op takes no parameters".to_string()
            } else {
                format!("allowed: {}", one_of(allowed))
            };
            match did_you_mean(&param.name, allowed.iter().copied()) {
                Some(s) => d.with_help(format!("did you mean `{s}`? ({allowed_text})")),
                None => d.with_help(allowed_text),
            }
        }
        ArgError::Missing { span, param, kind, .. } => Diagnostic::error("op::missing-param", msg)
            .with_label(*span, "in this node")
            .with_help(format!("add `{param}: <{kind}>` to the node (`avc ops` documents every parameter)")),
        ArgError::Type { span, .. } => Diagnostic::error("op::param-type", msg).with_label(*span, "wrong type"),
        ArgError::Range { span, .. } => Diagnostic::error("op::param-range", msg).with_label(*span, "out of range"),
        ArgError::Unresolved => Diagnostic::error("name::unknown-value", msg),
        ArgError::Duplicate { param, first } => Diagnostic::error("op::duplicate-param", msg)
            .with_label(param.span, "given again")
            .with_label(*first, "first given here"),
    }
}

/// Finds a node by name, following block-instance aliases.
type NameLookup<'a> = dyn Fn(&str, &HashMap<String, String>) -> Option<NodeId> + 'a;

/// A node after expansion, before it enters the graph.
pub(super) struct FlatNode {
    pub name: String,
    /// For a node whose arguments read a width, a placeholder until `deferred` is resolved.
    pub kind: NodeKind,
    /// The node named by `share:`, resolved in the node's scope, and the span of the value.
    pub shares: Option<(Ident, String)>,
    /// Resolved names of the inputs, with the spans they were written at.
    pub inputs: Vec<(String, Span)>,
    pub span: Span,
    instance: Vec<String>,
    /// Arguments that read `width(x)`: parsed once the shapes are known (`ir::deferred`).
    pub deferred: Option<Deferred>,
}

/// An op node whose arguments wait for widths.
pub(super) struct Deferred {
    pub spec: &'static ops::OpSpec,
    pub args: Vec<ResolvedArg>,
}

/// The kind a deferred node holds until its arguments are read. It never reaches a
/// returned graph: a node still deferred at the end comes with a reported error.
pub(super) fn placeholder_kind() -> NodeKind {
    NodeKind::Input { stream: String::new(), shape: Shape::new(Vec::new()) }
}

/// The value that stands for one whose mistake is already reported: an unresolved
/// reference, which the argument reader passes over silently.
fn reported(span: Span) -> Value {
    Value { kind: ValueKind::Ref(String::new()), span }
}

/// The scope a node declaration is expanded in: the top level or one block instance.
struct Scope<'a> {
    /// Prefix for names defined here (`""` at the top level, `v1.` in instance `v1`).
    prefix: String,
    /// Block inputs: local name -> the outer name it is bound to.
    bound_inputs: HashMap<String, String>,
    /// Values of block parameters and constants visible here.
    values: HashMap<String, Value>,
    /// Names defined in this scope (local, unprefixed).
    locals: Locals,
    instance: Vec<String>,
    /// The chain of blocks being expanded, for recursion errors.
    chain: Vec<&'a str>,
}

/// The names defined in one scope, in declaration order (for messages), with a set for
/// lookups: resolving every reference stays linear in the size of the model.
struct Locals {
    names: Vec<String>,
    set: std::collections::HashSet<String>,
}

impl FromIterator<String> for Locals {
    fn from_iter<I: IntoIterator<Item = String>>(iter: I) -> Self {
        let names: Vec<String> = iter.into_iter().collect();
        Locals { set: names.iter().cloned().collect(), names }
    }
}

impl Locals {
    fn contains(&self, name: &str) -> bool {
        self.set.contains(name)
    }

    fn iter(&self) -> std::slice::Iter<'_, String> {
        self.names.iter()
    }
}

struct Builder<'a> {
    module: &'a Module,
    blocks: HashMap<&'a str, &'a BlockDecl>,
    nodes: Vec<FlatNode>,
    /// Block instance name -> the name of the node holding its result.
    aliases: HashMap<String, String>,
    /// The constants, their values resolved (expressions folded).
    constants: HashMap<String, Value>,
    /// Every block instance that expanded, by name.
    instances: HashMap<String, Instance>,
    /// `share:` on block uses, turned into node shares once every instance exists.
    instance_shares: Vec<InstanceShare>,
    /// Nodes that were declared but failed to build: reading them is not a new error.
    broken: std::collections::HashSet<String>,
    errors: Vec<BuildError>,
    /// The top-level declaration being expanded (where a size limit is reported).
    top_decl: Span,
}

/// Builds the IR, or every error found on the way.
pub fn build(module: &Module) -> Result<Graph, Vec<BuildError>> {
    let mut b = Builder {
        module,
        blocks: HashMap::new(),
        nodes: Vec::new(),
        aliases: HashMap::new(),
        constants: HashMap::new(),
        instances: HashMap::new(),
        instance_shares: Vec::new(),
        broken: Default::default(),
        errors: Vec::new(),
        top_decl: Span::empty(),
    };
    let constants = b.collect_constants();
    b.constants = constants.clone();
    b.collect_blocks();
    b.add_inputs(&constants);
    let top = Scope {
        prefix: String::new(),
        bound_inputs: HashMap::new(),
        values: constants,
        locals: module
            .inputs
            .iter()
            .map(|i| i.name.name.clone())
            .chain(module.nodes.iter().map(|n| n.name.name.clone()))
            .collect(),
        instance: Vec::new(),
        chain: Vec::new(),
    };
    b.check_unique_top_level();
    if let Some(span) = b.too_many_nodes() {
        b.errors.push(BuildError::TooManyNodes { limit: MAX_NODES, span });
        return Err(b.errors);
    }
    for decl in &module.nodes {
        b.expand(decl, &top);
    }
    if b.errors.iter().any(|e| matches!(e, BuildError::TooManyNodes { .. })) {
        // Nothing after the limit was expanded: resolving names would only add noise.
        return Err(b.errors);
    }
    b.finish()
}

impl<'a> Builder<'a> {
    /// Counts the nodes the expansion will make, before making any (a block that uses
    /// another twice doubles the count at each level): the top-level declaration at which
    /// the count passes [`MAX_NODES`], if it does.
    fn too_many_nodes(&self) -> Option<Span> {
        let mut memo: HashMap<&str, usize> = HashMap::new();
        let mut total = self.module.inputs.len();
        for decl in &self.module.nodes {
            total = total.saturating_add(self.expanded_size(decl, 0, &mut memo));
            if total > MAX_NODES {
                return Some(decl.callee.span);
            }
        }
        None
    }

    /// The nodes one declaration expands into (saturating; recursion past the depth limit
    /// counts one, as it is reported and not expanded).
    fn expanded_size(&self, decl: &'a NodeDecl, depth: usize, memo: &mut HashMap<&'a str, usize>) -> usize {
        let Some(&block) = self.blocks.get(decl.callee.name.as_str()) else {
            return 1;
        };
        if depth >= MAX_BLOCK_DEPTH {
            return 1;
        }
        if let Some(&n) = memo.get(block.name.name.as_str()) {
            return n;
        }
        let n = block
            .nodes
            .iter()
            .fold(0usize, |acc, inner| acc.saturating_add(self.expanded_size(inner, depth + 1, memo)));
        memo.insert(&block.name.name, n);
        n
    }

    /// Evaluates the constants, each after those it reads (module `constants`); one in a
    /// cycle, or reading one, is reported once and stands for an error already reported.
    fn collect_constants(&mut self) -> HashMap<String, Value> {
        let mut first_span: HashMap<&str, Span> = HashMap::new();
        let mut unique = Vec::new();
        for c in &self.module.constants {
            if let Some(first) = first_span.get(c.name.name.as_str()) {
                self.errors.push(BuildError::Duplicate { name: c.name.name.clone(), span: c.name.span, first: *first });
                continue;
            }
            first_span.insert(&c.name.name, c.name.span);
            unique.push(c);
        }
        let (order, cycles) = super::constants::evaluation_order(&unique);
        let mut values: HashMap<String, Value> =
            unique.iter().map(|c| (c.name.name.clone(), reported(c.value.span))).collect();
        for cycle in cycles {
            self.errors.push(BuildError::ConstantCycle { chain: cycle.chain, span: cycle.span });
        }
        for i in order {
            let c = unique[i];
            let resolved = self.resolve_value(&c.value, &values, None);
            values.insert(c.name.name.clone(), resolved);
        }
        values
    }

    fn collect_blocks(&mut self) {
        for block in &self.module.blocks {
            if let Some(first) = self.blocks.get(block.name.name.as_str()) {
                self.errors.push(BuildError::Duplicate {
                    name: block.name.name.clone(),
                    span: block.name.span,
                    first: first.name.span,
                });
                continue;
            }
            let locals: Vec<&str> = block
                .inputs
                .iter()
                .map(|i| i.name.as_str())
                .chain(block.nodes.iter().map(|n| n.name.name.as_str()))
                .collect();
            if !locals.contains(&block.output.name.as_str()) {
                self.errors
                    .push(BuildError::BlockOutput { block: block.name.name.clone(), output: block.output.clone() });
            }
            self.blocks.insert(&block.name.name, block);
        }
    }

    fn add_inputs(&mut self, constants: &HashMap<String, Value>) {
        if self.module.inputs.is_empty() {
            self.errors.push(BuildError::NoInputs { span: Span::new(0, 0) });
        }
        for input in &self.module.inputs {
            let mut dims = vec![Dim::Batch];
            for d in &input.shape {
                dims.push(self.dim(input, d, constants));
            }
            let stream = input.stream.as_ref().unwrap_or(&input.name).name.clone();
            self.nodes.push(FlatNode {
                deferred: None,
                shares: None,
                name: input.name.name.clone(),
                kind: NodeKind::Input { stream, shape: Shape::new(dims) },
                inputs: Vec::new(),
                span: input.name.span,
                instance: Vec::new(),
            });
        }
    }

    fn dim(&mut self, input: &ast::InputDecl, d: &DimExpr, constants: &HashMap<String, Value>) -> Dim {
        let bad = |found: String, span| BuildError::BadDim { input: input.name.name.clone(), found, span };
        match d {
            DimExpr::Fixed(n, span) if (1..=MAX_DIM).contains(n) => Dim::Fixed(*n),
            DimExpr::Fixed(n, span) => {
                self.errors.push(bad(n.to_string(), *span));
                Dim::Fixed(1)
            }
            DimExpr::Symbol(sym) => match constants.get(&sym.name).map(|v| &v.kind) {
                Some(ValueKind::Int(n)) if (1..=MAX_DIM).contains(n) => Dim::Fixed(*n),
                Some(other) => {
                    self.errors.push(bad(
                        format!("`{}` = {}", sym.name, Value { kind: other.clone(), span: sym.span }),
                        sym.span,
                    ));
                    Dim::Fixed(1)
                }
                None => Dim::Sym(sym.name.clone()),
            },
        }
    }

    fn check_unique_top_level(&mut self) {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let names = self
            .module
            .inputs
            .iter()
            .map(|i| &i.name)
            .chain(self.module.nodes.iter().map(|n| &n.name))
            .chain(self.module.outputs.iter().map(|o| &o.name));
        for name in names {
            if let Some(first) = seen.get(name.name.as_str()) {
                self.errors.push(BuildError::Duplicate { name: name.name.clone(), span: name.span, first: *first });
            } else {
                seen.insert(&name.name, name.span);
            }
        }
    }

    /// Substitutes references in a value (recursively in lists and expressions), resolves
    /// the names that `width(x)` reads in `scope` (constants have none) and folds
    /// expressions that read no width into integers.
    fn resolve_value(&mut self, v: &Value, values: &HashMap<String, Value>, scope: Option<&Scope>) -> Value {
        match &v.kind {
            ValueKind::Arith(a) => {
                let first = self.resolve_value(&a.first, values, scope);
                let steps = a
                    .steps
                    .iter()
                    .map(|s| ast::ArithStep {
                        op: s.op,
                        op_span: s.op_span,
                        rhs: self.resolve_value(&s.rhs, values, scope),
                    })
                    .collect();
                let folded = ast::Arith { first, steps };
                let value = Value { kind: ValueKind::Arith(Box::new(folded)), span: v.span };
                if value.reads_width() {
                    return value; // evaluated once the shapes are known
                }
                match arith::evaluate(&value, &|_| Ok(None)) {
                    Ok(Some(n)) => n,
                    Ok(None) => reported(v.span),
                    Err(error) => {
                        self.errors.push(BuildError::Arith { node: None, error });
                        reported(v.span)
                    }
                }
            }
            ValueKind::Width(name) => {
                let Some(scope) = scope else {
                    let error = ArithError::WidthInConstant { name: name.clone() };
                    self.errors.push(BuildError::Arith { node: None, error });
                    return reported(v.span);
                };
                match self.resolve_ref(&name.name, scope) {
                    Some(full) => Value { kind: ValueKind::Width(Ident::new(full, name.span)), span: v.span },
                    None => {
                        let mut known: Vec<String> = scope.bound_inputs.keys().cloned().collect();
                        known.extend(scope.locals.iter().cloned());
                        known.sort();
                        let error = ArithError::UnknownWidthOf { name: name.clone(), known };
                        self.errors.push(BuildError::Arith { node: None, error });
                        reported(v.span)
                    }
                }
            }
            ValueKind::Ref(name) => match values.get(name) {
                Some(found) => Value { kind: found.kind.clone(), span: v.span },
                None => {
                    let mut known: Vec<String> = values.keys().cloned().collect();
                    known.sort();
                    let (name, span) = (name.clone(), v.span);
                    self.errors.push(BuildError::UnknownValueRef { name, span, known, choice_of: None });
                    v.clone()
                }
            },
            ValueKind::List(items) => {
                let items = items.iter().map(|i| self.resolve_value(i, values, scope)).collect();
                Value { kind: ValueKind::List(items), span: v.span }
            }
            _ => v.clone(),
        }
    }

    /// Resolves a reference written in `scope` into a global node name.
    fn resolve_ref(&self, name: &str, scope: &Scope) -> Option<String> {
        if let Some(outer) = scope.bound_inputs.get(name) {
            return Some(outer.clone());
        }
        scope.locals.contains(name).then(|| format!("{}{name}", scope.prefix))
    }

    fn expand(&mut self, decl: &'a NodeDecl, scope: &Scope<'a>) {
        if scope.chain.is_empty() {
            self.top_decl = decl.callee.span;
        }
        if self.nodes.len() >= MAX_NODES {
            if !self.errors.iter().any(|e| matches!(e, BuildError::TooManyNodes { .. })) {
                self.errors.push(BuildError::TooManyNodes { limit: MAX_NODES, span: self.top_decl });
            }
            return;
        }
        let full_name = format!("{}{}", scope.prefix, decl.name.name);
        let mut inputs = Vec::new();
        for r in &decl.inputs {
            match self.resolve_ref(&r.name, scope) {
                Some(name) => inputs.push((name, r.span)),
                None => {
                    let mut known: Vec<String> = scope.bound_inputs.keys().cloned().collect();
                    known.extend(scope.locals.iter().filter(|l| **l != decl.name.name).cloned());
                    let suggestion = did_you_mean(&r.name, known.iter().map(String::as_str)).map(str::to_string);
                    self.errors.push(BuildError::UnknownRef {
                        node: full_name.clone(),
                        name: r.clone(),
                        suggestion,
                        known,
                    });
                }
            }
        }
        // `share` names a node, not a value: it is taken before constants are substituted,
        // so `share: vfc` reads the same in YAML (a string) and in the DSL (a name).
        let shares = decl.args.iter().find(|a| a.name.name == "share").and_then(|a| self.share(a, &full_name, scope));
        let errors_before = self.errors.len();
        let args: Vec<ResolvedArg> = decl
            .args
            .iter()
            .filter(|a| a.name.name != "share")
            .map(|a| ResolvedArg {
                name: a.name.clone(),
                value: self.resolve_value(&a.value, &scope.values, Some(scope)),
            })
            .collect();
        // An expression's error names the node it is in (in a block: which instance); an
        // unquoted choice (`output: last`) says how to write it.
        let spec = ops::lookup(&decl.callee.name);
        for e in &mut self.errors[errors_before..] {
            match e {
                BuildError::Arith { node: node @ None, .. } => *node = Some(full_name.clone()),
                BuildError::UnknownValueRef { span, choice_of, .. } => {
                    let param = decl.args.iter().find(|a| a.value.span == *span).map(|a| a.name.name.as_str());
                    if let Some(ParamSpec { name: param, kind: ParamKind::Choice(choices), .. }) =
                        param.and_then(|p| spec.and_then(|s| s.param(p)))
                    {
                        *choice_of = Some((param.to_string(), choices));
                    }
                }
                _ => {}
            }
        }
        if let Some(spec) = ops::lookup(&decl.callee.name) {
            self.add_op(spec, full_name, inputs, &args, decl, scope, shares);
        } else if let Some(&block) = self.blocks.get(decl.callee.name.as_str()) {
            if let Some(target) = shares {
                let block = decl.callee.name.clone();
                self.instance_shares.push(InstanceShare { node: full_name.clone(), block, target });
            }
            self.expand_block(block, full_name, inputs, &args, decl, scope);
        } else {
            let mut candidates = ops::names();
            candidates.extend(self.blocks.keys().copied());
            let suggestion = did_you_mean(&decl.callee.name, candidates).map(str::to_string);
            self.errors.push(BuildError::UnknownCallee { name: decl.callee.clone(), suggestion });
            self.broken.insert(full_name);
        }
    }

    /// Resolves a `share: NODE` argument in the node's scope; a bad one is reported here.
    fn share(&mut self, arg: &ast::Arg, node: &str, scope: &Scope) -> Option<(Ident, String)> {
        let (ValueKind::Str(target) | ValueKind::Ref(target)) = &arg.value.kind else {
            let found = format!("{} `{}`", arg.value.kind.type_name(), arg.value);
            self.errors.push(BuildError::ShareValue { found, span: arg.value.span });
            return None;
        };
        let ident = Ident::new(target, arg.value.span);
        // `v.proj`: a node inside instance `v` of this scope (checked once all exist).
        let inner = || {
            let (head, rest) = target.split_once('.')?;
            Some(format!("{}.{rest}", self.resolve_ref(head, scope)?))
        };
        match self.resolve_ref(target, scope).or_else(inner) {
            Some(full) => Some((ident, full)),
            None => {
                let known: Vec<String> =
                    scope.locals.iter().filter(|l| format!("{}{l}", scope.prefix) != node).cloned().collect();
                let suggestion = did_you_mean(target, known.iter().map(String::as_str)).map(str::to_string);
                self.errors.push(BuildError::UnknownShare { node: node.to_string(), target: ident, suggestion });
                None
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn add_op(
        &mut self,
        spec: &'static ops::OpSpec,
        name: String,
        inputs: Vec<(String, Span)>,
        args: &[ResolvedArg],
        decl: &NodeDecl,
        scope: &Scope,
        shares: Option<(Ident, String)>,
    ) {
        if !spec.arity.accepts(decl.inputs.len()) {
            self.errors.push(BuildError::Arity {
                node: name.clone(),
                op: spec.name.to_string(),
                expected: spec.arity,
                found: decl.inputs.len(),
                span: decl.span,
            });
        }
        if args.iter().any(|a| a.value.reads_width()) {
            self.nodes.push(FlatNode {
                name,
                kind: placeholder_kind(),
                shares,
                inputs,
                span: decl.name.span,
                instance: scope.instance.clone(),
                deferred: Some(Deferred { spec, args: args.to_vec() }),
            });
            return;
        }
        match ArgReader::new(spec, args, decl.name.span).parse() {
            Ok(op) => self.nodes.push(FlatNode {
                name,
                kind: NodeKind::Op(op),
                shares,
                inputs,
                span: decl.name.span,
                instance: scope.instance.clone(),
                deferred: None,
            }),
            Err(errors) => {
                let reported = errors.into_iter().filter(|e| *e != ArgError::Unresolved);
                self.errors.extend(reported.map(|error| BuildError::Arg { node: name.clone(), error }));
                self.broken.insert(name);
            }
        }
    }

    fn expand_block(
        &mut self,
        block: &'a BlockDecl,
        name: String,
        inputs: Vec<(String, Span)>,
        args: &[ResolvedArg],
        decl: &NodeDecl,
        scope: &Scope<'a>,
    ) {
        let block_name = block.name.name.as_str();
        if scope.chain.contains(&block_name) || scope.chain.len() >= MAX_BLOCK_DEPTH {
            let mut chain: Vec<String> = scope.chain.iter().map(|s| s.to_string()).collect();
            chain.push(block_name.to_string());
            let span = decl.callee.span;
            self.errors.push(match scope.chain.contains(&block_name) {
                true => BuildError::Recursion { chain, span },
                false => BuildError::TooDeep { chain, span },
            });
            self.broken.insert(name);
            return;
        }
        if block.inputs.len() != decl.inputs.len() {
            self.errors.push(BuildError::Arity {
                node: name.clone(),
                op: format!("block {block_name}"),
                expected: Arity::Exactly(block.inputs.len()),
                found: decl.inputs.len(),
                span: decl.span,
            });
            self.broken.insert(name);
            return;
        }
        let errors_before = self.errors.len();
        let values = self.bind_block_params(block, args, decl);
        if self.errors.len() > errors_before {
            // Expanding with bad arguments would only repeat the same mistake inside.
            self.broken.insert(name);
            return;
        }
        let mut instance = scope.instance.clone();
        instance.push(name.clone());
        let mut chain = scope.chain.clone();
        chain.push(block_name);
        let inner = Scope {
            prefix: format!("{name}."),
            bound_inputs: block.inputs.iter().map(|i| i.name.clone()).zip(inputs.into_iter().map(|(n, _)| n)).collect(),
            values,
            locals: block.nodes.iter().map(|n| n.name.name.clone()).collect(),
            instance,
            chain,
        };
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for n in &block.nodes {
            if let Some(first) = seen.insert(&n.name.name, n.name.span) {
                if scope.chain.is_empty() {
                    self.errors.push(BuildError::Duplicate { name: n.name.name.clone(), span: n.name.span, first });
                }
                continue;
            }
            self.expand(n, &inner);
        }
        let result = self.resolve_ref(&block.output.name, &inner).unwrap_or_default();
        self.instances.insert(name.clone(), Instance { block: block_name.to_string(), span: decl.name.span });
        self.aliases.insert(name, result);
    }

    /// Type-checks a block use's arguments against the block's parameters.
    fn bind_block_params(
        &mut self,
        block: &BlockDecl,
        args: &[ResolvedArg],
        decl: &NodeDecl,
    ) -> HashMap<String, Value> {
        let block_name = &block.name.name;
        let mut values = self.constants.clone();
        for arg in args {
            if !block.params.iter().any(|p| p.name.name == arg.name.name) {
                self.errors.push(BuildError::BlockParamUnknown {
                    block: block_name.clone(),
                    param: arg.name.clone(),
                    allowed: block.params.iter().map(|p| p.name.name.clone()).collect(),
                });
            }
        }
        for p in &block.params {
            let given = args.iter().find(|a| a.name.name == p.name.name).map(|a| a.value.clone());
            let Some(value) = given.or_else(|| p.default.clone()) else {
                self.errors.push(BuildError::BlockParamMissing {
                    block: block_name.clone(),
                    param: p.name.name.clone(),
                    span: decl.span,
                });
                continue;
            };
            let fits = matches!(
                (p.ty, &value.kind),
                (ParamType::Int, ValueKind::Int(_))
                    | (ParamType::Float, ValueKind::Float(_) | ValueKind::Int(_))
                    // Expressions left are those that read a width: integers once evaluated.
                    | (ParamType::Int | ParamType::Float, ValueKind::Arith(_) | ValueKind::Width(_))
                    | (ParamType::Bool, ValueKind::Bool(_))
                    | (ParamType::Str, ValueKind::Str(_))
                    // An unresolved reference was already reported.
                    | (_, ValueKind::Ref(_))
            );
            if !fits {
                self.errors.push(BuildError::BlockParamType {
                    block: block_name.clone(),
                    param: p.name.name.clone(),
                    expected: p.ty.keyword(),
                    found: format!("{} `{value}`", value.kind.type_name()),
                    span: value.span,
                });
            }
            values.insert(p.name.name.clone(), value);
        }
        values
    }

    fn finish(mut self) -> Result<Graph, Vec<BuildError>> {
        deferred::resolve(&mut self.nodes, &self.aliases, &mut self.errors);
        share::share_instances(&mut self.nodes, &self.instances, &self.instance_shares, &self.broken, &mut self.errors);
        let mut dag = DiGraph::new();
        let mut by_name = HashMap::new();
        for n in &self.nodes {
            let id = NodeId(dag.add_node(Node {
                name: n.name.clone(),
                kind: n.kind.clone(),
                span: n.span,
                input_spans: n.inputs.iter().map(|(_, s)| *s).collect(),
                instance: n.instance.clone(),
                shares: None,
            }));
            by_name.insert(n.name.clone(), id);
        }
        let lookup = |name: &str, aliases: &HashMap<String, String>| {
            let mut name = name.to_string();
            // An instance name stands for its block's result, possibly another instance.
            for _ in 0..MAX_BLOCK_DEPTH {
                match aliases.get(&name) {
                    Some(next) => name = next.clone(),
                    None => break,
                }
            }
            by_name.get(&name).copied()
        };
        for n in &self.nodes {
            let Some(&target) = by_name.get(&n.name) else { continue };
            for (slot, (input, _)) in n.inputs.iter().enumerate() {
                if let Some(source) = lookup(input, &self.aliases) {
                    dag.add_edge(source.0, target.0, slot);
                }
            }
        }
        self.resolve_shares(&mut dag, &lookup);
        let outputs = self.resolve_outputs(&lookup);
        let order = match declaration_order_topo(&dag) {
            Some(order) => order,
            None => {
                self.report_cycles(&dag);
                Vec::new()
            }
        };
        if self.errors.is_empty() {
            deferred::report_unresolved(&self.nodes, &mut self.errors);
        }
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        let inputs = self
            .nodes
            .iter()
            .filter(|n| matches!(n.kind, NodeKind::Input { .. }))
            .filter_map(|n| by_name.get(&n.name).copied())
            .collect();
        Ok(Graph {
            dag,
            order,
            by_name,
            inputs,
            outputs,
            train: self.module.train.clone(),
            source: self.module.source.clone(),
        })
    }

    /// Points each `share:` at the node that owns the weights (following chains), and
    /// checks that both run the same op with the same parameters.
    fn resolve_shares(&mut self, dag: &mut DiGraph<Node, usize>, lookup: &NameLookup) {
        let mut missing = Vec::new();
        for n in &self.nodes {
            let Some((ident, target)) = &n.shares else { continue };
            let Some(node) = lookup(&n.name, &self.aliases) else { continue };
            let Some(mut owner) = lookup(target, &self.aliases) else {
                // `v.proj` names a node inside an instance, known only now; other targets
                // that are missing are broken, and already reported.
                let in_broken = self.broken.iter().any(|b| target == b || target.starts_with(&format!("{b}.")));
                if !in_broken && target.contains('.') {
                    let prefix = target.rsplit_once('.').map_or("", |(p, _)| p);
                    let inner =
                        self.nodes.iter().filter_map(|m| m.name.strip_prefix(prefix)).filter(|r| r.starts_with('.'));
                    let candidates: Vec<String> = inner.map(|r| format!("{prefix}{r}")).collect();
                    let suggestion = did_you_mean(target, candidates.iter().map(String::as_str)).map(str::to_string);
                    let error = BuildError::UnknownShare { node: n.name.clone(), target: ident.clone(), suggestion };
                    missing.push(error);
                }
                continue;
            };
            // The chain of shares, to name a cycle by its nodes when it comes back here.
            let mut chain = vec![dag[node.0].name.clone(), dag[owner.0].name.clone()];
            for _ in 0..self.nodes.len() {
                match dag[owner.0].shares {
                    Some(next) if owner != node => {
                        owner = next;
                        chain.push(dag[owner.0].name.clone());
                    }
                    _ => break,
                }
            }
            if owner == node && chain.len() > 2 {
                self.errors.push(BuildError::ShareCycle { chain, span: ident.span });
                continue;
            }
            let mismatch = |found: String| BuildError::ShareMismatch {
                node: n.name.clone(),
                op: dag[node.0].op_name().to_string(),
                target: dag[owner.0].name.clone(),
                found,
                span: ident.span,
                target_span: dag[owner.0].span,
            };
            let error = match (&dag[node.0].kind, &dag[owner.0].kind) {
                _ if owner == node => Some(mismatch("itself".into())),
                (NodeKind::Op(mine), NodeKind::Op(theirs)) if mine.name() != theirs.name() => {
                    Some(mismatch(format!("a `{}` node", theirs.name())))
                }
                (NodeKind::Op(mine), NodeKind::Op(theirs)) if mine != theirs => {
                    Some(mismatch(format!("other parameters: {} vs {}", mine.describe(), theirs.describe())))
                }
                (NodeKind::Op(_), NodeKind::Op(_)) => None,
                _ => Some(mismatch("an input".into())),
            };
            match error {
                Some(e) => self.errors.push(e),
                None => dag[node.0].shares = Some(owner),
            }
        }
        self.errors.extend(missing);
    }

    fn resolve_outputs(&mut self, lookup: &NameLookup) -> Vec<Output> {
        if self.module.outputs.is_empty() {
            self.errors.push(BuildError::NoOutputs { span: Span::new(0, 0) });
        }
        let mut outputs = Vec::new();
        let known: Vec<String> =
            self.nodes.iter().map(|n| n.name.clone()).chain(self.aliases.keys().cloned()).collect();
        for o in &self.module.outputs {
            let expected = if o.kind == OutputKind::Embeddings { 2 } else { 1 };
            if o.from.len() != expected {
                self.errors.push(BuildError::OutputArity {
                    output: o.name.name.clone(),
                    kind: o.kind,
                    expected,
                    found: o.from.len(),
                    span: o.span,
                });
            }
            let mut from = Vec::new();
            for r in &o.from {
                match lookup(&r.name, &self.aliases) {
                    Some(id) => from.push(id),
                    None if self.broken.contains(&r.name) => {}
                    None => {
                        let suggestion = did_you_mean(&r.name, known.iter().map(String::as_str)).map(str::to_string);
                        self.errors.push(BuildError::UnknownRef {
                            node: o.name.name.clone(),
                            name: r.clone(),
                            suggestion,
                            known: self.module.nodes.iter().map(|n| n.name.name.clone()).collect(),
                        });
                    }
                }
            }
            outputs.push(Output { name: o.name.name.clone(), kind: o.kind, from, span: o.span });
        }
        outputs
    }

    fn report_cycles(&mut self, dag: &DiGraph<Node, usize>) {
        for scc in petgraph::algo::tarjan_scc(dag) {
            let self_loop = scc.len() == 1 && dag.contains_edge(scc[0], scc[0]);
            if scc.len() < 2 && !self_loop {
                continue;
            }
            let start = *scc.iter().min_by_key(|&&i| (dag[i].span, i)).unwrap_or(&scc[0]);
            let mut nodes: Vec<String> = cycle_path(dag, &scc, start).iter().map(|&i| dag[i].name.clone()).collect();
            nodes.push(dag[start].name.clone());
            self.errors.push(BuildError::Cycle { nodes, span: dag[start].span });
        }
    }
}

/// A topological order that keeps declaration order wherever dependencies allow (Kahn's
/// algorithm, always taking the earliest-declared ready node), so tables and pictures
/// read like the file. `None` when the graph has a cycle.
fn declaration_order_topo(dag: &DiGraph<Node, usize>) -> Option<Vec<NodeId>> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let mut pending: Vec<usize> =
        dag.node_indices().map(|i| dag.neighbors_directed(i, petgraph::Direction::Incoming).count()).collect();
    let mut ready: BinaryHeap<Reverse<usize>> =
        pending.iter().enumerate().filter(|(_, n)| **n == 0).map(|(i, _)| Reverse(i)).collect();
    let mut order = Vec::with_capacity(dag.node_count());
    while let Some(Reverse(i)) = ready.pop() {
        let index = petgraph::graph::NodeIndex::new(i);
        order.push(NodeId(index));
        for next in dag.neighbors_directed(index, petgraph::Direction::Outgoing) {
            pending[next.index()] -= 1;
            if pending[next.index()] == 0 {
                ready.push(Reverse(next.index()));
            }
        }
    }
    (order.len() == dag.node_count()).then_some(order)
}

/// A path that leaves `start` and comes back to it inside one strongly connected component
/// (without the final return), found by depth-first search along edges.
fn cycle_path(
    dag: &DiGraph<Node, usize>,
    scc: &[petgraph::graph::NodeIndex],
    start: petgraph::graph::NodeIndex,
) -> Vec<petgraph::graph::NodeIndex> {
    let mut path = vec![start];
    let mut seen = std::collections::HashSet::from([start]);
    // Each frame: a node and the successors in the component still to try.
    let succ = |n| {
        let mut next: Vec<_> =
            dag.neighbors_directed(n, petgraph::Direction::Outgoing).filter(|m| scc.contains(m)).collect();
        next.sort();
        next
    };
    let mut stack = vec![succ(start)];
    while let Some(options) = stack.last_mut() {
        match options.pop() {
            Some(next) if next == start => return path,
            Some(next) if seen.insert(next) => {
                path.push(next);
                stack.push(succ(next));
            }
            Some(_) => {}
            None => {
                stack.pop();
                path.pop();
            }
        }
    }
    vec![start]
}
