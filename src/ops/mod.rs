//! The op library: every op's parameters (with types, defaults and docs), its shape rule,
//! its cost, and its lowering into tch. The registry ([`registry`]) is the single source of
//! truth for the front-ends (which names and parameters exist), the checker, `avc ops` and
//! the language reference.
//!
//! One file per op family; each op is a config struct implementing [`OpImpl`], and [`Op`]
//! is the closed enum the IR stores (so IRs compare with `==`).

mod activation;
mod args;
mod attention;
mod axes;
mod combine;
mod conv;
mod conv2d;
mod cross_attention;
mod dense;
pub mod docs;
mod layout;
mod linalg;
mod multihead;
mod norm;
mod recurrence;
mod recurrent;
mod reduce;
mod residual;
mod self_attention;
mod similarity;

pub use args::{ArgError, ArgReader, ResolvedArg};

use crate::shape::Shape;
use tch::{Tensor, nn};

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
}

impl ParamKind {
    pub fn describe(&self) -> String {
        match self {
            ParamKind::Int => "int".into(),
            ParamKind::Float => "float".into(),
            ParamKind::Bool => "bool".into(),
            ParamKind::Choice(c) => c.join("|"),
            ParamKind::IntList => "[int]".into(),
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
}

impl std::fmt::Display for Default {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Default::Int(i) => write!(f, "{i}"),
            Default::Float(x) => write!(f, "{}", crate::ast::format_float(*x)),
            Default::Bool(b) => write!(f, "{b}"),
            Default::Str(s) => write!(f, "{s}"),
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

/// Everything the tool knows about an op besides its behaviour.
pub struct OpSpec {
    pub name: &'static str,
    pub family: &'static str,
    pub summary: &'static str,
    /// The shape rule in words, e.g. `[B, T, F] -> [B, T, hidden]`.
    pub shape_rule: &'static str,
    pub arity: Arity,
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
    pub expected: String,
    pub found: String,
    pub hint: Option<String>,
}

impl ShapeError {
    pub fn input(input: usize, expected: impl Into<String>, found: &Shape) -> Self {
        ShapeError { input: Some(input), axis: None, expected: expected.into(), found: found.to_string(), hint: None }
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

/// A lowered op: a function of its input tensors, with its weights held inside.
pub trait Layer: Send {
    fn forward(&self, xs: &[&Tensor], train: bool) -> Result<Tensor, tch::TchError>;

    /// The layer as a split input map, for layers that begin with a linear map of their
    /// input's last axis (see [`SplitInput`]).
    fn split_input(&self) -> Option<&dyn SplitInput> {
        None
    }
}

/// One tower's share of a split layer's input, for the pairs of a batch: the projection of
/// that tower's clips (`[N, ...]`, from [`SplitInput::project`]) and, per pair, the row of
/// its clip.
pub type ProjectedPart<'a> = (&'a Tensor, &'a Tensor);

/// A layer whose first step is a linear map of its input's last axis (`linear`, and the
/// input projection of `lstm` and `gru`'s first layer). On a concatenation of tower values,
/// `W [v; a] = W_v v + W_a a`: each tower's columns can be mapped once per clip and the
/// results added per pair, which is what the compiler does with the first joint layer
/// (`check::split_sites`). The weights stay the layer's own variables, sliced at run time,
/// so gradients, checkpoints and exports are those of the unsplit layer.
pub trait SplitInput {
    /// `x`'s share of the input map, where `x` holds the input columns from `start` on
    /// (as many as its last axis has); adds the map's bias when `bias` (one share has it).
    fn project(&self, x: &Tensor, start: i64, bias: bool) -> Result<Tensor, tch::TchError>;

    /// The layer's output for a batch of pairs whose input map is the sum of the parts'
    /// projections, each gathered at its rows.
    fn forward_projected(&self, parts: &[ProjectedPart], train: bool) -> Result<Tensor, tch::TchError>;

    /// The fewest pairs in a batch for which the split layer is faster than the whole one;
    /// smaller batches run the layer whole on the concatenation.
    fn min_pairs(&self) -> i64 {
        0
    }
}

/// The linear map of its input's last axis that an op's layer begins with (see
/// [`SplitInput`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputMap {
    /// The map's output width.
    pub width: i64,
    /// Whether splitting it pays in training too (two pairs per clip), not only when each
    /// clip meets many others (evaluation, retrieval).
    pub split_in_training: bool,
}

/// The behaviour of one op, implemented by its config struct.
pub trait OpImpl {
    fn spec(&self) -> &'static OpSpec;
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
    /// Builds the layer, creating its variables under `vs`.
    fn lower(&self, vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError>;
    /// The parameters as `key=value` text, for summaries and pictures.
    fn describe(&self) -> String;
    /// For ops whose layer begins with a linear map of their (only) input's last axis, that
    /// map; such layers implement [`SplitInput`].
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
    Residual(residual::Residual),
    Matmul(linalg::Matmul),
    Bmm(linalg::Bmm),
    Cosine(similarity::Cosine),
    L2Distance(similarity::L2Distance),
    Mean(reduce::Mean),
    Max(reduce::Max),
    Last(reduce::Last),
    Attention(attention::Attention),
    SelfAttention(self_attention::SelfAttention),
    CrossAttention(cross_attention::CrossAttention),
    Flatten(layout::Flatten),
    Transpose(layout::Transpose),
    Reshape(axes::Reshape),
    Unsqueeze(axes::Unsqueeze),
    Permute(axes::Permute),
}

impl Op {
    pub fn spec(&self) -> &'static OpSpec {
        self.imp().spec()
    }
    pub fn name(&self) -> &'static str {
        self.spec().name
    }
    pub fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        self.imp().infer(ins)
    }
    pub fn param_count(&self, ins: &[Shape]) -> i64 {
        self.imp().param_count(ins)
    }
    pub fn macs(&self, ins: &[Shape], out: &Shape) -> Option<i64> {
        self.imp().macs(ins, out)
    }
    pub fn lower(&self, vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        self.imp().lower(vs, ins)
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

/// Xavier (Glorot) uniform initialisation, as the seed used for linear and conv weights.
pub(crate) fn xavier(fan_in: i64, fan_out: i64) -> nn::Init {
    let bound = (6.0 / (fan_in + fan_out) as f64).sqrt();
    nn::Init::Uniform { lo: -bound, up: bound }
}

/// PyTorch's default bias init: uniform in ±1/sqrt(fan_in).
pub(crate) fn bias_init(fan_in: i64) -> nn::Init {
    let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
    nn::Init::Uniform { lo: -bound, up: bound }
}
