//! The lowering of every op into a tch layer: one file per op family, beside the
//! family's language side in `avc_lang::ops` (parameters, shape rule, costs). [`LowerOp`]
//! builds an op's layer; [`Op`]'s implementation dispatches to the config's, and the match
//! is exhaustive, so a new op does not compile until it can be lowered.

mod activation;
mod adaptive;
pub(crate) mod arith;
mod attention;
mod axes;
mod combine;
mod conv;
mod conv2d;
mod cross_attention;
mod dense;
mod dropout;
mod embedding;
mod extend;
mod layout;
mod linalg;
mod math;
pub(crate) mod memory;
mod multihead;
mod norm;
mod parts;
mod position;
mod projected_rnn;
mod recurrent;
mod reduce;
mod residual;
mod self_attention;
mod similarity;
pub mod sync;

use avc_lang::ops::Op;
use avc_lang::shape::Shape;
use tch::{Tensor, nn};

/// A lowered op: a function of its input tensors, with its weights held inside.
pub trait Layer: Send {
    fn forward(&self, xs: &[&Tensor], train: bool) -> Result<Tensor, tch::TchError>;

    /// For a layer that pools or attends over the steps of a sequence input: that input,
    /// whose padded steps [`Layer::forward_masked`] can leave out. `None`: the layer treats
    /// every step alike (its output steps follow its input steps, or it is not over time).
    fn masked_input(&self) -> Option<usize> {
        None
    }

    /// The forward pass with `valid` (`[N, T]` bool, `T` the masked input's steps): which
    /// steps of each row are its clip's own rather than padding. Only called on layers with
    /// a [`Layer::masked_input`].
    fn forward_masked(&self, xs: &[&Tensor], _valid: &Tensor, train: bool) -> Result<Tensor, tch::TchError> {
        self.forward(xs, train)
    }

    /// The layer as a factored input map, for layers that begin with a linear map of their
    /// input's last axis (see [`FactorInput`]).
    fn factor_input(&self) -> Option<&dyn FactorInput> {
        None
    }

    /// For a two-input layer whose output is one number per pair: its value for every pair
    /// of rows of `a` (`[Na, ...]`) and `b` (`[Nb, ...]`) as an `[Na, Nb]` matrix, computed
    /// without forming the pairs (matrix products). `None`: the layer has no such form.
    fn pairwise(&self, _a: &Tensor, _b: &Tensor) -> Option<Result<Tensor, tch::TchError>> {
        None
    }

    /// Whether [`Layer::pairwise`] is available, and the floats it keeps per pair while it
    /// works (to size blocks of pairs).
    fn pairwise_form(&self) -> Option<i64> {
        None
    }
}

/// One tower's share of a factored layer's input, for the pairs of a batch: the projection of
/// that tower's clips (`[N, ...]`, from [`FactorInput::project`]) and, per pair, the row of
/// its clip.
pub type ProjectedPart<'a> = (&'a Tensor, &'a Tensor);

/// A layer whose first step is a linear map of its input's last axis (`linear`, and the
/// input projection of `lstm` and `gru`'s first layer). On a concatenation of tower values,
/// `W [v; a] = W_v v + W_a a`: each tower's columns can be mapped once per clip and the
/// results added per pair, which is what the compiler does with the first joint layer
/// (`avc_lang::check::factor_sites`). The weights stay the layer's own variables, sliced at run time,
/// so gradients, checkpoints and exports are those of the unfactored layer.
pub trait FactorInput {
    /// `x`'s share of the input map, where `x` holds the input columns from `start` on
    /// (as many as its last axis has); adds the map's bias when `bias` (one share has it).
    fn project(&self, x: &Tensor, start: i64, bias: bool) -> Result<Tensor, tch::TchError>;

    /// The layer's output for a batch of pairs whose input map is the sum of the parts'
    /// projections, each gathered at its rows.
    fn forward_projected(&self, parts: &[ProjectedPart], train: bool) -> Result<Tensor, tch::TchError>;

    /// The fewest pairs in a batch for which the factored layer is faster than the whole one;
    /// smaller batches run the layer whole on the concatenation.
    fn min_pairs(&self) -> i64 {
        0
    }
}

/// Builds an op's layer, creating its variables under `vs`, for inputs of the checked
/// shapes `ins`.
pub trait LowerOp {
    fn lower(&self, vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError>;
}

/// [`LowerOp`] for [`Op`]: each variant's config lowers itself.
macro_rules! lower_each {
    ($($variant:ident),* $(,)?) => {
        impl LowerOp for Op {
            fn lower(&self, vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
                match self {
                    $(Op::$variant(c) => c.lower(vs, ins),)*
                }
            }
        }
    };
}

lower_each! {
    Linear, Lstm, Gru, Conv1d, MaxPool1d, AvgPool1d, Conv2d, MaxPool2d, AvgPool2d, BatchNorm, LayerNorm,
    Dropout, Relu, LeakyRelu, Tanh, Sigmoid, Softmax, Concat, Add, Residual, Matmul, Bmm, Cosine,
    L2Distance, Mean, Max, Sum, Last, Attention, SelfAttention, CrossAttention, Flatten, Transpose, Reshape,
    Unsqueeze, Permute, Gelu, Silu, Glu, Softplus, Elu, LogSoftmax, Exp, Log, Sqrt, Abs, Clamp, Pow, RmsNorm,
    AdaptiveAvgPool1d, AdaptiveMaxPool1d, AdaptiveAvgPool2d, AdaptiveMaxPool2d, SinusoidalPosition,
    LearnedPosition, LaggedCosine, Sub, Mul, Div, Neg, Param, Slice, Chunk, Split, Select, Index, Stack, Pad,
    Repeat, Expand, Flip, Positions, Embedding,
}

/// `valid` (`[N, T]` bool) shaped to broadcast over `like` (`[N, T, ...]`): `[N, T, 1, ...]`.
pub(crate) fn valid_like(valid: &Tensor, like: &Tensor) -> Result<Tensor, tch::TchError> {
    let mut shape = valid.size();
    shape.resize(like.dim(), 1);
    valid.f_reshape(shape.as_slice())
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
