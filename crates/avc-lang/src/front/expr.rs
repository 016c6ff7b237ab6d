//! Value expressions, shared by both front-ends: integer arithmetic on numbers, constants,
//! block parameters and `width(x)` (`padding: dilation * (k - 1) / 2`). One grammar
//! (`arith` in `grammar/avc.pest`) reads them; the DSL meets it inside its values, the YAML
//! front-end runs it on a plain scalar that starts like an expression ([`looks_like_expr`]).
//! The two differ only in how a reference is written: bare in the DSL (`k`), `$k` in YAML.
//!
//! Here the text only becomes an [`ast::Value`](crate::ast::Value); the builder substitutes
//! references, reads widths and folds it to an integer (`ir::arith`).

use super::dsl::error::DslError;
use super::dsl::syntax::{AvcParser, Rule, check_nesting, syntax_error};
use crate::ast::{Arith, ArithOp, ArithStep, Ident, Value, ValueKind};
use crate::diag::Diagnostic;
use crate::source::Span;
use pest::Parser;
use pest::iterators::Pair;

/// How a front-end writes a reference to a constant or block parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RefStyle {
    /// The DSL: `k`.
    Bare,
    /// YAML: `$k` (a bare word is a string there).
    Dollar,
}

/// What the supported arithmetic is, for help texts.
pub(super) const ARITHMETIC_HELP: &str = "values take integer arithmetic: `+`, `-`, `*` and `/` (exact division), \
    parentheses, numbers, constants, block parameters and `width(x)`; between nodes only `+` (an `add` node)";

/// Mistakes inside an expression, found while reading it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExprError {
    /// A YAML scalar that starts like an expression but does not parse as one.
    #[error("expected {expected} in the expression, found {found}")]
    Syntax { expected: String, found: String, span: Span },
    #[error("`{name}(...)` is not a function of values")]
    UnknownFunction { name: String, span: Span },
    /// `$k` in the DSL.
    #[error("`${name}`: the DSL writes a constant or parameter without `$`")]
    DollarInDsl { name: String, span: Span },
    /// `k` in a YAML expression.
    #[error("`{name}` in an expression: YAML writes a constant or parameter as `${name}`")]
    BareInYaml { name: String, span: Span },
    #[error("the integer `{text}` does not fit in 64 bits")]
    IntOutOfRange { text: String, span: Span },
    #[error("the number `{text}` is too large")]
    FloatOutOfRange { text: String, span: Span },
    /// Parentheses nested past [`MAX_NESTING`](super::dsl::syntax::MAX_NESTING), the DSL's
    /// limit (checked before parsing: the parser and every walk over the expression
    /// recurse once per level).
    #[error("parentheses nest more than {limit} deep")]
    TooDeep { limit: usize, span: Span },
}

impl ExprError {
    pub fn span(&self) -> Span {
        use ExprError::*;
        match self {
            Syntax { span, .. }
            | UnknownFunction { span, .. }
            | DollarInDsl { span, .. }
            | BareInYaml { span, .. }
            | IntOutOfRange { span, .. }
            | FloatOutOfRange { span, .. }
            | TooDeep { span, .. } => *span,
        }
    }

    /// The same error pointing at `span` (a YAML scalar whose text is not the file's).
    pub(super) fn at(mut self, to: Span) -> Self {
        use ExprError::*;
        match &mut self {
            Syntax { span, .. }
            | UnknownFunction { span, .. }
            | DollarInDsl { span, .. }
            | BareInYaml { span, .. }
            | IntOutOfRange { span, .. }
            | FloatOutOfRange { span, .. }
            | TooDeep { span, .. } => *span = to,
        }
        self
    }

    pub fn code(&self) -> &'static str {
        use ExprError::*;
        match self {
            Syntax { .. } => "expr::syntax",
            UnknownFunction { .. } => "expr::function",
            DollarInDsl { .. } | BareInYaml { .. } => "expr::name",
            IntOutOfRange { .. } | FloatOutOfRange { .. } => "expr::number",
            TooDeep { .. } => "expr::nesting",
        }
    }

    pub fn to_diagnostic(&self) -> Diagnostic {
        use ExprError::*;
        let (label, help) = match self {
            Syntax { expected, .. } => (format!("expected {expected}"), ARITHMETIC_HELP.to_string()),
            UnknownFunction { .. } => (
                "not a function".into(),
                "the one function in a value is `width(x)`: the size of the last axis of node or input `x`".into(),
            ),
            DollarInDsl { name, .. } => ("written with `$`".into(), format!("write `{name}`")),
            BareInYaml { name, .. } => ("a bare name".into(), format!("write `${name}`")),
            IntOutOfRange { .. } => ("too large".into(), "integers must lie between -2^63 and 2^63 - 1".into()),
            FloatOutOfRange { .. } => ("too large".into(), "numbers must be finite 64-bit floats".into()),
            TooDeep { .. } => (
                "too deep".into(),
                "split the expression: give a part a constant of its own (`constants: {K: ...}`)".into(),
            ),
        };
        Diagnostic::error(self.code(), self.to_string()).with_label(self.span(), label).with_help(help)
    }
}

/// Whether a plain YAML scalar is meant as an expression: it starts with a digit, `$`, `(`
/// or `-` and holds an operator or a parenthesis (`$k - 1`, `(4 * $h) / 2`), or it is a
/// `width(...)` call. Anything else stays a string (`last`, `adam`), and a number or a
/// lone `$name` never gets here.
pub(super) fn looks_like_expr(text: &str) -> bool {
    let starts = text.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '$' | '(' | '-'));
    let has_operator = text.contains(['+', '-', '*', '/', '(']);
    (starts && has_operator) || text.trim_start().starts_with("width(")
}

/// Parses a whole YAML scalar (its text starting at `offset` in the file) as an expression.
pub(super) fn parse_yaml(text: &str, offset: usize) -> Result<Value, Vec<ExprError>> {
    if let Err(DslError::TooDeep { limit, span }) = check_nesting(text) {
        return Err(vec![ExprError::TooDeep { limit, span: shifted(span, offset) }]);
    }
    let mut pairs = AvcParser::parse(Rule::yaml_expr, text).map_err(|e| {
        let error = match syntax_error(text, &e) {
            DslError::Syntax { expected, found, span, .. } => {
                let found = if found == "end of file" { "the end of the value".to_string() } else { found };
                ExprError::Syntax { expected, found, span: shifted(span, offset) }
            }
            other => ExprError::Syntax {
                expected: "an expression".into(),
                found: other.to_string(),
                span: shifted(other.span(), offset),
            },
        };
        vec![error]
    })?;
    let arith = pairs.next().and_then(|p| p.into_inner().find(|p| p.as_rule() == Rule::arith));
    let Some(arith) = arith else {
        return Err(vec![ExprError::Syntax {
            expected: "an expression".into(),
            found: "nothing".into(),
            span: Span::new(offset, offset + text.len()),
        }]);
    };
    let mut reader = ExprReader { offset, style: RefStyle::Dollar, bare_is_str: false, errors: Vec::new() };
    let value = reader.arith(arith);
    match value {
        Some(v) if reader.errors.is_empty() => Ok(v),
        _ => Err(reader.errors),
    }
}

fn shifted(span: Span, offset: usize) -> Span {
    Span::new(span.start + offset, span.end + offset)
}

/// Reads an `arith` pair into a value; `offset` is added to every span (0 for the DSL,
/// whose pairs index the file itself).
pub(super) struct ExprReader {
    pub offset: usize,
    pub style: RefStyle,
    /// In the DSL's `train { }`, a lone bare word is a string (`optimizer: adam`).
    pub bare_is_str: bool,
    pub errors: Vec<ExprError>,
}

impl ExprReader {
    /// A pair's span without trailing blank space, shifted into the file.
    fn span(&self, pair: &Pair<Rule>) -> Span {
        let start = pair.as_span().start();
        let leaves = pair.clone().into_inner().flatten().filter(|p| p.clone().into_inner().next().is_none());
        let end = leaves.map(|p| p.as_span().end()).max().unwrap_or(pair.as_span().end());
        shifted(Span::new(start, end), self.offset)
    }

    /// `a + b - c`, `a * b / c`: a left fold over the operands. One operand alone is
    /// that operand's value (a number, a name), so plain values are unchanged.
    pub fn arith(&mut self, pair: Pair<Rule>) -> Option<Value> {
        self.fold(pair, true)
    }

    /// Reads an `arith` or `product` pair into one [`Arith`] list (however long the chain,
    /// no deeper than one level); `alone`: it is the whole value. A parenthesised chain of
    /// the same level first (`(a - b) - c`) is spliced in, so it reads as `a - b - c` does
    /// and printing without the parentheses gives the same tree back.
    fn fold(&mut self, pair: Pair<Rule>, alone: bool) -> Option<Value> {
        let alone = alone && pair.clone().into_inner().count() == 1;
        let mut items = pair.into_inner();
        let first = items.next()?;
        let first = self.operand(first, alone);
        let mut steps = Vec::new();
        let mut failed = first.is_none();
        while let (Some(op), Some(rhs)) = (items.next(), items.next()) {
            let op_span = self.span(&op);
            let op = match op.as_rule() {
                Rule::plus => ArithOp::Add,
                Rule::minus => ArithOp::Sub,
                Rule::times => ArithOp::Mul,
                _ => ArithOp::Div,
            };
            match self.operand(rhs, false) {
                Some(rhs) => steps.push(ArithStep { op, op_span, rhs }),
                None => failed = true,
            }
        }
        if failed {
            return None;
        }
        let first = first?;
        let Some(last) = steps.last() else { return Some(first) };
        let span = first.span.join(last.rhs.span);
        let level = steps[0].op.is_sum();
        let arith = match first.kind {
            ValueKind::Arith(inner) if inner.steps.iter().all(|s| s.op.is_sum() == level) => {
                let mut inner = *inner;
                inner.steps.append(&mut steps);
                inner
            }
            kind => Arith { first: Value { kind, span: first.span }, steps },
        };
        Some(Value { kind: ValueKind::Arith(Box::new(arith)), span })
    }

    /// A product or a factor. `alone`: the whole value is this one operand.
    fn operand(&mut self, pair: Pair<Rule>, alone: bool) -> Option<Value> {
        match pair.as_rule() {
            Rule::product => self.fold(pair, alone),
            Rule::factor => self.factor(pair, alone),
            _ => None,
        }
    }

    fn factor(&mut self, pair: Pair<Rule>, alone: bool) -> Option<Value> {
        let inner = pair.into_inner().find(|p| !matches!(p.as_rule(), Rule::lparen | Rule::rparen))?;
        let span = self.span(&inner);
        let text = inner.as_str();
        let kind = match inner.as_rule() {
            Rule::arith => return self.fold(inner, false),
            Rule::int => match text.parse::<i64>() {
                Ok(n) => ValueKind::Int(n),
                Err(_) => return self.fail(ExprError::IntOutOfRange { text: text.into(), span }),
            },
            Rule::float => match text.parse::<f64>() {
                Ok(x) if x.is_finite() => ValueKind::Float(x),
                _ => return self.fail(ExprError::FloatOutOfRange { text: text.into(), span }),
            },
            Rule::value_call => return self.call(inner),
            Rule::reference => {
                let name = &text[1..];
                if self.style == RefStyle::Bare {
                    return self.fail(ExprError::DollarInDsl { name: name.into(), span });
                }
                ValueKind::Ref(name.into())
            }
            Rule::ident | Rule::path if self.style == RefStyle::Dollar => {
                return self.fail(ExprError::BareInYaml { name: text.into(), span });
            }
            Rule::ident | Rule::path if alone && self.bare_is_str => ValueKind::Str(text.into()),
            Rule::ident | Rule::path => ValueKind::Ref(text.into()),
            _ => return None,
        };
        Some(Value { kind, span })
    }

    /// `width(x)`.
    fn call(&mut self, pair: Pair<Rule>) -> Option<Value> {
        let span = self.span(&pair);
        let mut names = pair.into_inner().filter(|p| p.as_rule() == Rule::ident);
        let (function, arg) = (names.next()?, names.next()?);
        if function.as_str() != "width" {
            let name = function.as_str().to_string();
            let span = self.span(&function);
            return self.fail(ExprError::UnknownFunction { name, span });
        }
        let arg = Ident::new(arg.as_str(), self.span(&arg));
        Some(Value { kind: ValueKind::Width(arg), span })
    }

    fn fail(&mut self, error: ExprError) -> Option<Value> {
        self.errors.push(error);
        None
    }
}
