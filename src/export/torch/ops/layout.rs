//! Ops that move, pick or join values: axes are resolved against the checked shapes as the
//! lowering resolves them, so the Python reads the same elements.

use super::{Emitted, NodeView, axis_num, axis_of};
use crate::export::torch::template::{Num, Template, float, int, ints};
use avc_lang::ops::axes::{Permute, Unsqueeze};
use avc_lang::ops::embedding::Positions;
use avc_lang::ops::extend::{Expand, Pad, Repeat, Stack};
use avc_lang::ops::parts::{Chunk, Index, Split};
use avc_lang::ops::slice::Slice;

/// `name(x, dim=axis)` along an axis resolved on the input's rank.
pub(super) fn along(name: &str, axis: i64, node: &NodeView) -> Result<Emitted, String> {
    let a = node.ins.first().and_then(|x| x.axis(axis)).ok_or_else(|| format!("axis {axis} does not fit the input"))?;
    Ok(Emitted::call(Template::parse(&format!("{name}({{x0}}, dim={{}})"), [axis_num(a)])))
}

/// `torch.cat([a, b, ...], dim=axis)`.
pub(super) fn concat(axis: i64, node: &NodeView) -> Emitted {
    let t = joined("torch.cat([", node.ins.len()).t("], dim=").num(int("axis", Some("axis"), axis)).t(")");
    Emitted::call(t)
}

pub(super) fn stack(c: &Stack, node: &NodeView) -> Result<Emitted, String> {
    let a = c.resolve_axis(node.rank(0)).ok_or_else(|| format!("axis {} does not fit the inputs", c.axis))?;
    Ok(Emitted::call(joined("torch.stack([", node.ins.len()).t("], dim=").num(axis_num(a)).t(")")))
}

/// `start` then the inputs, comma-separated.
fn joined(start: &str, n: usize) -> Template {
    let mut t = Template::parse(start, []);
    for i in 0..n {
        if i > 0 {
            t = t.t(", ");
        }
        t = t.x(i);
    }
    t
}

/// `x.mean(dim=a)`, `x.amax(dim=a)`, `x.sum(dim=a)`.
pub(super) fn reduce(method: &str, axis: i64, node: &NodeView) -> Result<Emitted, String> {
    let a = node.ins.first().and_then(|x| x.axis(axis)).ok_or_else(|| format!("axis {axis} does not fit the input"))?;
    Ok(Emitted::call(Template::parse(&format!("{{x0}}.{method}(dim={{}})"), [axis_num(a)])))
}

pub(super) fn transpose(a: i64, b: i64) -> Emitted {
    Emitted::call(Template::parse("{x0}.transpose({}, {})", [int("a", Some("a"), a), int("b", Some("b"), b)]))
}

/// The batch kept, the rest as given (`-1` for the batch where no other size is left open).
pub(super) fn reshape(shape: &[i64]) -> Emitted {
    let batch = if shape.contains(&-1) { "{x0}.shape[0]" } else { "-1" };
    let dims: Vec<Num> = shape.iter().map(|&d| int("shape", Some("shape"), d)).collect();
    let holes = vec![", {}"; dims.len()].concat();
    Emitted::call(Template::parse(&format!("{{x0}}.reshape({batch}{holes})"), dims))
}

pub(super) fn unsqueeze(c: &Unsqueeze, node: &NodeView) -> Result<Emitted, String> {
    let a = node
        .ins
        .first()
        .and_then(|s| c.resolved(s))
        .ok_or_else(|| format!("axis {} does not fit the input", c.axis))?;
    Ok(Emitted::call(Template::parse("{x0}.unsqueeze({})", [axis_num(a)])))
}

pub(super) fn permute(c: &Permute, node: &NodeView) -> Result<Emitted, String> {
    let x = node.ins.first().ok_or("no input")?;
    let dims = c.resolved(x).map_err(|e| e.expected)?;
    let dims: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
    Ok(Emitted::call(Template::parse(&format!("{{x0}}.permute({})", ints(&dims)), [])))
}

/// `x[:, :, ...` up to axis `a`.
fn index_prefix(a: usize) -> String {
    format!("{{x0}}[{}", ":, ".repeat(a))
}

/// Python's slice on the resolved axis: the lowering's bounds are Python's.
pub(super) fn slice(c: &Slice, node: &NodeView) -> Result<Emitted, String> {
    let x = node.ins.first().ok_or("no input")?;
    let a = c.resolve_axis(x).ok_or_else(|| format!("axis {} does not fit the input", c.axis))?;
    let mut t = Template::parse(&index_prefix(a), []);
    if c.start != 0 {
        t = t.num(int("start", Some("start"), c.start));
    }
    t = t.t(":");
    if let Some(end) = c.end {
        t = t.num(int("end", Some("end"), end));
    }
    Ok(Emitted::call(t.t("]")))
}

/// A fixed range of one axis: `x[:, :, start:end]`.
fn range(a: usize, start: i64, len: i64) -> Emitted {
    let t = Template::parse(
        &format!("{}{{}}:{{}}]", index_prefix(a)),
        [int("start", None, start), int("end", None, start + len)],
    );
    Emitted::call(t)
}

pub(super) fn chunk(c: &Chunk, node: &NodeView) -> Result<Emitted, String> {
    let a = axis_of(c.axis, node, 0)?;
    let len = node.fixed(0, a)? / c.chunks.max(1);
    Ok(range(a, c.index * len, len))
}

pub(super) fn split(c: &Split, node: &NodeView) -> Result<Emitted, String> {
    Ok(range(axis_of(c.axis, node, 0)?, c.start(), c.part_len()))
}

pub(super) fn select(axis: i64, index: i64, node: &NodeView) -> Result<Emitted, String> {
    let a = axis_of(axis, node, 0)?;
    Ok(Emitted::call(Template::parse(&format!("{}{{}}]", index_prefix(a)), [int("index", Some("index"), index)])))
}

/// A list of indexes on one axis (`index_select`), made non-negative where the size is known.
pub(super) fn index(c: &Index, node: &NodeView) -> Result<Emitted, String> {
    let a = axis_of(c.axis, node, 0)?;
    let indices = match node.fixed(0, a) {
        Ok(n) => c.resolved(n),
        Err(_) => c.indices.clone(),
    };
    Ok(Emitted::call(Template::parse(&format!("{}[{}]]", index_prefix(a), ints(&indices)), [])))
}

/// `F.pad` with PyTorch's list: a pair per axis from the last back to the padded one.
pub(super) fn pad(c: &Pad, node: &NodeView) -> Result<Emitted, String> {
    let a = axis_of(c.axis, node, 0)?;
    let after_it = node.rank(0) - 1 - a;
    let zeros = "0, ".repeat(2 * after_it);
    let mut t = Template::parse(
        &format!("F.pad({{x0}}, ({zeros}{{}}, {{}})"),
        [int("before", Some("before"), c.before), int("after", Some("after"), c.after)],
    );
    if c.value != 0.0 || (node.given)("value") {
        t = t.t(", value=").num(float("value", "value", c.value));
    }
    Ok(Emitted::call(t.t(")")))
}

pub(super) fn repeat(c: &Repeat, node: &NodeView) -> Result<Emitted, String> {
    let a = axis_of(c.axis, node, 0)?;
    let mut t = Template::parse("{x0}.repeat(", []);
    for i in 0..node.rank(0) {
        if i > 0 {
            t = t.t(", ");
        }
        t = if i == a { t.num(int("times", Some("times"), c.times)) } else { t.t("1") };
    }
    Ok(Emitted::call(t.t(")")))
}

/// Every axis kept (`-1`) but one: the given size, or the batch of the second input.
pub(super) fn expand(c: &Expand, node: &NodeView) -> Result<Emitted, String> {
    let a = match c.axis {
        Some(axis) => axis_of(axis, node, 0)?,
        None => 0,
    };
    let mut t = Template::parse("{x0}.expand(", []);
    for i in 0..node.rank(0) {
        if i > 0 {
            t = t.t(", ");
        }
        t = match (i == a, c.size) {
            (false, _) => t.t("-1"),
            (true, Some(size)) => t.num(int("size", Some("size"), size)),
            (true, None) if node.ins.len() > 1 => t.x(1).t(".shape[0]"),
            (true, None) => return Err("no size and no second input".into()),
        };
    }
    Ok(Emitted::call(t.t(")")))
}

pub(super) fn flip(axis: i64, node: &NodeView) -> Result<Emitted, String> {
    Ok(Emitted::call(Template::parse("{x0}.flip({})", [axis_num(axis_of(axis, node, 0)?)])))
}

/// `0, 1, ..., T - 1` along an axis, per sample, in the input's type.
pub(super) fn positions(c: &Positions, node: &NodeView) -> Result<Emitted, String> {
    let x = node.ins.first().ok_or("no input")?;
    let a = c.resolve_axis(x).ok_or_else(|| format!("axis {} does not fit the input", c.axis))?;
    let call = "torch.arange({x0}.shape[{}], dtype={x0}.dtype, device={x0}.device).expand({x0}.shape[0], -1)";
    Ok(Emitted::call(Template::parse(call, [axis_num(a)])))
}
