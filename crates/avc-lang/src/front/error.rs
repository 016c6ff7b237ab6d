//! The front-end's errors: data with the span of the offending text, turned into a
//! [`Diagnostic`] (a label on that span, a help text saying what is allowed) only when shown.

use crate::ast::{OutputKind, ParamType};
use crate::diag::{Diagnostic, did_you_mean, one_of};
use crate::source::Span;

/// Everything that can be wrong with a file before it becomes an AST.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FrontError {
    /// The YAML itself does not parse (bad indentation, unclosed bracket, a tab, ...).
    #[error("YAML syntax error: {message}")]
    Syntax { message: String, span: Span },
    /// No document at all, or only comments, or only `null`.
    #[error("the file is empty")]
    Empty { span: Span },
    #[error("the file holds more than one YAML document")]
    ExtraDocument { span: Span },
    /// Valid YAML that avc does not accept: unknown tags, keys that are lists, nesting
    /// too deep, aliases that expand too far.
    #[error("{what} is not supported")]
    Unsupported { what: String, span: Span },
    /// A merge key `<<` whose value is not a mapping or a list of mappings.
    #[error("a merge key `<<` takes a mapping or a list of mappings, found {found}")]
    BadMerge { found: String, span: Span },
    /// More than [`MAX_VALUES`](super::MAX_VALUES) values; `span` is where the count passed it.
    #[error("the file holds more than {} values (after expanding aliases)", crate::check::render_count(*limit as i64))]
    TooLarge { limit: usize, span: Span },
    /// The second use of a key in one mapping (`first` is the first use).
    #[error("key `{key}` is given twice")]
    DuplicateKey { key: String, span: Span, first: Span },
    #[error("unknown key `{key}` in {context}")]
    UnknownKey { key: String, context: String, allowed: &'static [&'static str], span: Span },
    /// A required key is absent; `span` is the start of the mapping that lacks it.
    #[error("{context} has no `{key}`")]
    MissingKey { key: &'static str, context: String, span: Span },
    /// A value of the wrong YAML type (`inputs: 5`).
    #[error("{what} must be {expected}, found {found}")]
    WrongType { what: String, expected: &'static str, found: String, example: Option<&'static str>, span: Span },
    /// `key:` with nothing after it, or `~`/`null`, where a value is needed.
    #[error("{what} has no value")]
    MissingValue { what: String, span: Span },
    /// A name that is not an identifier (`[A-Za-z_][A-Za-z0-9_]*`).
    #[error("`{name}` is not a valid {what}")]
    BadName { name: String, what: &'static str, span: Span },
    #[error("input `{input}`: `{found}` is not a valid dimension")]
    BadDim { input: String, found: String, span: Span },
    #[error("unknown output kind `{found}`")]
    UnknownOutputKind { found: String, span: Span },
    #[error("unknown parameter type `{found}`")]
    UnknownParamType { found: String, span: Span },
    /// A string starting with `$` that is not `$` followed by a name.
    #[error("`{text}` is not a valid reference")]
    BadRef { text: String, span: Span },
    #[error("the integer `{text}` does not fit in 64 bits")]
    IntOutOfRange { text: String, span: Span },
    /// `name: [a, b]` on a node whose op gives one result, or a count that disagrees with
    /// the names (`crate::front::parts`).
    #[error("{problem}")]
    Parts { problem: String, help: String, span: Span },
    /// An error in a `.avc` file (the DSL front-end's own errors).
    #[error(transparent)]
    Dsl(#[from] super::dsl::error::DslError),
    /// A mistake inside a value expression of a YAML file.
    #[error(transparent)]
    Expr(super::expr::ExprError),
}

const NAME_RULE: &str = "names are letters, digits and `_`, not starting with a digit \
    (`video_proj`, `h2`); dots are reserved for block-instance paths";

impl FrontError {
    /// The narrowest span of the offending text (`None` for file-level errors).
    pub fn span(&self) -> Option<Span> {
        use FrontError::*;
        match self {
            Syntax { span, .. }
            | Empty { span }
            | ExtraDocument { span }
            | Unsupported { span, .. }
            | BadMerge { span, .. }
            | TooLarge { span, .. }
            | DuplicateKey { span, .. }
            | UnknownKey { span, .. }
            | MissingKey { span, .. }
            | WrongType { span, .. }
            | MissingValue { span, .. }
            | BadName { span, .. }
            | BadDim { span, .. }
            | UnknownOutputKind { span, .. }
            | UnknownParamType { span, .. }
            | BadRef { span, .. }
            | IntOutOfRange { span, .. }
            | Parts { span, .. } => Some(*span),
            Dsl(e) => Some(e.span()),
            Expr(e) => Some(e.span()),
        }
    }

    /// A stable machine-readable code for the diagnostic.
    pub fn code(&self) -> &'static str {
        use FrontError::*;
        match self {
            Syntax { .. } => "yaml::syntax",
            Empty { .. } => "yaml::empty",
            ExtraDocument { .. } => "yaml::documents",
            Unsupported { .. } => "yaml::unsupported",
            BadMerge { .. } => "yaml::merge",
            TooLarge { .. } => "yaml::too-large",
            DuplicateKey { .. } => "yaml::duplicate-key",
            UnknownKey { .. } => "yaml::unknown-key",
            MissingKey { .. } => "yaml::missing-key",
            WrongType { .. } => "yaml::type",
            MissingValue { .. } => "yaml::no-value",
            BadName { .. } => "yaml::name",
            BadDim { .. } => "yaml::dim",
            UnknownOutputKind { .. } => "yaml::output-kind",
            UnknownParamType { .. } => "yaml::param-type",
            BadRef { .. } => "yaml::ref",
            IntOutOfRange { .. } => "yaml::int-range",
            Parts { .. } => "yaml::parts",
            Dsl(e) => e.code(),
            Expr(e) => e.code(),
        }
    }

    pub fn to_diagnostic(&self) -> Diagnostic {
        match self {
            FrontError::Dsl(e) => return e.to_diagnostic(),
            FrontError::Expr(e) => return e.to_diagnostic(),
            _ => {}
        }
        let mut diag = Diagnostic::error(self.code(), self.to_string());
        if let Some(span) = self.span() {
            diag = diag.with_label(span, self.label());
        }
        if let FrontError::DuplicateKey { first, .. } = self {
            diag = diag.with_label(*first, "first given here");
        }
        diag.with_help(self.help())
    }

    fn label(&self) -> String {
        use FrontError::*;
        match self {
            Syntax { .. } => "the parser stopped here".into(),
            Empty { .. } => "nothing here".into(),
            ExtraDocument { .. } => "a second document starts here".into(),
            Unsupported { .. } => "not supported".into(),
            BadMerge { .. } => "not a mapping".into(),
            TooLarge { .. } => "the limit is passed here".into(),
            DuplicateKey { .. } => "given again here".into(),
            UnknownKey { .. } => "unknown key".into(),
            MissingKey { key, .. } => format!("no `{key}` in this mapping"),
            WrongType { expected, .. } => format!("expected {expected}"),
            MissingValue { .. } => "no value".into(),
            BadName { .. } => "not a name".into(),
            BadDim { .. } => "not a dimension".into(),
            UnknownOutputKind { .. } => "unknown kind".into(),
            UnknownParamType { .. } => "unknown type".into(),
            BadRef { .. } => "bad reference".into(),
            IntOutOfRange { .. } => "too large".into(),
            Parts { .. } => "here".into(),
            Dsl(_) | Expr(_) => String::new(),
        }
    }

    fn help(&self) -> String {
        use FrontError::*;
        match self {
            Syntax { .. } => "YAML wants `key: value` pairs, `- item` lists, closed brackets and quotes, \
                and indentation with spaces (not tabs)"
                .into(),
            Empty { .. } => "a model needs at least `inputs`, `nodes` and `outputs`, e.g. \
                `inputs: {video: [120, 1024]}`"
                .into(),
            ExtraDocument { .. } => "put the whole model in one document: remove this `---`".into(),
            BadMerge { .. } => "merge an anchored mapping, `<<: *defaults`, or several, `<<: [*a, *b]` (the \
                                mapping's own keys win, then the first merged mapping's)"
                .into(),
            Unsupported { .. } => "avc reads plain YAML: mappings with name keys, lists and scalars \
                (anchors, aliases and core tags such as `!!str` are fine)"
                .into(),
            TooLarge { .. } => super::TOO_LARGE_HELP.into(),
            DuplicateKey { .. } => "keep one of them".into(),
            UnknownKey { key, allowed, .. } => {
                let names = one_of(allowed);
                match did_you_mean(key, allowed.iter().copied()) {
                    Some(close) => {
                        format!("did you mean `{close}`? the keys allowed here are {names}")
                    }
                    None => format!("the keys allowed here are {names}"),
                }
            }
            MissingKey { key, .. } => format!("add `{key}: ...`"),
            WrongType { example: Some(example), .. } => format!("for example: `{example}`"),
            WrongType { expected, .. } => format!("write {expected} here"),
            MissingValue { .. } => "write a value after the `:`".into(),
            BadName { .. } => NAME_RULE.into(),
            BadDim { .. } => "a dimension is a positive integer (`120`), a symbol for a length left \
                open (`T`) or a constant's name"
                .into(),
            UnknownOutputKind { found, .. } => {
                let words = OutputKind::ALL.map(|(w, _)| w);
                choose_help("kinds", found, &words)
            }
            UnknownParamType { found, .. } => {
                let words = ParamType::ALL.map(|(w, _)| w);
                choose_help("types", found, &words)
            }
            BadRef { .. } => "`$` must be followed by the name of a block parameter or constant, \
                e.g. `$hidden`"
                .into(),
            IntOutOfRange { .. } => "integers must lie between -2^63 and 2^63 - 1".into(),
            Parts { help, .. } => help.clone(),
            Dsl(_) | Expr(_) => String::new(),
        }
    }
}

/// "did you mean `x`? the kinds are `a`, `b` or `c`".
fn choose_help(what: &str, found: &str, words: &[&str]) -> String {
    let names = one_of(words);
    match did_you_mean(found, words.iter().copied()) {
        Some(close) => format!("did you mean `{close}`? the {what} are {names}"),
        None => format!("the {what} are {names}"),
    }
}
