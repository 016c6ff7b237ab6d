//! Compiler diagnostics: the one public form every stage's error is converted into, and
//! its rendering (rustc-like, through miette) or JSON for editors and scripts.
//!
//! Stage errors stay data (which node, which axis, which shapes); only here do they become
//! text with a location, a marker under the offending source and a hint.

use crate::source::{SourceFile, Span};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource};
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
            diag = diag.with_help(help.clone());
        }
        let labels = self.labels.iter().map(|l| {
            let len = l.span.len().max(usize::from(l.span.start < src.text().len()));
            LabeledSpan::new(Some(l.text.clone()), l.span.start, len)
        });
        diag = diag.with_labels(labels);
        let report = miette::Report::new(diag).with_source_code(NamedSource::new(src.name(), src.text().to_string()));
        let theme = if color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
        let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
        let mut out = String::new();
        let header = match self.location(src) {
            Some(loc) => format!("{loc}: "),
            None => format!("{}: ", src.name()),
        };
        out.push_str(&header);
        out.push_str(&format!("{}[{}]: {}\n", severity_word(self.severity), self.code, self.message));
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

/// The closest candidate to `word` by edit distance, for "did you mean" hints.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(did_you_mean("lstn", ["linear", "lstm", "relu"]), Some("lstm"));
        assert_eq!(did_you_mean("zzzz", ["linear", "lstm"]), None);
        assert_eq!(one_of(&["a", "b", "c"]), "`a`, `b` or `c`");
    }
}
