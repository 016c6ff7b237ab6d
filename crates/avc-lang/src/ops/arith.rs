//! Tensor arithmetic: `sub`, `mul`, `div` and `neg` (with `add`, in combine.rs), element by
//! element with NumPy's broadcasting, checked before any tensor exists.
//!
//! Broadcasting aligns shapes from the right; two sizes agree when they are equal (the
//! same number, the same symbol, or both the batch) or one of them is 1, which stretches.
//! A symbol (`B`, `T`) only agrees with itself or 1: `[B, T, F]` and `[B, 1, F]` broadcast,
//! `[B, T, F]` and `[B, 120, F]` do not, since `T` need not be 120. A learned tensor
//! (`param`) has no batch axis and broadcasts like any other shape; the result of an
//! operation on a batched tensor must keep the batch axis first.
//!
//! A number operand is the node's `left:` or `right:` parameter: `1 - z` is
//! `sub(z, left: 1)`, `x / 8` is `div(x, right: 8)`.

use super::{ArgReader, Arity, Default, Op, OpImpl, OpSpec, ParamKind, ParamSpec, ShapeError};
use crate::shape::{Dim, Shape};

/// Two sizes broadcast: equal, or one of them 1.
fn broadcast_dim(a: &Dim, b: &Dim) -> Option<Dim> {
    match (a, b) {
        _ if a == b => Some(a.clone()),
        (Dim::Fixed(1), other) | (other, Dim::Fixed(1)) => Some(other.clone()),
        _ => None,
    }
}

/// Whether a shape starts with the batch axis (a learned tensor's does not).
pub fn is_batched(s: &Shape) -> bool {
    s.dims().first() == Some(&Dim::Batch)
}

/// The broadcast of two shapes, or the axis (of the result, from the left) where they
/// disagree.
pub fn broadcast_pair(a: &Shape, b: &Shape) -> Result<Shape, usize> {
    let rank = a.rank().max(b.rank());
    let mut dims = Vec::with_capacity(rank);
    for k in 0..rank {
        let from_end = rank - k;
        let da = a.rank().checked_sub(from_end).map(|i| &a.0[i]);
        let db = b.rank().checked_sub(from_end).map(|i| &b.0[i]);
        dims.push(match (da, db) {
            (Some(x), Some(y)) => broadcast_dim(x, y).ok_or(k)?,
            (Some(x), None) | (None, Some(x)) => x.clone(),
            (None, None) => Dim::Fixed(1),
        });
    }
    Ok(Shape(dims))
}

/// The broadcast of every input: a mismatch names both shapes and the axis; a result that
/// would not start with the batch axis (a learned tensor with more axes than the batched
/// operand) is refused.
pub fn broadcast(ins: &[Shape]) -> Result<Shape, ShapeError> {
    let mut acc = ins[0].clone();
    for (i, s) in ins.iter().enumerate().skip(1) {
        acc = broadcast_pair(&acc, s).map_err(|axis| {
            let rank = acc.rank().max(s.rank());
            let at = |x: &Shape| x.rank().checked_sub(rank - axis).map_or("none".to_string(), |j| x.0[j].to_string());
            ShapeError::input(i, format!("a shape that broadcasts with {acc}"), s).at_axis(axis).hint(format!(
                "tensor arithmetic broadcasts as NumPy does, aligning axes from the right: {acc} and {s} differ on \
                 axis {axis} ({} against {}); sizes agree when equal or when one is 1, and a symbol (B, T) only \
                 agrees with itself or 1",
                at(&acc),
                at(s)
            ))
        })?;
    }
    if ins.iter().any(is_batched) && !is_batched(&acc) {
        let (i, widest) = ins.iter().enumerate().max_by_key(|(_, s)| s.rank()).unwrap_or((0, &ins[0]));
        return Err(ShapeError::input(i, "no more axes than the batched operand", widest).hint(format!(
            "the result {acc} would not start with the batch axis: a learned tensor (`param`) has no batch axis, \
             so give it at most as many axes as the batched operand has after its batch"
        )));
    }
    Ok(acc)
}

/// The number operand of a binary op: `left:` (`2 - x`) or `right:` (`x - 2`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar {
    None,
    Left(f64),
    Right(f64),
}

impl Scalar {
    fn read(r: &mut ArgReader) -> Scalar {
        match (r.float_opt("left"), r.float_opt("right")) {
            (Some(_), Some(_)) => {
                r.refuse("right", "cannot be given with `left`: a node has one number operand at most");
                Scalar::None
            }
            (Some(x), None) => Scalar::Left(x),
            (None, Some(x)) => Scalar::Right(x),
            (None, None) => Scalar::None,
        }
    }

    fn describe(self) -> String {
        match self {
            Scalar::None => String::new(),
            Scalar::Left(x) => format!("left={}", crate::ast::format_float(x)),
            Scalar::Right(x) => format!("right={}", crate::ast::format_float(x)),
        }
    }
}

/// The `left:`/`right:` parameters every binary op has.
pub const SCALAR_PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "left",
        kind: ParamKind::Float,
        default: Some(Default::Unset),
        doc: "a number as the left operand, with one input (`2 - x`: `sub(x, left: 2)`)",
    },
    ParamSpec {
        name: "right",
        kind: ParamKind::Float,
        default: Some(Default::Unset),
        doc: "a number as the right operand, with one input (`x / 8`: `div(x, right: 8)`)",
    },
];

/// The output of a binary op: two inputs, or one input and a number.
fn binary_infer(op: &str, ins: &[Shape], scalar: Scalar) -> Result<Shape, ShapeError> {
    match (ins.len(), scalar) {
        (2, Scalar::None) => broadcast(ins),
        (1, Scalar::Left(_) | Scalar::Right(_)) => Ok(ins[0].clone()),
        (1, Scalar::None) => Err(ShapeError::input(0, "a second operand", &ins[0])
            .hint(format!("`{op}` needs two operands: a second input, or a number as `left:` or `right:`"))),
        _ => Err(ShapeError::input(1, "no second input beside a number operand", &ins[1])
            .hint(format!("`{op}` has two operands: drop the input or the `left:`/`right:` number"))),
    }
}

macro_rules! binary_op {
    ($ty:ident, $name:literal, $symbol:literal, $summary:literal, $macs:expr) => {
        #[doc = concat!("`", $name, "(a, b)`: `a ", $symbol, " b` element by element, broadcasting.")]
        #[derive(Debug, Clone, PartialEq)]
        pub struct $ty {
            pub scalar: Scalar,
        }

        impl $ty {
            pub const SPEC: OpSpec = OpSpec {
                name: $name,
                family: "arith",
                summary: $summary,
                shape_rule: concat!(
                    "[B, T, F] ",
                    $symbol,
                    " [B, 1, F] -> [B, T, F]; [B, T, F] ",
                    $symbol,
                    " [F] -> [B, T, F] (NumPy broadcasting)"
                ),
                arity: Arity::Range(1, 2),
                results: super::Results::One,
                params: SCALAR_PARAMS,
                parse: |r: &mut ArgReader| Op::$ty($ty { scalar: Scalar::read(r) }),
            };
        }

        impl OpImpl for $ty {
            fn steps(&self) -> super::Steps {
                super::Steps::Kept
            }
            fn spec(&self) -> &'static OpSpec {
                &Self::SPEC
            }

            fn takes_unbatched(&self) -> bool {
                true
            }

            fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
                binary_infer($name, ins, self.scalar)
            }

            fn macs(&self, _ins: &[Shape], out: &Shape) -> Option<i64> {
                let per_element: i64 = $macs;
                Some(per_element * out.per_sample_elems()?)
            }

            fn describe(&self) -> String {
                self.scalar.describe()
            }
        }
    };
}

binary_op!(
    Sub,
    "sub",
    "-",
    "Difference `a - b` element by element, broadcasting as NumPy does (`a - b` in the DSL); with one \
     input and `left:` or `right:`, a number minus the input or the input minus a number (`1 - z`).",
    0
);
binary_op!(
    Mul,
    "mul",
    "*",
    "Product `a * b` element by element, broadcasting as NumPy does (`a * b` in the DSL): gates, masks, a \
     learned scale; with one input and `left:` or `right:`, the input times a number (`0.5 * x`).",
    1
);
binary_op!(
    Div,
    "div",
    "/",
    "Quotient `a / b` element by element, broadcasting as NumPy does (`a / b` in the DSL); with one input \
     and `left:` or `right:`, a number over the input or the input over a number (`x / 8`). Division by \
     zero gives inf or nan, as in PyTorch.",
    1
);

/// `neg(x)`: `-x`.
#[derive(Debug, Clone, PartialEq)]
pub struct Neg;

impl Neg {
    pub const SPEC: OpSpec = OpSpec {
        name: "neg",
        family: "arith",
        summary: "Negation `-x` element by element (`-x` in the DSL).",
        shape_rule: "[B, ...] -> [B, ...]",
        arity: Arity::Exactly(1),
        results: super::Results::One,
        params: &[],
        parse: |_r: &mut ArgReader| Op::Neg(Neg),
    };
}

impl OpImpl for Neg {
    fn steps(&self) -> super::Steps {
        super::Steps::Kept
    }
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }

    fn takes_unbatched(&self) -> bool {
        true
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        Ok(ins[0].clone())
    }

    fn describe(&self) -> String {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(dims: &[&str]) -> Shape {
        Shape(
            dims.iter()
                .map(|d| match *d {
                    "B" => Dim::Batch,
                    d => d.parse().map_or_else(|_| Dim::Sym(d.into()), Dim::Fixed),
                })
                .collect(),
        )
    }

    #[test]
    fn broadcasting_follows_numpy_with_symbols_kept_apart() {
        assert_eq!(broadcast(&[s(&["B", "T", "8"]), s(&["B", "1", "8"])]), Ok(s(&["B", "T", "8"])));
        assert_eq!(broadcast(&[s(&["B", "T", "8"]), s(&["8"])]), Ok(s(&["B", "T", "8"])));
        assert_eq!(broadcast(&[s(&["B", "T", "8"]), s(&[])]), Ok(s(&["B", "T", "8"])));
        assert_eq!(broadcast(&[s(&["1", "1", "8"]), s(&["B", "T", "1"])]), Ok(s(&["B", "T", "8"])));
        assert!(broadcast(&[s(&["B", "T", "8"]), s(&["B", "120", "8"])]).is_err());
        assert!(broadcast(&[s(&["B", "T", "8"]), s(&["B", "S", "8"])]).is_err());
        assert!(broadcast(&[s(&["B", "8"]), s(&["B", "4"])]).is_err());
        // A learned tensor may not push the batch axis out of first place.
        assert!(broadcast(&[s(&["B", "8"]), s(&["2", "1", "8"])]).is_err());
        let err = broadcast(&[s(&["B", "T", "8"]), s(&["B", "T", "4"])]).unwrap_err();
        assert_eq!((err.input, err.axis), (Some(1), Some(2)));
    }
}
