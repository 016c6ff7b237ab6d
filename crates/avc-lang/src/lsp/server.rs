//! The protocol side: JSON-RPC over stdio (framing in [`transport`](super::transport),
//! message types from lsp-server), full-text sync, and the requests
//! mapped onto [`Analysis`]. Positions are converted between byte offsets and the
//! protocol's UTF-16 line/character pairs here and nowhere else.

use super::analysis::{Analysis, CompletionKind, Symbol, SymbolKind};
use super::transport::{Frame, read_frame, skip_body, write_error, write_message};
use crate::diag::{Diagnostic, Severity};
use crate::source::Span;
use lsp_server::{ErrorCode, Message, Notification, Request, Response};
use lsp_types as lsp;
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, Write};

/// Runs the server on standard input and output until the client says `exit` or closes
/// its end. No message, however malformed or large, stops it (module [`transport`]).
///
/// [`transport`]: super::transport
pub fn run_stdio() -> Result<(), LspError> {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    serve(&mut stdin.lock(), &mut stdout.lock())
}

/// The capabilities `initialize` answers with.
fn capabilities() -> Value {
    serde_json::json!({
        "textDocumentSync": 1,
        "hoverProvider": true,
        "definitionProvider": true,
        "documentSymbolProvider": true,
        "completionProvider": { "triggerCharacters": [" ", "(", ",", ":"] },
    })
}

/// Where the conversation is: requests before `initialize` and after `shutdown` are
/// refused with an error, as the protocol says.
#[derive(Clone, Copy, PartialEq)]
enum Phase {
    Uninitialised,
    Running,
    ShutDown,
}

/// Answers the client on `input`/`output` until `exit` or the end of `input`. `Err` only
/// when a stream itself fails (the editor went away).
pub fn serve(input: &mut impl BufRead, output: &mut impl Write) -> Result<(), LspError> {
    let mut docs: HashMap<String, Analysis> = HashMap::new();
    let mut phase = Phase::Uninitialised;
    let io = |e: std::io::Error| LspError::Io(e.to_string());
    loop {
        let message = match read_frame(input).map_err(io)? {
            Frame::Eof => return Ok(()),
            Frame::Bad { code, message, id, skip } => {
                write_error(output, code, &message, &id).map_err(io)?;
                if skip > 0 && !skip_body(input, skip).map_err(io)? {
                    return Ok(());
                }
                continue;
            }
            Frame::Message(m) => m,
        };
        match message {
            Message::Request(req) => {
                let response = respond(&docs, &mut phase, req);
                write_message(output, &Message::Response(response)).map_err(io)?;
            }
            Message::Notification(note) if note.method == "exit" => return Ok(()),
            Message::Notification(note) if phase == Phase::Running => {
                if let Some((uri, analysis)) = on_notification(&mut docs, note) {
                    let params = publish(&uri, &analysis);
                    docs.insert(uri, analysis);
                    let note = Notification::new("textDocument/publishDiagnostics".into(), params);
                    write_message(output, &Message::Notification(note)).map_err(io)?;
                }
            }
            Message::Notification(_) | Message::Response(_) => {}
        }
    }
}

/// The reply to a request in the conversation's current phase.
fn respond(docs: &HashMap<String, Analysis>, phase: &mut Phase, req: Request) -> Response {
    match (*phase, req.method.as_str()) {
        (Phase::Uninitialised, "initialize") => {
            *phase = Phase::Running;
            Response::new_ok(req.id, serde_json::json!({ "capabilities": capabilities() }))
        }
        (Phase::Uninitialised, _) => Response::new_err(
            req.id,
            ErrorCode::ServerNotInitialized as i32,
            "the first request must be `initialize`".into(),
        ),
        (Phase::Running, "shutdown") => {
            *phase = Phase::ShutDown;
            Response::new_ok(req.id, Value::Null)
        }
        (Phase::Running, "initialize") => {
            Response::new_err(req.id, ErrorCode::InvalidRequest as i32, "the server is already initialised".into())
        }
        (Phase::Running, _) => answer(docs, req),
        (Phase::ShutDown, _) => Response::new_err(
            req.id,
            ErrorCode::InvalidRequest as i32,
            "the server was shut down; only `exit` is expected".into(),
        ),
    }
}

/// A document opened or changed: its new analysis, to store and publish.
fn on_notification(docs: &mut HashMap<String, Analysis>, note: Notification) -> Option<(String, Analysis)> {
    match note.method.as_str() {
        "textDocument/didOpen" => {
            let p: lsp::DidOpenTextDocumentParams = serde_json::from_value(note.params).ok()?;
            let uri = p.text_document.uri.as_str().to_string();
            Some((uri.clone(), Analysis::new(&file_name(&uri), &p.text_document.text)))
        }
        "textDocument/didChange" => {
            let p: lsp::DidChangeTextDocumentParams = serde_json::from_value(note.params).ok()?;
            let uri = p.text_document.uri.as_str().to_string();
            let text = p.content_changes.into_iter().last()?.text;
            let next = match docs.get(&uri) {
                Some(previous) => previous.update(&text),
                None => Analysis::new(&file_name(&uri), &text),
            };
            Some((uri, next))
        }
        "textDocument/didClose" => {
            let p: lsp::DidCloseTextDocumentParams = serde_json::from_value(note.params).ok()?;
            docs.remove(p.text_document.uri.as_str());
            None
        }
        _ => None,
    }
}

/// The path part of a `file://` URI (the extension picks the front-end; messages quote it).
fn file_name(uri: &str) -> String {
    uri.strip_prefix("file://").unwrap_or(uri).to_string()
}

fn answer(docs: &HashMap<String, Analysis>, req: Request) -> Response {
    let id = req.id.clone();
    let result = match req.method.as_str() {
        "textDocument/hover" => at_position(docs, &req.params).map(|(a, offset)| hover(a, offset)),
        "textDocument/definition" => {
            at_position(docs, &req.params).map(|(a, offset)| definition(a, offset, &req.params))
        }
        "textDocument/completion" => at_position(docs, &req.params).map(|(a, offset)| completion(a, offset)),
        "textDocument/documentSymbol" => document(docs, &req.params).map(symbols),
        other => {
            return Response::new_err(id, ErrorCode::MethodNotFound as i32, format!("avc lsp does not answer {other}"));
        }
    };
    match result {
        Some(value) => Response::new_ok(id, value),
        None => Response::new_ok(id, Value::Null),
    }
}

fn document<'a>(docs: &'a HashMap<String, Analysis>, params: &Value) -> Option<&'a Analysis> {
    docs.get(params.pointer("/textDocument/uri")?.as_str()?)
}

fn at_position<'a>(docs: &'a HashMap<String, Analysis>, params: &Value) -> Option<(&'a Analysis, usize)> {
    let a = document(docs, params)?;
    let line = params.pointer("/position/line")?.as_u64()? as usize;
    let character = params.pointer("/position/character")?.as_u64()? as usize;
    Some((a, to_offset(a.source.text(), line, character)))
}

fn hover(a: &Analysis, offset: usize) -> Value {
    match a.hover(offset) {
        Some((span, text)) => serde_json::json!({
            "contents": { "kind": "markdown", "value": text },
            "range": range(a.source.text(), span),
        }),
        None => Value::Null,
    }
}

fn definition(a: &Analysis, offset: usize, params: &Value) -> Value {
    match (a.definition(offset), params.pointer("/textDocument/uri")) {
        (Some(span), Some(uri)) => serde_json::json!({ "uri": uri, "range": range(a.source.text(), span) }),
        _ => Value::Null,
    }
}

fn completion(a: &Analysis, offset: usize) -> Value {
    let items: Vec<Value> = a
        .completions(offset)
        .into_iter()
        .map(|c| {
            let kind = match c.kind {
                CompletionKind::Op => lsp::CompletionItemKind::FUNCTION,
                CompletionKind::Block => lsp::CompletionItemKind::MODULE,
                CompletionKind::Param => lsp::CompletionItemKind::PROPERTY,
                CompletionKind::Node => lsp::CompletionItemKind::VARIABLE,
            };
            serde_json::json!({
                "label": c.label,
                "kind": kind,
                "detail": c.detail,
                "documentation": c.doc,
                "insertText": c.insert,
            })
        })
        .collect();
    serde_json::json!({ "isIncomplete": false, "items": items })
}

fn symbols(a: &Analysis) -> Value {
    fn one(text: &str, s: &Symbol) -> Value {
        let kind = match s.kind {
            SymbolKind::Input => lsp::SymbolKind::VARIABLE,
            SymbolKind::Constant => lsp::SymbolKind::CONSTANT,
            SymbolKind::Block => lsp::SymbolKind::FUNCTION,
            SymbolKind::Node => lsp::SymbolKind::FIELD,
            SymbolKind::Output => lsp::SymbolKind::EVENT,
        };
        serde_json::json!({
            "name": s.name,
            "detail": s.detail,
            "kind": kind,
            "range": range(text, s.span),
            "selectionRange": range(text, s.name_span),
            "children": s.children.iter().map(|c| one(text, c)).collect::<Vec<_>>(),
        })
    }
    Value::Array(a.symbols().iter().map(|s| one(a.source.text(), s)).collect())
}

/// `publishDiagnostics` parameters: the same codes, messages, spans and hints as `avc check`.
fn publish(uri: &str, a: &Analysis) -> Value {
    let text = a.source.text();
    let items: Vec<Value> = a.diagnostics.iter().map(|d| diagnostic(text, uri, d)).collect();
    serde_json::json!({ "uri": uri, "diagnostics": items })
}

fn diagnostic(text: &str, uri: &str, d: &Diagnostic) -> Value {
    let span = d.labels.first().map_or(Span::new(0, 0), |l| l.span);
    let mut message = d.message.clone();
    if let Some(label) = d.labels.first().filter(|l| !l.text.is_empty()) {
        message.push_str(&format!(" ({})", label.text));
    }
    if let Some(help) = &d.help {
        message.push_str(&format!("\nhelp: {help}"));
    }
    let related: Vec<Value> = d
        .labels
        .iter()
        .skip(1)
        .map(|l| serde_json::json!({ "location": { "uri": uri, "range": range(text, l.span) }, "message": l.text }))
        .collect();
    serde_json::json!({
        "range": range(text, span),
        "severity": if d.severity == Severity::Error { 1 } else { 2 },
        "code": d.code,
        "source": "avc",
        "message": message,
        "relatedInformation": related,
    })
}

fn range(text: &str, span: Span) -> Value {
    let (sl, sc) = to_position(text, span.start);
    let (el, ec) = to_position(text, span.end.max(span.start));
    serde_json::json!({ "start": { "line": sl, "character": sc }, "end": { "line": el, "character": ec } })
}

/// A byte offset as a 0-based line and UTF-16 character (the protocol's default encoding).
pub fn to_position(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count();
    (line, before[line_start..].encode_utf16().count())
}

/// A 0-based line and UTF-16 character as a byte offset (clamped to the line's end).
pub fn to_offset(text: &str, line: usize, character: usize) -> usize {
    let mut start = 0;
    for _ in 0..line {
        match text[start..].find('\n') {
            Some(i) => start += i + 1,
            None => return text.len(),
        }
    }
    let line_text = text[start..].split('\n').next().unwrap_or("");
    let mut units = 0;
    for (i, c) in line_text.char_indices() {
        if units >= character {
            return start + i;
        }
        units += c.len_utf16();
    }
    start + line_text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_utf16_units() {
        let text = "ab\n€x = y\n";
        assert_eq!(to_position(text, 0), (0, 0));
        assert_eq!(to_position(text, 6), (1, 1));
        assert_eq!(to_offset(text, 1, 1), 6);
        assert_eq!(to_offset(text, 1, 100), 11);
        assert_eq!(to_offset(text, 9, 0), text.len());
    }
}

/// Why the language server stopped early.
#[derive(Debug, thiserror::Error)]
pub enum LspError {
    /// The client broke the protocol (e.g. no `initialize` first, a bad shutdown).
    #[error("language server protocol: {0}")]
    Protocol(String),
    /// Standard input or output failed.
    #[error("language server I/O: {0}")]
    Io(String),
    /// The client went away while a reply was being sent.
    #[error("the editor closed the connection")]
    Disconnected,
}
