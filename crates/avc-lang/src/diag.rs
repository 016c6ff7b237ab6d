//! Compiler diagnostics: the one public form every stage's error is converted into, and
//! its rendering (rustc-like, through miette) or JSON for editors and scripts.
//!
//! Stage errors stay data (which node, which axis, which shapes); only here do they become
//! text with a location, a marker under the offending source and a hint.

mod excerpt;
mod repeats;

use crate::source::{SourceFile, Span};
use excerpt::Excerpt;
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic};
pub use repeats::merge_repeats;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A text attached to a span of the source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Label {
    #[serde(skip)]
    pub span: Span,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A stable machine-readable code, e.g. `shape::mismatch`.
    pub code: &'static str,
    pub message: String,
    pub labels: Vec<Label>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Error, code, message: message.into(), labels: Vec::new(), help: None }
    }

    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(code, message) }
    }

    /// Adds a label; spans that point nowhere (generated code) are kept out of the picture.
    pub fn with_label(mut self, span: Span, text: impl Into<String>) -> Self {
        self.labels.push(Label { span, text: text.into() });
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The primary location, `file:line:col`, when the diagnostic has a label.
    pub fn location(&self, src: &SourceFile) -> Option<String> {
        self.labels.first().map(|l| src.location(l.span))
    }

    /// Renders like rustc: header, `file:line:col`, the source line, markers, help.
    pub fn render(&self, src: &SourceFile, color: bool) -> String {
        // The message and code are in our own header line (grep- and editor-friendly);
        // miette draws only the excerpt, the labels and the help.
        let mut diag = MietteDiagnostic::new(String::new()).with_severity(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        });
        if let Some(help) = &self.help {
            diag = diag.with_help(shorten_words(help));
        }
        // miette sees only the lines around the labels, long lines cut (see `excerpt`).
        let spans: Vec<Span> = self.labels.iter().map(|l| l.span).collect();
        let (excerpt, spans) = Excerpt::new(src, &spans);
        let labels = self.labels.iter().zip(spans).map(|(l, span)| {
            let len = if span.is_empty() { excerpt.char_len_at(span.start) } else { span.len() };
            LabeledSpan::new(Some(shorten_words(&l.text).into_owned()), span.start, len)
        });
        diag = diag.with_labels(labels);
        let report = miette::Report::new(diag).with_source_code(excerpt);
        let theme = if color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
        let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
        let mut out = String::new();
        let header = match self.location(src) {
            Some(loc) => format!("{loc}: "),
            None => format!("{}: ", src.name()),
        };
        out.push_str(&header);
        out.push_str(&format!("{}[{}]: {}\n", severity_word(self.severity), self.code, shorten_words(&self.message)));
        let mut excerpt = String::new();
        if handler.render_report(&mut excerpt, report.as_ref()).is_err() {
            excerpt = "(could not render the source excerpt)\n".into();
        }
        // Drop miette's (empty) message line: the header above already says it.
        for line in excerpt.lines().skip_while(|l| matches!(l.trim(), "" | "×" | "⚠" | "☞")) {
            out.push_str(line);
            out.push('\n');
        }
        out
    }

    /// One JSON object: severity, code, message, file, line, column, labels, help.
    pub fn to_json(&self, src: &SourceFile) -> serde_json::Value {
        let labels: Vec<_> = self
            .labels
            .iter()
            .map(|l| {
                let (line, column) = src.line_col(l.span.start);
                let (end_line, end_column) = src.line_col(l.span.end);
                serde_json::json!({
                    "text": l.text, "line": line, "column": column,
                    "end_line": end_line, "end_column": end_column,
                    "start": l.span.start, "end": l.span.end,
                })
            })
            .collect();
        let (line, column) = self.labels.first().map_or((None, None), |l| {
            let (a, b) = src.line_col(l.span.start);
            (Some(a), Some(b))
        });
        serde_json::json!({
            "severity": self.severity, "code": self.code, "message": self.message,
            "file": src.name(), "line": line, "column": column,
            "labels": labels, "help": self.help,
        })
    }
}

fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// Renders a list of diagnostics, errors and warnings, with a closing count.
pub fn render_all(diags: &[Diagnostic], src: &SourceFile, color: bool) -> String {
    let mut out = String::new();
    for d in diags {
        out.push_str(&d.render(src, color));
        out.push('\n');
    }
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    if errors > 0 {
        out.push_str(&format!(
            "{}: {errors} error{}, {warnings} warning{}\n",
            src.name(),
            plural(errors),
            plural(warnings)
        ));
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Longest word a rendered message shows whole (names quoted in messages, mostly).
const MAX_WORD_CHARS: usize = 120;

/// `text` with every run of non-blank characters longer than [`MAX_WORD_CHARS`] shortened
/// in its middle: a message quoting a 70,000-character name stays readable.
fn shorten_words(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= MAX_WORD_CHARS {
        return text.into();
    }
    let mut out = String::with_capacity(text.len().min(4 * MAX_WORD_CHARS));
    let mut word_start = 0;
    for (i, ch) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
        if ch.is_whitespace() {
            out.push_str(&shorten(&text[word_start..i], MAX_WORD_CHARS));
            out.extend(text[i..].chars().next());
            word_start = i + ch.len_utf8();
        }
    }
    out.into()
}

/// Names longer than this get no "did you mean" (the edit distance is quadratic in length).
const MAX_SUGGEST_CHARS: usize = 64;

/// The closest candidate to `word` by edit distance, for "did you mean" hints.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let chars = word.chars().count();
    if chars > MAX_SUGGEST_CHARS {
        return None;
    }
    // Close means one edit per three letters (at least one). But a name of one to three
    // letters with one letter replaced is another word (`glu` is not `gru`, `z` not `x`):
    // there only a letter left out or added counts (`arn` for `arnn`), or the case.
    let limit = |candidate_chars: usize| {
        if chars <= 3 && candidate_chars == chars { 0 } else { (chars / 3).max(1) }
    };
    let lower = word.to_lowercase();
    candidates
        .into_iter()
        // The distance is at least the difference in length: most candidates stop here.
        .filter(|c| {
            let n = c.chars().count();
            c.len().abs_diff(word.len()) <= 4 * limit(n) && n.abs_diff(chars) <= limit(n)
        })
        .map(|c| (edit_distance(&lower, &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= limit(c.chars().count()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// `a, b or c`, for lists of allowed names in messages.
pub fn one_of(names: &[&str]) -> String {
    match names {
        [] => "nothing".to_string(),
        [one] => format!("`{one}`"),
        [init @ .., last] => {
            let init: Vec<String> = init.iter().map(|n| format!("`{n}`")).collect();
            format!("{} or `{last}`", init.join(", "))
        }
    }
}

/// Pads `text` with spaces to `width` characters, on the right (`Align::Left`) or the left.
/// Unlike `format!("{text:<width$}")` any width works: std's formatter panics past 65,535.
pub fn pad(text: &str, width: usize, align: Align) -> String {
    let fill = " ".repeat(width.saturating_sub(text.chars().count()));
    match align {
        Align::Left => format!("{text}{fill}"),
        Align::Right => format!("{fill}{text}"),
    }
}

/// Which side of a table cell text sits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// `text` cut to at most `max` characters by replacing its middle with `…`, so that both
/// ends of a long dotted name stay readable.
pub fn shorten(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    let count = text.chars().count();
    if count <= max || max < 3 {
        return text.into();
    }
    let head = (max - 1) / 2;
    let tail = max - 1 - head;
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(count - tail).collect();
    format!("{start}…{end}").into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(did_you_mean("lstn", ["linear", "lstm", "relu"]), Some("lstm"));
        assert_eq!(did_you_mean("zzzz", ["linear", "lstm"]), None);
        assert_eq!(one_of(&["a", "b", "c"]), "`a`, `b` or `c`");
    }

    #[test]
    fn pads_and_shortens_at_any_size() {
        assert_eq!(pad("ab", 4, Align::Right), "  ab");
        assert_eq!(pad("ab", 1, Align::Left), "ab");
        assert_eq!(pad("x", 70_000, Align::Left).len(), 70_000);
        assert_eq!(shorten("abcdefghij", 5), "ab…ij");
        assert_eq!(shorten("abc", 5), "abc");
        let long = format!("node `{}` is bad", "v".repeat(70_000));
        let short = shorten_words(&long);
        assert!(short.len() < 200 && short.starts_with("node `vvv") && short.ends_with("vvv` is bad"), "{short}");
    }
}
