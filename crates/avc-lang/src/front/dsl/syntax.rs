//! The DSL's grammar (`grammar/avc.pest`) and its syntax errors: a guard against nesting
//! deep enough to exhaust the parser's stack, and pest errors turned into
//! "expected `)`, found `head`" with the words of [`expected_words`].

use crate::front::dsl::error::DslError;
use crate::source::Span;
use pest::Parser;
use pest::error::{Error, ErrorVariant, InputLocation};
use pest::iterators::Pair;

/// The pest parser generated from `grammar/avc.pest`.
#[derive(pest_derive::Parser)]
#[grammar = "../grammar/avc.pest"]
pub(in crate::front) struct AvcParser;

/// Deepest bracket nesting accepted: far beyond any real model, far below what would
/// exhaust the stack of the recursive-descent parser (or of the tree walk after it).
pub(in crate::front) const MAX_NESTING: usize = 32;

/// Parses a whole file into its `file` pair.
pub(in crate::front) fn parse_file(text: &str) -> Result<Pair<'_, Rule>, DslError> {
    check_nesting(text)?;
    let mut pairs = AvcParser::parse(Rule::file, text).map_err(|e| syntax_error(text, &e))?;
    // A successful parse of `file` yields exactly one `file` pair.
    pairs.next().ok_or(DslError::Empty { span: Span::empty() })
}

/// Rejects brackets nested more than [`MAX_NESTING`] deep, skipping comments and strings.
pub(in crate::front) fn check_nesting(text: &str) -> Result<(), DslError> {
    let (mut depth, mut in_comment, mut in_string, mut escaped) = (0usize, false, false, false);
    for (i, c) in text.char_indices() {
        if in_comment {
            in_comment = c != '\n';
        } else if in_string {
            in_string = escaped || (c != '"' && c != '\n');
            escaped = !escaped && c == '\\';
        } else {
            match c {
                '#' => in_comment = true,
                '"' => in_string = true,
                '(' | '[' | '{' => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Err(DslError::TooDeep { limit: MAX_NESTING, span: Span::new(i, i + 1) });
                    }
                }
                ')' | ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    Ok(())
}

pub(in crate::front) fn syntax_error(text: &str, error: &Error<Rule>) -> DslError {
    let pos = match error.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((start, _)) => start,
    };
    let pos = floor_char_boundary(text, pos.min(text.len()));
    let (found, span) = found_at(text, pos);
    let positives = match &error.variant {
        ErrorVariant::ParsingError { positives, .. } => positives,
        ErrorVariant::CustomError { message } => return DslError::ParserLimit { message: message.clone(), span },
    };
    if found == UNTERMINATED {
        return DslError::UnterminatedString { span };
    }
    let expected = expected_words(&relevant(positives, &found));
    // A missing `,` or closer belongs after the previous line's last token; but where a
    // statement could start, the line break is normal and the error is where `found` is.
    let continues = positives.iter().any(|r| matches!(r, Rule::comma | Rule::rparen | Rule::rbracket | Rule::rbrace));
    let may_start = positives.iter().any(|r| matches!(r, Rule::EOI | Rule::ident | Rule::kw_return));
    let after = if continues && !may_start { token_end_before_line(text, pos) } else { None };
    DslError::Syntax { expected, found, span, after }
}

/// The rules worth naming: where a value could go on with an operator (`minus` is only
/// tried inside a value) but a `,` or a closer would end it, and a word was found, the
/// operators are not the likely fix (a missing `,` is); an operator character found there
/// keeps them (and gets a help text).
fn relevant(positives: &[Rule], found: &str) -> Vec<Rule> {
    let separator = positives.iter().any(|r| matches!(r, Rule::comma | Rule::rparen | Rule::rbracket | Rule::rbrace));
    let in_value = positives.contains(&Rule::minus);
    let operator_found = found.starts_with('`') && found[1..].starts_with(OPERATOR_CHARS);
    let drop = separator && in_value && !operator_found;
    let keep = |r: &&Rule| !(drop && matches!(r, Rule::plus | Rule::minus | Rule::times | Rule::divide));
    positives.iter().filter(keep).copied().collect()
}

/// Characters that read as an operator: one the language lacks gets the arithmetic help.
pub(in crate::front) const OPERATOR_CHARS: [char; 12] = ['+', '-', '*', '/', '%', '^', '&', '|', '<', '>', '!', '$'];

fn floor_char_boundary(text: &str, mut pos: usize) -> usize {
    while !text.is_char_boundary(pos) {
        pos -= 1;
    }
    pos
}

/// "`,` or `)`": what the parser would have accepted, separators and closing brackets
/// first (the likeliest fixes), then in the order it tried them, end of file last.
fn expected_words(rules: &[Rule]) -> String {
    let mut rules = rules.to_vec();
    rules.sort_by_key(|r| match r {
        Rule::comma => 0,
        Rule::rparen | Rule::rbracket | Rule::rbrace => 1,
        Rule::kw_return => 2,
        Rule::EOI => 4,
        _ => 3,
    });
    let mut words: Vec<&str> = Vec::new();
    for rule in rules {
        let word = rule_words(rule);
        if !words.contains(&word) {
            words.push(word);
        }
    }
    if STATEMENT_STARTS.iter().all(|s| words.contains(s)) {
        words.retain(|w| !STATEMENT_STARTS.contains(w));
        words.insert(0, A_STATEMENT);
    }
    match words.as_slice() {
        [] => "something else".to_string(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// What a syntax error says when a top-level statement could start (its help lists them).
pub(in crate::front) const A_STATEMENT: &str = "a statement";

/// The words of the rules that can start a top-level statement.
const STATEMENT_STARTS: [&str; 6] = ["`let`", "`input`", "`block`", "`output`", "`train`", "a name"];

/// How an error message names a rule it expected.
pub(in crate::front) fn rule_words(rule: Rule) -> &'static str {
    match rule {
        Rule::EOI => "end of file",
        Rule::file => "a statement",
        Rule::let_decl | Rule::kw_let => "`let`",
        Rule::input_decl | Rule::kw_input => "`input`",
        Rule::kw_from => "`from`",
        Rule::block_decl | Rule::kw_block => "`block`",
        Rule::block_header | Rule::block_param => "a block input or parameter",
        Rule::return_stmt | Rule::kw_return => "`return`",
        Rule::output_decl | Rule::kw_output => "`output`",
        Rule::output_from => "node names",
        Rule::train_section | Rule::kw_train => "`train`",
        Rule::setting => "a setting (`key: value`)",
        Rule::setting_key => "a setting name",
        Rule::node_def => "a node (`name = op(...)`)",
        Rule::parts_def => "several targets (`a, b = chunk(...)`)",
        Rule::expr | Rule::product_t | Rule::unary_t | Rule::postfix_t => "an expression",
        Rule::number => "a number",
        Rule::index => "`[`",
        Rule::index_item | Rule::index_range => "a slice (`start:end`)",
        Rule::call => "a call",
        Rule::keyword_arg => "a parameter (`key: value`)",
        Rule::group | Rule::lparen => "`(`",
        Rule::value => "a value",
        Rule::list | Rule::lbracket => "`[`",
        Rule::float | Rule::int => "a number",
        Rule::boolean => "`true` or `false`",
        Rule::string => "a string",
        Rule::ident => "a name",
        Rule::rparen => "`)`",
        Rule::rbracket => "`]`",
        Rule::lbrace => "`{`",
        Rule::rbrace => "`}`",
        Rule::comma => "`,`",
        Rule::colon => "`:`",
        Rule::assign => "`=`",
        Rule::plus => "`+`",
        Rule::minus => "`-`",
        Rule::times => "`*`",
        Rule::divide => "`/`",
        Rule::arith | Rule::product | Rule::factor | Rule::reference => "a value",
        Rule::path => "a name",
        Rule::value_call => "`width(NODE)`",
        Rule::yaml_expr => "an expression",
        // Silent rules: pest never reports them.
        Rule::WHITESPACE
        | Rule::COMMENT
        | Rule::statement
        | Rule::term
        | Rule::call_arg
        | Rule::sign
        | Rule::digits
        | Rule::exponent
        | Rule::ident_char => "something else",
    }
}

const UNTERMINATED: &str = "an unterminated string";

/// Describes the text where parsing stopped ("`head`", "end of file") and its span.
fn found_at(text: &str, pos: usize) -> (String, Span) {
    let rest = &text[pos..];
    let Some(c) = rest.chars().next() else {
        return ("end of file".to_string(), Span::new(pos, pos));
    };
    let word_len = |pred: fn(char) -> bool| rest.char_indices().find(|(_, c)| !pred(*c)).map_or(rest.len(), |(i, _)| i);
    let len = if c.is_ascii_alphanumeric() || c == '_' {
        word_len(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    } else if c == '"' {
        let line_end = rest.find('\n').unwrap_or(rest.len());
        match rest[1..line_end].find('"') {
            Some(close) => close + 2,
            None => return (UNTERMINATED.to_string(), Span::new(pos, pos + line_end)),
        }
    } else {
        c.len_utf8()
    };
    let token = &rest[..len];
    let shown = if token.chars().count() > 40 {
        format!("`{}...`", token.chars().take(40).collect::<String>())
    } else if c.is_control() {
        format!("{c:?}")
    } else {
        format!("`{token}`")
    };
    (shown, Span::new(pos, pos + len))
}

/// When the text at `pos` starts a line of its own, the end of the last token on an
/// earlier line (comments skipped): a missing `)` or `,` belongs there, not before `pos`.
fn token_end_before_line(text: &str, pos: usize) -> Option<Span> {
    let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    if !text[line_start..pos].trim().is_empty() || line_start == 0 {
        return None;
    }
    let mut end = line_start - 1;
    loop {
        let start = text[..end].rfind('\n').map_or(0, |i| i + 1);
        let code = code_of_line(&text[start..end]);
        if !code.is_empty() {
            let after = start + code.len();
            return Some(Span::new(after, after));
        }
        if start == 0 {
            return None;
        }
        end = start - 1;
    }
}

/// A line without its comment and trailing blanks (a `#` inside a string is not a comment).
fn code_of_line(line: &str) -> &str {
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            '#' if !in_string => return line[..i].trim_end(),
            '"' if !escaped => in_string = !in_string,
            _ => {}
        }
        escaped = in_string && !escaped && c == '\\';
    }
    line.trim_end()
}
