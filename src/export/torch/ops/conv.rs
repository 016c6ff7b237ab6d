//! Convolutions and pools. avc's sequences are `[B, T, F]`; PyTorch's 1-d layers want
//! `[B, F, T]`, so their lines transpose in and out, as the lowering's layers compute.

use super::{Emitted, NodeView, keyword};
use crate::export::torch::template::{Num, Template, int};
use avc_lang::ops::conv::{Conv1d, Padding};
use avc_lang::ops::conv2d::Conv2d;

/// The shared arguments of `nn.Conv1d` / `nn.Conv2d` after in, out and kernel; the sides
/// padded before and after when they differ (padded explicitly then).
struct Conv {
    stride: i64,
    padding: Padding,
    kernel: i64,
    dilation: i64,
    groups: i64,
    bias: bool,
}

/// The [`Conv`] of a `conv1d` or `conv2d` node: the two ops share these parameters.
macro_rules! conv_of {
    ($c:expr) => {
        Conv {
            stride: $c.stride,
            padding: $c.padding,
            kernel: $c.kernel,
            dilation: $c.dilation,
            groups: $c.groups,
            bias: $c.bias,
        }
    };
}

impl Conv {
    fn module(&self, class: &str, (c_in, out): (i64, i64), node: &NodeView) -> (Template, Option<(i64, i64)>) {
        let mut t = Template::parse(
            &format!("nn.{class}({{}}, {{}}, {{}}"),
            [int("in_channels", None, c_in), int("out", Some("out"), out), int("kernel", Some("kernel"), self.kernel)],
        );
        t = keyword(t, node, "stride", "stride", int("stride", Some("stride"), self.stride), self.stride == 1);
        let (before, after) = self.padding.sides(self.kernel, self.dilation);
        let unequal = (before != after).then_some((before, after));
        if unequal.is_none() {
            let given = (node.given)("padding");
            if before != 0 || given {
                t = t.t(", padding=").num(int("padding", Some("padding"), before));
            }
        }
        t = keyword(
            t,
            node,
            "dilation",
            "dilation",
            int("dilation", Some("dilation"), self.dilation),
            self.dilation == 1,
        );
        t = keyword(t, node, "groups", "groups", int("groups", Some("groups"), self.groups), self.groups == 1);
        if !self.bias {
            t = t.t(", bias=False");
        }
        (t.t(")"), unequal)
    }
}

fn side(hint: &'static str, value: i64) -> Num {
    int(hint, Some("padding"), value)
}

pub(super) fn conv1d(c: &Conv1d, node: &NodeView) -> Result<Emitted, String> {
    let (module, unequal) = conv_of!(c).module("Conv1d", (node.fixed(0, 2)?, c.out), node);
    let call = match unequal {
        None => Template::parse("{m}({x0}.transpose(1, 2)).transpose(1, 2)", []),
        Some((b, a)) => Template::parse(
            "{m}(F.pad({x0}.transpose(1, 2), ({}, {}))).transpose(1, 2)",
            [side("pad_before", b), side("pad_after", a)],
        ),
    };
    Ok(Emitted::module(module, call))
}

pub(super) fn conv2d(c: &Conv2d, node: &NodeView) -> Result<Emitted, String> {
    let (module, unequal) = conv_of!(c).module("Conv2d", (node.fixed(0, 1)?, c.out), node);
    let call = match unequal {
        None => Template::parse("{m}({x0})", []),
        Some((b, a)) => Template::parse(
            "{m}(F.pad({x0}, ({}, {}, {}, {})))",
            [side("pad_before", b), side("pad_after", a), side("pad_before", b), side("pad_after", a)],
        ),
    };
    Ok(Emitted::module(module, call))
}

/// `F.max_pool1d` / `F.avg_pool1d` over time (no padding: every window is whole).
pub(super) fn pool1d(kind: &str, kernel: i64, stride: i64, node: &NodeView) -> Emitted {
    let t = Template::parse(
        &format!("F.{kind}_pool1d({{x0}}.transpose(1, 2), {{}}"),
        [int("kernel", Some("kernel"), kernel)],
    );
    Emitted::call(strided(t, kernel, stride, node).t(").transpose(1, 2)"))
}

pub(super) fn pool2d(kind: &str, kernel: i64, stride: i64, node: &NodeView) -> Emitted {
    let t = Template::parse(&format!("F.{kind}_pool2d({{x0}}, {{}}"), [int("kernel", Some("kernel"), kernel)]);
    Emitted::call(strided(t, kernel, stride, node).t(")"))
}

/// The stride argument, left out where it is the kernel (PyTorch's default).
fn strided(t: Template, kernel: i64, stride: i64, node: &NodeView) -> Template {
    if stride == kernel && !(node.given)("stride") {
        return t;
    }
    t.t(", ").num(int("stride", Some("stride"), stride))
}

pub(super) fn adaptive1d(kind: &str, size: i64) -> Emitted {
    let call = format!("F.adaptive_{kind}_pool1d({{x0}}.transpose(1, 2), {{}}).transpose(1, 2)");
    Emitted::call(Template::parse(&call, [int("size", Some("size"), size)]))
}

pub(super) fn adaptive2d(kind: &str, size: i64) -> Emitted {
    Emitted::call(Template::parse(
        &format!("F.adaptive_{kind}_pool2d({{x0}}, {{}})"),
        [int("size", Some("size"), size)],
    ))
}
