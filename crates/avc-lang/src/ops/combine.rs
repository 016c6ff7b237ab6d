//! Ops that merge several inputs.

use super::arith::{SCALAR_PARAMS, Scalar, broadcast};
use super::{ArgReader, Arity, Default, Op, OpImpl, OpSpec, ParamKind, ParamSpec, ShapeError};
use crate::shape::{Dim, Shape};

/// Describes every input's shape, for hints on a failed merge.
fn all_shapes(ins: &[Shape]) -> String {
    let parts: Vec<String> = ins.iter().enumerate().map(|(i, s)| format!("input {} is {s}", i + 1)).collect();
    parts.join(", ")
}

/// `concat(a, b, axis: -1)`: joins inputs along one axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Concat {
    pub axis: i64,
}

impl Concat {
    pub const SPEC: OpSpec = OpSpec {
        name: "concat",
        family: "combine",
        summary: "Joins the inputs along `axis` (counted with the batch as axis 0; negative \
                  counts from the end). All other axes must agree.",
        shape_rule: "[B, T, F1], [B, T, F2] -> [B, T, F1 + F2] (axis: -1)",
        arity: Arity::AtLeast(2),
        results: super::Results::One,
        params: &[ParamSpec {
            name: "axis",
            kind: ParamKind::Int,
            default: Some(Default::Int(-1)),
            doc: "the axis to join along; -1 is the feature axis",
        }],
        parse: |r: &mut ArgReader| Op::Concat(Concat { axis: r.int("axis") }),
    };
}

impl OpImpl for Concat {
    fn steps(&self) -> super::Steps {
        super::Steps::Kept
    }
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        let first = &ins[0];
        let axis = match first.axis(self.axis) {
            Some(a) if a > 0 => a,
            _ => {
                return Err(ShapeError::input(0, format!("an axis {} other than the batch", self.axis), first)
                    .hint("axes count from 0 (the batch) to rank - 1; use -1 for the last one"));
            }
        };
        let mut total = first.0[axis].fixed();
        for (i, s) in ins.iter().enumerate().skip(1) {
            if s.rank() != first.rank() {
                return Err(ShapeError::input(i, format!("rank {} like input 1 {first}", first.rank()), s)
                    .hint(all_shapes(ins)));
            }
            if let Some(bad) = (0..s.rank()).find(|&a| a != axis && s.0[a] != first.0[a]) {
                let mut expected = s.clone();
                expected.0[bad] = first.0[bad].clone();
                return Err(ShapeError::input(i, expected.to_string(), s)
                    .at_axis(bad)
                    .hint(format!("concat along axis {axis} needs every other axis equal: {}", all_shapes(ins))));
            }
            total = total.zip(s.0[axis].fixed()).map(|(a, b)| a.saturating_add(b));
        }
        let joined = match total {
            Some(n) => Dim::Fixed(n),
            None => Dim::sym(ins.iter().map(|s| s.0[axis].to_string()).collect::<Vec<_>>().join("+")),
        };
        Ok(first.with_dim(axis, joined))
    }

    fn describe(&self) -> String {
        if self.axis == -1 { String::new() } else { format!("axis={}", self.axis) }
    }
}

/// `add(a, b, ...)`: element-wise sum, broadcasting; the residual connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Add {
    /// A number added too (`x + 1`: `add(x, right: 1)`).
    pub scalar: Scalar,
}

impl Add {
    pub const SPEC: OpSpec = OpSpec {
        name: "add",
        family: "combine",
        summary: "Element-wise sum of its inputs, broadcasting as NumPy does: the residual connection \
                  (`a + b` in the DSL; a run of `+` between tensors is one node). With `left:` or `right:`, \
                  a number is added too (`x + 1`).",
        shape_rule: "[B, T, F], [B, T, F] -> [B, T, F]; [B, T, F] + [F] -> [B, T, F] (NumPy broadcasting)",
        arity: Arity::AtLeast(1),
        results: super::Results::One,
        params: SCALAR_PARAMS,
        parse: |r: &mut ArgReader| {
            let scalar = match (r.float_opt("left"), r.float_opt("right")) {
                (Some(_), Some(_)) => {
                    r.refuse("right", "cannot be given with `left`: a node has one number operand at most");
                    Scalar::None
                }
                (Some(x), None) => Scalar::Left(x),
                (None, Some(x)) => Scalar::Right(x),
                (None, None) => Scalar::None,
            };
            Op::Add(Add { scalar })
        },
    };
}

impl OpImpl for Add {
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
        if ins.len() == 1 && self.scalar == Scalar::None {
            return Err(ShapeError::input(0, "a second operand", &ins[0])
                .hint("`add` needs two operands at least: another input, or a number as `right:` (`x + 1`)"));
        }
        broadcast(ins).map_err(|e| match e.axis {
            Some(_) if ins.iter().all(|s| s.rank() == ins[0].rank()) => e.hint(format!(
                "a residual add needs shapes that broadcast ({}); project one side with `linear` to match",
                all_shapes(ins)
            )),
            _ => e,
        })
    }

    fn describe(&self) -> String {
        match self.scalar {
            Scalar::None => String::new(),
            Scalar::Left(x) => format!("left={}", crate::ast::format_float(x)),
            Scalar::Right(x) => format!("right={}", crate::ast::format_float(x)),
        }
    }
}
