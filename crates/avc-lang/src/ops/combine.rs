//! Ops that merge several inputs.

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
            total = total.zip(s.0[axis].fixed()).map(|(a, b)| a + b);
        }
        let joined = match total {
            Some(n) => Dim::Fixed(n),
            None => Dim::Sym(ins.iter().map(|s| s.0[axis].to_string()).collect::<Vec<_>>().join("+")),
        };
        Ok(first.with_dim(axis, joined))
    }

    fn describe(&self) -> String {
        if self.axis == -1 { String::new() } else { format!("axis={}", self.axis) }
    }
}

/// `add(a, b)`: element-wise sum, the residual connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Add;

impl Add {
    pub const SPEC: OpSpec = OpSpec {
        name: "add",
        family: "combine",
        summary: "Element-wise sum of inputs of one shape: the residual connection (`a + b` in the DSL).",
        shape_rule: "[B, ...], [B, ...] -> [B, ...] (all equal)",
        arity: Arity::AtLeast(2),
        params: &[],
        parse: |_r: &mut ArgReader| Op::Add(Add),
    };
}

impl OpImpl for Add {
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        let first = &ins[0];
        for (i, s) in ins.iter().enumerate().skip(1) {
            if s.rank() != first.rank() {
                return Err(ShapeError::input(i, first.to_string(), s).hint(all_shapes(ins)));
            }
            if let Some(bad) = (0..s.rank()).find(|&a| s.0[a] != first.0[a]) {
                return Err(ShapeError::input(i, first.to_string(), s).at_axis(bad).hint(format!(
                    "a residual add needs equal shapes ({}); project one side with `linear` to match",
                    all_shapes(ins)
                )));
            }
        }
        Ok(first.clone())
    }

    fn describe(&self) -> String {
        String::new()
    }
}
