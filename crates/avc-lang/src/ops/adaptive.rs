//! Adaptive pooling: windows sized to the input so the output has a chosen size, whatever
//! the input's (PyTorch's nn.AdaptiveAvgPool1d/2d and nn.AdaptiveMaxPool1d/2d). Output
//! position i pools input steps floor(i * n / size) to ceil((i + 1) * n / size); windows
//! may overlap or repeat when `size` does not divide n or exceeds it. A symbolic length
//! `T` becomes the fixed `size`, which is what makes these pools useful after a
//! variable-length encoder.

use super::{ArgReader, Arity, Op, OpImpl, OpSpec, ParamKind, ParamSpec, ShapeError, ValueRange, expect_rank};
use crate::shape::{Dim, Shape};

const SIZE_1D: ParamSpec =
    ParamSpec { name: "size", kind: ParamKind::Int, default: None, doc: "output length in steps" };

const SIZE_2D: ParamSpec =
    ParamSpec { name: "size", kind: ParamKind::Int, default: None, doc: "output height and width" };

/// Declares an adaptive pooling op over the time axis of `[B, T, F]`.
macro_rules! adaptive1d {
    ($ty:ident, $name:literal, $summary:literal) => {
        #[doc = concat!("`", $name, "(x, size: S)`: ", $summary)]
        #[derive(Debug, Clone, PartialEq)]
        pub struct $ty {
            pub size: i64,
        }

        impl $ty {
            pub const SPEC: OpSpec = OpSpec {
                name: $name,
                family: "conv",
                summary: $summary,
                shape_rule: "[B, T, F] -> [B, size, F]",
                arity: Arity::Exactly(1),
                results: super::Results::One,
                params: &[SIZE_1D],
                parse: |r: &mut ArgReader| Op::$ty($ty { size: r.int_at_least("size", 1) }),
            };
        }

        impl OpImpl for $ty {
            fn spec(&self) -> &'static OpSpec {
                &Self::SPEC
            }
            fn value_range(&self) -> ValueRange {
                ValueRange::OfInput
            }
            fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
                expect_rank(ins, 0, 3, "[B, T, F]")?;
                Ok(ins[0].with_dim(1, Dim::Fixed(self.size)))
            }
            fn describe(&self) -> String {
                format!("size={}", self.size)
            }
        }
    };
}

/// Declares an adaptive pooling op over both spatial axes of `[B, C, H, W]`.
macro_rules! adaptive2d {
    ($ty:ident, $name:literal, $summary:literal) => {
        #[doc = concat!("`", $name, "(x, size: S)`: ", $summary)]
        #[derive(Debug, Clone, PartialEq)]
        pub struct $ty {
            pub size: i64,
        }

        impl $ty {
            pub const SPEC: OpSpec = OpSpec {
                name: $name,
                family: "conv",
                summary: $summary,
                shape_rule: "[B, C, H, W] -> [B, C, size, size]",
                arity: Arity::Exactly(1),
                results: super::Results::One,
                params: &[SIZE_2D],
                parse: |r: &mut ArgReader| Op::$ty($ty { size: r.int_at_least("size", 1) }),
            };
        }

        impl OpImpl for $ty {
            fn spec(&self) -> &'static OpSpec {
                &Self::SPEC
            }
            fn value_range(&self) -> ValueRange {
                ValueRange::OfInput
            }
            fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
                expect_rank(ins, 0, 4, "[B, C, H, W]").map_err(|e| match ins[0].rank() {
                    3 => e.hint("for a sequence [B, T, F], use the 1-d form"),
                    _ => e,
                })?;
                Ok(ins[0].with_dim(2, Dim::Fixed(self.size)).with_dim(3, Dim::Fixed(self.size)))
            }
            fn describe(&self) -> String {
                format!("size={}", self.size)
            }
        }
    };
}

adaptive1d!(
    AdaptiveAvgPool1d,
    "adaptive_avgpool1d",
    "Mean over `size` windows of time sized to the input, per feature (nn.AdaptiveAvgPool1d)."
);
adaptive1d!(
    AdaptiveMaxPool1d,
    "adaptive_maxpool1d",
    "Maximum over `size` windows of time sized to the input, per feature (nn.AdaptiveMaxPool1d)."
);
adaptive2d!(
    AdaptiveAvgPool2d,
    "adaptive_avgpool2d",
    "Mean over a size x size grid of windows sized to the image, per channel (nn.AdaptiveAvgPool2d)."
);
adaptive2d!(
    AdaptiveMaxPool2d,
    "adaptive_maxpool2d",
    "Maximum over a size x size grid of windows sized to the image, per channel (nn.AdaptiveMaxPool2d)."
);
