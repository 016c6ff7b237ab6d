//! Seeded mutation tests, one per reader, in the ordinary suite: every architecture file and
//! fixture, mutated (byte flips, insertions of deep nesting, long chains, huge numbers,
//! invalid UTF-8, truncation, duplication), goes through each reader on a thread whose
//! stack is 1 MiB. No input may panic or overflow the stack, and every error diagnostic
//! must point at a place inside the file. A failing input is written to the temporary
//! directory, named in the failure, to replay.
//!
//! `AVC_FUZZ_INPUTS` sets the count per reader (default [`INPUTS`]); the seed is fixed.

use avc_lang::source::SourceFile;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Inputs per reader: enough to meet every mutation on every corpus file many times.
const INPUTS: usize = 100_000;

const SEED: u64 = 0x5eed_a7c0_f022_0001;

/// A small, fast, deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Words that make a mutation reach past the first syntax error.
const TOKENS: &[&str] = &[
    "(", ")", "[", "]", "{", "}", ",", ":", "=", "+", "-", "*", "/", "\n", " ", "#", "\"", "$H", "$", "let ", "input ",
    "block ", "return ", "output ", "train ", "from ", "width(", "lstm(", "linear(", "concat(", "conv1d(", "share: ",
    "epochs: ", "- ", "name: ", "op: ", "in: ", "nodes:\n", "&a ", "*a", "<<: ", "0", "-1", "1e999", "0.5", "true",
    "null", "~", "\t", "\r\n", "\u{feff}", "é",
];

/// The corpus: architectures/ and every fixture, as (file name, bytes).
fn corpus() -> Vec<(String, Vec<u8>)> {
    crate::at_workspace_root();
    let mut files: Vec<std::path::PathBuf> = crate::architecture_files();
    for dir in [
        "crates/avc-lang/tests/fixtures/ok",
        "crates/avc-lang/tests/fixtures/err",
        "crates/avc-lang/tests/fixtures/dsl",
        "crates/avc-lang/tests/fixtures/yaml",
    ] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            files.extend(entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()));
        }
    }
    files.sort();
    files.into_iter().filter_map(|p| Some((p.display().to_string(), std::fs::read(&p).ok()?))).collect()
}

/// One to three mutations of `bytes`.
fn mutate(rng: &mut Rng, bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(out.len() + 1);
        match rng.below(11) {
            0 => {
                if let Some(b) = out.get_mut(at) {
                    *b ^= 1 << rng.below(8);
                }
            }
            1 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                out.splice(at..at, token.bytes());
            }
            2 => {
                let end = (at + rng.below(64)).min(out.len());
                out.drain(at..end);
            }
            3 => out.truncate(at),
            4 => {
                let end = (at + rng.below(256)).min(out.len());
                let copy = out[at..end].to_vec();
                let to = rng.below(out.len() + 1);
                out.splice(to..to, copy);
            }
            5 => {
                let (open, close) =
                    [("(", ")"), ("[", "]"), ("{", "}"), ("f(", ")"), ("width(", ")"), ("- ", "")][rng.below(6)];
                let depth = 1 + rng.below(200);
                let nested = format!("{}x{}", open.repeat(depth), close.repeat(depth));
                out.splice(at..at, nested.bytes());
            }
            6 => {
                let chain = if rng.below(2) == 0 { " + 1" } else { " + x" };
                // Mostly short; one in 128 past 20,000 terms (those cost most).
                let terms = if rng.below(128) == 0 { 20_000 + rng.below(5000) } else { 1 + rng.below(300) };
                out.splice(at..at, chain.repeat(terms).bytes());
            }
            7 => {
                let huge = ["99999999999999999999999", "-9223372036854775808", "1e308", "16777217", "0"];
                out.splice(at..at, huge[rng.below(huge.len())].bytes());
            }
            8 => out.splice(at..at, [[0xff], [0xc3], [0x80], [0x00]][rng.below(4)]).for_each(drop),
            9 => {
                let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
                let line = lines[rng.below(lines.len())].to_vec();
                out.splice(at..at, line.into_iter().chain([b'\n']));
            }
            _ => {
                const PUNCTUATION: &[u8] = b"(){}[]:,=+-*/\"#\n $&*";
                if let Some(b) = out.get_mut(at) {
                    *b = PUNCTUATION[rng.below(PUNCTUATION.len())];
                }
            }
        }
    }
    out
}

/// Runs `check` on `inputs` mutated inputs of the corpus files whose name ends with
/// `suffix`, on a 1 MiB-stack thread; prints the count.
fn fuzz(reader: &'static str, suffix: &str, check: fn(&str, &[u8], &mut Rng)) {
    let corpus: Vec<_> = corpus().into_iter().filter(|(name, _)| name.ends_with(suffix)).collect();
    assert!(corpus.len() > 10, "the corpus is found");
    let inputs = std::env::var("AVC_FUZZ_INPUTS").ok().and_then(|n| n.parse().ok()).unwrap_or(INPUTS);
    let started = std::time::Instant::now();
    let worker = std::thread::Builder::new()
        .name(format!("fuzz {reader}"))
        .stack_size(1 << 20)
        .spawn(move || {
            let mut rng = Rng(SEED ^ reader.len() as u64);
            for i in 0..inputs {
                let (name, bytes) = &corpus[rng.below(corpus.len())];
                let input = mutate(&mut rng, bytes);
                let mut inner = Rng(rng.next() | 1);
                if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(name, &input, &mut inner))) {
                    let saved = std::env::temp_dir().join(format!("avc-fuzz-{reader}-{i}.{}", extension(name)));
                    let _ = std::fs::write(&saved, &input);
                    let what = panic.downcast_ref::<String>().cloned().unwrap_or_default();
                    panic!("{reader}: input {i} (a mutation of {name}) failed: {what}\nsaved as {}", saved.display());
                }
            }
        })
        .expect("a thread");
    worker.join().unwrap_or_else(|_| panic!("{reader}: failed (see above)"));
    println!("fuzz {reader}: {inputs} inputs in {:.1} s", started.elapsed().as_secs_f64());
}

fn extension(name: &str) -> &str {
    if name.ends_with(".avc") { "avc" } else { "yaml" }
}

/// The text as the compiler would get it: a file that is not UTF-8 is refused before
/// parsing (`compile::read_source`), so the readers see its valid prefix (still a mutation).
fn text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(t) => t.to_string(),
        Err(e) => String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned(),
    }
}

/// Every error diagnostic has a label inside the text (a place to point at).
fn assert_located(diags: &[avc_lang::diag::Diagnostic], source: &SourceFile, rng: &mut Rng) {
    let len = source.text().len();
    for d in diags.iter().filter(|d| d.is_error()) {
        assert!(!d.labels.is_empty(), "an error without a place: {} ({})", d.message, d.code);
        for label in &d.labels {
            assert!(label.span.start <= label.span.end && label.span.end <= len, "{} outside the file", d.message);
        }
    }
    // Rendering walks the spans too (and costs more than the rest: one input in sixteen).
    if rng.below(16) == 0 {
        let _ = avc_lang::diag::render_all(diags, source, false);
    }
}

fn front_end(name: &str, bytes: &[u8], rng: &mut Rng) {
    let source = SourceFile::new(name, text(bytes));
    if let Err(errors) = avc_lang::front::parse(&source) {
        let diags: Vec<_> = errors.iter().map(|e| e.to_diagnostic()).collect();
        assert_located(&diags, &source, rng);
    }
}

fn compile_and_print(name: &str, bytes: &[u8], rng: &mut Rng) {
    let source = SourceFile::new(name, text(bytes));
    if let Ok(module) = avc_lang::front::parse(&source) {
        let to = [avc_lang::front::Format::Dsl, avc_lang::front::Format::Yaml][rng.below(2)];
        let _ = avc_lang::fmt::format(&module, to);
    }
    match avc_lang::compile::compile(&source) {
        Err(failed) => assert_located(&failed.diagnostics, &source, rng),
        Ok(c) => {
            // The table and the drawing cost more than compiling: one input in 8 and in 32.
            if rng.below(8) == 0 {
                let _ = avc_lang::check::render_table(&c.graph, &c.checked);
            }
            if rng.below(32) == 0 {
                let _ = avc_lang::graph::render(&c.graph, &c.checked, avc_lang::graph::PictureFormat::Svg);
            }
        }
    }
}

fn language_server(name: &str, bytes: &[u8], rng: &mut Rng) {
    let text = text(bytes);
    let analysis = avc_lang::lsp::analysis::Analysis::new(name, &text);
    assert_located(&analysis.diagnostics, &analysis.source, rng);
    let offset = rng.below(text.len() + 2);
    let _ = (analysis.hover(offset), analysis.definition(offset), analysis.completions(offset));
    let _ = analysis.symbols();
}

/// A recorded editor session, mutated as bytes: the framing and every handler.
fn protocol(name: &str, bytes: &[u8], rng: &mut Rng) {
    let uri = format!("file:///{name}");
    let text = text(bytes);
    let messages = [
        serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}}),
        serde_json::json!({"jsonrpc": "2.0", "method": "textDocument/didOpen",
            "params": {"textDocument": {"uri": uri, "languageId": "avc", "version": 1, "text": text}}}),
        serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "textDocument/hover",
            "params": {"textDocument": {"uri": uri}, "position": {"line": rng.below(40), "character": rng.below(30)}}}),
        serde_json::json!({"jsonrpc": "2.0", "id": 3, "method": "textDocument/completion",
            "params": {"textDocument": {"uri": uri}, "position": {"line": rng.below(40), "character": rng.below(30)}}}),
        serde_json::json!({"jsonrpc": "2.0", "id": 4, "method": "textDocument/documentSymbol",
            "params": {"textDocument": {"uri": uri}}}),
        serde_json::json!({"jsonrpc": "2.0", "id": 5, "method": "shutdown"}),
    ];
    let mut session = Vec::new();
    for m in &messages {
        let body = m.to_string();
        session.extend(format!("Content-Length: {}\r\n\r\n{body}", body.len()).bytes());
    }
    let session = mutate(rng, &session);
    let mut output = Vec::new();
    avc_lang::lsp::server::serve(&mut std::io::BufReader::new(session.as_slice()), &mut output)
        .expect("in-memory streams do not fail");
}

#[test]
fn fuzz_dsl_front_end() {
    fuzz("dsl", ".avc", front_end);
}

#[test]
fn fuzz_yaml_front_end() {
    fuzz("yaml", ".yaml", front_end);
}

#[test]
fn fuzz_compile_fmt_and_graph() {
    fuzz("compile", "", compile_and_print);
}

#[test]
fn fuzz_language_server_analysis() {
    fuzz("lsp-analysis", "", language_server);
}

#[test]
fn fuzz_language_server_protocol() {
    fuzz("lsp-protocol", "", protocol);
}
