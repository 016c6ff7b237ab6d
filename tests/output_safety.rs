//! The one rule for every output path (docs/safety.md), command by command: each command
//! with an output flag is pointed at (a) one of its own inputs, (b) a run directory, (c) a
//! checkpoint, (d) a non-empty directory avc did not write and (e) a file avc did not write;
//! each is refused with exit code 2 and a message naming the path, and every byte under the
//! test's directory is still there afterwards. Then the same outputs are written again
//! (allowed: avc's own output) and `--force` replaces (d) and (e) but never (a)-(c).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const KNOBS: [&str; 5] = ["n_train=40", "n_test=12", "steps=24", "video_dim=16", "audio_dim=8"];

fn avc(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_avc"));
    cmd.current_dir(dir).args(args).stdin(Stdio::null());
    cmd.output().expect("avc runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn ok(dir: &Path, args: &[&str]) -> Output {
    let out = avc(dir, args);
    assert!(out.status.success(), "avc {}: {}", args.join(" "), text(&out));
    out
}

/// Every file under `root` (symbolic links as their targets' names) with its bytes.
fn tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let kind = entry.file_type().unwrap();
            let key = path.strip_prefix(root).unwrap().to_path_buf();
            if kind.is_symlink() {
                files.insert(key, std::fs::read_link(&path).unwrap().into_os_string().into_encoded_bytes());
            } else if kind.is_dir() {
                files.insert(key, b"<dir>".to_vec());
                todo.push(path);
            } else {
                files.insert(key, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// A directory with a trained tiny run (`runs/pair`), the course-layout data it can be
/// evaluated on (`course/`), an architecture file, a foreign directory and a foreign file.
fn workspace(name: &str) -> crate::Scratch {
    let dir = crate::scratch_dir(name);
    std::fs::write(dir.join("pair.yaml"), crate::small_model(8, "{epochs: 1, batch_size: 8}")).unwrap();
    let mut synth = vec!["data", "synth", "--out", "course", "--seed", "3"];
    let mut train = vec!["train", "pair.yaml", "--runs", "runs", "--name", "pair", "-q", "--device", "cpu"];
    train.extend(["--max-batches", "2"]);
    for knob in KNOBS {
        synth.extend(["--synth", knob]);
        train.extend(["--synth", knob]);
    }
    ok(&dir, &synth);
    ok(&dir, &train);
    std::fs::create_dir(dir.join("foreign")).unwrap();
    std::fs::write(dir.join("foreign/thesis.tex"), "\\chapter{Results}\n").unwrap();
    std::fs::write(dir.join("notes.txt"), "the only copy\n").unwrap();
    dir
}

/// Runs `args` with the output flag pointed at each target in turn: every one refused with
/// exit code 2, the target named, nothing under the workspace changed.
fn refused_everywhere(dir: &Path, args: &[&str], flag: &str, targets: &[&str]) {
    for target in targets {
        let before = tree(dir);
        let mut full: Vec<&str> = args.to_vec();
        full.extend([flag, target]);
        let out = avc(dir, &full);
        assert_eq!(out.status.code(), Some(2), "avc {} should be refused: {}", full.join(" "), text(&out));
        let message = String::from_utf8_lossy(&out.stderr);
        assert!(message.contains(target), "the message names {target}: {message}");
        assert!(tree(dir) == before, "avc {} changed files", full.join(" "));
    }
}

/// The targets that are not inputs: a run, a checkpoint, a foreign directory, a file.
const OTHERS: [&str; 5] = ["runs/pair", "runs/pair/best", "runs/pair/best/weights.safetensors", "foreign", "notes.txt"];

#[test]
fn eval_writes_only_its_own_directories() {
    let dir = workspace("safety-eval");
    let eval = ["eval", "runs/pair", "--device", "cpu", "-q", "--data", "course"];
    refused_everywhere(&dir, &eval, "--out", &["course", "course/train.txt", "runs"]);
    refused_everywhere(&dir, &eval, "--out", &OTHERS);
    let forced: Vec<&str> = eval.iter().copied().chain(["--force"]).collect();
    refused_everywhere(&dir, &forced, "--out", &["course", "runs/pair", "runs/pair/best", "notes.txt"]);
    // Its own output is replaced without --force; a foreign directory only with it.
    ok(&dir, &[&eval[..], &["--out", "evals/a"]].concat());
    ok(&dir, &[&eval[..], &["--out", "evals/a"]].concat());
    // An evaluation written before markers existed is still avc's own; another system's
    // scores (the four files compare reads, docs/eval.md) are not.
    std::fs::remove_file(dir.join("evals/a/.avc-output")).unwrap();
    ok(&dir, &[&eval[..], &["--out", "evals/a"]].concat());
    std::fs::create_dir(dir.join("theirs")).unwrap();
    for file in ["metrics.json", "scores.npy", "video_ids.txt", "audio_ids.txt"] {
        std::fs::copy(dir.join("evals/a").join(file), dir.join("theirs").join(file)).unwrap();
    }
    refused_everywhere(&dir, &eval, "--out", &["theirs"]);
    ok(&dir, &[&forced[..], &["--out", "foreign"]].concat());
    assert!(dir.join("foreign/metrics.json").is_file() && !dir.join("foreign/thesis.tex").exists());
}

#[test]
fn retrieve_writes_only_its_own_directories() {
    let dir = workspace("safety-retrieve");
    let retrieve = [
        "retrieve",
        "runs/pair",
        "--device",
        "cpu",
        "-q",
        "--data",
        "course",
        "--videos",
        "course/test_video.txt",
        "--audios",
        "course/test_audio.txt",
    ];
    refused_everywhere(&dir, &retrieve, "--out", &["course", "course/test_video.txt"]);
    refused_everywhere(&dir, &retrieve, "--out", &OTHERS);
    ok(&dir, &[&retrieve[..], &["--out", "ranked"]].concat());
    ok(&dir, &[&retrieve[..], &["--out", "ranked"]].concat());
    let names: Vec<String> = std::fs::read_dir(dir.join("ranked"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&"ranking.csv".to_string()), "{names:?}");
}

#[test]
fn compare_never_writes_onto_what_it_compares() {
    let dir = workspace("safety-compare");
    ok(&dir, &["eval", "runs/pair", "--device", "cpu", "-q", "--data", "course", "--out", "e1"]);
    ok(&dir, &["eval", "runs/pair", "--device", "cpu", "-q", "--data", "course", "--out", "e2"]);
    let compare = ["compare", "e1", "e2"];
    refused_everywhere(&dir, &compare, "--json", &["e1/metrics.json", "e2/scores.npy", "e1"]);
    refused_everywhere(&dir, &compare, "--json", &OTHERS);
    refused_everywhere(&dir, &["compare", "e1", "e2", "--force"], "--json", &["e1/metrics.json", "e2"]);
    ok(&dir, &["compare", "e1", "e2", "--json", "diff.json"]);
    ok(&dir, &["compare", "e1", "e2", "--json", "diff.json"]);
    ok(&dir, &["compare", "e1", "e2", "--json", "notes.txt", "--force"]);
}

#[test]
fn export_never_writes_onto_the_run() {
    let dir = workspace("safety-export");
    let export = ["export", "runs/pair"];
    refused_everywhere(&dir, &export, "-o", &["runs/pair/config.yaml", "runs/pair/metrics.jsonl"]);
    refused_everywhere(&dir, &export, "-o", &OTHERS);
    let forced = ["export", "runs/pair", "--force"];
    refused_everywhere(&dir, &forced, "-o", &["runs/pair/best/weights.safetensors", "runs/pair/config.yaml"]);
    ok(&dir, &["export", "runs/pair"]);
    ok(&dir, &["export", "runs/pair"]);
    ok(&dir, &["export", "runs/pair", "-o", "w.safetensors", "--sample", "s.safetensors"]);
    ok(&dir, &["export", "runs/pair", "-o", "w.safetensors", "--sample", "s.safetensors"]);
    refused_everywhere(&dir, &["export", "runs/pair", "-o", "w.safetensors"], "--sample", &["w.safetensors"]);
}

#[test]
fn data_tools_never_write_onto_their_sources() {
    let dir = workspace("safety-data");
    std::fs::write(dir.join("course.yaml"), "path: course\n").unwrap();
    refused_everywhere(&dir, &["data", "stats", "course.yaml", "--sample", "5"], "--json", &["course.yaml"]);
    refused_everywhere(&dir, &["data", "stats", "course", "--sample", "5"], "--json", &["course/train.txt"]);
    refused_everywhere(&dir, &["data", "stats", "course", "--sample", "5"], "--json", &OTHERS);
    let convert = ["data", "convert", "course", "--to", "yt8m"];
    refused_everywhere(&dir, &convert, "--out", &["course", "."]);
    refused_everywhere(&dir, &convert, "--out", &OTHERS);
    let mut synth = vec!["data", "synth"];
    for knob in KNOBS {
        synth.extend(["--synth", knob]);
    }
    refused_everywhere(&dir, &synth, "--out", &OTHERS);
    // Their own outputs are replaced whole: a second, smaller set leaves no clip of the first.
    ok(&dir, &["data", "convert", "course", "--to", "yt8m", "--out", "shards", "--shard-clips", "4"]);
    ok(&dir, &["data", "convert", "course", "--to", "yt8m", "--out", "shards", "--shard-clips", "100"]);
    let shards = std::fs::read_dir(dir.join("shards"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tfrecord"));
    assert_eq!(shards.count(), 2, "one train and one test shard after the second conversion");
    ok(&dir, &[&synth[..], &["--out", "again"]].concat());
    ok(&dir, &[&synth[..], &["--out", "again"]].concat());
    ok(&dir, &["data", "stats", "course", "--sample", "5", "--json", "stats.json"]);
    ok(&dir, &["data", "stats", "course", "--sample", "5", "--json", "stats.json"]);
}

#[test]
fn sweep_graph_and_fmt_never_write_onto_their_inputs() {
    let dir = workspace("safety-lang");
    refused_everywhere(&dir, &["graph", "pair.yaml", "--format", "svg"], "-o", &["pair.yaml", "notes.txt", "foreign"]);
    refused_everywhere(&dir, &["fmt", "pair.yaml", "--to", "dsl"], "-o", &["pair.yaml", "notes.txt", "foreign"]);
    refused_everywhere(&dir, &["fmt", "pair.yaml", "--force"], "-o", &["pair.yaml"]);
    let emit = ["sweep", "pair.yaml", "--emit", "parallel", "--set", "train.lr=0.01,0.001"];
    refused_everywhere(&dir, &emit, "--out", &["pair.yaml", "foreign", "notes.txt", "runs/pair", "runs/pair/best"]);
    ok(&dir, &["graph", "pair.yaml", "-o", "g.svg"]);
    ok(&dir, &["graph", "pair.yaml", "-o", "g.svg"]);
    ok(&dir, &["fmt", "pair.yaml", "--to", "dsl", "-o", "pair.avc"]);
    let again = avc(&dir, &["fmt", "pair.yaml", "--to", "dsl", "-o", "pair.avc"]);
    assert_eq!(again.status.code(), Some(2), "an existing fmt output needs --force: {}", text(&again));
    ok(&dir, &["fmt", "pair.yaml", "--to", "dsl", "-o", "pair.avc", "--force"]);
    let collect = avc(&dir, &["sweep", "--collect", "foreign"]);
    assert_eq!(collect.status.code(), Some(2), "{}", text(&collect));
    assert!(dir.join("foreign/thesis.tex").is_file());
}
