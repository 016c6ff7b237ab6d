//! A small YAML document tree in which every scalar, key, list and mapping keeps the byte
//! span of the text it was read from.
//!
//! serde_yaml reports a location only for syntax errors; the YAML front-end needs one for
//! every semantic error too (`nodes[3].in` is not a name), so it reads the file through
//! yaml-rust2's event parser instead and builds this tree. The tree already applies the
//! YAML 1.2 core schema to plain scalars, rejects duplicate keys, expands aliases within a
//! budget and refuses runaway nesting, so the AST builder only sees well-formed data.

use crate::front::FrontError;
use crate::source::{SourceFile, Span};
use std::collections::HashMap;
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Deepest nesting of lists and mappings accepted (bounds every recursion over the tree).
const MAX_DEPTH: usize = 64;
/// Most values the document may hold once aliases are expanded (also guards against alias
/// bombs); the same limit as the DSL's.
const MAX_VALUES: usize = crate::front::MAX_VALUES;
/// The prefix yaml-rust2 gives the `!!` handle: the YAML core tags.
const CORE_TAG: &str = "tag:yaml.org,2002:";

/// One value of the document with the span of its text.
#[derive(Debug, Clone, PartialEq)]
pub(in crate::front) struct Node {
    pub kind: Kind,
    /// Scalars: the token (quotes included). Collections: from the opening bracket or first
    /// entry to the closing bracket or the end of the last value.
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub(in crate::front) enum Kind {
    Scalar(Scalar),
    Seq(Vec<Node>),
    /// Entries in file order; a duplicate key is reported and dropped while building.
    Map(Vec<Entry>),
}

#[derive(Debug, Clone, PartialEq)]
pub(in crate::front) struct Entry {
    pub key: Node,
    pub value: Node,
}

#[derive(Debug, Clone, PartialEq)]
pub(in crate::front) struct Scalar {
    /// The scalar's text after unquoting and unescaping, before type resolution.
    pub text: String,
    pub value: ScalarValue,
    /// The span of the text itself, without the quotes of a simple quoted scalar: what an
    /// identifier written as `"video"` points at.
    pub inner: Span,
    /// Written without quotes, block indicators or tags: only such a scalar may be read as
    /// an expression (`$k - 1`); a quoted one is always a string.
    pub plain: bool,
}

/// A scalar resolved with the YAML 1.2 core schema (quoted scalars are always strings).
#[derive(Debug, Clone, PartialEq)]
pub(in crate::front) enum ScalarValue {
    Null,
    Bool(bool),
    Int(i64),
    /// Written as an integer but outside `i64`; an error wherever a value is needed.
    IntOutOfRange,
    Float(f64),
    Str(String),
}

impl Node {
    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.kind {
            Kind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar(Scalar { value: ScalarValue::Null, .. }))
    }

    /// A short description for "found ..." in messages: `an integer `5``, `a list`.
    pub fn describe(&self) -> String {
        let Kind::Scalar(s) = &self.kind else {
            return if matches!(self.kind, Kind::Seq(_)) { "a list" } else { "a mapping" }.into();
        };
        match &s.value {
            ScalarValue::Null => "nothing (null)".into(),
            ScalarValue::Bool(_) => format!("a boolean `{}`", s.text),
            ScalarValue::Int(_) | ScalarValue::IntOutOfRange => format!("an integer `{}`", s.text),
            ScalarValue::Float(_) => format!("a float `{}`", s.text),
            ScalarValue::Str(_) => format!("a string `{}`", s.text),
        }
    }

    /// Where to point when something is missing from this value: a one-line flow
    /// mapping whole, a longer mapping at its first key, anything else itself.
    pub fn head_span(&self, src: &SourceFile) -> Span {
        let text = src.slice(self.span);
        match &self.kind {
            Kind::Map(entries) if text.contains('\n') || !text.starts_with('{') => {
                entries.first().map_or(self.span, |e| e.key.span)
            }
            _ => self.span,
        }
    }
}

/// Reads the text into a tree. Returns the root (`None` for an empty stream or after a
/// fatal error) and every error found; errors such as duplicate keys still give a tree.
pub(in crate::front) fn parse_tree(src: &SourceFile) -> (Option<Node>, Vec<FrontError>) {
    let mut builder = Builder::new(src);
    let mut parser = Parser::new_from_str(src.text());
    loop {
        match parser.next_token() {
            Ok((Event::StreamEnd, _)) => break,
            Ok((event, mark)) => {
                if builder.event(event, mark).is_err() {
                    return (None, builder.errors);
                }
                if builder.extra_document {
                    break;
                }
            }
            Err(e) => {
                let at = builder.offset(e.marker());
                builder.errors.push(FrontError::Syntax { message: e.info().to_string(), span: Span::new(at, at) });
                return (None, builder.errors);
            }
        }
    }
    (builder.root, builder.errors)
}

/// A list or mapping whose end event has not arrived yet.
struct Frame {
    start: usize,
    flow: bool,
    anchor: usize,
    items: Vec<Node>,
    /// For mappings: the key read, waiting for its value.
    key: Option<Node>,
    entries: Vec<Entry>,
    is_map: bool,
}

struct Builder<'s> {
    src: &'s SourceFile,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    errors: Vec<FrontError>,
    values: usize,
    documents: usize,
    extra_document: bool,
    /// The last marker converted: (line, column, byte offset).
    last_mark: (usize, usize, usize),
}

/// The build stopped; the reason is in `errors`.
struct Fatal;

impl<'s> Builder<'s> {
    fn new(src: &'s SourceFile) -> Self {
        Builder {
            src,
            stack: Vec::new(),
            anchors: HashMap::new(),
            root: None,
            errors: Vec::new(),
            values: 0,
            documents: 0,
            extra_document: false,
            last_mark: (0, 0, 0),
        }
    }

    /// Byte offset of a marker (yaml-rust2 counts lines from 1 and columns from 0, in
    /// characters). Markers come nearly in order, so each conversion counts on from the
    /// previous one on the same line: a file on one long line costs linear time, not
    /// quadratic.
    fn offset(&mut self, mark: &Marker) -> usize {
        let (line, col) = (mark.line().saturating_sub(1), mark.col());
        let (last_line, last_col, last_at) = self.last_mark;
        let at = if line == last_line && col >= last_col {
            self.src.offset_after(line, last_col, last_at, col)
        } else {
            self.src.offset_of(line, col)
        };
        self.last_mark = (line, col, at);
        at
    }

    fn event(&mut self, event: Event, mark: Marker) -> Result<(), Fatal> {
        let at = self.offset(&mark);
        match event {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    let end = (at + 3).min(self.src.text().len());
                    self.errors.push(FrontError::ExtraDocument { span: Span::new(at, end) });
                    self.extra_document = true;
                }
                Ok(())
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.count(1, at)?;
                let node = self.scalar(text, style, tag.as_ref(), at);
                self.finish(node, anchor)
            }
            Event::SequenceStart(anchor, tag) => self.open(at, anchor, tag.as_ref(), false),
            Event::MappingStart(anchor, tag) => self.open(at, anchor, tag.as_ref(), true),
            Event::SequenceEnd | Event::MappingEnd => self.close(at),
            Event::Alias(id) => self.alias(id, at),
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => Ok(()),
        }
    }

    fn count(&mut self, n: usize, at: usize) -> Result<(), Fatal> {
        self.values = self.values.saturating_add(n);
        if self.values > MAX_VALUES {
            self.errors.push(FrontError::TooLarge { limit: MAX_VALUES, span: Span::new(at, at) });
            return Err(Fatal);
        }
        Ok(())
    }

    fn open(&mut self, at: usize, anchor: usize, tag: Option<&Tag>, is_map: bool) -> Result<(), Fatal> {
        self.count(1, at)?;
        self.check_tag(tag, at);
        if self.stack.len() >= MAX_DEPTH {
            let what = format!("nesting lists and mappings more than {MAX_DEPTH} levels deep");
            self.errors.push(FrontError::Unsupported { what, span: Span::new(at, at) });
            return Err(Fatal);
        }
        let flow = self.src.text().get(at..).is_some_and(|r| r.starts_with(['[', '{']));
        let frame = Frame { start: at, flow, anchor, items: Vec::new(), key: None, entries: Vec::new(), is_map };
        self.stack.push(frame);
        Ok(())
    }

    fn close(&mut self, at: usize) -> Result<(), Fatal> {
        let Some(frame) = self.stack.pop() else {
            return Ok(());
        };
        let (kind, last_end) = if frame.is_map {
            let end = frame.entries.last().map(|e| e.value.span.end.max(e.key.span.end));
            (Kind::Map(self.merge(frame.entries)), end)
        } else {
            let end = frame.items.last().map(|n| n.span.end);
            (Kind::Seq(frame.items), end)
        };
        let end = if frame.flow { at + 1 } else { last_end.unwrap_or(frame.start) };
        // A block mapping's start event points past its first key: start at that key.
        let start = match &kind {
            Kind::Map(entries) if !frame.flow => entries.first().map_or(frame.start, |e| e.key.span.start),
            _ => frame.start,
        };
        let end = end.min(self.src.text().len());
        self.finish(Node { kind, span: Span::new(start.min(end), end) }, frame.anchor)
    }

    /// Applies YAML merge keys (`<<: *defaults`, `<<: [*a, *b]`): the merged mappings'
    /// entries are added where the mapping does not have the key itself, the first merged
    /// mapping winning over later ones; then drops repeated keys (see [`Builder::dedup`]).
    fn merge(&mut self, entries: Vec<Entry>) -> Vec<Entry> {
        let is_merge = |e: &Entry| e.key.as_scalar().is_some_and(|k| k.plain && k.text == "<<");
        let (merges, own): (Vec<Entry>, Vec<Entry>) = entries.into_iter().partition(is_merge);
        let mut kept = self.dedup(own);
        let mut keys: std::collections::HashSet<String> =
            kept.iter().filter_map(|e| Some(e.key.as_scalar()?.text.clone())).collect();
        for merge in merges {
            let sources = match merge.value.kind {
                Kind::Map(_) => vec![merge.value],
                Kind::Seq(items) if items.iter().all(|i| matches!(i.kind, Kind::Map(_))) => items,
                _ => {
                    let found = merge.value.describe();
                    self.errors.push(FrontError::BadMerge { found, span: merge.value.span });
                    continue;
                }
            };
            for source in sources {
                let Kind::Map(entries) = source.kind else { continue };
                for entry in entries {
                    let fresh = entry.key.as_scalar().is_none_or(|k| keys.insert(k.text.clone()));
                    if fresh {
                        kept.push(entry);
                    }
                }
            }
        }
        kept
    }

    /// Drops the second and later uses of a key, reporting each.
    fn dedup(&mut self, entries: Vec<Entry>) -> Vec<Entry> {
        let mut seen: HashMap<String, Span> = HashMap::new();
        let mut kept = Vec::with_capacity(entries.len());
        for entry in entries {
            if let Some(key) = entry.key.as_scalar() {
                if let Some(first) = seen.get(&key.text) {
                    let (key, span, first) = (key.text.clone(), key.inner, *first);
                    self.errors.push(FrontError::DuplicateKey { key, span, first });
                    continue;
                }
                seen.insert(key.text.clone(), key.inner);
            }
            kept.push(entry);
        }
        kept
    }

    fn alias(&mut self, id: usize, at: usize) -> Result<(), Fatal> {
        let Some(node) = self.anchors.get(&id).cloned() else {
            let what = "an alias to an anchor that is not complete yet".to_string();
            self.errors.push(FrontError::Unsupported { what, span: Span::new(at, at) });
            return Err(Fatal);
        };
        self.count(size(&node), at)?;
        self.finish(node, 0)
    }

    /// Records the anchor of a completed value and hands it to its parent.
    fn finish(&mut self, node: Node, anchor: usize) -> Result<(), Fatal> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        let Some(parent) = self.stack.last_mut() else {
            if self.root.is_none() {
                self.root = Some(node);
            }
            return Ok(());
        };
        if !parent.is_map {
            parent.items.push(node);
        } else if let Some(key) = parent.key.take() {
            // `key:` with nothing after it: point the null at the key, the only text there is.
            let value = if is_empty_null(&node) { Node { span: key.span, ..node } } else { node };
            parent.entries.push(Entry { key, value });
        } else {
            parent.key = Some(node);
        }
        Ok(())
    }

    fn scalar(&mut self, text: String, style: TScalarStyle, tag: Option<&Tag>, at: usize) -> Node {
        let forced_str = self.check_tag(tag, at);
        let end = scalar_end(self.src.text(), at, &text, style);
        let span = Span::new(at, end);
        let quoted = matches!(style, TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted);
        let inner = Span::new(at + 1, end.saturating_sub(1));
        let inner = if quoted && self.src.slice(inner) == text { inner } else { span };
        let plain = !forced_str && matches!(style, TScalarStyle::Plain);
        let value = if !plain { ScalarValue::Str(text.clone()) } else { resolve_plain(&text) };
        Node { kind: Kind::Scalar(Scalar { text, value, inner, plain }), span }
    }

    /// Accepts the core tags (`!!str` forces a string, the others change nothing) and
    /// reports any other. Returns whether the value is forced to a string.
    fn check_tag(&mut self, tag: Option<&Tag>, at: usize) -> bool {
        let Some(tag) = tag else { return false };
        match (tag.handle.as_str(), tag.suffix.as_str()) {
            (CORE_TAG, "str") => true,
            (CORE_TAG, "int" | "float" | "bool" | "null" | "seq" | "map") => false,
            (handle, suffix) => {
                let handle = if handle == CORE_TAG { "!!" } else { handle };
                let what = format!("the tag `{handle}{suffix}`");
                self.errors.push(FrontError::Unsupported { what, span: Span::new(at, at) });
                false
            }
        }
    }
}

fn is_empty_null(node: &Node) -> bool {
    node.span.is_empty() && node.is_null()
}

/// Number of values in a tree (bounded recursion: the tree is at most `MAX_DEPTH` deep).
fn size(node: &Node) -> usize {
    match &node.kind {
        Kind::Scalar(_) => 1,
        Kind::Seq(items) => 1 + items.iter().map(size).sum::<usize>(),
        Kind::Map(entries) => 1 + entries.iter().map(|e| size(&e.key) + size(&e.value)).sum::<usize>(),
    }
}

/// Where a scalar token starting at `start` ends. Plain scalars on one line are found
/// verbatim; quoted ones end at the closing quote; anything else (block scalars, plain
/// scalars folded over lines) ends with the line it starts on.
fn scalar_end(text: &str, start: usize, value: &str, style: TScalarStyle) -> usize {
    let Some(rest) = text.get(start..) else {
        return text.len();
    };
    let found = match style {
        TScalarStyle::Plain if value.is_empty() => Some(0),
        TScalarStyle::Plain => rest.starts_with(value).then_some(value.len()),
        TScalarStyle::DoubleQuoted => closing_quote(rest, b'"'),
        TScalarStyle::SingleQuoted => closing_quote(rest, b'\''),
        _ => None,
    };
    match found {
        Some(len) => start + len,
        None => {
            let line_end = start + rest.find(['\n', '\r']).unwrap_or(rest.len());
            start + text[start..line_end].trim_end().len()
        }
    }
}

/// Length of a quoted scalar up to and including its closing quote (`\x` escapes in double
/// quotes, `''` in single quotes).
fn closing_quote(rest: &str, quote: u8) -> Option<usize> {
    let bytes = rest.as_bytes();
    if bytes.first() != Some(&quote) {
        return None;
    }
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote == b'"' => i += 2,
            b'\'' if quote == b'\'' && bytes.get(i + 1) == Some(&b'\'') => i += 2,
            b if b == quote => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// The YAML 1.2 core schema for plain scalars: `~`/`null`/empty, `true`/`false` (three
/// capitalisations each), decimal, `0x` and `0o` integers, floats with `.inf` and `.nan`;
/// everything else (including `yes` and `no`) is a string.
pub(in crate::front) fn resolve_plain(text: &str) -> ScalarValue {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return ScalarValue::Null,
        "true" | "True" | "TRUE" => return ScalarValue::Bool(true),
        "false" | "False" | "FALSE" => return ScalarValue::Bool(false),
        ".nan" | ".NaN" | ".NAN" => return ScalarValue::Float(f64::NAN),
        _ => {}
    }
    let (negative, unsigned) = match text.as_bytes()[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if matches!(unsigned, ".inf" | ".Inf" | ".INF") {
        return ScalarValue::Float(if negative { f64::NEG_INFINITY } else { f64::INFINITY });
    }
    if let Some(int) = resolve_int(text, unsigned) {
        return int;
    }
    if is_core_float(unsigned)
        && let Ok(x) = text.parse::<f64>()
    {
        return ScalarValue::Float(x);
    }
    ScalarValue::Str(text.to_string())
}

fn resolve_int(text: &str, unsigned: &str) -> Option<ScalarValue> {
    let digits = |s: &str, radix: u32| !s.is_empty() && s.chars().all(|c| c.is_digit(radix));
    let radix = |prefix: &str, radix: u32| {
        let body = text.strip_prefix(prefix).filter(|b| digits(b, radix))?;
        Some(i64::from_str_radix(body, radix).map_or(ScalarValue::IntOutOfRange, ScalarValue::Int))
    };
    if digits(unsigned, 10) {
        return Some(text.parse::<i64>().map_or(ScalarValue::IntOutOfRange, ScalarValue::Int));
    }
    radix("0x", 16).or_else(|| radix("0o", 8))
}

/// `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, the sign already removed.
fn is_core_float(s: &str) -> bool {
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => all_digits(int) && all_digits(frac) && !(int.is_empty() && frac.is_empty()),
        None => !mantissa.is_empty() && all_digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && all_digits(e)
    });
    mantissa_ok && exponent_ok
}
