//! `avc lsp` driven by a scripted client over JSON-RPC on stdio, as an editor would: open,
//! change with an error, hover, definition, completion, outline, shutdown.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{ChildStdin, ChildStdout, Command, Stdio};

struct Client {
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: i64,
}

impl Client {
    fn send(&mut self, message: Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn receive(&mut self) -> Value {
        let mut length = 0;
        loop {
            let mut line = String::new();
            assert!(self.stdout.read_line(&mut line).unwrap() > 0, "the server closed its output");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(n) = line.strip_prefix("Content-Length: ") {
                length = n.parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        self.stdout.read_exact(&mut body).unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let message = self.receive();
            if message["id"] == id {
                return message["result"].clone();
            }
        }
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// The next diagnostics the server publishes.
    fn diagnostics(&mut self) -> Vec<Value> {
        loop {
            let message = self.receive();
            if message["method"] == "textDocument/publishDiagnostics" {
                return message["params"]["diagnostics"].as_array().unwrap().clone();
            }
        }
    }
}

const URI: &str = "file:///work/final.avc";

fn at(uri: &str, line: usize, character: usize) -> Value {
    json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}})
}

/// 0-based line and column of the first `needle` in `text`.
fn find(text: &str, needle: &str) -> (usize, usize) {
    let offset = text.find(needle).unwrap_or_else(|| panic!("`{needle}` not in the text"));
    let line = text[..offset].matches('\n').count();
    (line, offset - text[..offset].rfind('\n').map_or(0, |i| i + 1))
}

#[test]
fn an_editor_session_on_final_avc() {
    crate::at_workspace_root();
    let text = std::fs::read_to_string("architectures/final.avc").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_avc-lang"))
        .arg("lsp")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut c =
        Client { stdin: child.stdin.take().unwrap(), stdout: BufReader::new(child.stdout.take().unwrap()), next_id: 0 };
    let init = c.request("initialize", json!({"processId": null, "rootUri": null, "capabilities": {}}));
    assert_eq!(init["capabilities"]["hoverProvider"], true);
    c.notify("initialized", json!({}));

    c.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": URI, "languageId": "avc", "version": 1, "text": text}}),
    );
    assert_eq!(c.diagnostics(), Vec::<Value>::new(), "final.avc compiles cleanly");

    // A misspelt op: the same code, place and hint as `avc check`.
    let broken = text.replace("vproj = linear(video", "vproj = lineer(video");
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 2}, "contentChanges": [{"text": broken}]}),
    );
    let diags = c.diagnostics();
    assert_eq!(diags.len(), 1, "{diags:?}");
    let (line, col) = find(&broken, "lineer");
    assert_eq!(diags[0]["range"]["start"], json!({"line": line, "character": col}));
    assert_eq!(diags[0]["severity"], 1);
    let message = diags[0]["message"].as_str().unwrap();
    assert!(message.contains("lineer") && message.contains("linear"), "{message}");
    let check = avc_lang::compile::compile(&avc_lang::source::SourceFile::new("final.avc", broken.as_str()));
    let code = check.err().map(|f| f.diagnostics[0].code).unwrap();
    assert_eq!(diags[0]["code"], code);

    // Fixed again, then the questions.
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 3}, "contentChanges": [{"text": text}]}),
    );
    assert!(c.diagnostics().is_empty());

    let (line, col) = find(&text, "vproj = linear");
    let hover = c.request("textDocument/hover", at(URI, line, col + 1));
    let shown = hover["contents"]["value"].as_str().unwrap();
    assert!(shown.contains("`linear`") && shown.contains("[B, 120, 64]") && shown.contains("65,600"), "{shown}");
    assert!(shown.contains("multiply-adds"), "{shown}");

    // Hover on a block instance and on an op name.
    let (line, col) = find(&text, "orn = res_lstm");
    let shown = c.request("textDocument/hover", at(URI, line, col))["contents"]["value"].as_str().unwrap().to_string();
    assert!(shown.contains("block instance") && shown.contains("[B, 120, 64]"), "{shown}");
    let shown =
        c.request("textDocument/hover", at(URI, line, col + 7))["contents"]["value"].as_str().unwrap().to_string();
    assert!(shown.contains("block **res_lstm**"), "{shown}");
    // The parameters with their defaults: what a use may leave out.
    assert!(shown.contains("hidden: int, p: float = 0.5"), "{shown}");

    // Definition: a use of `arnn` goes to its declaration, `res_lstm` to the block, `H` to the constant.
    let (use_line, use_col) = find(&text, "concat(vrnn, arnn)");
    let def = c.request("textDocument/definition", at(URI, use_line, use_col + 14));
    let (decl_line, decl_col) = find(&text, "arnn = res_lstm");
    assert_eq!(def["range"]["start"], json!({"line": decl_line, "character": decl_col}));
    assert_eq!(def["uri"], URI);
    let def = c.request("textDocument/definition", at(URI, decl_line, decl_col + 9));
    let (block_line, block_col) = find(&text, "res_lstm(x, hidden");
    assert_eq!(def["range"]["start"], json!({"line": block_line, "character": block_col}));
    let (h_line, h_col) = find(&text, "out: H)");
    let def = c.request("textDocument/definition", at(URI, h_line, h_col + 5));
    let (let_line, let_col) = find(&text, "H = 64");
    assert_eq!(def["range"]["start"], json!({"line": let_line, "character": let_col}));

    // Completion: op names where a callee goes, an op's parameters inside its call.
    let typing = format!("{text}\nx = ls");
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 4}, "contentChanges": [{"text": typing}]}),
    );
    let _ = c.diagnostics();
    let last = typing.lines().count() - 1;
    let items = c.request("textDocument/completion", at(URI, last, 6))["items"].as_array().unwrap().clone();
    let labels: Vec<&str> = items.iter().map(|i| i["label"].as_str().unwrap()).collect();
    assert!(labels.contains(&"lstm") && labels.contains(&"res_lstm"), "{labels:?}");
    let typing = format!("{text}\nx = lstm(vproj, ");
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 5}, "contentChanges": [{"text": typing}]}),
    );
    let _ = c.diagnostics();
    let items = c.request("textDocument/completion", at(URI, last, 16))["items"].as_array().unwrap().clone();
    let hidden = items.iter().find(|i| i["label"] == "hidden").expect("lstm's `hidden` is offered");
    assert!(hidden["detail"].as_str().unwrap().contains("int"), "{hidden}");
    assert!(items.iter().any(|i| i["label"] == "vproj"), "node names are offered as inputs");

    // The outline.
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 6}, "contentChanges": [{"text": text}]}),
    );
    let _ = c.diagnostics();
    let symbols = c.request("textDocument/documentSymbol", json!({"textDocument": {"uri": URI}}));
    let names: Vec<&str> = symbols.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    for expected in ["video", "audio", "H", "res_lstm", "res_conv", "vproj", "head", "match"] {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
    let block = symbols.as_array().unwrap().iter().find(|s| s["name"] == "res_lstm").unwrap();
    assert_eq!(block["children"].as_array().unwrap().len(), 4);

    assert_eq!(c.request("shutdown", Value::Null), Value::Null);
    c.notify("exit", Value::Null);
    assert!(child.wait().unwrap().success());
}

#[test]
fn yaml_files_get_diagnostics_and_parameter_completion() {
    crate::at_workspace_root();
    let text = "inputs: {video: [10, 6], audio: [10, 3]}\nnodes:\n  - {name: v, op: lstm, in: video, hiden: 4}\n\
                outputs:\n  - {name: m, kind: logit, from: v}\n";
    let a = avc_lang::lsp::analysis::Analysis::new("m.yaml", text);
    assert_eq!(a.diagnostics.len(), a.diagnostics.iter().filter(|d| d.is_error()).count());
    assert!(a.diagnostics.iter().any(|d| d.message.contains("hiden")), "{:?}", a.diagnostics);
    let offset = text.find("hiden").unwrap() + 3;
    let items = a.completions(offset);
    assert!(items.iter().any(|c| c.label == "hidden" && c.insert == "hidden: "), "{items:?}");
    let offset = text.find("op: lstm").unwrap() + 6;
    assert!(a.completions(offset).iter().any(|c| c.label == "linear"));
}
