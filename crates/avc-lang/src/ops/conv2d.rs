//! Convolution and pooling over images `[B, C, H, W]`, PyTorch's own layout (NCHW), so
//! weights keep nn.Conv2d's `[out, C, kernel, kernel]`. A sequence `[B, T, F]` becomes a
//! one-channel image `[B, 1, T, F]` by inserting an axis first; these ops never guess it.
//! Kernels are square; sizes follow PyTorch's floor formula on both spatial axes.

use super::conv::{
    DILATION, GROUPS, POOL_STRIDE, Padding, check_groups, describe_dilation, describe_groups, describe_pool, pool_args,
    read_padding, windowed,
};
use super::product;
use super::{ArgReader, Arity, Default, Op, OpImpl, OpSpec, ParamKind, ParamSpec, ShapeError, expect_rank, fixed_axis};
use crate::shape::{Dim, Shape};

/// Checks the input is an image, with a hint for the common slip of passing a sequence.
fn expect_image(ins: &[Shape]) -> Result<(), ShapeError> {
    expect_rank(ins, 0, 4, "[B, C, H, W]").map_err(|e| match ins[0].rank() {
        3 => e.hint("a sequence [B, T, F] becomes a one-channel image [B, 1, T, F] with `unsqueeze` at axis 1"),
        _ => e,
    })
}

/// The output height and width of a square window sliding over both spatial axes.
fn windowed_image(ins: &[Shape], kernel: i64, stride: i64, pad: i64, dilation: i64) -> Result<(Dim, Dim), ShapeError> {
    let hint = "the image is smaller than the window; lower `kernel` or pool less before this node";
    let h = windowed(ins, 2, "rows (H)", hint, (kernel, stride, pad), dilation)?;
    let w = windowed(ins, 3, "columns (W)", hint, (kernel, stride, pad), dilation)?;
    Ok((h, w))
}

/// `conv2d(x, out: C, kernel: K)`: a 2-D convolution with a square kernel.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv2d {
    pub out: i64,
    pub kernel: i64,
    pub stride: i64,
    pub padding: Padding,
    pub dilation: i64,
    pub bias: bool,
    pub groups: i64,
}

/// The words a 2-D convolution's `padding` accepts besides an integer (no `causal`: an
/// image has no direction of time).
pub const PADDINGS_2D: &[&str] = &["same"];

impl Conv2d {
    pub const SPEC: OpSpec = OpSpec {
        name: "conv2d",
        family: "conv",
        summary: "2-D convolution with a square kernel over images in PyTorch's layout. \
                  Xavier-initialised weight of shape [out, C / groups, kernel, kernel].",
        shape_rule: "[B, C, H, W] -> [B, out, (H + 2*padding - dilation*(kernel - 1) - 1) / stride + 1, \
                     (W + 2*padding - dilation*(kernel - 1) - 1) / stride + 1]; [B, C, H, W] -> [B, out, H, W] \
                     with `same`",
        arity: Arity::Exactly(1),
        results: super::Results::One,
        params: &[
            ParamSpec { name: "out", kind: ParamKind::Int, default: None, doc: "output channels" },
            ParamSpec { name: "kernel", kind: ParamKind::Int, default: None, doc: "window side (height and width)" },
            ParamSpec {
                name: "stride",
                kind: ParamKind::Int,
                default: Some(Default::Int(1)),
                doc: "step between windows on both axes",
            },
            ParamSpec {
                name: "padding",
                kind: ParamKind::IntOrChoice(PADDINGS_2D),
                default: Some(Default::Int(0)),
                doc: "zero rows and columns added on every side; `same`: as many as keep the size (stride 1 \
                      only, as PyTorch's padding='same': dilation * (kernel - 1) per axis, the odd one at the end)",
            },
            DILATION,
            ParamSpec {
                name: "bias",
                kind: ParamKind::Bool,
                default: Some(Default::Bool(true)),
                doc: "learn a bias per channel",
            },
            GROUPS,
        ],
        parse: |r: &mut ArgReader| {
            let stride = r.int_at_least("stride", 1);
            Op::Conv2d(Conv2d {
                out: r.int_at_least("out", 1),
                kernel: r.int_at_least("kernel", 1),
                stride,
                padding: read_padding(r, PADDINGS_2D, stride),
                dilation: r.int_at_least("dilation", 1),
                bias: r.bool("bias"),
                groups: r.int_at_least("groups", 1),
            })
        },
    };

    /// Weight entries per output channel: the input channels of its group times the window
    /// area.
    pub fn fan_in(&self, ins: &[Shape]) -> i64 {
        product(&[self.in_per_group(ins), self.kernel, self.kernel])
    }

    /// The input channels each output channel reads: `C / groups`.
    pub fn in_per_group(&self, ins: &[Shape]) -> i64 {
        ins[0].0[1].fixed().unwrap_or(1) / self.groups.max(1)
    }
}

impl OpImpl for Conv2d {
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        expect_image(ins)?;
        let c = fixed_axis(ins, 0, 1, "input channels")?;
        check_groups(ins, 1, (c, self.out, self.groups))?;
        let hint = "the image is smaller than the window; lower `kernel` or pool less before this node";
        let window = (self.kernel, self.stride, self.dilation);
        let h = self.padding.output(ins, 2, ("rows (H)", hint), window)?;
        let w = self.padding.output(ins, 3, ("columns (W)", hint), window)?;
        Ok(Shape::batched([Dim::Fixed(self.out), h, w]))
    }

    fn param_count(&self, ins: &[Shape]) -> i64 {
        product(&[self.out, self.fan_in(ins)]).saturating_add(if self.bias { self.out } else { 0 })
    }

    fn macs(&self, ins: &[Shape], out: &Shape) -> Option<i64> {
        ins[0].0[1].fixed()?;
        Some(product(&[out.per_sample_elems()?, self.fan_in(ins)]))
    }

    fn describe(&self) -> String {
        let mut s = format!("out={} kernel={}", self.out, self.kernel);
        if self.stride != 1 {
            s += &format!(" stride={}", self.stride);
        }
        s += &self.padding.describe();
        s += &describe_dilation(self.dilation);
        s += &describe_groups(self.groups);
        if !self.bias {
            s += " bias=false";
        }
        s
    }
}

/// Declares a pooling op over both spatial axes of `[B, C, H, W]` with a square window:
/// its spec and shape rule.
macro_rules! pool2d {
    ($ty:ident, $name:literal, $summary:literal) => {
        #[doc = concat!("`", $name, "(x, kernel: K)`: ", $summary)]
        #[derive(Debug, Clone, PartialEq)]
        pub struct $ty {
            pub kernel: i64,
            pub stride: i64,
        }

        impl $ty {
            pub const SPEC: OpSpec = OpSpec {
                name: $name,
                family: "conv",
                summary: $summary,
                shape_rule: "[B, C, H, W] -> [B, C, (H - kernel) / stride + 1, (W - kernel) / stride + 1]",
                arity: Arity::Exactly(1),
                results: super::Results::One,
                params: &[
                    ParamSpec {
                        name: "kernel",
                        kind: ParamKind::Int,
                        default: None,
                        doc: "window side (height and width)",
                    },
                    POOL_STRIDE,
                ],
                parse: |r: &mut ArgReader| {
                    let (kernel, stride) = pool_args(r);
                    Op::$ty($ty { kernel, stride })
                },
            };
        }

        impl OpImpl for $ty {
            fn spec(&self) -> &'static OpSpec {
                &Self::SPEC
            }

            fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
                expect_image(ins)?;
                let (h, w) = windowed_image(ins, self.kernel, self.stride, 0, 1)?;
                Ok(ins[0].with_dim(2, h).with_dim(3, w))
            }

            fn describe(&self) -> String {
                describe_pool(self.kernel, self.stride)
            }
        }
    };
}

pool2d!(MaxPool2d, "maxpool2d", "Maximum over square windows of each channel.");
pool2d!(AvgPool2d, "avgpool2d", "Mean over square windows of each channel.");
