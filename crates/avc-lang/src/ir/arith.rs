//! Evaluating value expressions while the IR is built: `dilation * (k - 1) / 2` with its
//! references already substituted, `width(x)` read from a shape. Integers only, every
//! step checked: an overflow, a division by zero or a division with a remainder is an
//! error at the operator, an operand that is not an integer an error at the operand.

use crate::ast::{Arith, ArithOp, ArithStep, Ident, Value, ValueKind};
use crate::diag::Diagnostic;
use crate::source::Span;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ArithError {
    #[error("arithmetic works on integers, found {found}")]
    NotInteger { found: String, span: Span },
    #[error("`{lhs} {op} {rhs}` overflows a 64-bit integer")]
    Overflow { lhs: i64, op: &'static str, rhs: i64, span: Span },
    #[error("`{lhs} / 0` divides by zero")]
    DivideByZero { lhs: i64, span: Span },
    #[error("`{lhs} / {rhs}` is not a whole number")]
    Inexact { lhs: i64, rhs: i64, span: Span },
    #[error("`width({})` reads `{}`, which is not defined here", name.name, name.name)]
    UnknownWidthOf { name: Ident, known: Vec<String> },
    #[error("`width({of})` needs the shape of `{of}`, but {reason}")]
    WidthUnknown { of: String, reason: String, span: Span },
    #[error("a constant cannot read `width({})`", name.name)]
    WidthInConstant { name: Ident },
}

impl ArithError {
    /// The diagnostic, with `message` (this error's text, with its node when it has one).
    pub fn to_diagnostic(&self, message: String) -> Diagnostic {
        let d = Diagnostic::error(self.code(), message);
        match self {
            ArithError::NotInteger { span, .. } => d
                .with_label(*span, "not an integer")
                .with_help("`+`, `-`, `*` and `/` take integers: numbers, constants, int parameters, `width(x)`"),
            ArithError::Overflow { span, .. } => {
                d.with_label(*span, "overflows").with_help("sizes this large cannot be allocated anyway")
            }
            ArithError::DivideByZero { span, .. } => d.with_label(*span, "by zero"),
            ArithError::Inexact { lhs, rhs, span } => d.with_label(*span, "leaves a remainder").with_help(format!(
                "`/` divides exactly, so no size is silently rounded: {lhs} is not a multiple of {rhs} \
                 (for `dilation * (kernel - 1) / 2`, use an odd kernel)"
            )),
            ArithError::UnknownWidthOf { name, known } => {
                let d = d.with_label(name.span, "not a node or input here");
                match crate::diag::did_you_mean(&name.name, known.iter().map(String::as_str)) {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None => d.with_help("`width(x)` reads a node or input of the same scope (a block's input, say)"),
                }
            }
            ArithError::WidthUnknown { span, .. } => d.with_label(*span, "read here"),
            ArithError::WidthInConstant { name } => d
                .with_label(name.span, "in a constant")
                .with_help("constants are known before any node; write `width(x)` where the value is used"),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ArithError::NotInteger { .. } => "expr::type",
            ArithError::Overflow { .. } | ArithError::DivideByZero { .. } | ArithError::Inexact { .. } => {
                "expr::arithmetic"
            }
            ArithError::UnknownWidthOf { .. } | ArithError::WidthInConstant { .. } => "expr::width-ref",
            ArithError::WidthUnknown { .. } => "expr::width",
        }
    }
}

/// What evaluating a value needs from the graph: the width of a node, by its global name.
/// `Ok(None)`: not known for a reason already reported (the value is then left alone).
pub(super) type WidthOf<'a> = dyn Fn(&Ident) -> Result<Option<i64>, ArithError> + 'a;

/// Folds every expression inside `v` (lists included) into an integer. `Ok(None)` when an
/// operand is unknown for a reason already reported (an unresolved reference, a width
/// that cannot be read): nothing more is said about it.
pub(super) fn evaluate(v: &Value, width_of: &WidthOf) -> Result<Option<Value>, ArithError> {
    let kind = match &v.kind {
        ValueKind::Arith(a) => match eval_int(a, width_of)? {
            Some(n) => ValueKind::Int(n),
            None => return Ok(None),
        },
        ValueKind::Width(name) => match width_of(name)? {
            Some(n) => ValueKind::Int(n),
            None => return Ok(None),
        },
        ValueKind::List(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match evaluate(item, width_of)? {
                    Some(item) => out.push(item),
                    None => return Ok(None),
                }
            }
            ValueKind::List(out)
        }
        other => other.clone(),
    };
    Ok(Some(Value { kind, span: v.span }))
}

fn operand(v: &Value, width_of: &WidthOf) -> Result<Option<i64>, ArithError> {
    match &v.kind {
        ValueKind::Int(n) => Ok(Some(*n)),
        ValueKind::Arith(a) => eval_int(a, width_of),
        ValueKind::Width(name) => width_of(name),
        // Unresolved: reported where the name was looked up.
        ValueKind::Ref(_) => Ok(None),
        other => Err(ArithError::NotInteger {
            found: format!("{} `{}`", other.type_name(), Value { kind: other.clone(), span: v.span }),
            span: v.span,
        }),
    }
}

/// Folds an expression from the left, step by step: each right operand is evaluated (so a
/// type error there is found even when the left is unknown) before its operator applies,
/// which reports the first error in reading order.
fn eval_int(a: &Arith, width_of: &WidthOf) -> Result<Option<i64>, ArithError> {
    let mut acc = operand(&a.first, width_of)?;
    for step in &a.steps {
        let rhs = operand(&step.rhs, width_of)?;
        acc = match (acc, rhs) {
            (Some(lhs), Some(rhs)) => Some(apply(step, lhs, rhs)?),
            _ => None,
        };
    }
    Ok(acc)
}

fn apply(step: &ArithStep, lhs: i64, rhs: i64) -> Result<i64, ArithError> {
    let span = step.op_span;
    let overflow = || ArithError::Overflow { lhs, op: step.op.symbol(), rhs, span };
    Ok(match step.op {
        ArithOp::Add => lhs.checked_add(rhs).ok_or_else(overflow)?,
        ArithOp::Sub => lhs.checked_sub(rhs).ok_or_else(overflow)?,
        ArithOp::Mul => lhs.checked_mul(rhs).ok_or_else(overflow)?,
        ArithOp::Div if rhs == 0 => return Err(ArithError::DivideByZero { lhs, span }),
        ArithOp::Div if lhs.checked_rem(rhs).ok_or_else(overflow)? != 0 => {
            return Err(ArithError::Inexact { lhs, rhs, span });
        }
        ArithOp::Div => lhs.checked_div(rhs).ok_or_else(overflow)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(n: i64) -> Value {
        Value { kind: ValueKind::Int(n), span: Span::new(0, 1) }
    }

    fn op(op: ArithOp, lhs: Value, rhs: Value) -> Value {
        let span = lhs.span.join(rhs.span);
        let step = ArithStep { op, op_span: Span::new(7, 8), rhs };
        Value { kind: ValueKind::Arith(Box::new(Arith { first: lhs, steps: vec![step] })), span }
    }

    fn no_widths(_: &Ident) -> Result<Option<i64>, ArithError> {
        Ok(Some(5))
    }

    fn eval(v: &Value) -> Result<Option<i64>, ArithError> {
        Ok(evaluate(v, &no_widths)?.map(|v| match v.kind {
            ValueKind::Int(n) => n,
            other => panic!("{other:?}"),
        }))
    }

    #[test]
    fn folds_with_precedence_given_by_the_tree() {
        // 4 * (3 - 1) / 2
        let v = op(ArithOp::Div, op(ArithOp::Mul, int(4), op(ArithOp::Sub, int(3), int(1))), int(2));
        assert_eq!(eval(&v), Ok(Some(4)));
        let w = Value { kind: ValueKind::Width(Ident::new("x", Span::new(0, 1))), span: Span::new(0, 8) };
        assert_eq!(eval(&op(ArithOp::Mul, int(2), w)), Ok(Some(10)));
    }

    #[test]
    fn refuses_remainders_zero_division_overflow_and_floats() {
        let inexact = eval(&op(ArithOp::Div, int(7), int(2))).unwrap_err();
        assert_eq!(inexact.to_string(), "`7 / 2` is not a whole number");
        assert!(matches!(eval(&op(ArithOp::Div, int(7), int(0))), Err(ArithError::DivideByZero { .. })));
        let big = op(ArithOp::Mul, int(i64::MAX), int(2));
        assert_eq!(eval(&big).unwrap_err().to_string(), format!("`{} * 2` overflows a 64-bit integer", i64::MAX));
        assert!(matches!(eval(&op(ArithOp::Div, int(i64::MIN), int(-1))), Err(ArithError::Overflow { .. })));
        let half = Value { kind: ValueKind::Float(0.5), span: Span::new(2, 5) };
        let err = eval(&op(ArithOp::Add, int(1), half)).unwrap_err();
        assert_eq!(err.to_string(), "arithmetic works on integers, found a float `0.5`");
        let unresolved = Value { kind: ValueKind::Ref("k".into()), span: Span::new(0, 1) };
        assert_eq!(eval(&op(ArithOp::Add, int(1), unresolved)), Ok(None), "reported where it was looked up");
    }
}
