//! The protocol's framing, written here rather than taken from lsp-server's stdio transport:
//! that transport ends the connection (and so the server) on the first malformed message
//! and allocates whatever `Content-Length` claims. Here every frame is bounded (a header
//! line, the headers, the body) and a bad frame is answered, not fatal: the reader reports
//! it as [`Frame::Bad`], the server replies with a JSON-RPC error and reads on.
//!
//! A frame is `Content-Length: N\r\n` (other headers ignored) `\r\n` and N bytes of JSON.

use lsp_server::Message;
use serde_json::Value;
use std::io::{self, BufRead, Read, Write};

/// The largest message body accepted: 64 MiB, four times the largest architecture file
/// avc reads ([`MAX_FILE_BYTES`](crate::compile::MAX_FILE_BYTES)) with room for JSON's
/// escapes. A larger body is read past in bounded chunks and answered with an error.
pub const MAX_CONTENT_LENGTH: u64 = 64 << 20;

/// The longest header line kept; the rest of a longer line is read past.
const MAX_HEADER_LINE: u64 = 8 << 10;

/// The most header lines in one frame: a stream of lines with no blank line between them
/// is answered every this many lines, so the reader never waits on unbounded garbage.
const MAX_HEADER_LINES: usize = 64;

/// JSON-RPC's "Parse error": the body is not JSON (or not UTF-8), or the frame is broken.
pub const PARSE_ERROR: i32 = -32700;
/// JSON-RPC's "Invalid Request": JSON, but not a request, response or notification.
pub const INVALID_REQUEST: i32 = -32600;

/// What one read from the client gave.
#[derive(Debug)]
pub enum Frame {
    Message(Message),
    /// A frame that could not be read as a message: the error to answer with. `id` is the
    /// request's id when one could be read from the body, else null. `skip`: the bytes of
    /// an unwanted body still to read past with [`skip_body`] once the error is answered
    /// (answered first, so a client that declared more than it sends is not left waiting).
    Bad {
        code: i32,
        message: String,
        id: Value,
        skip: u64,
    },
    /// The client closed its end (a frame cut short counts as closed).
    Eof,
}

/// Reads the next frame. `Err` only for an I/O error of the stream itself.
pub fn read_frame(input: &mut impl BufRead) -> io::Result<Frame> {
    let length = match read_headers(input)? {
        Headers::Eof => return Ok(Frame::Eof),
        Headers::Bad(message) => return Ok(bad(PARSE_ERROR, message)),
        Headers::Length(n, Some(problem)) => {
            return Ok(Frame::Bad { code: PARSE_ERROR, message: problem, id: Value::Null, skip: n });
        }
        Headers::Length(n, None) => n,
    };
    if length > MAX_CONTENT_LENGTH {
        let message = format!(
            "Content-Length {length} is larger than the {} MiB avc lsp accepts; the message was skipped",
            MAX_CONTENT_LENGTH >> 20
        );
        return Ok(Frame::Bad { code: INVALID_REQUEST, message, id: Value::Null, skip: length });
    }
    let mut body = Vec::new();
    input.take(length).read_to_end(&mut body)?;
    if (body.len() as u64) < length {
        return Ok(Frame::Eof);
    }
    Ok(parse_body(&body))
}

/// Reads past `length` bytes of an unwanted body in bounded chunks (nothing is kept);
/// `false` when the stream ended first.
pub fn skip_body(input: &mut impl BufRead, length: u64) -> io::Result<bool> {
    Ok(io::copy(&mut input.take(length), &mut io::sink())? == length)
}

fn bad(code: i32, message: String) -> Frame {
    Frame::Bad { code, message, id: Value::Null, skip: 0 }
}

/// A body as a message: JSON (else a parse error), an object (else an invalid request)
/// that reads as a request, response or notification.
pub fn parse_body(body: &[u8]) -> Frame {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return bad(PARSE_ERROR, format!("the message is not JSON: {e}")),
    };
    let Value::Object(object) = &value else {
        return bad(INVALID_REQUEST, "a message must be a JSON object (batches are not supported)".into());
    };
    let id = match object.get("id") {
        Some(id @ (Value::Number(_) | Value::String(_))) => id.clone(),
        _ => Value::Null,
    };
    match serde_json::from_value::<Message>(value) {
        Ok(message) => Frame::Message(message),
        Err(e) => Frame::Bad { code: INVALID_REQUEST, message: format!("not a JSON-RPC message: {e}"), id, skip: 0 },
    }
}

enum Headers {
    /// The body's length, and what was wrong with the other headers (the body is then
    /// skipped and the problem answered).
    Length(u64, Option<String>),
    Bad(String),
    Eof,
}

/// Reads header lines up to the blank line that ends them.
fn read_headers(input: &mut impl BufRead) -> io::Result<Headers> {
    let mut length: Option<Result<u64, String>> = None;
    let mut problem: Option<String> = None;
    let mut any_header = false;
    for _ in 0..MAX_HEADER_LINES {
        let Some(line) = read_line(input)? else { return Ok(Headers::Eof) };
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            if !any_header {
                continue; // blank lines between frames
            }
            return Ok(match length {
                Some(Ok(n)) => Headers::Length(n, problem),
                Some(Err(p)) => Headers::Bad(problem.unwrap_or(p)),
                None => Headers::Bad(problem.unwrap_or_else(|| "a message without a Content-Length header".into())),
            });
        }
        any_header = true;
        match content_length(line) {
            // Lines before it are taken as a broken frame's leftovers: reading resumes here.
            Some(n) if length.is_none() => {
                problem = None;
                length = Some(n);
            }
            Some(_) => problem = Some("Content-Length given twice".into()),
            None if line.contains(':') && line.is_ascii() => {} // another header, e.g. Content-Type
            None => problem = Some(format!("a malformed header line: {:?}", shorten(line))),
        }
    }
    Ok(Headers::Bad(format!("more than {MAX_HEADER_LINES} header lines without a blank line")))
}

/// `Content-Length: N` anywhere in the line (case-insensitive name): found after a broken
/// frame's leftovers too (`...}Content-Length: 52`), which is how the reader gets back in
/// step with the client.
fn content_length(line: &str) -> Option<Result<u64, String>> {
    const NAME: &str = "content-length:";
    let at = line.to_ascii_lowercase().find(NAME)?;
    let value = line.get(at + NAME.len()..).unwrap_or("").trim();
    Some(value.parse::<u64>().map_err(|_| format!("Content-Length {:?} is not a byte count", shorten(value))))
}

fn shorten(text: &str) -> String {
    text.chars().take(60).collect()
}

/// One line of at most [`MAX_HEADER_LINE`] bytes (the rest of a longer one is read past);
/// `None` at the end of the stream.
fn read_line(input: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let n = input.take(MAX_HEADER_LINE).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') && n as u64 == MAX_HEADER_LINE {
        let mut rest = Vec::new();
        loop {
            rest.clear();
            let m = input.take(MAX_HEADER_LINE).read_until(b'\n', &mut rest)?;
            if m == 0 || rest.last() == Some(&b'\n') {
                break;
            }
        }
    }
    Ok(Some(String::from_utf8_lossy(&line).into_owned()))
}

/// Writes one message with its header, `"jsonrpc": "2.0"` added.
pub fn write_message(output: &mut impl Write, message: &Message) -> io::Result<()> {
    let mut value = serde_json::to_value(message).map_err(io::Error::other)?;
    if let Value::Object(object) = &mut value {
        object.insert("jsonrpc".into(), "2.0".into());
    }
    write_value(output, &value)
}

/// The error reply to a bad frame (its id may be null, which lsp-server's types cannot say).
pub fn write_error(output: &mut impl Write, code: i32, message: &str, id: &Value) -> io::Result<()> {
    let value = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": code, "message": message },
    });
    write_value(output, &value)
}

fn write_value(output: &mut impl Write, value: &Value) -> io::Result<()> {
    let body = value.to_string();
    write!(output, "Content-Length: {}\r\n\r\n{body}", body.len())?;
    output.flush()
}
