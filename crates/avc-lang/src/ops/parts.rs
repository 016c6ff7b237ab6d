//! Taking parts of a tensor along one axis: `chunk` and `split` (several results, one node
//! per part: `a, b = chunk(x, axis: -1)`), `select` (one index, the axis dropped: `x[:, 0]`)
//! and `index` (a list of indexes, the axis kept).
//!
//! A part's length must be known to the checker, so `chunk` and `split` need a fixed axis;
//! `select` also takes a symbolic one (`x[:, -1]`, the last step, exists whatever `T` is).

use super::{ArgReader, Arity, Default, Op, OpImpl, OpSpec, ParamKind, ParamSpec, Results, ShapeError, ValueRange};
use crate::shape::{Dim, Shape};

/// The doc of every part op's `axis`.
const AXIS_DOC: &str = "the axis, counted with the batch as axis 0 (which is refused); negative counts from the end";

/// Resolves `axis` of `x` (the batch refused), or says what was expected.
fn resolve(axis: i64, x: &Shape) -> Result<usize, ShapeError> {
    match x.axis(axis) {
        Some(a) if a > 0 => Ok(a),
        _ => Err(ShapeError::input(0, format!("an axis {axis} other than the batch"), x)
            .hint("axes count from 0 (the batch) to rank - 1; negative ones from the end")),
    }
}

/// The fixed length of axis `a`, or an error naming the op that needs it.
fn fixed_len(x: &Shape, a: usize, op: &str) -> Result<i64, ShapeError> {
    x.0[a].fixed().ok_or_else(|| {
        ShapeError::input(0, format!("a fixed size on axis {a} for `{op}`"), x).at_axis(a).hint(format!(
            "axis {a} is `{}`, a length left open: the parts' lengths would depend on it; \
                 declare the length as a number, or take a `slice` of it",
            x.0[a]
        ))
    })
}

/// `a, b = chunk(x, axis: -1)`: equal parts.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub chunks: i64,
    pub axis: i64,
    /// The part this node holds.
    pub index: i64,
}

impl Chunk {
    pub const SPEC: OpSpec = OpSpec {
        name: "chunk",
        family: "parts",
        summary: "Cuts one axis into `chunks` equal parts, one result each: `a, b = chunk(x, axis: -1)` \
                  names every part (as `a, b = x.chunk(2, dim=-1)`). The axis must be fixed and divisible \
                  by `chunks`.",
        shape_rule: "[B, T, 2F] -> [B, T, F] twice (chunks: 2, axis: -1)",
        arity: Arity::Exactly(1),
        results: Results::Parts { count: "chunks" },
        params: &[
            ParamSpec {
                name: "chunks",
                kind: ParamKind::Int,
                default: None,
                doc: "how many parts; with several targets, their number (written or not)",
            },
            ParamSpec { name: "axis", kind: ParamKind::Int, default: Some(Default::Int(-1)), doc: AXIS_DOC },
            ParamSpec {
                name: "index",
                kind: ParamKind::Int,
                default: Some(Default::Int(0)),
                doc: "the part this node holds (0-based); set for each target of `a, b = chunk(...)`",
            },
        ],
        parse: |r: &mut ArgReader| {
            let chunks = r.int_at_least("chunks", 1);
            let index = r.int_where("index", |i| {
                if (0..chunks).contains(&i) { Ok(()) } else { Err(format!("a part from 0 to {}", chunks - 1)) }
            });
            Op::Chunk(Chunk { chunks, axis: r.int("axis"), index })
        },
    };
}

impl OpImpl for Chunk {
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }

    fn value_range(&self) -> ValueRange {
        ValueRange::OfInput
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        let x = &ins[0];
        let a = resolve(self.axis, x)?;
        let n = fixed_len(x, a, "chunk")?;
        if n % self.chunks != 0 {
            return Err(ShapeError::input(0, format!("axis {a} divisible by {} (chunks)", self.chunks), x)
                .at_axis(a)
                .hint(format!("{n} is not a multiple of {}; `split` takes parts of given sizes", self.chunks)));
        }
        Ok(x.with_dim(a, Dim::Fixed(n / self.chunks)))
    }

    fn describe(&self) -> String {
        format!("{}/{} axis={}", self.index, self.chunks, self.axis)
    }
}

/// `a, b = split(x, sizes: [64, 192], axis: -1)`: parts of given sizes.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub sizes: Vec<i64>,
    pub axis: i64,
    pub index: i64,
}

impl Split {
    pub const SPEC: OpSpec = OpSpec {
        name: "split",
        family: "parts",
        summary: "Cuts one axis into parts of the given `sizes`, one result each: \
                  `q, k = split(x, sizes: [64, 64])` (as `x.split([64, 64], dim=-1)`). The sizes must add \
                  up to the axis, which must be fixed.",
        shape_rule: "[B, T, 256] -> [B, T, 64], [B, T, 192] (sizes: [64, 192])",
        arity: Arity::Exactly(1),
        results: Results::Parts { count: "sizes" },
        params: &[
            ParamSpec {
                name: "sizes",
                kind: ParamKind::IntList,
                default: None,
                doc: "each part's length, in order; one per target",
            },
            ParamSpec { name: "axis", kind: ParamKind::Int, default: Some(Default::Int(-1)), doc: AXIS_DOC },
            ParamSpec {
                name: "index",
                kind: ParamKind::Int,
                default: Some(Default::Int(0)),
                doc: "the part this node holds (0-based); set for each target of `a, b = split(...)`",
            },
        ],
        parse: |r: &mut ArgReader| {
            let sizes = r.int_list_where("sizes", |s| {
                if s.is_empty() || s.iter().any(|&n| n < 1) {
                    Err("one or more sizes of 1 or more".into())
                } else {
                    Ok(())
                }
            });
            let parts = sizes.len().max(1) as i64;
            let index = r.int_where("index", |i| {
                if (0..parts).contains(&i) { Ok(()) } else { Err(format!("a part from 0 to {}", parts - 1)) }
            });
            Op::Split(Split { sizes, axis: r.int("axis"), index })
        },
    };

    /// Where this node's part starts.
    pub fn start(&self) -> i64 {
        self.sizes.iter().take(self.index as usize).sum()
    }

    pub fn part_len(&self) -> i64 {
        self.sizes.get(self.index as usize).copied().unwrap_or(0)
    }
}

impl OpImpl for Split {
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }

    fn value_range(&self) -> ValueRange {
        ValueRange::OfInput
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        let x = &ins[0];
        let a = resolve(self.axis, x)?;
        let n = fixed_len(x, a, "split")?;
        let total: i64 = self.sizes.iter().fold(0i64, |s, &k| s.saturating_add(k));
        if total != n {
            return Err(ShapeError::input(0, format!("axis {a} of length {total} (the sum of sizes)"), x)
                .at_axis(a)
                .hint(format!("sizes {:?} add up to {total}, the axis has {n}", self.sizes)));
        }
        Ok(x.with_dim(a, Dim::Fixed(self.part_len())))
    }

    fn describe(&self) -> String {
        format!("{}/{:?} axis={}", self.index, self.sizes, self.axis)
    }
}

/// `select(x, axis: 1, index: 0)`, `x[:, 0]` in the DSL: one index, the axis removed.
#[derive(Debug, Clone, PartialEq)]
pub struct Select {
    pub axis: i64,
    pub index: i64,
}

impl Select {
    pub const SPEC: OpSpec = OpSpec {
        name: "select",
        family: "parts",
        summary: "One index of an axis, which disappears (`x[:, 0]` in the DSL, as `x.select(dim, i)`): the \
                  first step, a CLS token's output. A negative index counts from the end (`x[:, -1]`, the last \
                  step), also on a symbolic axis.",
        shape_rule: "[B, T, F] -> [B, F] (axis: 1)",
        arity: Arity::Exactly(1),
        results: Results::One,
        params: &[
            ParamSpec { name: "axis", kind: ParamKind::Int, default: Some(Default::Int(1)), doc: AXIS_DOC },
            ParamSpec {
                name: "index",
                kind: ParamKind::Int,
                default: None,
                doc: "the index kept; negative counts from the end",
            },
        ],
        parse: |r: &mut ArgReader| Op::Select(Select { axis: r.int("axis"), index: r.int("index") }),
    };
}

impl OpImpl for Select {
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }

    fn value_range(&self) -> ValueRange {
        ValueRange::OfInput
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        let x = &ins[0];
        let a = resolve(self.axis, x)?;
        check_index(x, a, self.index)?;
        Ok(x.without(a))
    }

    fn describe(&self) -> String {
        format!("axis={} index={}", self.axis, self.index)
    }
}

/// Checks one index against a fixed axis (a symbolic one is checked when it runs).
fn check_index(x: &Shape, a: usize, i: i64) -> Result<(), ShapeError> {
    match x.0[a].fixed() {
        Some(n) if i >= n || i < -n => Err(ShapeError::input(0, format!("an axis {a} that has index {i}"), x)
            .at_axis(a)
            .hint(format!("axis {a} has {n} elements: indexes run from {} to {}", -n, n - 1))),
        _ => Ok(()),
    }
}

/// `index(x, axis: 1, indices: [0, 4, 8])`: the listed indexes, in order, the axis kept.
#[derive(Debug, Clone, PartialEq)]
pub struct Index {
    pub axis: i64,
    pub indices: Vec<i64>,
}

impl Index {
    pub const SPEC: OpSpec = OpSpec {
        name: "index",
        family: "parts",
        summary: "The listed indexes of an axis, in the order given (repeats allowed), as \
                  `x.index_select(dim, torch.tensor(indices))`; negative ones count from the end.",
        shape_rule: "[B, T, F] -> [B, 3, F] (axis: 1, indices: [0, 4, 8])",
        arity: Arity::Exactly(1),
        results: Results::One,
        params: &[
            ParamSpec { name: "axis", kind: ParamKind::Int, default: Some(Default::Int(1)), doc: AXIS_DOC },
            ParamSpec { name: "indices", kind: ParamKind::IntList, default: None, doc: "the indexes kept, in order" },
        ],
        parse: |r: &mut ArgReader| {
            let indices =
                r.int_list_where("indices", |s| if s.is_empty() { Err("one or more indexes".into()) } else { Ok(()) });
            Op::Index(Index { axis: r.int("axis"), indices })
        },
    };

    /// The indexes made non-negative for an axis of `n` elements.
    pub fn resolved(&self, n: i64) -> Vec<i64> {
        self.indices.iter().map(|&i| if i < 0 { i + n } else { i }).collect()
    }
}

impl OpImpl for Index {
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }

    fn value_range(&self) -> ValueRange {
        ValueRange::OfInput
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        let x = &ins[0];
        let a = resolve(self.axis, x)?;
        if x.0[a].fixed().is_none() && self.indices.iter().any(|&i| i < 0) {
            return Err(ShapeError::input(0, format!("a fixed size on axis {a} for negative indexes"), x)
                .at_axis(a)
                .hint("count from the start on a symbolic axis, or use `select` (`x[:, -1]`) for one step"));
        }
        for &i in &self.indices {
            check_index(x, a, i)?;
        }
        Ok(x.with_dim(a, Dim::Fixed(self.indices.len() as i64)))
    }

    fn describe(&self) -> String {
        format!("axis={} {:?}", self.axis, self.indices)
    }
}
