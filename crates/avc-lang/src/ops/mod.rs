//! The op library: every op's parameters (with types, defaults and docs), its shape rule
//! and its cost; the lowering into tch is the `avc` package's (`avc::lower::ops`). The
//! registry ([`registry`]) is the single source of truth for the front-ends (which names and
//! parameters exist), the checker, `avc ops` and the language reference.
//!
//! One file per op family; each op is a config struct implementing [`OpImpl`], and [`Op`]
//! is the closed enum the IR stores (so IRs compare with `==`). The family modules are
//! public so the lowering can implement its trait for each config.

pub mod activation;
pub mod adaptive;
mod args;
pub mod arith;
pub mod attention;
pub mod axes;
pub mod combine;
pub mod conv;
pub mod conv2d;
pub mod cross_attention;
pub mod dense;
pub mod docs;
pub mod embedding;
pub mod extend;
pub mod layout;
pub mod learned;
pub mod linalg;
pub mod math;
pub mod multihead;
pub mod norm;
pub mod parts;
pub mod position;
pub mod recurrent;
pub mod reduce;
pub mod residual;
pub mod self_attention;
pub mod similarity;
pub mod slice;
pub mod sync;

pub use args::{ArgError, ArgReader, IntOrChoice, ResolvedArg};

use crate::shape::Shape;

/// The type of an op parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamKind {
    Int,
    Float,
    Bool,
    /// A string from a fixed set.
    Choice(&'static [&'static str]),
    /// A list of integers, such as a shape (`[8, -1]`) or an axis order (`[0, 2, 1]`).
    IntList,
    /// An integer or a string from a fixed set (a convolution's `padding`: `2` or `same`).
    IntOrChoice(&'static [&'static str]),
}

impl ParamKind {
    pub fn describe(&self) -> String {
        match self {
            ParamKind::Int => "int".into(),
            ParamKind::Float => "float".into(),
            ParamKind::Bool => "bool".into(),
            ParamKind::Choice(c) => c.join("|"),
            ParamKind::IntList => "[int]".into(),
            ParamKind::IntOrChoice(c) => format!("int|{}", c.join("|")),
        }
    }
}

/// A default value, written as it reads in a file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Default {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(&'static str),
    /// Optional, with no value unless given (`left:`/`right:` of the arithmetic ops, a
    /// slice's `end`): the op reads its absence.
    Unset,
}

impl std::fmt::Display for Default {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Default::Int(i) => write!(f, "{i}"),
            Default::Float(x) => write!(f, "{}", crate::ast::format_float(*x)),
            Default::Bool(b) => write!(f, "{b}"),
            Default::Str(s) => write!(f, "{s}"),
            Default::Unset => write!(f, "none"),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ParamSpec {
    pub name: &'static str,
    pub kind: ParamKind,
    /// `None` means the parameter is required.
    pub default: Option<Default>,
    pub doc: &'static str,
}

/// How many inputs an op takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arity {
    Exactly(usize),
    AtLeast(usize),
    /// From the first to the second, both included (optional inputs).
    Range(usize, usize),
}

impl Arity {
    pub fn accepts(self, n: usize) -> bool {
        match self {
            Arity::Exactly(k) => n == k,
            Arity::AtLeast(k) => n >= k,
            Arity::Range(lo, hi) => (lo..=hi).contains(&n),
        }
    }
}

impl std::fmt::Display for Arity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Arity::Exactly(1) => write!(f, "1 input"),
            Arity::Exactly(k) => write!(f, "{k} inputs"),
            Arity::AtLeast(k) => write!(f, "{k} or more inputs"),
            Arity::Range(lo, hi) if *hi == lo + 1 => write!(f, "{lo} or {hi} inputs"),
            Arity::Range(lo, hi) => write!(f, "{lo} to {hi} inputs"),
        }
    }
}

/// The results of an op. A statement may name several targets (`a, b = chunk(x)`) only for
/// an op of [`Results::Parts`]: each target becomes a node of its own holding one part,
/// chosen by the op's `index` parameter, and shape-checked on its own.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Results {
    One,
    /// Several parts. `count` is the parameter that says how many when it is an integer
    /// (`chunks`), filled in from the number of targets when not written; when it is a
    /// list (`sizes`), its length must equal the number of targets.
    Parts {
        count: &'static str,
    },
}

/// Everything the tool knows about an op besides its behaviour.
pub struct OpSpec {
    pub name: &'static str,
    pub family: &'static str,
    pub summary: &'static str,
    /// The shape rule in words, e.g. `[B, T, F] -> [B, T, hidden]`.
    pub shape_rule: &'static str,
    pub arity: Arity,
    /// How many results a node of it holds: one, or one of several parts (`chunk`, `split`).
    pub results: Results,
    pub params: &'static [ParamSpec],
    /// Reads and type-checks the arguments into the op's config.
    pub parse: fn(&mut ArgReader) -> Op,
}

impl OpSpec {
    pub fn param(&self, name: &str) -> Option<&ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }
}

/// Why an op cannot accept its input shapes. Data, formatted by the checker, which knows
/// the node and input names.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapeError {
    /// Which input (0-based) is at fault, when one is.
    pub input: Option<usize>,
    /// Which axis differs, when one does.
    pub axis: Option<usize>,
    /// What the op accepts there, in words (`[B, T, F]`, "a last axis divisible by 4").
    pub expected: String,
    /// The input's shape as inferred, formatted only when the error is rendered.
    pub found: Shape,
    pub hint: Option<String>,
}

impl ShapeError {
    pub fn input(input: usize, expected: impl Into<String>, found: &Shape) -> Self {
        ShapeError { input: Some(input), axis: None, expected: expected.into(), found: found.clone(), hint: None }
    }

    pub fn at_axis(mut self, axis: usize) -> Self {
        self.axis = Some(axis);
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Checks the input has the given rank, naming the expected layout otherwise.
pub(crate) fn expect_rank(ins: &[Shape], i: usize, rank: usize, layout: &str) -> Result<(), ShapeError> {
    if ins[i].rank() == rank {
        return Ok(());
    }
    Err(ShapeError::input(i, format!("rank {rank} {layout}"), &ins[i]))
}

/// Checks that an axis is fixed-size (needed for weights) and returns its size.
pub(crate) fn fixed_axis(ins: &[Shape], i: usize, axis: usize, what: &str) -> Result<i64, ShapeError> {
    ins[i].0[axis].fixed().ok_or_else(|| {
        ShapeError::input(i, format!("a fixed size on axis {axis} ({what})"), &ins[i])
            .at_axis(axis)
            .hint("weights need a known size here; declare the dimension as a number")
    })
}

/// The linear map of its input's last axis that an op's layer begins with: on a
/// concatenation of tower values, `W [v; a] = W_v v + W_a a`, so each tower's columns can be
/// mapped once per clip and the results added per pair (`check::factor_sites`; the layers
/// that do it implement `avc::lower::ops::FactorInput`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputMap {
    /// The map's output width.
    pub width: i64,
    /// Whether factoring it pays in training too (two pairs per clip), not only when each
    /// clip meets many others (evaluation, retrieval).
    pub factor_in_training: bool,
}

/// The behaviour of one op, implemented by its config struct.
/// What an op does to the range of its values: read by the check that a `logit` does not
/// come from a bounded score (`check::bounded`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueRange {
    /// Any real number.
    Unbounded,
    /// Always within this interval, in words (`[-1, 1]`).
    Bounded(&'static str),
    /// Within its (only) input's range: a layout change, a pooling, dropout in evaluation.
    OfInput,
}

/// How an op's output steps (axis 1 of a `[B, T, ...]` value) relate to its inputs' steps:
/// what tells the lowering which clip lengths mask a pooling over time
/// ([`crate::check::steps`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Steps {
    /// Output step t belongs to the same second as step t of every sequence input of the same
    /// length (an element-wise op, a layer on the last axis, a length-keeping convolution or
    /// recurrence, attention's queries): a clip's padded steps stay at its end.
    Kept,
    /// As [`Steps::Kept`], for one input only (`cross_attention`'s queries; its keys and
    /// values come from the other input).
    KeptFrom(usize),
    /// Anything else (a reduction, a reshape, a reversal, a strided window): no claim.
    Other,
}

pub trait OpImpl {
    fn spec(&self) -> &'static OpSpec;
    /// How the output's steps follow the inputs' (see [`Steps`]).
    fn steps(&self) -> Steps {
        Steps::Other
    }
    /// The range of the op's values (see [`ValueRange`]).
    fn value_range(&self) -> ValueRange {
        ValueRange::Unbounded
    }
    /// Entries a PyTorch module of this op keeps in its `state_dict` that avc has no variable
    /// for (BatchNorm's `num_batches_tracked`): the export writes them as int64 zeros so a
    /// strict `load_state_dict` accepts the file.
    fn torch_extra_state(&self) -> &'static [&'static str] {
        &[]
    }
    /// Whether it accepts an input without the batch axis (a learned tensor, `param`):
    /// tensor arithmetic, `matmul` and `slice` do; every other op is refused one by the
    /// checker, since its layer reads axis 0 as the batch.
    fn takes_unbatched(&self) -> bool {
        false
    }
    /// The output shape, or why the inputs do not fit.
    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError>;
    /// Trainable parameters, given inputs that passed `infer`.
    fn param_count(&self, _ins: &[Shape]) -> i64 {
        0
    }
    /// Multiply-adds per sample; `None` where a symbolic size leaves it open.
    fn macs(&self, _ins: &[Shape], _out: &Shape) -> Option<i64> {
        Some(0)
    }
    /// The parameters as `key=value` text, for summaries and pictures.
    fn describe(&self) -> String;
    /// For ops whose layer begins with a linear map of their (only) input's last axis, that
    /// map; their layers implement `avc::lower::ops::FactorInput`.
    fn input_map(&self) -> Option<InputMap> {
        None
    }
}

macro_rules! op_enum {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        /// A typed op: the closed set the IR stores.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Op {
            $($variant($ty),)*
        }

        impl Op {
            fn imp(&self) -> &dyn OpImpl {
                match self {
                    $(Op::$variant(c) => c,)*
                }
            }
        }

        /// Every op, in documentation order.
        pub fn registry() -> &'static [&'static OpSpec] {
            static ALL: &[&OpSpec] = &[$(&<$ty>::SPEC,)*];
            ALL
        }
    };
}

op_enum! {
    Linear(dense::Linear),
    Lstm(recurrent::Lstm),
    Gru(recurrent::Gru),
    Conv1d(conv::Conv1d),
    MaxPool1d(conv::MaxPool1d),
    AvgPool1d(conv::AvgPool1d),
    Conv2d(conv2d::Conv2d),
    MaxPool2d(conv2d::MaxPool2d),
    AvgPool2d(conv2d::AvgPool2d),
    BatchNorm(norm::BatchNorm),
    LayerNorm(norm::LayerNorm),
    Dropout(norm::Dropout),
    Relu(activation::Relu),
    LeakyRelu(activation::LeakyRelu),
    Tanh(activation::Tanh),
    Sigmoid(activation::Sigmoid),
    Softmax(activation::Softmax),
    Concat(combine::Concat),
    Add(combine::Add),
    Sub(arith::Sub),
    Mul(arith::Mul),
    Div(arith::Div),
    Neg(arith::Neg),
    Param(learned::Param),
    Residual(residual::Residual),
    Matmul(linalg::Matmul),
    Bmm(linalg::Bmm),
    Cosine(similarity::Cosine),
    L2Distance(similarity::L2Distance),
    Mean(reduce::Mean),
    Max(reduce::Max),
    Sum(reduce::Sum),
    Last(reduce::Last),
    Attention(attention::Attention),
    SelfAttention(self_attention::SelfAttention),
    CrossAttention(cross_attention::CrossAttention),
    Flatten(layout::Flatten),
    Transpose(layout::Transpose),
    Reshape(axes::Reshape),
    Unsqueeze(axes::Unsqueeze),
    Permute(axes::Permute),
    Gelu(activation::Gelu),
    Silu(activation::Silu),
    Glu(activation::Glu),
    Softplus(activation::Softplus),
    Elu(activation::Elu),
    LogSoftmax(activation::LogSoftmax),
    Exp(math::Exp),
    Log(math::Log),
    Sqrt(math::Sqrt),
    Abs(math::Abs),
    Clamp(math::Clamp),
    Pow(math::Pow),
    RmsNorm(norm::RmsNorm),
    AdaptiveAvgPool1d(adaptive::AdaptiveAvgPool1d),
    AdaptiveMaxPool1d(adaptive::AdaptiveMaxPool1d),
    AdaptiveAvgPool2d(adaptive::AdaptiveAvgPool2d),
    AdaptiveMaxPool2d(adaptive::AdaptiveMaxPool2d),
    SinusoidalPosition(position::SinusoidalPosition),
    LearnedPosition(position::LearnedPosition),
    LaggedCosine(sync::LaggedCosine),
    Slice(slice::Slice),
    Chunk(parts::Chunk),
    Split(parts::Split),
    Select(parts::Select),
    Index(parts::Index),
    Stack(extend::Stack),
    Pad(extend::Pad),
    Repeat(extend::Repeat),
    Expand(extend::Expand),
    Flip(extend::Flip),
    Positions(embedding::Positions),
    Embedding(embedding::Embedding),
}

impl Op {
    pub fn spec(&self) -> &'static OpSpec {
        self.imp().spec()
    }
    pub fn name(&self) -> &'static str {
        self.spec().name
    }
    pub fn steps(&self) -> Steps {
        self.imp().steps()
    }
    pub fn value_range(&self) -> ValueRange {
        self.imp().value_range()
    }
    pub fn torch_extra_state(&self) -> &'static [&'static str] {
        self.imp().torch_extra_state()
    }
    pub fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        self.imp().infer(ins)
    }
    pub fn takes_unbatched(&self) -> bool {
        self.imp().takes_unbatched()
    }
    pub fn param_count(&self, ins: &[Shape]) -> i64 {
        self.imp().param_count(ins)
    }
    pub fn macs(&self, ins: &[Shape], out: &Shape) -> Option<i64> {
        self.imp().macs(ins, out)
    }
    pub fn describe(&self) -> String {
        self.imp().describe()
    }
    pub fn input_map(&self) -> Option<InputMap> {
        self.imp().input_map()
    }
}

/// Looks an op up by name.
pub fn lookup(name: &str) -> Option<&'static OpSpec> {
    registry().iter().copied().find(|s| s.name == name)
}

/// The names of all ops, for "did you mean" hints and lists.
pub fn names() -> Vec<&'static str> {
    registry().iter().map(|s| s.name).collect()
}

/// The product of sizes, saturating: a count too large for 64 bits stays at `i64::MAX`
/// (which the checker reports as too large) instead of wrapping around to a small or
/// negative number. Parameter counts, multiply-adds and derived sizes use it.
pub fn product(factors: &[i64]) -> i64 {
    factors.iter().fold(1i64, |acc, &f| acc.saturating_mul(f))
}
