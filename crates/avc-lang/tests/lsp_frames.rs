//! The language server's framing on in-memory streams: no message, however malformed or
//! large, ends the server; each bad one gets a JSON-RPC error and the next is answered.

use avc_lang::lsp::server::serve;
use serde_json::{Value, json};
use std::io::{BufReader, Cursor, Read};

fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

fn message(value: Value) -> Vec<u8> {
    frame(value.to_string().as_bytes())
}

/// Splits the server's output into its messages.
fn replies(mut out: &[u8]) -> Vec<Value> {
    let mut all = Vec::new();
    while !out.is_empty() {
        let text = std::str::from_utf8(out).expect("the server writes UTF-8");
        let header_end = text.find("\r\n\r\n").expect("a header");
        let length: usize = text[..header_end].strip_prefix("Content-Length: ").expect("a length").parse().unwrap();
        let body = &out[header_end + 4..header_end + 4 + length];
        all.push(serde_json::from_slice(body).expect("JSON"));
        out = &out[header_end + 4 + length..];
    }
    all
}

/// Serves `input` to its end; the server must return (not abort) and say Ok.
fn run(input: impl Read) -> Vec<Value> {
    let mut output = Vec::new();
    serve(&mut BufReader::new(input), &mut output).expect("the server ends normally");
    replies(&output)
}

fn initialize() -> Vec<u8> {
    message(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}}))
}

fn shutdown_and_exit() -> Vec<u8> {
    let mut out = message(json!({"jsonrpc": "2.0", "id": 99, "method": "shutdown"}));
    out.extend(message(json!({"jsonrpc": "2.0", "method": "exit"})));
    out
}

fn error_code(reply: &Value) -> i64 {
    reply["error"]["code"].as_i64().unwrap_or_else(|| panic!("not an error: {reply}"))
}

#[test]
fn each_malformed_message_gets_an_error_and_the_server_reads_on() {
    let bad: Vec<(&str, Vec<u8>, i64)> = vec![
        ("invalid JSON", frame(b"{\"jsonrpc\": "), -32700),
        ("invalid UTF-8", frame(b"{\"a\": \"\xff\xfe\"}"), -32700),
        ("a JSON array", frame(b"[1, 2]"), -32600),
        ("a number", frame(b"42"), -32600),
        ("an object that is no message", frame(b"{\"jsonrpc\": \"2.0\", \"method\": 5}"), -32600),
        ("a bad header line", b"Hello there\r\n\r\n".to_vec(), -32700),
        ("no Content-Length", b"Content-Type: x\r\n\r\n".to_vec(), -32700),
        ("a length that is no number", b"Content-Length: lots\r\n\r\n".to_vec(), -32700),
    ];
    for (what, bytes, code) in bad {
        let mut input = initialize();
        input.extend(&bytes);
        input.extend(shutdown_and_exit());
        let got = run(Cursor::new(input));
        assert_eq!(got.len(), 3, "{what}: {got:?}");
        assert!(got[0]["result"]["capabilities"].is_object(), "{what}: initialize answered");
        assert_eq!(error_code(&got[1]), code, "{what}: {}", got[1]);
        assert_eq!(got[1]["id"], Value::Null, "{what}");
        assert_eq!(got[2]["id"], 99, "{what}: shutdown answered after it");
    }
}

#[test]
fn a_missing_length_resynchronises_on_the_next_frame() {
    // A body sent with no header runs into the next frame's header on the same line.
    let mut input = initialize();
    input.extend(b"\r\n{\"jsonrpc\": \"2.0\", \"id\": 5, \"method\": \"x\"}");
    input.extend(shutdown_and_exit());
    let got = run(Cursor::new(input));
    assert_eq!(got.last().map(|r| r["id"].clone()), Some(json!(99)), "{got:?}");
}

#[test]
fn a_huge_content_length_is_refused_without_allocating_and_the_body_skipped() {
    // Declared 10 GB, stream ends long before: the error is answered first, then EOF.
    let mut input = initialize();
    input.extend(b"Content-Length: 10000000000\r\n\r\n{}");
    let got = run(Cursor::new(input));
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(error_code(&got[1]), -32600);
    assert!(got[1]["error"]["message"].as_str().unwrap().contains("64 MiB"), "{}", got[1]);
    // A real 65 MiB body (generated, never held whole) is read past; the next message is answered.
    let size = (65u64 << 20) + 3;
    let head = [initialize(), format!("Content-Length: {size}\r\n\r\n").into_bytes()].concat();
    let input = Cursor::new(head).chain(std::io::repeat(b' ').take(size)).chain(Cursor::new(shutdown_and_exit()));
    let got = run(input);
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(error_code(&got[1]), -32600);
    assert_eq!(got[2]["id"], 99);
}

#[test]
fn requests_before_initialize_and_after_shutdown_are_refused_not_fatal() {
    let mut input = message(json!({"jsonrpc": "2.0", "id": 7, "method": "textDocument/hover", "params": {}}));
    input.extend(initialize());
    input.extend(message(json!({"jsonrpc": "2.0", "id": 8, "method": "shutdown"})));
    input.extend(message(json!({"jsonrpc": "2.0", "id": 9, "method": "textDocument/hover", "params": {}})));
    input.extend(message(json!({"jsonrpc": "2.0", "method": "exit"})));
    input.extend(message(json!({"jsonrpc": "2.0", "id": 10, "method": "never read"})));
    let got = run(Cursor::new(input));
    let ids: Vec<Value> = got.iter().map(|r| r["id"].clone()).collect();
    assert_eq!(ids, [json!(7), json!(1), json!(8), json!(9)], "exit ends the conversation: {got:?}");
    assert_eq!(error_code(&got[0]), -32002);
    assert_eq!(error_code(&got[3]), -32600);
}
