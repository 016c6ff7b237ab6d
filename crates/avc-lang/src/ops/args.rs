//! Reading an op's arguments against its [`OpSpec`]: unknown names, missing required
//! parameters, wrong types and out-of-range values are all collected (not only the first),
//! each with the span of the offending text.

use super::{Default, OpSpec, ParamKind};

/// What an [`ArgReader::int_or_choice`] parameter holds: the integer, or the index of the
/// word in the spec's list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum IntOrChoice {
    Int(i64),
    Choice(usize),
}
use crate::ast::{Ident, Value, ValueKind};
use crate::source::Span;

/// The largest size an op parameter may have (`out`, `hidden`, `kernel`, ...): 2^24, the
/// largest declared dimension too. Counts made from such sizes stay far inside 64 bits.
pub const MAX_SIZE: i64 = 1 << 24;

/// An argument after block parameters and constants have been substituted.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedArg {
    pub name: Ident,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ArgError {
    #[error("op `{op}` has no parameter `{param}`")]
    Unknown { op: &'static str, param: Ident, allowed: Vec<&'static str> },
    #[error("op `{op}` needs the parameter `{param}` ({kind})")]
    Missing { op: &'static str, param: &'static str, kind: String, span: Span },
    #[error("parameter `{param}` of `{op}` must be {expected}, found {found}")]
    Type { op: &'static str, param: &'static str, expected: String, found: String, span: Span },
    #[error("parameter `{param}` of `{op}` {problem}, found {found}")]
    Range { op: &'static str, param: &'static str, problem: String, found: String, span: Span },
    /// A value that names an unknown constant or parameter; reported by the builder, so it
    /// carries no message of its own.
    #[error("unresolved reference")]
    Unresolved,
    /// None of a set of optional parameters, of which the op needs at least one
    /// (`clamp`'s `min` and `max`).
    #[error("op `{op}` needs at least one of {}", params.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(" and "))]
    MissingOneOf { op: &'static str, params: &'static [&'static str], kind: String, span: Span },
    #[error("parameter `{param}` is given twice")]
    Duplicate { param: Ident, first: Span },
}

impl ArgError {
    pub fn span(&self) -> Span {
        match self {
            ArgError::Unknown { param, .. } | ArgError::Duplicate { param, .. } => param.span,
            ArgError::Missing { span, .. }
            | ArgError::MissingOneOf { span, .. }
            | ArgError::Type { span, .. }
            | ArgError::Range { span, .. } => *span,
            ArgError::Unresolved => Span::empty(),
        }
    }
}

/// Hands an op's parse function its arguments one by one, typed, with defaults filled in
/// from the spec. Errors are recorded and a harmless fallback is returned, so one pass
/// finds every problem with a node's arguments.
pub struct ArgReader<'a> {
    spec: &'static OpSpec,
    args: &'a [ResolvedArg],
    node_span: Span,
    errors: Vec<ArgError>,
}

impl<'a> ArgReader<'a> {
    pub fn new(spec: &'static OpSpec, args: &'a [ResolvedArg], node_span: Span) -> Self {
        let mut errors = Vec::new();
        for (i, arg) in args.iter().enumerate() {
            if let Some(first) = args[..i].iter().find(|a| a.name.name == arg.name.name) {
                errors.push(ArgError::Duplicate { param: arg.name.clone(), first: first.name.span });
            } else if spec.param(&arg.name.name).is_none() {
                errors.push(ArgError::Unknown {
                    op: spec.name,
                    param: arg.name.clone(),
                    allowed: spec.params.iter().map(|p| p.name).collect(),
                });
            }
        }
        ArgReader { spec, args, node_span, errors }
    }

    /// Runs the spec's parse function and returns the op or every argument error.
    pub fn parse(mut self) -> Result<super::Op, Vec<ArgError>> {
        let op = (self.spec.parse)(&mut self);
        if self.errors.is_empty() { Ok(op) } else { Err(self.errors) }
    }

    fn lookup(&mut self, name: &'static str) -> (Option<&'a Value>, &'static super::ParamSpec) {
        let spec = self.spec.param(name).unwrap_or_else(|| {
            // The registry is static; a parse function naming an undeclared parameter is a
            // bug in avc itself, caught by the registry tests.
            panic!("op `{}` reads undeclared parameter `{name}`", self.spec.name)
        });
        let value = self.args.iter().find(|a| a.name.name == name).map(|a| &a.value);
        // A misspelt name (`hiden`) is already reported as unknown, with this one as the
        // suggestion; saying it is also missing would be the same mistake twice.
        let misspelt = self.args.iter().any(|a| {
            self.spec.param(&a.name.name).is_none()
                && crate::diag::did_you_mean(&a.name.name, self.spec.params.iter().map(|p| p.name)) == Some(name)
        });
        if value.is_none() && spec.default.is_none() && !misspelt {
            self.errors.push(ArgError::Missing {
                op: self.spec.name,
                param: name,
                kind: spec.kind.describe(),
                span: self.node_span,
            });
        }
        (value, spec)
    }

    fn type_error(&mut self, name: &'static str, expected: &str, v: &Value) {
        if let ValueKind::Ref(_) = v.kind {
            // A reference that is still unresolved here was already reported as unknown.
            self.errors.push(ArgError::Unresolved);
            return;
        }
        self.errors.push(ArgError::Type {
            op: self.spec.name,
            param: name,
            expected: expected.to_string(),
            found: format!("{} `{v}`", v.kind.type_name()),
            span: v.span,
        });
    }

    pub fn int(&mut self, name: &'static str) -> i64 {
        let (value, spec) = self.lookup(name);
        let fallback = match spec.default {
            Some(Default::Int(i)) => i,
            _ => 1,
        };
        match value.map(|v| (&v.kind, v)) {
            None => fallback,
            Some((ValueKind::Int(i), _)) => *i,
            Some((_, v)) => {
                self.type_error(name, "an integer", v);
                fallback
            }
        }
    }

    /// An integer that must be at least `min` and at most [`MAX_SIZE`] (sizes, kernels,
    /// strides, layer counts): no size is read that could overflow a count made from it.
    pub fn int_at_least(&mut self, name: &'static str, min: i64) -> i64 {
        let v = self.int_where(name, |v| match v {
            v if v < min => Err(format!("must be at least {min}")),
            v if v > MAX_SIZE => Err(format!("must be at most {}", crate::check::render_count(MAX_SIZE))),
            _ => Ok(()),
        });
        v.clamp(min, MAX_SIZE.max(min))
    }

    /// An integer that must also pass `check`, which says what is wrong with it.
    pub fn int_where(&mut self, name: &'static str, check: impl Fn(i64) -> Result<(), String>) -> i64 {
        // Only a value written as an integer is checked: a fallback after a type error is not
        // the user's and must not be reported twice.
        let given = self.args.iter().any(|a| a.name.name == name && matches!(a.value.kind, ValueKind::Int(_)));
        let v = self.int(name);
        if given && let Err(problem) = check(v) {
            self.out_of_range(name, problem, v.to_string());
        }
        v
    }

    pub fn float(&mut self, name: &'static str) -> f64 {
        let (value, spec) = self.lookup(name);
        let fallback = match spec.default {
            Some(Default::Float(x)) => x,
            _ => 0.0,
        };
        match value.map(|v| (&v.kind, v)) {
            None => fallback,
            Some((ValueKind::Float(x), _)) => *x,
            Some((ValueKind::Int(i), _)) => *i as f64,
            Some((_, v)) => {
                self.type_error(name, "a number", v);
                fallback
            }
        }
    }

    /// A float in `[lo, hi]` (probabilities, slopes).
    pub fn float_in(&mut self, name: &'static str, lo: f64, hi: f64) -> f64 {
        let x = self.float(name);
        if !(lo..=hi).contains(&x) {
            self.out_of_range(name, format!("must lie in [{lo}, {hi}]"), x.to_string());
            return lo;
        }
        x
    }

    pub fn bool(&mut self, name: &'static str) -> bool {
        let (value, spec) = self.lookup(name);
        let fallback = matches!(spec.default, Some(Default::Bool(true)));
        match value.map(|v| (&v.kind, v)) {
            None => fallback,
            Some((ValueKind::Bool(b), _)) => *b,
            Some((_, v)) => {
                self.type_error(name, "`true` or `false`", v);
                fallback
            }
        }
    }

    /// One of the spec's allowed words; returns its index in the choice list.
    pub fn choice(&mut self, name: &'static str) -> usize {
        let (value, spec) = self.lookup(name);
        let ParamKind::Choice(options) = spec.kind else {
            panic!("parameter `{name}` of `{}` is not a choice", self.spec.name)
        };
        let fallback = match spec.default {
            Some(Default::Str(s)) => options.iter().position(|o| *o == s).unwrap_or(0),
            _ => 0,
        };
        let expected = crate::diag::one_of(options);
        match value.map(|v| (&v.kind, v)) {
            None => fallback,
            Some((ValueKind::Str(s), v)) => match options.iter().position(|o| o == s) {
                Some(i) => i,
                None => {
                    self.type_error(name, &expected, v);
                    fallback
                }
            },
            Some((_, v)) => {
                self.type_error(name, &expected, v);
                fallback
            }
        }
    }

    /// Whether the parameter was written (an optional one with [`Default::Unset`]).
    pub fn given(&self, name: &str) -> bool {
        self.args.iter().any(|a| a.name.name == name)
    }

    /// An optional number: `None` unless written.
    pub fn float_opt(&mut self, name: &'static str) -> Option<f64> {
        let given = self.given(name);
        let x = self.float(name);
        given.then_some(x)
    }

    /// An optional integer: `None` unless written.
    pub fn int_opt(&mut self, name: &'static str) -> Option<i64> {
        let given = self.given(name);
        let x = self.int(name);
        given.then_some(x)
    }

    /// Records that a well-typed parameter does not fit the others (`problem` says why).
    pub fn refuse(&mut self, name: &'static str, problem: impl Into<String>) {
        let found = self.args.iter().find(|a| a.name.name == name).map_or_else(String::new, |a| a.value.to_string());
        self.out_of_range(name, problem.into(), found);
    }

    /// A list of integers (`shape: [8, -1]`). Each element is type-checked, with the span
    /// of the element at fault; references inside were substituted by the IR builder.
    pub fn int_list(&mut self, name: &'static str) -> Vec<i64> {
        self.int_list_where(name, |_| Ok(()))
    }

    /// A list of integers that must also pass `check`, which says what is wrong with a
    /// well-typed list (e.g. "may infer at most one size"). The check runs only on a list
    /// that was given and read cleanly, so one mistake is reported once.
    pub fn int_list_where(&mut self, name: &'static str, check: impl Fn(&[i64]) -> Result<(), String>) -> Vec<i64> {
        let (value, _) = self.lookup(name);
        let Some(v) = value else { return Vec::new() };
        let ValueKind::List(items) = &v.kind else {
            self.type_error(name, "a list of integers like `[8, -1]`", v);
            return Vec::new();
        };
        let mut out = Vec::with_capacity(items.len());
        let mut clean = true;
        for item in items {
            match item.kind {
                ValueKind::Int(i) => out.push(i),
                _ => {
                    self.type_error(name, "a list of integers", item);
                    clean = false;
                }
            }
        }
        if clean && let Err(problem) = check(&out) {
            self.out_of_range(name, problem, v.to_string());
        }
        out
    }

    /// An integer of at least `min` (and at most [`MAX_SIZE`]), or one of the spec's
    /// words (a [`ParamKind::IntOrChoice`]: `padding: 2`, `padding: "same"`). Anything else
    /// is a type error listing every form allowed.
    pub fn int_or_choice(&mut self, name: &'static str, min: i64) -> IntOrChoice {
        let (value, spec) = self.lookup(name);
        let ParamKind::IntOrChoice(options) = spec.kind else {
            panic!("parameter `{name}` of `{}` is not an integer or a choice", self.spec.name)
        };
        let fallback = match spec.default {
            Some(Default::Str(s)) => IntOrChoice::Choice(options.iter().position(|o| *o == s).unwrap_or(0)),
            Some(Default::Int(i)) => IntOrChoice::Int(i),
            _ => IntOrChoice::Int(min),
        };
        let words: Vec<String> = options.iter().map(|o| format!("`{o}`")).collect();
        let expected = match words.split_last() {
            Some((last, [])) => format!("an integer or {last}"),
            Some((last, rest)) => format!("an integer, {} or {last}", rest.join(", ")),
            None => "an integer".into(),
        };
        match value.map(|v| (&v.kind, v)) {
            None => fallback,
            Some((ValueKind::Int(_), _)) => IntOrChoice::Int(self.int_at_least(name, min)),
            Some((ValueKind::Str(s), v)) => match options.iter().position(|o| o == s) {
                Some(i) => IntOrChoice::Choice(i),
                None => {
                    self.type_error(name, &expected, v);
                    fallback
                }
            },
            Some((_, v)) => {
                self.type_error(name, &expected, v);
                fallback
            }
        }
    }

    /// A float that may be left out (no default): `None` when it is.
    pub fn optional_float(&mut self, name: &'static str) -> Option<f64> {
        let given = self.args.iter().any(|a| a.name.name == name);
        let x = self.float(name);
        given.then_some(x)
    }

    /// Records that none of `params` (each optional) was given, though the op needs one.
    pub fn missing_one_of(&mut self, params: &'static [&'static str]) {
        let kind = params.first().and_then(|p| self.spec.param(p)).map_or(String::new(), |p| p.kind.describe());
        self.errors.push(ArgError::MissingOneOf { op: self.spec.name, params, kind, span: self.node_span });
    }

    /// Records a well-typed value that the op cannot accept, or a combination of values it
    /// cannot (`padding: "same"` with a stride): `problem` says what is wrong with `name`'s
    /// value, `found` what was given.
    pub fn out_of_range(&mut self, name: &'static str, problem: String, found: String) {
        let span = self.span_of(name);
        self.errors.push(ArgError::Range { op: self.spec.name, param: name, problem, found, span });
    }

    fn span_of(&self, name: &str) -> Span {
        self.args.iter().find(|a| a.name.name == name).map_or(self.node_span, |a| a.value.span)
    }
}
