//! [`BuildError`], every mistake the builder reports, and the diagnostic (code, labels,
//! help) each one renders as. Separate from the passes that find the errors: the wording
//! of every message is in one place, and a pass only says what went wrong and where.

use super::{MAX_BLOCK_DEPTH, MAX_DIM, MAX_NODES};
use crate::ast::{Ident, OutputKind};
use crate::diag::{Diagnostic, did_you_mean, one_of};
use crate::ir::arith::ArithError;
use crate::ops::{self, ArgError, Arity};
use crate::source::Span;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BuildError {
    #[error("`{name}` is defined twice")]
    Duplicate { name: String, span: Span, first: Span },
    #[error("unknown op or block `{}`", name.name)]
    /// `help`: the avc form of a PyTorch name, or a close name.
    UnknownCallee { name: Ident, help: Option<String> },
    #[error("node `{node}` reads `{}`, which is not defined", name.name)]
    /// `value`: the name is a constant or block parameter here (value arithmetic's), used
    /// where a tensor goes.
    UnknownRef { node: String, name: Ident, suggestion: Option<String>, known: Vec<String>, value: bool },
    #[error("node `{node}`: {error}")]
    Arg { node: String, error: ArgError },
    /// A node whose shape check fails, found because a later `width(...)` reads its shape
    /// (the build cannot finish without that width, so `check` would never report it).
    #[error("node `{node}` ({op}): expected {expected}, found {found}")]
    WidthSource { node: String, op: &'static str, expected: String, found: String, span: Span, reader: Span },
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
            BuildError::UnknownCallee { name, help } => {
                let d = Diagnostic::error("name::unknown-op", msg).with_label(name.span, "not an op or block");
                match help {
                    Some(help) => d.with_help(help.clone()),
                    None => d.with_help(format!("ops are {} (`avc ops` documents them)", ops::names().join(", "))),
                }
            }
            BuildError::UnknownRef { node, name, suggestion, known, value } => {
                if *value {
                    let msg = format!(
                        "node `{node}` reads `{}` as a tensor, but it is a constant or block parameter (a value)",
                        name.name
                    );
                    return Diagnostic::error("name::value-as-tensor", msg).with_label(name.span, "a value, not a node").with_help(format!(
                        "`{0}` is a value, for value arithmetic in parameters (`out: 2 * {0}`); tensor arithmetic \
                         takes nodes, inputs and literal numbers: write the number (`0.5 * x`), or scale by it with \
                         `mul(x, left: {0})`",
                        name.name
                    ));
                }
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
            BuildError::WidthSource { span, reader, .. } => Diagnostic::error("shape::mismatch", msg)
                .with_label(*span, "in this node")
                .with_label(*reader, "`width(...)` reads its shape")
                .with_help("fix this node first: the nodes whose parameters read its width wait for it"),
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
        ArgError::MissingOneOf { span, params, kind, .. } => {
            let forms: Vec<String> = params.iter().map(|p| format!("`{p}: <{kind}>`")).collect();
            Diagnostic::error("op::missing-param", msg).with_label(*span, "in this node").with_help(
                match forms.as_slice() {
                    [a, b] => format!("add {a}, {b} or both"),
                    _ => format!("add one or more of {}", forms.join(", ")),
                },
            )
        }
        ArgError::Type { span, .. } => Diagnostic::error("op::param-type", msg).with_label(*span, "wrong type"),
        ArgError::Range { span, .. } => Diagnostic::error("op::param-range", msg).with_label(*span, "out of range"),
        ArgError::Unresolved => Diagnostic::error("name::unknown-value", msg),
        ArgError::Duplicate { param, first } => Diagnostic::error("op::duplicate-param", msg)
            .with_label(param.span, "given again")
            .with_label(*first, "first given here"),
    }
}
