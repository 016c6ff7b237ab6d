//! Symbolic tensor shapes: what shape inference computes before any tensor exists.
//!
//! A shape always starts with the batch axis, which is symbolic (`B`). Other axes are
//! fixed sizes or named symbols (`T`, a sequence length left open); an op that changes a
//! symbolic length produces a derived symbol such as `(T-3)/2+1`.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dim {
    Batch,
    Fixed(i64),
    Sym(String),
}

impl Dim {
    pub fn fixed(&self) -> Option<i64> {
        match self {
            Dim::Fixed(n) => Some(*n),
            _ => None,
        }
    }

    /// `(self + 2 * pad - kernel) / stride + 1`, kept symbolic when `self` is.
    pub fn window_out(&self, kernel: i64, stride: i64, pad: i64) -> Dim {
        match self {
            Dim::Fixed(n) => Dim::Fixed((n + 2 * pad - kernel) / stride + 1),
            other if kernel == 1 + 2 * pad && stride == 1 => other.clone(),
            other => {
                // `T+2*pad-kernel`, written with one sign: `T-4`, `T+1`.
                let change = pad.saturating_mul(2).saturating_sub(kernel);
                let grown =
                    if change < 0 { format!("{other}-{}", change.unsigned_abs()) } else { format!("{other}+{change}") };
                if stride == 1 { Dim::Sym(format!("{grown}+1")) } else { Dim::Sym(format!("({grown})/{stride}+1")) }
            }
        }
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Batch => write!(f, "B"),
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Sym(s) => write!(f, "{s}"),
        }
    }
}

/// A full tensor shape, batch axis first.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Shape(pub Vec<Dim>);

impl Shape {
    pub fn new(dims: Vec<Dim>) -> Self {
        Shape(dims)
    }

    /// `[B, dims...]`.
    pub fn batched(dims: impl IntoIterator<Item = Dim>) -> Self {
        Shape(std::iter::once(Dim::Batch).chain(dims).collect())
    }

    pub fn rank(&self) -> usize {
        self.0.len()
    }

    pub fn dims(&self) -> &[Dim] {
        &self.0
    }

    pub fn last(&self) -> Option<&Dim> {
        self.0.last()
    }

    /// The product of the fixed per-sample axes; `None` when one is symbolic.
    pub fn per_sample_elems(&self) -> Option<i64> {
        self.0.iter().skip(1).map(Dim::fixed).product()
    }

    /// Resolves a possibly negative axis into `0..rank`.
    pub fn axis(&self, axis: i64) -> Option<usize> {
        let rank = self.rank() as i64;
        let a = if axis < 0 { axis + rank } else { axis };
        (0..rank).contains(&a).then_some(a as usize)
    }

    pub fn with_dim(&self, axis: usize, dim: Dim) -> Shape {
        let mut dims = self.0.clone();
        dims[axis] = dim;
        Shape(dims)
    }

    pub fn without(&self, axis: usize) -> Shape {
        let mut dims = self.0.clone();
        dims.remove(axis);
        Shape(dims)
    }

    /// A concrete shape for a real tensor, symbols replaced by `symbol_size`.
    pub fn concrete(&self, batch: i64, symbol_size: i64) -> Vec<i64> {
        self.0
            .iter()
            .map(|d| match d {
                Dim::Batch => batch,
                Dim::Fixed(n) => *n,
                Dim::Sym(_) => symbol_size,
            })
            .collect()
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{d}")?;
        }
        write!(f, "]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_output_keeps_symbols() {
        assert_eq!(Dim::Fixed(120).window_out(3, 1, 1), Dim::Fixed(120));
        assert_eq!(Dim::Fixed(120).window_out(2, 2, 0), Dim::Fixed(60));
        let t = Dim::Sym("T".into());
        assert_eq!(t.window_out(3, 1, 1), t);
        assert_eq!(t.window_out(2, 2, 0).to_string(), "(T-2)/2+1");
        assert_eq!(t.window_out(9, 1, 2).to_string(), "T-5+1");
        assert_eq!(t.window_out(3, 2, 2).to_string(), "(T+1)/2+1");
        assert_eq!(Shape::batched([Dim::Fixed(4), t]).to_string(), "[B, 4, T]");
    }
}
