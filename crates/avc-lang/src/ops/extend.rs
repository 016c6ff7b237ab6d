//! Ops that make a tensor larger without weights: `stack` (a new axis), `pad` (constant
//! steps before and after), `repeat` (tiling), `expand` (a size-1 axis broadcast, or a
//! learned tensor given a batch) and `flip` (time reversal).

use super::{ArgReader, Arity, Default, Op, OpImpl, OpSpec, ParamKind, ParamSpec, Results, ShapeError, ValueRange};
use crate::shape::{Dim, Shape};

const AXIS_DOC: &str = "the axis, counted with the batch as axis 0 (which is refused); negative counts from the end";

fn resolve(axis: i64, x: &Shape, input: usize) -> Result<usize, ShapeError> {
    match x.axis(axis) {
        Some(a) if a > 0 => Ok(a),
        _ => Err(ShapeError::input(input, format!("an axis {axis} other than the batch"), x)
            .hint("axes count from 0 (the batch) to rank - 1; negative ones from the end")),
    }
}

/// A symbolic length grown by a constant: `T+2`, `T*3`.
fn grown(d: &Dim, op: char, k: i64) -> Dim {
    match (d, op) {
        (Dim::Fixed(n), '+') => Dim::Fixed(n.saturating_add(k)),
        (Dim::Fixed(n), _) => Dim::Fixed(n.saturating_mul(k)),
        (other, '+') => other.plus(k),
        (other, _) if k == 1 => other.clone(),
        (other, _) => Dim::Sym(format!("{}*{k}", other.factor_text())),
    }
}

/// `stack(a, b, axis: 1)`: inputs of one shape side by side on a new axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Stack {
    pub axis: i64,
}

impl Stack {
    pub const SPEC: OpSpec = OpSpec {
        name: "stack",
        family: "extend",
        summary: "Inputs of the same shape side by side on a new axis (as `torch.stack(xs, dim)`): two \
                  towers' summaries as a 2-step sequence for attention across modalities.",
        shape_rule: "[B, F], [B, F] -> [B, 2, F] (axis: 1)",
        arity: Arity::AtLeast(2),
        results: Results::One,
        params: &[ParamSpec {
            name: "axis",
            kind: ParamKind::Int,
            default: Some(Default::Int(1)),
            doc: "the new axis's place in the result, counted with the batch as axis 0; negative counts from the end",
        }],
        parse: |r: &mut ArgReader| Op::Stack(Stack { axis: r.int("axis") }),
    };

    /// The new axis's index in a result of rank `rank + 1`.
    pub fn resolve_axis(&self, rank: usize) -> Option<usize> {
        let out_rank = rank as i64 + 1;
        let a = if self.axis < 0 { self.axis + out_rank } else { self.axis };
        (1..out_rank).contains(&a).then_some(a as usize)
    }
}

impl OpImpl for Stack {
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        let first = &ins[0];
        if let Some((i, other)) = ins.iter().enumerate().skip(1).find(|(_, s)| *s != first) {
            return Err(ShapeError::input(i, format!("{first}, the shape of the first input"), other)
                .hint("stacked inputs must have the same shape"));
        }
        let a = self.resolve_axis(first.rank()).ok_or_else(|| {
            ShapeError::input(0, format!("a place {} for the new axis after the batch", self.axis), first)
                .hint(format!("the result has rank {}: the new axis goes at 1 to {}", first.rank() + 1, first.rank()))
        })?;
        let mut dims = first.0.clone();
        dims.insert(a, Dim::Fixed(ins.len() as i64));
        Ok(Shape::new(dims))
    }

    fn value_range(&self) -> ValueRange {
        ValueRange::Unbounded
    }

    fn describe(&self) -> String {
        format!("axis={}", self.axis)
    }
}

/// `pad(x, axis: 1, before: 2, after: 0, value: 0)`: constant steps at either end.
#[derive(Debug, Clone, PartialEq)]
pub struct Pad {
    pub axis: i64,
    pub before: i64,
    pub after: i64,
    pub value: f64,
}

impl Pad {
    pub const SPEC: OpSpec = OpSpec {
        name: "pad",
        family: "extend",
        summary: "Adds `before` and `after` elements of a constant `value` at the ends of one axis (as \
                  `F.pad`, constant mode): a causal window, lengths made equal before `concat`.",
        shape_rule: "[B, T, F] -> [B, T+3, F] (axis: 1, before: 2, after: 1)",
        arity: Arity::Exactly(1),
        results: Results::One,
        params: &[
            ParamSpec { name: "axis", kind: ParamKind::Int, default: Some(Default::Int(1)), doc: AXIS_DOC },
            ParamSpec {
                name: "before",
                kind: ParamKind::Int,
                default: Some(Default::Int(0)),
                doc: "elements added before the first",
            },
            ParamSpec {
                name: "after",
                kind: ParamKind::Int,
                default: Some(Default::Int(0)),
                doc: "elements added after the last",
            },
            ParamSpec { name: "value", kind: ParamKind::Float, default: Some(Default::Float(0.0)), doc: "their value" },
        ],
        parse: |r: &mut ArgReader| {
            let before = r.int_at_least("before", 0);
            let after = r.int_at_least("after", 0);
            if before == 0 && after == 0 {
                r.missing_one_of(&["before", "after"]);
            }
            Op::Pad(Pad { axis: r.int("axis"), before, after, value: r.float("value") })
        },
    };
}

impl OpImpl for Pad {
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        let x = &ins[0];
        let a = resolve(self.axis, x, 0)?;
        Ok(x.with_dim(a, grown(&x.0[a], '+', self.before.saturating_add(self.after))))
    }

    fn describe(&self) -> String {
        format!("axis={} before={} after={} value={}", self.axis, self.before, self.after, self.value)
    }
}

/// `repeat(x, axis: 1, times: 2)`: the whole axis, `times` over (tiling).
#[derive(Debug, Clone, PartialEq)]
pub struct Repeat {
    pub axis: i64,
    pub times: i64,
}

impl Repeat {
    pub const SPEC: OpSpec = OpSpec {
        name: "repeat",
        family: "extend",
        summary: "The whole axis `times` over, one copy after another (as `x.repeat` with 1 on the other \
                  axes): `[a, b]` twice is `[a, b, a, b]`.",
        shape_rule: "[B, T, F] -> [B, 2T, F] (axis: 1, times: 2)",
        arity: Arity::Exactly(1),
        results: Results::One,
        params: &[
            ParamSpec { name: "axis", kind: ParamKind::Int, default: Some(Default::Int(1)), doc: AXIS_DOC },
            ParamSpec { name: "times", kind: ParamKind::Int, default: None, doc: "how many copies (1 or more)" },
        ],
        parse: |r: &mut ArgReader| Op::Repeat(Repeat { axis: r.int("axis"), times: r.int_at_least("times", 1) }),
    };
}

impl OpImpl for Repeat {
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }

    fn value_range(&self) -> ValueRange {
        ValueRange::OfInput
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        let x = &ins[0];
        let a = resolve(self.axis, x, 0)?;
        Ok(x.with_dim(a, grown(&x.0[a], '*', self.times)))
    }

    fn describe(&self) -> String {
        format!("axis={} times={}", self.axis, self.times)
    }
}

/// `expand(x, axis: 2, size: 8)` broadcasts a size-1 axis; `expand(cls, x)` gives a learned
/// tensor the batch of `x`.
#[derive(Debug, Clone, PartialEq)]
pub struct Expand {
    pub axis: Option<i64>,
    pub size: Option<i64>,
}

impl Expand {
    pub const SPEC: OpSpec = OpSpec {
        name: "expand",
        family: "extend",
        summary: "Broadcasts without copying (as `x.expand`). With one input, `axis` of size 1 becomes `size`. \
                  With two, a learned tensor (`param`, no batch axis) whose first axis has size 1 gets the \
                  second input's batch: `concat(expand(cls, x), x, axis: 1)` puts a CLS token before a \
                  sequence, as `torch.cat([cls.expand(x.size(0), -1, -1), x], 1)`.",
        shape_rule: "[B, T, 1] -> [B, T, 8] (axis: 2, size: 8); [1, 1, F] and [B, T, F] -> [B, 1, F]",
        arity: Arity::Range(1, 2),
        results: Results::One,
        params: &[
            ParamSpec {
                name: "axis",
                kind: ParamKind::Int,
                default: Some(Default::Unset),
                doc: "one input: the axis of size 1 to broadcast",
            },
            ParamSpec {
                name: "size",
                kind: ParamKind::Int,
                default: Some(Default::Unset),
                doc: "one input: its new size",
            },
        ],
        parse: |r: &mut ArgReader| {
            let axis = r.int_opt("axis");
            let size = r.int_opt("size");
            if let Some(s) = size
                && s < 1
            {
                r.out_of_range("size", "1 or more".into(), s.to_string());
            }
            Op::Expand(Expand { axis, size })
        },
    };
}

impl OpImpl for Expand {
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }

    fn value_range(&self) -> ValueRange {
        ValueRange::OfInput
    }

    fn takes_unbatched(&self) -> bool {
        true
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        let x = &ins[0];
        let batched = super::arith::is_batched(x);
        if let [_, like] = ins {
            if batched || x.0.first() != Some(&Dim::Fixed(1)) {
                return Err(ShapeError::input(0, "a learned tensor (no batch axis) whose first axis is 1", x)
                    .hint("`expand(cls, x)` gives a `param` the batch of `x`; one input with `axis:` and `size:` broadcasts an axis"));
            }
            if self.axis.is_some() || self.size.is_some() {
                return Err(ShapeError::input(1, "no `axis:`/`size:` with a second input", like)
                    .hint("with a second input, only the batch axis is taken from it"));
            }
            if !super::arith::is_batched(like) {
                return Err(ShapeError::input(1, "a tensor with a batch axis", like));
            }
            return Ok(x.with_dim(0, Dim::Batch));
        }
        let (Some(axis), Some(size)) = (self.axis, self.size) else {
            return Err(ShapeError::input(0, "`axis:` and `size:` (or a second input to take the batch of)", x));
        };
        if !batched {
            return Err(ShapeError::input(0, "a tensor with a batch axis", x)
                .hint("a learned tensor already broadcasts in arithmetic; `expand(p, x)` gives it a batch"));
        }
        let a = resolve(axis, x, 0)?;
        if x.0[a] != Dim::Fixed(1) {
            return Err(ShapeError::input(0, format!("size 1 on axis {a}"), x)
                .at_axis(a)
                .hint("only an axis of size 1 broadcasts; `repeat` copies a longer one"));
        }
        Ok(x.with_dim(a, Dim::Fixed(size)))
    }

    fn describe(&self) -> String {
        match (self.axis, self.size) {
            (Some(a), Some(s)) => format!("axis={a} size={s}"),
            _ => "batch".into(),
        }
    }
}

/// `flip(x, axis: 1)`: an axis in reverse order (time reversal).
#[derive(Debug, Clone, PartialEq)]
pub struct Flip {
    pub axis: i64,
}

impl Flip {
    pub const SPEC: OpSpec = OpSpec {
        name: "flip",
        family: "extend",
        summary: "One axis in reverse order (as `torch.flip(x, [dim])`): time reversal, the backward half \
                  of a hand-made bidirectional tower.",
        shape_rule: "[B, T, F] -> [B, T, F]",
        arity: Arity::Exactly(1),
        results: Results::One,
        params: &[ParamSpec { name: "axis", kind: ParamKind::Int, default: Some(Default::Int(1)), doc: AXIS_DOC }],
        parse: |r: &mut ArgReader| Op::Flip(Flip { axis: r.int("axis") }),
    };
}

impl OpImpl for Flip {
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }

    fn value_range(&self) -> ValueRange {
        ValueRange::OfInput
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        resolve(self.axis, &ins[0], 0)?;
        Ok(ins[0].clone())
    }

    fn describe(&self) -> String {
        format!("axis={}", self.axis)
    }
}
