//! Ops that regroup, add or reorder axes: `reshape`, `unsqueeze`, `permute`. None of them
//! may move or resize the batch axis, which every later op expects first.

use super::{ArgReader, Arity, Op, OpImpl, OpSpec, ParamKind, ParamSpec, ShapeError, ValueRange};
use crate::shape::{Dim, Shape};

/// `[8, -1]`, as a list is written in a file.
fn list(items: &[i64]) -> String {
    format!("[{}]", items.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", "))
}

/// `reshape(x, shape: [8, -1])`: a new per-sample shape with the same elements.
#[derive(Debug, Clone, PartialEq)]
pub struct Reshape {
    /// The per-sample sizes; at most one is -1.
    pub shape: Vec<i64>,
}

impl Reshape {
    pub const SPEC: OpSpec = OpSpec {
        name: "reshape",
        family: "layout",
        summary: "Gives each sample a new shape with the same elements in the same (row-major) \
                  order. The batch axis is kept and not listed; one size may be -1, inferred from \
                  the others. With fixed input sizes the element count is checked at compile \
                  time; with a symbolic size and no -1, only when the model runs.",
        shape_rule: "[B, d1, d2, ...] -> [B, shape...] (same number of elements per sample)",
        arity: Arity::Exactly(1),
        results: super::Results::One,
        params: &[ParamSpec {
            name: "shape",
            kind: ParamKind::IntList,
            default: None,
            doc: "the per-sample sizes, without the batch, e.g. `[8, -1]`",
        }],
        parse: |r: &mut ArgReader| Op::Reshape(Reshape { shape: r.int_list_where("shape", check_shape) }),
    };

    /// The product of the listed sizes other than -1.
    fn known(&self) -> i64 {
        super::product(&self.shape.iter().copied().filter(|&d| d != -1).collect::<Vec<_>>())
    }

    /// The size standing for -1, from the input's per-sample dims.
    fn inferred(&self, input: &Shape) -> Result<Dim, ShapeError> {
        let known = self.known();
        if let Some(n) = input.per_sample_elems() {
            if n % known != 0 {
                return Err(ShapeError::input(0, format!("a per-sample element count divisible by {known}"), input)
                    .hint(format!(
                        "{input} holds {n} elements per sample, which shape {} cannot hold",
                        list(&self.shape)
                    )));
            }
            return Ok(Dim::Fixed(n / known));
        }
        Ok(symbolic_quotient(input, known))
    }
}

/// What `check_shape` refuses: empty lists, sizes below 1 other than -1, two -1s.
fn check_shape(shape: &[i64]) -> Result<(), String> {
    if shape.is_empty() {
        return Err("must list at least one size".into());
    }
    if shape.iter().any(|&d| d < 1 && d != -1) {
        return Err("must hold sizes of at least 1, or -1 for the one to infer".into());
    }
    if shape.iter().any(|&d| d > super::args::MAX_SIZE) {
        return Err(format!("must hold sizes of at most {}", crate::check::render_count(super::args::MAX_SIZE)));
    }
    if shape.iter().filter(|&&d| d == -1).count() > 1 {
        return Err("may leave at most one size to infer (-1)".into());
    }
    Ok(())
}

/// The per-sample element count of `input` divided by `known`, kept symbolic: `T*6` over 3
/// is `T*2`, over 6 is `T`, over 4 is `(T*3)/2`.
fn symbolic_quotient(input: &Shape, known: i64) -> Dim {
    let fixed = super::product(&input.0[1..].iter().filter_map(Dim::fixed).collect::<Vec<_>>());
    let g = gcd(fixed, known);
    let (num, den) = (fixed / g, known / g);
    let mut parts: Vec<String> = input.0[1..].iter().filter(|d| d.fixed().is_none()).map(Dim::factor_text).collect();
    if num != 1 {
        parts.push(num.to_string());
    }
    let product = parts.join("*");
    match den {
        1 => Dim::Sym(product),
        _ if parts.len() > 1 => Dim::Sym(format!("({product})/{den}")),
        _ => Dim::Sym(format!("{product}/{den}")),
    }
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a.abs().max(1) } else { gcd(b, a % b) }
}

impl OpImpl for Reshape {
    fn value_range(&self) -> ValueRange {
        ValueRange::OfInput
    }
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        let input = &ins[0];
        if self.shape.contains(&-1) {
            let inferred = self.inferred(input)?;
            let dims = self.shape.iter().map(|&d| if d == -1 { inferred.clone() } else { Dim::Fixed(d) });
            return Ok(Shape::batched(dims));
        }
        let known = self.known();
        if let Some(n) = input.per_sample_elems()
            && n != known
        {
            return Err(ShapeError::input(
                0,
                format!("{known} elements per sample (shape {})", list(&self.shape)),
                input,
            )
            .hint(format!("{input} holds {n} elements per sample; shape {} holds {known}", list(&self.shape))));
        }
        Ok(Shape::batched(self.shape.iter().map(|&d| Dim::Fixed(d))))
    }

    fn describe(&self) -> String {
        format!("shape={}", list(&self.shape))
    }
}

/// `unsqueeze(x, axis: 1)`: a new axis of size 1.
#[derive(Debug, Clone, PartialEq)]
pub struct Unsqueeze {
    pub axis: i64,
}

impl Unsqueeze {
    pub const SPEC: OpSpec = OpSpec {
        name: "unsqueeze",
        family: "layout",
        summary: "Inserts an axis of size 1. The axis indexes the output, counted with the batch \
                  as axis 0 (which is refused: the batch stays first); negative counts from the \
                  end, so -1 appends. E.g. a one-channel image for conv2d.",
        shape_rule: "[B, T, F] -> [B, 1, T, F] (axis: 1)",
        arity: Arity::Exactly(1),
        results: super::Results::One,
        params: &[ParamSpec {
            name: "axis",
            kind: ParamKind::Int,
            default: None,
            doc: "where the new axis goes in the output; not 0",
        }],
        parse: |r: &mut ArgReader| {
            Op::Unsqueeze(Unsqueeze {
                axis: r.int_where("axis", |a| match a {
                    0 => Err("must not be 0: the batch axis must stay first".into()),
                    _ => Ok(()),
                }),
            })
        },
    };

    /// The new axis's index in `0..=rank` of the input, when valid and not the batch's.
    pub fn resolved(&self, input: &Shape) -> Option<usize> {
        let out_rank = input.rank() as i64 + 1;
        let a = if self.axis < 0 { self.axis + out_rank } else { self.axis };
        (1..out_rank).contains(&a).then_some(a as usize)
    }
}

impl OpImpl for Unsqueeze {
    fn value_range(&self) -> ValueRange {
        ValueRange::OfInput
    }
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        let input = &ins[0];
        let Some(a) = self.resolved(input) else {
            let r = input.rank();
            return Err(ShapeError::input(
                0,
                format!("rank {} or more (for axis {})", self.axis.abs(), self.axis),
                input,
            )
            .hint(format!(
                "the axis indexes the output (rank {}) with the batch as 0: here 1..={r} or -{r}..=-1",
                r + 1
            )));
        };
        let mut dims = input.0.clone();
        dims.insert(a, Dim::Fixed(1));
        Ok(Shape(dims))
    }

    fn describe(&self) -> String {
        format!("axis={}", self.axis)
    }
}

/// `permute(x, dims: [0, 2, 1])`: reorders every axis; the batch stays first.
#[derive(Debug, Clone, PartialEq)]
pub struct Permute {
    pub dims: Vec<i64>,
}

impl Permute {
    pub const SPEC: OpSpec = OpSpec {
        name: "permute",
        family: "layout",
        summary: "Reorders the axes, as torch.permute: output axis i is input axis dims[i]. \
                  `dims` lists every axis including the batch (negative counts from the end) and \
                  must start with 0: the batch axis must stay first.",
        shape_rule: "[B, C, T, F] -> [B, T, C, F] (dims: [0, 2, 1, 3])",
        arity: Arity::Exactly(1),
        results: super::Results::One,
        params: &[ParamSpec {
            name: "dims",
            kind: ParamKind::IntList,
            default: None,
            doc: "a permutation of every axis, starting with 0, e.g. `[0, 2, 1]`",
        }],
        parse: |r: &mut ArgReader| Op::Permute(Permute { dims: r.int_list_where("dims", check_dims) }),
    };

    /// The dims resolved into `0..rank`, when they are a permutation keeping the batch first.
    pub fn resolved(&self, input: &Shape) -> Result<Vec<usize>, ShapeError> {
        let r = input.rank();
        let order = list(&self.dims);
        if self.dims.len() != r {
            return Err(ShapeError::input(
                0,
                format!("rank {} (dims {order} lists {} axes)", self.dims.len(), self.dims.len()),
                input,
            )
            .hint(format!("dims lists every axis, the batch included: {r} for {input}")));
        }
        let axes: Option<Vec<usize>> = self.dims.iter().map(|&d| input.axis(d)).collect();
        let axes = match axes {
            Some(a) if (0..r).all(|i| a.contains(&i)) => a,
            _ => {
                return Err(ShapeError::input(
                    0,
                    format!("dims that name each of its {r} axes once, not {order}"),
                    input,
                )
                .hint(format!("dims must name each axis of {input} once, from 0 to {}", r - 1)));
            }
        };
        if axes[0] != 0 {
            return Err(ShapeError::input(0, format!("dims {order} to start with axis 0"), input)
                .hint("the batch axis must stay first; count the other axes from 1"));
        }
        Ok(axes)
    }
}

/// What `check_dims` refuses before shapes are known: an empty list, a first entry other
/// than 0 (a negative first entry is checked against the rank later).
fn check_dims(dims: &[i64]) -> Result<(), String> {
    match dims.first() {
        None => Err("must list every axis".into()),
        Some(&d) if d > 0 => Err("must start with 0: the batch axis must stay first".into()),
        _ => Ok(()),
    }
}

impl OpImpl for Permute {
    fn value_range(&self) -> ValueRange {
        ValueRange::OfInput
    }
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        let axes = self.resolved(&ins[0])?;
        Ok(Shape(axes.iter().map(|&a| ins[0].0[a].clone()).collect()))
    }

    fn describe(&self) -> String {
        format!("dims={}", list(&self.dims))
    }
}
