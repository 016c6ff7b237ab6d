//! Sizes checked before anything is allocated (issue 13, item 3). The class: any integer
//! in any architecture, set to a size far past what a device holds, is either refused
//! with a located error or gives counts that did not wrap; a model larger than the
//! device's memory is refused by `avc check` with the node and the size. (That `avc train`
//! refuses it too, and that libtorch's own failures read as one line, are the `avc`
//! package's tests/model_sizes.rs.)

use avc_lang::check::memory::{Budget, refuse_oversized};
use avc_lang::settings::TrainConfig;
use avc_lang::source::SourceFile;
use std::path::Path;

/// Sizes to try in place of every integer: the largest i64, past 32 bits, the largest size
/// an op accepts, and a float where an integer is expected.
const HUGE: [&str; 4] = ["9223372036854775807", "4294967296", "16777216", "1e12"];

/// Byte offsets of the integer literals of a DSL file outside comments.
fn integer_literals(text: &str) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let code = &line[..line.find('#').unwrap_or(line.len())];
        let bytes = code.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let starts = bytes[i].is_ascii_digit()
                && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || matches!(bytes[i - 1], b'_' | b'.')));
            if !starts {
                i += 1;
                continue;
            }
            let end = (i..bytes.len()).find(|&j| !bytes[j].is_ascii_digit()).unwrap_or(bytes.len());
            if !matches!(bytes.get(end), Some(b'.' | b'e' | b'E')) {
                found.push((offset + i, offset + end));
            }
            i = end;
        }
        offset += line.len();
    }
    found
}

/// What must hold for any compiled model: no count wrapped, and one too large for the
/// budget is refused naming a node of the graph.
fn assert_counts_sane(what: &str, c: &avc_lang::compile::Compiled) {
    let checked = &c.checked;
    for (i, &p) in checked.params.iter().enumerate() {
        assert!((0..i64::MAX).contains(&p), "{what}: node {i} has {p} parameters");
    }
    for m in checked.macs.iter().flatten() {
        assert!((0..i64::MAX).contains(m), "{what}: {m} multiply-adds");
    }
    for s in checked.shapes.iter().flatten() {
        assert!(s.per_sample_elems().is_none_or(|n| (1..i64::MAX).contains(&n)), "{what}: shape {s}");
    }
    let exact = checked.params.iter().try_fold(0i64, |sum, &p| sum.checked_add(p));
    assert_eq!(exact, Some(checked.total_params()), "{what}: the total wrapped");
    let budget = Budget { bytes: 1 << 40, source: "a 1 TiB test budget".into() };
    let refused = refuse_oversized(&c.graph, checked, 64, &budget);
    let weights = (checked.total_params() as u128) * 8;
    if weights > u128::from(budget.bytes) {
        assert!(refused.is_some(), "{what}: {weights} bytes of weights and gradients pass a 1 TiB budget");
    }
    if let Some(e) = refused {
        let message = e.to_string();
        let named = c.graph.topo().iter().any(|&id| message.contains(&format!("node `{}`", c.graph.node(id).name)));
        assert!(named, "{what}: {message}");
        assert!(message.contains("iB"), "{what}: no size in {message}");
    }
}

#[test]
fn no_size_in_any_architecture_wraps_a_count() {
    let mut tried = 0;
    for path in crate::architecture_files().into_iter().filter(|p| p.extension().is_some_and(|e| e == "avc")) {
        let text = std::fs::read_to_string(&path).unwrap();
        for (start, end) in integer_literals(&text) {
            for size in HUGE {
                let mutated = format!("{}{size}{}", &text[..start], &text[end..]);
                let what = format!("{} with {size} at byte {start}", path.display());
                let source = SourceFile::new(path.display().to_string(), mutated);
                match avc_lang::compile::compile(&source) {
                    Ok(c) => assert_counts_sane(&what, &c),
                    Err(failed) => {
                        let errors: Vec<_> = failed.diagnostics.iter().filter(|d| d.is_error()).collect();
                        assert!(!errors.is_empty(), "{what}: failed without an error");
                        assert!(errors.iter().all(|d| d.location(&source).is_some()), "{what}: an error has no place");
                    }
                }
                tried += 1;
            }
        }
    }
    assert!(tried > 200, "only {tried} variants tried");
}

/// A two-tower model whose video tower is `video_node` (a node named `big` on `video`).
fn model(video_node: &str) -> String {
    format!(
        "input video: [120, 1024]\ninput audio: [120, 128]\n{video_node}\nvm = mean(big)\n\
         a = linear(audio, out: 8)\nj = concat(vm, mean(a))\nhead = linear(j, out: 1)\noutput match: logit(head)\n"
    )
}

fn compiled(text: &str) -> avc_lang::compile::Compiled {
    match avc_lang::compile::compile(&SourceFile::new("m.avc", text)) {
        Ok(c) => c,
        Err(f) => panic!("{}", avc_lang::diag::render_all(&f.diagnostics, &f.source, false)),
    }
}

#[test]
fn a_model_past_its_budget_is_refused_naming_the_node_and_the_size() {
    // 1024 x 500,000 weights: 2 GB of f32, 4 GB with gradients.
    let c = compiled(&model("big = linear(video, out: 500000)"));
    let small = Budget { bytes: 1 << 30, source: "a 1 GiB budget".into() };
    let e = refuse_oversized(&c.graph, &c.checked, 1, &small).expect("4 GB does not fit in 1 GiB");
    let message = e.to_string();
    assert!(message.contains("node `big` (linear)"), "{message}");
    assert!(message.contains("GiB") && message.contains("a 1 GiB budget"), "{message}");
    let rendered = e.to_diagnostic().render(&c.graph.source, false);
    assert!(rendered.contains("m.avc:3:1") && rendered.contains("512,500,000 parameters"), "{rendered}");
    let large = Budget { bytes: 64 << 30, source: "64 GiB".into() };
    assert!(refuse_oversized(&c.graph, &c.checked, 1, &large).is_none(), "4 GB fits in 64 GiB");
    // Activations count too: the same budget refuses a batch whose outputs do not fit.
    assert!(refuse_oversized(&c.graph, &c.checked, 1 << 10, &large).is_some(), "1024 x 120 x 500,000 floats");
}

#[test]
fn every_architecture_fits_a_small_machine() {
    let budget = Budget { bytes: 2 << 30, source: "2 GiB".into() };
    for path in crate::architecture_files() {
        let c = crate::compile_ok(&path);
        let batch = TrainConfig::resolve(&c.graph.train, &[]).unwrap().batch_size as u64;
        let refused = refuse_oversized(&c.graph, &c.checked, batch, &budget);
        assert!(refused.is_none(), "{}: {}", path.display(), refused.unwrap());
    }
}

/// `avc-lang`, which runs `avc check` ([`avc_lang::cli`]) with the same flags, output and
/// exit codes.
fn avc(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_avc-lang")).current_dir(dir).args(args).output().unwrap()
}

#[test]
fn check_refuses_a_petabyte_model_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    // An LSTM of 2^24 units: 1.1e15 parameters, 4 PiB of f32.
    std::fs::write(dir.path().join("pb.avc"), model("big = lstm(video, hidden: 16777216)")).unwrap();
    std::fs::write(dir.path().join("gb.avc"), model("big = linear(video, out: 500000)")).unwrap();
    let started = std::time::Instant::now();
    for args in [&["check", "pb.avc", "--device", "cpu"][..], &["check", "gb.avc", "--max-memory", "1G"]] {
        let out = avc(dir.path(), args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("error[size::memory]") && stderr.contains("node `big`"), "{args:?}: {stderr}");
        assert!(stderr.contains("PiB") || stderr.contains("GiB"), "{args:?}: no size in {stderr}");
        assert!(!stderr.contains("frame #") && stderr.lines().count() < 20, "{args:?}: a backtrace? {stderr}");
    }
    assert!(started.elapsed().as_secs() < 60, "refused before any allocation, not after trying");
}

/// `avc check`'s activation line: 4 bytes a value in fp32; under autocast 2, except the
/// inputs (the data) and the ops avc keeps in fp32.
#[test]
fn activation_memory_is_counted_per_precision() {
    use avc_lang::check::memory::{activations, activations_line};
    let text = "input video: [10, 6]\ninput audio: [10, 4]\nv = linear(video, out: 8)\na = linear(audio, out: 8)\n\
                c = cosine(mean(v), mean(a))\noutput match: logit(c)\n";
    let c = avc_lang::compile::compile(&SourceFile::new("m.avc", text)).unwrap_or_else(|_| panic!("compiles"));
    // Per sample: inputs 60 + 40, v 80, a 80, the means 8 + 8, cosine 1.
    let (full, half) = activations(&c.graph, &c.checked, 2);
    assert_eq!(full, 2 * 4 * (60 + 40 + 80 + 80 + 8 + 8 + 1));
    assert_eq!(half, 2 * (4 * (60 + 40) + 2 * (80 + 80 + 8 + 8) + 4));
    let line = activations_line(&c.graph, &c.checked, 2);
    assert!(line.starts_with("activations for a batch of 2: 2.16 KiB in fp32, about 1.48 KiB in bf16"), "{line}");
}
