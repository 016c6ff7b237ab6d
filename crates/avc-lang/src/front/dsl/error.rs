//! The DSL front-end's errors: data with the span of the offending text, turned into a
//! [`Diagnostic`] (labels on the narrowest spans, a help text) only when shown. They reach
//! the rest of the compiler as [`FrontError::Dsl`](crate::front::FrontError::Dsl).

use crate::ast::{OutputKind, ParamType};
use crate::diag::{Diagnostic, did_you_mean, one_of};
use crate::front::dsl::syntax::{A_STATEMENT, OPERATOR_CHARS};
use crate::front::expr::ARITHMETIC_HELP;
use crate::source::Span;

/// Everything that can be wrong with a `.avc` file before it becomes an AST.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DslError {
    /// The text does not follow the grammar; `expected` is already in words
    /// ("`,` or `)`"), `found` describes the text at `span` ("`head`", "end of file").
    /// `after` is the end of the previous token when the error sits on a later line: the
    /// missing token belongs there.
    #[error("expected {expected}, found {found}")]
    Syntax { expected: String, found: String, span: Span, after: Option<Span> },
    /// A `"` with no closing `"` on its line.
    #[error("this string is not closed")]
    UnterminatedString { span: Span },
    /// Brackets nested past the limit (checked before parsing: deep nesting would exhaust
    /// the stack of a recursive-descent parser).
    #[error("brackets nest more than {limit} deep")]
    TooDeep { limit: usize, span: Span },
    /// More than [`MAX_VALUES`](crate::front::MAX_VALUES) values (names, numbers, strings,
    /// booleans, lists); `span` is where the count passed it.
    #[error("the file holds more than {} values", crate::check::render_count(*limit as i64))]
    TooLarge { limit: usize, span: Span },
    /// pest gave up (its call or stack limit); a backstop behind the nesting check.
    #[error("the parser gave up: {message}")]
    ParserLimit { message: String, span: Span },
    /// Nothing but comments and blank space.
    #[error("the file is empty")]
    Empty { span: Span },
    /// A model without any `input`, or without any `output`.
    #[error("the model declares no {what}")]
    Missing { what: &'static str, example: &'static str, span: Span },
    /// A second `train { }` section.
    #[error("the `train` section is given twice")]
    DuplicateTrain { span: Span, first: Span },
    /// The same key twice: a setting in `train`, a parameter of one call, an entry of a
    /// block's header.
    #[error("{what} `{name}` is given twice")]
    Duplicate { what: &'static str, name: String, span: Span, first: Span },
    #[error("input `{input}`: `{found}` is not a valid dimension")]
    BadDim { input: String, found: String, span: Span },
    #[error("unknown output kind `{found}`")]
    UnknownOutputKind { found: String, span: Span },
    #[error("unknown parameter type `{found}`")]
    UnknownParamType { found: String, span: Span },
    #[error("the integer `{text}` does not fit in 64 bits")]
    IntOutOfRange { text: String, span: Span },
    #[error("the number `{text}` is too large")]
    FloatOutOfRange { text: String, span: Span },
    #[error("unknown escape `{text}` in a string")]
    BadEscape { text: String, span: Span },
    /// `let X = [1, 2]` or `let X = Y`: constants are scalars, as in YAML.
    #[error("constant `{name}` must be an integer, a float, a boolean or a string, found {found}")]
    BadConstant { name: String, found: &'static str, span: Span },
    /// `y = x`: a node must call an op or a block.
    #[error("`{name} = {target}` defines no node: there is no call")]
    Alias { name: String, target: String, span: Span },
    /// An input after a parameter, in a call (`what` = "`lstm`") or a block's header
    /// (`what` = "block `res`").
    #[error("an input comes after the parameters of {what}")]
    InputAfterParam { what: String, span: Span },
    /// A mistake in tensor arithmetic or slicing (`2 * 3` as a node, `x[0]`, a step):
    /// `problem` is the whole message, `help` what to write instead.
    #[error("{problem}")]
    Tensor { problem: String, help: String, span: Span },
    /// Several targets where the call gives one result, or a count that disagrees with
    /// them (`crate::front::parts`).
    #[error("{problem}")]
    Parts { problem: String, help: String, span: Span },
    /// A mistake inside a value expression (shared with the YAML front-end).
    #[error(transparent)]
    Expr(#[from] crate::front::expr::ExprError),
}

const STATEMENT_HELP: &str = "statements start with `let`, `input`, `block`, `output`, `train` \
    or a node's name (`h = linear(x, out: 64)`)";
const LIMIT_HELP: &str = "split the expression: give inner calls names of their own (`h = op(x)`)";

impl DslError {
    /// The narrowest span of the offending text.
    pub fn span(&self) -> Span {
        use DslError::*;
        match self {
            Syntax { span, .. }
            | UnterminatedString { span }
            | TooDeep { span, .. }
            | TooLarge { span, .. }
            | ParserLimit { span, .. }
            | Empty { span }
            | Missing { span, .. }
            | DuplicateTrain { span, .. }
            | Duplicate { span, .. }
            | BadDim { span, .. }
            | UnknownOutputKind { span, .. }
            | UnknownParamType { span, .. }
            | IntOutOfRange { span, .. }
            | FloatOutOfRange { span, .. }
            | BadEscape { span, .. }
            | BadConstant { span, .. }
            | Alias { span, .. }
            | InputAfterParam { span, .. }
            | Tensor { span, .. }
            | Parts { span, .. } => *span,
            Expr(e) => e.span(),
        }
    }

    /// A stable machine-readable code for the diagnostic.
    pub fn code(&self) -> &'static str {
        use DslError::*;
        match self {
            Syntax { .. } | UnterminatedString { .. } => "dsl::syntax",
            TooDeep { .. } | ParserLimit { .. } => "dsl::nesting",
            TooLarge { .. } => "dsl::too-large",
            Empty { .. } => "dsl::empty",
            Missing { .. } => "dsl::missing",
            DuplicateTrain { .. } | Duplicate { .. } => "dsl::duplicate",
            BadDim { .. } => "dsl::dim",
            UnknownOutputKind { .. } => "dsl::output-kind",
            UnknownParamType { .. } => "dsl::param-type",
            IntOutOfRange { .. } | FloatOutOfRange { .. } => "dsl::number",
            BadEscape { .. } => "dsl::escape",
            BadConstant { .. } => "dsl::constant",
            Alias { .. } => "dsl::alias",
            InputAfterParam { .. } => "dsl::order",
            Tensor { .. } => "dsl::tensor-arithmetic",
            Parts { .. } => "dsl::parts",
            Expr(e) => e.code(),
        }
    }

    pub fn to_diagnostic(&self) -> Diagnostic {
        if let DslError::Expr(e) = self {
            return e.to_diagnostic();
        }
        let diag = Diagnostic::error(self.code(), self.to_string());
        let diag = match self {
            DslError::Syntax { expected, found, span, after: Some(after) } => {
                diag.with_label(*after, format!("expected {expected} here")).with_label(*span, format!("found {found}"))
            }
            DslError::DuplicateTrain { span, first } | DslError::Duplicate { span, first, .. } => {
                diag.with_label(*span, "given again here").with_label(*first, "first given here")
            }
            _ => diag.with_label(self.span(), self.label()),
        };
        match self.help() {
            Some(help) => diag.with_help(help),
            None => diag,
        }
    }

    fn label(&self) -> String {
        use DslError::*;
        match self {
            Syntax { expected, .. } => format!("expected {expected}"),
            UnterminatedString { .. } => "no closing `\"` on this line".into(),
            TooDeep { .. } | ParserLimit { .. } => "too deep".into(),
            TooLarge { .. } => "the limit is passed here".into(),
            Empty { .. } => "nothing here".into(),
            Missing { what, .. } => format!("no {what} in this file"),
            DuplicateTrain { .. } | Duplicate { .. } => "given again here".into(),
            BadDim { .. } => "not a dimension".into(),
            UnknownOutputKind { .. } => "unknown kind".into(),
            UnknownParamType { .. } => "unknown type".into(),
            IntOutOfRange { .. } | FloatOutOfRange { .. } => "too large".into(),
            BadEscape { .. } => "unknown escape".into(),
            BadConstant { .. } => "not a scalar".into(),
            Alias { .. } => "no op or block called".into(),
            InputAfterParam { .. } => "an input after a parameter".into(),
            Tensor { .. } | Parts { .. } => "here".into(),
            Expr(_) => String::new(),
        }
    }

    fn help(&self) -> Option<String> {
        use DslError::*;
        Some(match self {
            Syntax { expected, .. } if expected.starts_with(A_STATEMENT) => STATEMENT_HELP.into(),
            Syntax { expected, .. } if expected.starts_with("`return`") => {
                "a block's body is its nodes, then `return NAME` (or `return EXPR`) before the `}`".into()
            }
            Syntax { found, .. } if found == "`$`" => {
                "the DSL writes a constant or parameter bare (`k`, not `$k`)".into()
            }
            Syntax { found, .. } if found.starts_with('`') && found[1..].starts_with(OPERATOR_CHARS) => {
                ARITHMETIC_HELP.into()
            }
            Syntax { expected, found, .. } if expected.contains("`)`") && is_literal(found) => {
                "an op's inputs come first (nodes, by name or expression), then its parameters by name: \
                 `transpose(x, a: 1, b: 2)`, `lstm(x, hidden: 64, output: \"last\")`; `avc ops` lists each op's \
                 parameters"
                    .into()
            }
            Syntax { .. } => return None,
            UnterminatedString { .. } => "strings are written on one line: `\"last\"`".into(),
            TooDeep { .. } | ParserLimit { .. } => LIMIT_HELP.into(),
            TooLarge { .. } => crate::front::TOO_LARGE_HELP.into(),
            Empty { .. } => "a model needs at least an input, a node and an output, e.g.\n\
                `input video: [120, 1024]`, `head = linear(video, out: 1)`, `output match: logit(head)`"
                .into(),
            Missing { example, .. } => format!("add e.g. `{example}`"),
            DuplicateTrain { .. } => "put every setting in one `train { ... }` section".into(),
            Duplicate { .. } => "keep one of them".into(),
            BadDim { .. } => "a dimension is a positive integer (`120`), a symbol for a length left \
                open (`T`) or a constant's name"
                .into(),
            UnknownOutputKind { found, .. } => choose_help("kinds", found, &OutputKind::ALL.map(|(w, _)| w)),
            UnknownParamType { found, .. } => choose_help("types", found, &ParamType::ALL.map(|(w, _)| w)),
            IntOutOfRange { .. } => "integers must lie between -2^63 and 2^63 - 1".into(),
            FloatOutOfRange { .. } => "numbers must be finite 64-bit floats".into(),
            BadEscape { .. } => "the escapes are `\\\"`, `\\\\`, `\\n` and `\\t`".into(),
            BadConstant { .. } => "write the value where it is used, or one constant per number".into(),
            Alias { target, .. } => {
                format!("use `{target}` where this name is read, or call an op: `name = op({target})`")
            }
            InputAfterParam { .. } => {
                "write the inputs first, then the parameters: `lstm(x, hidden: 64)`, `block res(x, hidden: int)`".into()
            }
            Tensor { help, .. } | Parts { help, .. } => help.clone(),
            Expr(_) => return None,
        })
    }
}

/// "did you mean `x`? the kinds are `a`, `b` or `c`".
/// Whether a syntax error's `found` (a token in backticks) is a number or a string: a
/// parameter's value where only an input may stand.
fn is_literal(found: &str) -> bool {
    found.strip_prefix('`').and_then(|t| t.chars().next()).is_some_and(|c| c.is_ascii_digit() || c == '"')
}

fn choose_help(what: &str, found: &str, words: &[&str]) -> String {
    let names = one_of(words);
    match did_you_mean(found, words.iter().copied()) {
        Some(close) => format!("did you mean `{close}`? the {what} are {names}"),
        None => format!("the {what} are {names}"),
    }
}
