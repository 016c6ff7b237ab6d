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

    /// A length computed from symbols, from its text: its top-level sum normalised, so that
    /// two ways of writing one length compare equal (`1+T-1` is `T`, `T-5+1` is `T-4`, `1+T`
    /// is `T+1`): constants summed and written last, a term and its negation cancelled, the
    /// other terms in their order. A sum left with only its constant is that fixed size.
    /// Terms are compared as text (`(T-2)/2` is one term), so this is no algebra system:
    /// it folds what the ops' rules write (offsets added by windows, slices, pads, concats).
    pub fn sym(text: impl Into<String>) -> Dim {
        let text = text.into();
        let Some(terms) = top_level_terms(&text) else { return Dim::Sym(text) };
        let mut constant = 0i64;
        let mut kept: Vec<(bool, &str)> = Vec::new();
        for (negative, term) in terms {
            if let Ok(n) = term.parse::<i64>() {
                constant = if negative { constant.saturating_sub(n) } else { constant.saturating_add(n) };
            } else if let Some(i) = kept.iter().position(|&(n, t)| t == term && n != negative) {
                kept.remove(i);
            } else {
                kept.push((negative, term));
            }
        }
        if kept.is_empty() {
            return Dim::Fixed(constant);
        }
        let mut out = String::new();
        for (i, (negative, term)) in kept.iter().enumerate() {
            if *negative {
                out.push('-');
            } else if i > 0 {
                out.push('+');
            }
            out.push_str(term);
        }
        if constant != 0 {
            out.push_str(&format!("{constant:+}"));
        }
        Dim::Sym(out)
    }

    /// `self + k`: fixed sizes add, a symbol's constant folds (`(T-4).plus(1)` is `T-3`).
    pub fn plus(&self, k: i64) -> Dim {
        match self {
            Dim::Fixed(n) => Dim::Fixed(n.saturating_add(k)),
            other => Dim::sym(format!("{other}{k:+}")),
        }
    }

    /// The text of this length as a factor of a product: a sum in parentheses (`(T-4)*64`,
    /// not `T-4*64`).
    pub fn factor_text(&self) -> String {
        let text = self.to_string();
        match top_level_terms(&text) {
            Some(terms) if terms.len() > 1 || terms.first().is_some_and(|t| t.0) => format!("({text})"),
            _ => text,
        }
    }

    /// `(self + 2 * pad - kernel) / stride + 1`, kept symbolic when `self` is.
    pub fn window_out(&self, kernel: i64, stride: i64, pad: i64) -> Dim {
        match self {
            Dim::Fixed(n) => Dim::Fixed(n.saturating_add(pad.saturating_mul(2)).saturating_sub(kernel) / stride + 1),
            other => {
                let grown = other.plus(pad.saturating_mul(2).saturating_sub(kernel));
                if stride == 1 { grown.plus(1) } else { Dim::sym(format!("({grown})/{stride}+1")) }
            }
        }
    }
}

/// The terms of `text`'s top-level sum with their signs (`-` is true), parentheses kept
/// whole: `(T-2)/2+1` is `(T-2)/2` and `1`. None for text that is not such a sum (an
/// unbalanced parenthesis, an empty term).
fn top_level_terms(text: &str) -> Option<Vec<(bool, &str)>> {
    let mut terms = Vec::new();
    let (mut depth, mut start, mut negative) = (0i32, 0usize, false);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            '+' | '-' if depth == 0 => {
                if i == 0 && c == '-' {
                    negative = true;
                    start = 1;
                    continue;
                }
                terms.push((negative, text.get(start..i).filter(|t| !t.is_empty())?));
                (negative, start) = (c == '-', i + 1);
            }
            _ => {}
        }
        if depth < 0 {
            return None;
        }
    }
    terms.push((negative, text.get(start..).filter(|t| !t.is_empty())?));
    (depth == 0).then_some(terms)
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
    /// Saturates at `i64::MAX` rather than wrapping (the checker refuses such sizes).
    pub fn per_sample_elems(&self) -> Option<i64> {
        self.0.iter().skip(1).map(Dim::fixed).try_fold(1i64, |acc, d| Some(acc.saturating_mul(d?)))
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
        assert_eq!(t.window_out(9, 1, 2).to_string(), "T-4");
        assert_eq!(t.window_out(3, 2, 2).to_string(), "(T+1)/2+1");
        assert_eq!(Shape::batched([Dim::Fixed(4), t]).to_string(), "[B, 4, T]");
    }

    /// Two ways of writing one length compare equal; what is not a sum is left alone.
    #[test]
    fn symbolic_sums_are_normalised() {
        let text = |s: &str| Dim::sym(s).to_string();
        assert_eq!(text("1+T-1"), "T");
        assert_eq!(text("T-5+1"), "T-4");
        assert_eq!(text("1+T"), "T+1");
        assert_eq!(text("2+T+U-3"), "T+U-1");
        assert_eq!(text("(T-2)/2+1+1"), "(T-2)/2+2");
        assert_eq!(text("-T+3"), "-T+3");
        assert_eq!(Dim::sym("T+U-T"), Dim::Sym("U".into()));
        assert_eq!(Dim::sym("T-T+3"), Dim::Fixed(3));
        assert_eq!(text("T*3"), "T*3");
        assert_eq!(text("(T"), "(T");
        assert_eq!(Dim::sym("1+T-1"), Dim::Sym("T".into()));
        assert_eq!(Dim::Sym("T-4".into()).plus(1).to_string(), "T-3");
        assert_eq!(Dim::Sym("T-4".into()).factor_text(), "(T-4)");
        assert_eq!(Dim::Sym("(T-2)/2".into()).factor_text(), "(T-2)/2");
        assert_eq!(Dim::Sym("T*3".into()).factor_text(), "T*3");
    }
}
