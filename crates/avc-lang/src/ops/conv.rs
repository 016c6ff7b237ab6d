//! Convolution and pooling over time. Sequences stay batch-first `[B, T, F]` (features
//! are the channels); the layer transposes to PyTorch's `[B, C, T]` internally, so a
//! researcher never writes the transpose and weights keep nn.Conv1d's `[out, in, kernel]`.

use super::product;
use super::{
    ArgReader, Arity, Default, IntOrChoice, Op, OpImpl, OpSpec, ParamKind, ParamSpec, ShapeError, expect_rank,
    fixed_axis,
};
use crate::shape::{Dim, Shape};

/// `conv1d(x, out: C, kernel: K)`: a 1-D convolution over the time axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv1d {
    pub out: i64,
    pub kernel: i64,
    pub stride: i64,
    pub padding: Padding,
    pub dilation: i64,
    pub bias: bool,
    pub groups: i64,
}

impl Conv1d {
    pub const SPEC: OpSpec = OpSpec {
        name: "conv1d",
        family: "conv",
        summary: "1-D convolution over time; the feature axis is the channel axis. \
                  Xavier-initialised weight of shape [out, F / groups, kernel]; `groups: F` is a \
                  depthwise convolution.",
        shape_rule: "[B, T, F] -> [B, (T + 2*padding - dilation*(kernel - 1) - 1) / stride + 1, out]; \
                     [B, T, F] -> [B, T, out] with `same`, and with `causal` at stride 1",
        arity: Arity::Exactly(1),
        results: super::Results::One,
        params: &[
            ParamSpec { name: "out", kind: ParamKind::Int, default: None, doc: "output channels" },
            ParamSpec { name: "kernel", kind: ParamKind::Int, default: None, doc: "window length in steps" },
            ParamSpec {
                name: "stride",
                kind: ParamKind::Int,
                default: Some(Default::Int(1)),
                doc: "step between windows",
            },
            ParamSpec {
                name: "padding",
                kind: ParamKind::IntOrChoice(PADDINGS_1D),
                default: Some(Default::Int(0)),
                doc: "zero steps added at both ends; `same`: as many as keep the length (stride 1 only, \
                      as PyTorch's padding='same': dilation * (kernel - 1) in all, the odd one at the end); \
                      `causal`: dilation * (kernel - 1) at the start only, so step t sees steps up to t",
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
            Op::Conv1d(Conv1d {
                out: r.int_at_least("out", 1),
                kernel: r.int_at_least("kernel", 1),
                stride,
                padding: read_padding(r, PADDINGS_1D, stride),
                dilation: r.int_at_least("dilation", 1),
                bias: r.bool("bias"),
                groups: r.int_at_least("groups", 1),
            })
        },
    };
}

/// How a convolution pads its input with zeros.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Padding {
    /// This many zeros at both ends of each spatial axis.
    Fixed(i64),
    /// As many as keep the size at stride 1: `dilation * (kernel - 1)` in all, half before
    /// and the rest (one more when odd) after, as PyTorch's `padding='same'`.
    Same,
    /// `dilation * (kernel - 1)` zeros before the sequence and none after: each output step
    /// sees only its own and earlier input steps (conv1d only).
    Causal,
}

/// The words a 1-D convolution's `padding` accepts besides an integer.
pub const PADDINGS_1D: &[&str] = &["same", "causal"];

impl Padding {
    /// The zeros added before and after an axis, for a kernel of `kernel` taps `dilation`
    /// apart.
    pub fn sides(self, kernel: i64, dilation: i64) -> (i64, i64) {
        let total = span_of_kernel(kernel, dilation) - 1;
        match self {
            Padding::Fixed(p) => (p, p),
            Padding::Same => (total / 2, total - total / 2),
            Padding::Causal => (total, 0),
        }
    }

    /// ` padding=...` when it is not 0, for `describe`.
    pub fn describe(self) -> String {
        match self {
            Padding::Fixed(0) => String::new(),
            Padding::Fixed(p) => format!(" padding={p}"),
            Padding::Same => " padding=same".into(),
            Padding::Causal => " padding=causal".into(),
        }
    }

    /// The output size of an axis of size `n`: `n` itself for `same` and for `causal` at
    /// stride 1 (a symbol stays the symbol), PyTorch's floor formula otherwise, after
    /// checking that the window fits (`windowed`'s arguments).
    pub fn output(
        self,
        ins: &[Shape],
        axis: usize,
        (what, hint): (&str, &str),
        (kernel, stride, dilation): (i64, i64, i64),
    ) -> Result<Dim, ShapeError> {
        match self {
            Padding::Fixed(p) => windowed(ins, axis, what, hint, (kernel, stride, p), dilation),
            Padding::Same => Ok(ins[0].0[axis].clone()),
            // n + total - (total + 1) steps of `stride`, plus one: a window of 1, unpadded.
            Padding::Causal => Ok(ins[0].0[axis].window_out(1, stride, 0)),
        }
    }
}

/// Reads a convolution's `padding`; `same` with a stride is refused, as PyTorch refuses it.
pub fn read_padding(r: &mut ArgReader, words: &'static [&'static str], stride: i64) -> Padding {
    let padding = match r.int_or_choice("padding", 0) {
        IntOrChoice::Int(p) => Padding::Fixed(p),
        IntOrChoice::Choice(i) if words.get(i) == Some(&"causal") => Padding::Causal,
        IntOrChoice::Choice(_) => Padding::Same,
    };
    if padding == Padding::Same && stride > 1 {
        let problem = "cannot be `same` with a stride above 1 (PyTorch refuses padding='same' there too); \
                       give the padding as a number";
        r.out_of_range("padding", problem.into(), format!("stride {stride}"));
    }
    padding
}

/// The `groups` parameter of the convolutions.
pub const GROUPS: ParamSpec = ParamSpec {
    name: "groups",
    kind: ParamKind::Int,
    default: Some(Default::Int(1)),
    doc: "channel groups convolved separately (in and out channels must both divide by it); \
          the input channels make a depthwise convolution",
};

/// Checks that `groups` divides both the input channels `c` and the output channels `out`,
/// naming both when one does not.
pub fn check_groups(ins: &[Shape], axis: usize, (c, out, groups): (i64, i64, i64)) -> Result<(), ShapeError> {
    if c % groups == 0 && out % groups == 0 {
        return Ok(());
    }
    let expected = format!(
        "input and output channels divisible by groups {groups}: in {c}{}, out {out}{}",
        if c % groups == 0 { "" } else { " is not" },
        if out % groups == 0 { "" } else { " is not" }
    );
    Err(ShapeError::input(0, expected, &ins[0])
        .at_axis(axis)
        .hint("`groups` must divide both channel counts; `groups` equal to both is a depthwise convolution"))
}

/// ` groups=G` when it is not 1, for `describe`.
pub fn describe_groups(groups: i64) -> String {
    if groups == 1 { String::new() } else { format!(" groups={groups}") }
}

/// The `dilation` parameter of the convolutions: taps `dilation` steps apart, so a kernel of
/// `k` taps spans `dilation * (k - 1) + 1` steps with the weights of `k` (a TCN's growing
/// receptive field).
pub const DILATION: ParamSpec = ParamSpec {
    name: "dilation",
    kind: ParamKind::Int,
    default: Some(Default::Int(1)),
    doc: "steps between the kernel's taps; the window spans dilation * (kernel - 1) + 1 steps",
};

/// The number of steps a dilated kernel spans (saturating: an absurd size then fails the
/// window check instead of wrapping).
pub fn span_of_kernel(kernel: i64, dilation: i64) -> i64 {
    dilation.saturating_mul(kernel - 1).saturating_add(1)
}

/// ` dilation=D` when it is not 1, for `describe`.
pub fn describe_dilation(dilation: i64) -> String {
    if dilation == 1 { String::new() } else { format!(" dilation={dilation}") }
}

/// Checks that a window fits one axis (when its size is known) and returns the output size.
/// `what` names the axis's units ("time steps", "rows (H)") and `hint` says what to change.
pub fn windowed(
    ins: &[Shape],
    axis: usize,
    what: &str,
    hint: &str,
    (kernel, stride, pad): (i64, i64, i64),
    dilation: i64,
) -> Result<Dim, ShapeError> {
    let n = &ins[0].0[axis];
    let window = span_of_kernel(kernel, dilation);
    if let Some(n) = n.fixed()
        && n.saturating_add(pad.saturating_mul(2)) < window
    {
        let source = match (dilation, pad) {
            (1, 0) => "kernel".to_string(),
            (1, _) => format!("kernel {kernel}"),
            (d, _) => format!("kernel {kernel} at dilation {d} spans {window}"),
        };
        let expected = match pad {
            0 => format!("at least {window} {what} ({source})"),
            p => format!(
                "at least {} {what} with padding {p} on each side ({source})",
                window.saturating_sub(p.saturating_mul(2))
            ),
        };
        let hint = if dilation == 1 { hint.to_string() } else { hint.replace("`kernel`", "`kernel` or `dilation`") };
        return Err(ShapeError::input(0, expected, &ins[0]).at_axis(axis).hint(hint));
    }
    Ok(n.window_out(window, stride, pad))
}

/// [`windowed`] over the time axis of `[B, T, F]`.
fn windowed_time(ins: &[Shape], kernel: i64, stride: i64, pad: i64, dilation: i64) -> Result<Dim, ShapeError> {
    let hint = "the sequence is shorter than the window; lower `kernel` or pool less before this node";
    windowed(ins, 1, "time steps", hint, (kernel, stride, pad), dilation)
}

impl Conv1d {
    /// The input channels each output channel reads: `F / groups`.
    pub fn in_per_group(&self, ins: &[Shape]) -> i64 {
        ins[0].0[2].fixed().unwrap_or(0) / self.groups.max(1)
    }
}

impl OpImpl for Conv1d {
    fn steps(&self) -> super::Steps {
        super::Steps::Kept
    }
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        expect_rank(ins, 0, 3, "[B, T, F]")?;
        let f = fixed_axis(ins, 0, 2, "input channels")?;
        check_groups(ins, 2, (f, self.out, self.groups))?;
        let hint = "the sequence is shorter than the window; lower `kernel` or pool less before this node";
        let t = self.padding.output(ins, 1, ("time steps", hint), (self.kernel, self.stride, self.dilation))?;
        Ok(Shape::batched([t, Dim::Fixed(self.out)]))
    }

    fn param_count(&self, ins: &[Shape]) -> i64 {
        product(&[self.out, self.in_per_group(ins), self.kernel]).saturating_add(if self.bias { self.out } else { 0 })
    }

    fn macs(&self, ins: &[Shape], out: &Shape) -> Option<i64> {
        ins[0].0[2].fixed()?;
        Some(product(&[out.per_sample_elems()?, self.in_per_group(ins), self.kernel]))
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

/// The `stride` parameter of every pooling op: 0 (the default) stands for the kernel, so
/// windows do not overlap unless asked to.
pub const POOL_STRIDE: ParamSpec = ParamSpec {
    name: "stride",
    kind: ParamKind::Int,
    default: Some(Default::Int(0)),
    doc: "step between windows; 0 means the kernel (non-overlapping windows)",
};

/// Reads a pooling op's `kernel` and `stride`, resolving the stride's default to the kernel.
pub fn pool_args(r: &mut ArgReader) -> (i64, i64) {
    let kernel = r.int_at_least("kernel", 1);
    let stride = r.int_at_least("stride", 0);
    (kernel, if stride == 0 { kernel } else { stride })
}

/// `kernel=K`, plus the stride when it is not the kernel.
pub fn describe_pool(kernel: i64, stride: i64) -> String {
    if stride == kernel { format!("kernel={kernel}") } else { format!("kernel={kernel} stride={stride}") }
}

/// Declares a pooling op over the time axis of `[B, T, F]`: its spec and shape rule.
macro_rules! pool1d {
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
                shape_rule: "[B, T, F] -> [B, (T - kernel) / stride + 1, F]",
                arity: Arity::Exactly(1),
                results: super::Results::One,
                params: &[
                    ParamSpec { name: "kernel", kind: ParamKind::Int, default: None, doc: "window length in steps" },
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
                expect_rank(ins, 0, 3, "[B, T, F]")?;
                let t = windowed_time(ins, self.kernel, self.stride, 0, 1)?;
                Ok(ins[0].with_dim(1, t))
            }

            fn describe(&self) -> String {
                describe_pool(self.kernel, self.stride)
            }
        }
    };
}

pool1d!(MaxPool1d, "maxpool1d", "Maximum over windows of time, per feature.");
pool1d!(AvgPool1d, "avgpool1d", "Mean over windows of time, per feature.");
