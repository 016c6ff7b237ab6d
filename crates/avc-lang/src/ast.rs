//! The abstract syntax both front-ends produce. It says what the user wrote, with a span
//! for every piece; nothing is resolved yet (an op name may name a block, a parameter
//! value may be a reference to a block parameter or constant). `ir::build` turns it into
//! the IR.

use crate::source::{SourceFile, Span};

/// A name as written, with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

impl std::fmt::Display for Ident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

impl Ident {
    pub fn new(name: impl Into<String>, span: Span) -> Self {
        Ident { name: name.into(), span }
    }
}

/// A whole architecture file.
#[derive(Debug, Clone)]
pub struct Module {
    pub source: SourceFile,
    /// Named constants (`let H = 128` in the DSL, `constants:` in YAML).
    pub constants: Vec<Constant>,
    pub inputs: Vec<InputDecl>,
    pub blocks: Vec<BlockDecl>,
    pub nodes: Vec<NodeDecl>,
    pub outputs: Vec<OutputDecl>,
    /// The `train:` section, as written: checked by the trainer, not the compiler.
    pub train: Vec<Setting>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Constant {
    pub name: Ident,
    pub value: Value,
}

/// A model input: a name, a per-sample shape (batch is implicit) and the data stream
/// that feeds it (defaults to the input's own name: `video`, `audio`).
#[derive(Debug, Clone, PartialEq)]
pub struct InputDecl {
    pub name: Ident,
    pub shape: Vec<DimExpr>,
    pub stream: Option<Ident>,
    pub span: Span,
}

/// One dimension of a declared shape.
#[derive(Debug, Clone, PartialEq)]
pub enum DimExpr {
    Fixed(i64, Span),
    /// A symbol: a sequence length left open (`T`), or a constant's name.
    Symbol(Ident),
}

impl DimExpr {
    pub fn span(&self) -> Span {
        match self {
            DimExpr::Fixed(_, s) => *s,
            DimExpr::Symbol(i) => i.span,
        }
    }
}

/// `name = callee(inputs..., args...)`: the callee is an op or a block.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeDecl {
    pub name: Ident,
    pub callee: Ident,
    pub inputs: Vec<Ident>,
    pub args: Vec<Arg>,
    pub span: Span,
    /// Where the DSL had it written without a statement of its own, so that `avc fmt` can
    /// print it there again instead of as a statement the user never wrote; `None` for a
    /// node with its own statement, and for every YAML node (YAML has no nesting).
    pub nested: Option<Nested>,
}

/// Where a node without a statement of its own was written (set by the DSL front-end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Nested {
    /// Inside the statement of the node named here: `relu(x)` in
    /// `h = linear(relu(x), out: 64)` is the node `h_relu`, written in `h`'s statement.
    In(String),
    /// As the expression of its block's `return` (`return layernorm(x + y)` is the node `out`).
    Return,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    pub name: Ident,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub kind: ValueKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    List(Vec<Value>),
    /// A reference to a block parameter or a named constant, resolved at expansion.
    Ref(String),
    /// Integer arithmetic on values (`dilation * (k - 1) / 2`), evaluated when the IR is
    /// built: the builder substitutes references, reads widths and folds it to an integer.
    Arith(Box<Arith>),
    /// `width(x)`: the size of the last axis of the node or input `x`, read from the shapes
    /// when the IR is built (a block need not be told the width of what it is given).
    Width(Ident),
}

/// `first op rhs op rhs ...`, folded from the left: one level of a sum (`+`, `-`) or of a
/// product (`*`, `/`). A chain is a list, not a tree, so `1 + 1 + ... + 1` of any length is
/// as shallow as `1 + 1`: the tree is only as deep as the parentheses (which the front-ends
/// bound, docs/language.md "Limits"), and every walk over it recurses that deep at most.
#[derive(Debug, Clone, PartialEq)]
pub struct Arith {
    pub first: Value,
    /// Never empty when made by a front-end (a lone operand is that operand's value).
    pub steps: Vec<ArithStep>,
}

/// `op rhs`: one step of an [`Arith`]; the operator keeps its own span, where a division
/// that is not exact or an overflow is reported.
#[derive(Debug, Clone, PartialEq)]
pub struct ArithStep {
    pub op: ArithOp,
    pub op_span: Span,
    pub rhs: Value,
}

/// The operators of value arithmetic: `*` and `/` bind tighter than `+` and `-`; all
/// associate to the left. `/` divides exactly (a remainder is an error, not rounded away).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl ArithOp {
    pub fn symbol(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
        }
    }

    /// Whether it is `+` or `-` (a sum's operator), not `*` or `/`.
    pub fn is_sum(self) -> bool {
        matches!(self, ArithOp::Add | ArithOp::Sub)
    }

    /// Binding strength: products before sums.
    fn precedence(self) -> u8 {
        match self {
            ArithOp::Add | ArithOp::Sub => 1,
            ArithOp::Mul | ArithOp::Div => 2,
        }
    }
}

impl Arith {
    /// The operands, left to right.
    pub fn operands(&self) -> impl Iterator<Item = &Value> {
        std::iter::once(&self.first).chain(self.steps.iter().map(|s| &s.rhs))
    }

    /// The loosest binding of its operators (what decides whether it needs parentheses
    /// inside another expression).
    fn precedence(&self) -> u8 {
        self.steps.iter().map(|s| s.op.precedence()).min().unwrap_or(u8::MAX)
    }

    /// The expression as text, each operand written by `leaf` (the front-ends write
    /// references differently: `k` in the DSL, `$k` in YAML), with the parentheses that the
    /// tree needs and no others, so printing and parsing again gives the same tree.
    pub fn render(&self, leaf: &dyn Fn(&Value) -> String) -> String {
        let side = |v: &Value, needs_parens: &dyn Fn(u8) -> bool| match &v.kind {
            ValueKind::Arith(inner) if needs_parens(inner.precedence()) => format!("({})", inner.render(leaf)),
            ValueKind::Arith(inner) => inner.render(leaf),
            _ => leaf(v),
        };
        let first_p = self.steps.first().map_or(u8::MAX, |s| s.op.precedence());
        let mut text = side(&self.first, &|inner| inner < first_p);
        let mut acc_p = u8::MAX;
        for step in &self.steps {
            let p = step.op.precedence();
            // Only a tree made by hand mixes levels in one list: keep its left-fold meaning.
            if acc_p < p {
                text = format!("({text})");
            }
            let rhs = side(&step.rhs, &|inner| inner <= p);
            text.push(' ');
            text.push_str(step.op.symbol());
            text.push(' ');
            text.push_str(&rhs);
            acc_p = p;
        }
        text
    }
}

impl ValueKind {
    /// The word used in "expected X, found Y" messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            ValueKind::Int(_) => "an integer",
            ValueKind::Float(_) => "a float",
            ValueKind::Bool(_) => "a boolean",
            ValueKind::Str(_) => "a string",
            ValueKind::List(_) => "a list",
            ValueKind::Ref(_) => "a reference",
            ValueKind::Arith(_) => "an expression",
            ValueKind::Width(_) => "a width",
        }
    }
}

impl Value {
    /// Whether the value reads a width somewhere (then it can only be evaluated once the
    /// shapes of the nodes it names are known).
    pub fn reads_width(&self) -> bool {
        match &self.kind {
            ValueKind::Width(_) => true,
            ValueKind::Arith(a) => a.operands().any(Value::reads_width),
            ValueKind::List(items) => items.iter().any(Value::reads_width),
            _ => false,
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            ValueKind::Int(i) => write!(f, "{i}"),
            ValueKind::Float(x) => write!(f, "{}", format_float(*x)),
            ValueKind::Bool(b) => write!(f, "{b}"),
            ValueKind::Str(s) => write!(f, "{s:?}"),
            ValueKind::Ref(r) => write!(f, "{r}"),
            ValueKind::Arith(a) => f.write_str(&a.render(&|v| v.to_string())),
            ValueKind::Width(x) => write!(f, "width({x})"),
            ValueKind::List(items) => {
                write!(f, "[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{v}")?;
                }
                write!(f, "]")
            }
        }
    }
}

/// A float written so that it reads back as a float (`1.0`, not `1`).
pub fn format_float(x: f64) -> String {
    let s = format!("{x}");
    if s.contains(['.', 'e', 'E', 'i', 'N']) { s } else { format!("{s}.0") }
}

/// A parameterised subgraph, expanded at compile time once per use.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockDecl {
    pub name: Ident,
    pub params: Vec<BlockParam>,
    pub inputs: Vec<Ident>,
    pub nodes: Vec<NodeDecl>,
    /// The node whose value the block returns.
    pub output: Ident,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BlockParam {
    pub name: Ident,
    pub ty: ParamType,
    pub default: Option<Value>,
}

/// The types a parameter can declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    Int,
    Float,
    Bool,
    Str,
}

impl ParamType {
    pub const ALL: [(&'static str, ParamType); 4] =
        [("int", ParamType::Int), ("float", ParamType::Float), ("bool", ParamType::Bool), ("str", ParamType::Str)];

    pub fn parse(word: &str) -> Option<ParamType> {
        Self::ALL.iter().find(|(w, _)| *w == word).map(|(_, t)| *t)
    }

    pub fn keyword(self) -> &'static str {
        Self::ALL.iter().find(|(_, t)| *t == self).map_or("?", |(w, _)| w)
    }
}

/// What an output returns and so how it is ranked and trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputKind {
    /// A match score, higher means a better match (trained with BCE).
    Logit,
    /// A distance, lower means a better match (trained with a contrastive loss).
    Distance,
    /// A (video, audio) pair of embeddings compared by cosine similarity.
    Embeddings,
}

impl OutputKind {
    pub const ALL: [(&'static str, OutputKind); 3] =
        [("logit", OutputKind::Logit), ("distance", OutputKind::Distance), ("embeddings", OutputKind::Embeddings)];

    pub fn parse(word: &str) -> Option<OutputKind> {
        Self::ALL.iter().find(|(w, _)| *w == word).map(|(_, k)| *k)
    }

    pub fn keyword(self) -> &'static str {
        Self::ALL.iter().find(|(_, k)| *k == self).map_or("?", |(w, _)| w)
    }

    /// Whether a higher score means a better match: the direction evaluation ranks in.
    pub fn higher_is_better(self) -> bool {
        !matches!(self, OutputKind::Distance)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutputDecl {
    pub name: Ident,
    pub kind: OutputKind,
    pub kind_span: Span,
    /// One node (logit, distance) or two (video embedding, audio embedding).
    pub from: Vec<Ident>,
    pub span: Span,
}

/// One `key: value` of the `train:` section; keys may be dotted (`schedule.factor`).
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub key: Ident,
    pub value: Value,
}
