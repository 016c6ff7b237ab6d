//! The ONNX back-end (`avc::export::onnx`, issue 25): every architecture file, trained for
//! two batches, and 200 random graphs that together use every exported op, written as ONNX
//! (whole and split into towers and a joint part) and run by ONNX Runtime on the clips of
//! an `avc export` sample: within 1e-4 of avc's outputs (tests/python/onnx_check.py), and
//! the check is not blind (a nudged weight fails it).

use avc::export::onnx::{self as onnx, OnnxError};
use std::path::{Path, PathBuf};
use std::process::Command;

mod random_graphs;

/// Trains `arch` for two batches (tests/export.rs, `trained_run`) and writes an `avc
/// export` sample of 4 test clips; returns the run directory and the sample.
fn trained(arch: &Path, scratch: &Path) -> (PathBuf, PathBuf) {
    trained_with(arch, scratch, 4)
}

/// [`trained`] with `clips` test clips in the sample (and at least that many in the data).
fn trained_with(arch: &Path, scratch: &Path, clips: usize) -> (PathBuf, PathBuf) {
    let run = crate::export::trained_run(arch, scratch, clips);
    let stem = arch.file_name().unwrap().to_string_lossy().replace('.', "_");
    let (weights, sample) = (scratch.join(format!("{stem}.safetensors")), scratch.join(format!("{stem}.sample")));
    avc::export::export(&run, "last", &weights, Some((&sample, clips))).unwrap();
    (run, sample)
}

/// Runs tests/python/onnx_check.py on `cases` (one process: onnxruntime takes seconds to
/// import); returns its output, failing the test when it fails.
pub(crate) fn check(cases: &[serde_json::Value], scratch: &Path) -> String {
    let python = crate::venv_python();
    assert!(python.exists(), "{} is missing: run scripts/libtorch.sh", python.display());
    let manifest = scratch.join("manifest.json");
    std::fs::write(&manifest, serde_json::to_string(cases).unwrap()).unwrap();
    let out = Command::new(&python).arg("tests/python/onnx_check.py").arg(&manifest).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "ONNX Runtime disagrees with avc or fails:\n{text}");
    assert!(text.contains("largest difference"), "{text}");
    text
}

#[test]
fn every_architecture_runs_in_onnx_runtime_as_in_avc() {
    let _rng = crate::torch_rng_lock();
    let scratch = crate::scratch_dir("export-onnx");
    let mut cases = Vec::new();
    for arch in crate::architecture_files() {
        let (run, sample) = trained(&arch, &scratch);
        let name = arch.file_name().unwrap().to_string_lossy().to_string();
        let whole = scratch.join(format!("{name}.onnx"));
        let split = scratch.join(format!("{name}.towers"));
        let done = onnx::export_onnx(&run, "last", &whole, false, false).unwrap();
        assert_eq!(done.files, std::slice::from_ref(&whole));
        let done = onnx::export_onnx(&run, "last", &split, true, false).unwrap();
        assert_eq!(done.files.len(), 3, "{name}");
        let nudge = name == "final.yaml" || name == "two_tower.avc";
        cases.push(serde_json::json!({
            "name": name, "whole": whole, "split": split, "sample": sample, "nudge": nudge,
        }));
    }
    let text = check(&cases, &scratch);
    print!("{text}");
    assert!(text.contains("final.yaml: with `"), "{text}");
}

#[test]
fn the_weights_keep_their_safetensors_names_and_the_output_is_claimed() {
    let _rng = crate::torch_rng_lock();
    let scratch = crate::scratch_dir("export-onnx-names");
    let (run, _) = trained(&crate::architecture_path("final.yaml"), &scratch);
    let out = scratch.join("final.onnx");
    onnx::export_onnx(&run, "last", &out, false, false).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    for name in ["vproj.weight", "vrnn.rnn.weight_ih_l0", "head.bias"] {
        assert!(bytes.windows(name.len()).any(|w| w == name.as_bytes()), "{name} is not an initializer");
    }
    // Its own earlier file is replaced; the run's own files and a foreign file are not.
    onnx::export_onnx(&run, "last", &out, false, false).unwrap();
    let foreign = scratch.join("notes.onnx");
    std::fs::write(&foreign, b"someone's model").unwrap();
    assert!(matches!(onnx::export_onnx(&run, "last", &foreign, false, false), Err(OnnxError::Output(_))));
    assert_eq!(std::fs::read(&foreign).unwrap(), b"someone's model");
    let inside = run.join("last").join("model.onnx");
    assert!(matches!(onnx::export_onnx(&run, "last", &inside, false, false), Err(OnnxError::Output(_))));
    // A split directory is marked and replaced as such; a file is not a directory.
    let dir = scratch.join("towers");
    onnx::export_onnx(&run, "last", &dir, true, false).unwrap();
    onnx::export_onnx(&run, "last", &dir, true, false).unwrap();
    assert!(matches!(onnx::export_onnx(&run, "last", &out, true, false), Err(OnnxError::Output(_))));
}

/// docs/export.md's ONNX op table is generated from the registry (`AVC_BLESS=1` rewrites it).
#[test]
fn the_onnx_op_table_in_the_docs_is_the_registrys() {
    let text = std::fs::read_to_string("docs/export.md").unwrap();
    let (begin, end) = ("<!-- onnx-ops:begin -->\n", "<!-- onnx-ops:end -->");
    let (head, rest) = text.split_once(begin).expect("the table's begin marker");
    let (table, tail) = rest.split_once(end).expect("the table's end marker");
    let wanted = onnx::ops::coverage_table();
    if std::env::var_os("AVC_BLESS").is_some() {
        std::fs::write("docs/export.md", format!("{head}{begin}{wanted}{end}{tail}")).unwrap();
        return;
    }
    assert_eq!(table, wanted, "docs/export.md's ONNX op table is stale: run this test with AVC_BLESS=1");
    assert!(!wanted.contains("| not exported |"), "{wanted}");
}

/// The serving example of docs/export.md, run as written on `final` (trained for two
/// batches, 30 test clips): it ranks the 30 audios for video 0 as avc does (the towers
/// encoded once, the joint part on the 30 pairs, `Model::score_pairs`, as `avc retrieve`).
#[test]
fn the_docs_serving_example_ranks_as_avc_does() {
    let _rng = crate::torch_rng_lock();
    let scratch = crate::scratch_dir("export-onnx-serving");
    let (run, sample) = trained_with(&crate::architecture_path("final.yaml"), &scratch, 30);
    let towers = scratch.join("towers");
    onnx::export_onnx(&run, "last", &towers, true, false).unwrap();
    // avc's ranking.
    let opened = avc::run::open::open_run(&run).unwrap();
    let compiled = &opened.compiled;
    let mut model = avc::lower::lower(&compiled.graph, &compiled.checked, tch::Device::Cpu).unwrap();
    let dir = avc::run::checkpoint::Checkpoint::locate(&run, "last").unwrap();
    model.vs.load(dir.join(avc::run::checkpoint::WEIGHTS)).unwrap();
    let named: std::collections::HashMap<String, tch::Tensor> =
        tch::Tensor::read_safetensors(&sample).unwrap().into_iter().collect();
    let (video, audio) = (named["video"].narrow(0, 0, 1), &named["audio"]);
    let scores = tch::no_grad(|| {
        let v = model.encode(avc_lang::check::Tower::Video, &video, false).unwrap();
        let a = model.encode(avc_lang::check::Tower::Audio, audio, false).unwrap();
        let rows = tch::Tensor::arange(30, (tch::Kind::Int64, tch::Device::Cpu));
        model.score_pairs(&v, &a, &rows.zeros_like(), &rows, false).unwrap().remove(0).remove(0)
    });
    let scores: Vec<f32> = Vec::try_from(scores.flatten(0, -1)).unwrap();
    let mut avc_rank: Vec<usize> = (0..30).collect();
    avc_rank.sort_by(|&x, &y| scores[y].total_cmp(&scores[x]));
    // The example, extracted from the docs as written.
    let docs = std::fs::read_to_string("docs/export.md").unwrap();
    let section = docs.split_once("## ONNX").unwrap().1;
    let code = section.split_once("```python\n").unwrap().1.split_once("```").unwrap().0;
    let script = format!(
        "towers = {towers:?}\n{code}\nfrom safetensors.numpy import load_file\ns = load_file({sample:?})\n\
         print(list(map(int, rank(s['video'][0], s['audio']))))\n",
        towers = towers.display().to_string(),
        sample = sample.display().to_string(),
    );
    let out = Command::new(crate::venv_python()).args(["-c", &script]).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    let line = text.lines().rev().find(|l| l.starts_with('[')).unwrap_or_default();
    let onnx_rank: Vec<usize> = serde_json::from_str(line).unwrap();
    assert_eq!(onnx_rank, avc_rank, "scores {scores:?}");
}

/// `avc export --to onnx|torch` on the command line: the files land where the flags say,
/// the default paths are inside the run, a foreign file is refused without `--force` and
/// kept, and flags that do not go together are usage errors (exit 2) that write nothing.
#[test]
fn the_command_line_writes_each_format_and_refuses_what_does_not_fit() {
    let _rng = crate::torch_rng_lock();
    let scratch = crate::scratch_dir("export-cli");
    let (run, _) = trained(&crate::architecture_path("sync_towers.avc"), &scratch);
    let avc = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_avc")).arg("export").arg(&run).args(args).output().unwrap();
        (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    };
    let (code, text) = avc(&["--to", "onnx", "--checkpoint", "last"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(run.join("model.onnx").is_file() && text.contains("opset 17"), "{text}");
    let towers = scratch.join("towers");
    let (code, text) = avc(&["--to", "onnx", "--split", "--checkpoint", "last", "-o", towers.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{text}");
    for file in onnx::SPLIT_FILES {
        assert!(towers.join(file).is_file(), "{file} missing: {text}");
    }
    let module = scratch.join("sync.py");
    let (code, text) =
        avc(&["--to", "torch", "--with-weights", "--checkpoint", "last", "-o", module.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{text}");
    assert!(module.is_file() && module.with_extension("safetensors").is_file(), "{text}");
    // Someone's file at -o: refused, untouched; --force replaces it.
    let foreign = scratch.join("theirs.onnx");
    std::fs::write(&foreign, b"someone's model").unwrap();
    let (code, text) = avc(&["--to", "onnx", "--checkpoint", "last", "-o", foreign.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{text}");
    assert_eq!(std::fs::read(&foreign).unwrap(), b"someone's model");
    let (code, text) = avc(&["--to", "onnx", "--checkpoint", "last", "--force", "-o", foreign.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{text}");
    // Flags of one format with another: usage errors naming the flag, nothing written.
    let stray = scratch.join("stray.onnx");
    for (args, flag) in [
        (vec!["--split"], "--split"),
        (vec!["--to", "torch", "--split"], "--split"),
        (vec!["--to", "onnx", "--with-weights"], "--with-weights"),
        (vec!["--to", "onnx", "--sample", "s.safetensors"], "--sample"),
    ] {
        let mut all = args.clone();
        all.extend(["-o", stray.to_str().unwrap()]);
        let (code, text) = avc(&all);
        assert_eq!(code, Some(2), "{args:?}: {text}");
        assert!(text.contains(flag), "{args:?}: {text}");
        assert!(!stray.exists(), "{args:?} wrote {}", stray.display());
    }
}
