//! `avc eval` and `avc retrieve` on tiny runs: the numbers agree with training's own test
//! evaluation and with each other, the files are complete and byte-identical on a rerun,
//! two-stage retrieval and the embeddings hand-off work, and bad input is refused with
//! nothing left behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use tempfile::TempDir;

const KNOBS: [&str; 5] = ["n_train=40", "n_test=12", "steps=24", "video_dim=16", "audio_dim=8"];

/// A two-tower model on the tiny data's shapes.
const TWO_TOWER: &str = "
inputs: {video: [24, 16], audio: [24, 8]}
nodes:
  - {name: vproj, op: linear, in: video, out: 8}
  - {name: vpool, op: mean, in: vproj}
  - {name: aproj, op: linear, in: audio, out: 8}
  - {name: apool, op: mean, in: aproj}
outputs:
  - {name: towers, kind: embeddings, from: [vpool, apool]}
train: {epochs: 1, batch_size: 8}
";

fn avc(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_avc"));
    cmd.current_dir(dir).args(args);
    cmd
}

fn run(mut cmd: impl std::borrow::BorrowMut<Command>) -> Output {
    cmd.borrow_mut().stdin(Stdio::null()).output().expect("avc runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Trains `arch` for one short epoch on the tiny data into `dir/runs/<name>`.
fn train(dir: &Path, arch: &str, name: &str) -> PathBuf {
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, arch).unwrap();
    let mut cmd = avc(dir, &["train", file.to_str().unwrap(), "--runs", "runs", "--name", name, "-q"]);
    cmd.args(["--device", "cpu", "--max-batches", "3"]);
    for knob in KNOBS {
        cmd.args(["--synth", knob]);
    }
    let out = run(cmd);
    assert!(out.status.success(), "training failed: {}", text(&out));
    dir.join("runs").join(name)
}

fn pair_model() -> String {
    crate::small_model(8, "{epochs: 1, batch_size: 8}")
}

fn files_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    files.sort();
    files
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn eval_agrees_with_training_and_is_byte_identical_on_a_rerun() {
    let tmp = TempDir::new().unwrap();
    let run_dir = train(tmp.path(), &pair_model(), "pair");
    let a = run(avc(tmp.path(), &["eval", "runs/pair", "--device", "cpu", "-q"]));
    assert!(a.status.success(), "{}", text(&a));
    let b = run(avc(tmp.path(), &["eval", "runs/pair", "--device", "cpu", "-q", "--out", "again"]));
    assert!(b.status.success(), "{}", text(&b));
    let first = files_of(&run_dir.join("eval-best"));
    let names: Vec<&str> = first.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            ".avc-output",
            "audio_ids.txt",
            "heatmap.png",
            "metrics.json",
            "queries_a2v.csv",
            "queries_v2a.csv",
            "ranks.png",
            "scores.npy",
            "video_ids.txt"
        ]
    );
    assert!(first == files_of(&tmp.path().join("again")), "a rerun wrote different bytes");

    // The 30-way numbers are the ones training reported for the same checkpoint.
    let metrics = json(&run_dir.join("eval-best/metrics.json"));
    let best_line = std::fs::read_to_string(run_dir.join("metrics.jsonl")).unwrap();
    let trained: serde_json::Value = serde_json::from_str(best_line.lines().last().unwrap()).unwrap();
    let groups = &metrics["v2a"]["groups"];
    assert_eq!(groups["queries"], 12);
    let test_top1 = trained["test"]["top1"].as_f64().unwrap();
    assert!((groups["top1"]["value"].as_f64().unwrap() - test_top1).abs() < 1e-9, "{metrics} vs {trained}");
    for d in ["v2a", "a2v"] {
        for p in ["full", "groups"] {
            let m = &metrics[d][p]["top5"];
            let (v, lo, hi) = (m["value"].as_f64().unwrap(), m["low"].as_f64().unwrap(), m["high"].as_f64().unwrap());
            assert!(lo <= v && v <= hi, "{d} {p}: {m}");
        }
    }

    // Every query's listed best candidate is its row's best in the score matrix.
    let npy = std::fs::read(run_dir.join("eval-best/scores.npy")).unwrap();
    let scores: Vec<f32> = npyz::NpyFile::new(&npy[..]).unwrap().into_vec().unwrap();
    let ids: Vec<String> =
        std::fs::read_to_string(run_dir.join("eval-best/audio_ids.txt")).unwrap().lines().map(String::from).collect();
    let csv = std::fs::read_to_string(run_dir.join("eval-best/queries_v2a.csv")).unwrap();
    for (q, row) in csv.lines().skip(1).enumerate() {
        let fields: Vec<&str> = row.split(',').collect();
        let best = (0..12).max_by(|&x, &y| scores[q * 12 + x].total_cmp(&scores[q * 12 + y]).then(y.cmp(&x))).unwrap();
        assert_eq!(fields[4], ids[best], "row {q}: {row}");
        let rank: usize = fields[2].parse().unwrap();
        let truth = scores[q * 12 + q];
        assert_eq!(rank, 1 + (0..12).filter(|&c| c != q && scores[q * 12 + c] >= truth).count());
    }
}

#[test]
fn retrieve_lists_the_same_best_candidates_as_the_score_matrix() {
    let tmp = TempDir::new().unwrap();
    let run_dir = train(tmp.path(), &pair_model(), "pair");
    let e = run(avc(tmp.path(), &["eval", "runs/pair", "--device", "cpu", "-q"]));
    assert!(e.status.success(), "{}", text(&e));
    let eval_dir = run_dir.join("eval-best");
    // The audios in reverse order, read from standard input.
    let audios: Vec<String> =
        std::fs::read_to_string(eval_dir.join("audio_ids.txt")).unwrap().lines().rev().map(String::from).collect();
    let mut child = avc(tmp.path(), &["retrieve", "runs/pair", "--videos", "runs/pair/eval-best/video_ids.txt"])
        .args(["--audios", "-", "--top", "3", "--device", "cpu", "-q", "--out", "ranked"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(audios.join("\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let csv = std::fs::read_to_string(tmp.path().join("ranked/ranking.csv")).unwrap();
    let jsonl = std::fs::read_to_string(tmp.path().join("ranked/ranking.jsonl")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 12 * 3);
    assert_eq!(jsonl.lines().count(), 12);
    let eval_csv = std::fs::read_to_string(eval_dir.join("queries_v2a.csv")).unwrap();
    for (eval_row, line) in eval_csv.lines().skip(1).zip(jsonl.lines()) {
        let e: Vec<&str> = eval_row.split(',').collect();
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(r["query"], e[0]);
        for k in 0..3 {
            assert_eq!(r["candidates"][k]["id"], e[4 + 2 * k], "{line} vs {eval_row}");
            let score = r["candidates"][k]["score"].as_f64().unwrap();
            assert!((score - e[5 + 2 * k].parse::<f64>().unwrap()).abs() < 1e-5);
        }
    }
}

#[test]
fn a_shortlist_of_every_candidate_reranks_to_the_full_ranking() {
    let tmp = TempDir::new().unwrap();
    train(tmp.path(), &pair_model(), "pair");
    train(tmp.path(), TWO_TOWER, "towers");
    let e = run(avc(tmp.path(), &["eval", "runs/pair", "--device", "cpu", "-q"]));
    assert!(e.status.success(), "{}", text(&e));
    let lists = ["--videos", "runs/pair/eval-best/video_ids.txt", "--audios", "runs/pair/eval-best/audio_ids.txt"];
    let full = run(avc(tmp.path(), &["retrieve", "runs/pair", "--top", "4", "-q", "--out", "full"]).args(lists));
    assert!(full.status.success(), "{}", text(&full));
    let short = ["--shortlist", "runs/towers", "--shortlist-k"];
    let all = run(avc(tmp.path(), &["retrieve", "runs/pair", "--top", "4", "-q", "--out", "all"])
        .args(lists)
        .args(short)
        .arg("12"));
    assert!(all.status.success(), "{}", text(&all));
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("full/ranking.csv")).unwrap(),
        std::fs::read_to_string(tmp.path().join("all/ranking.csv")).unwrap()
    );
    let recall = json(&tmp.path().join("all/shortlist.json"));
    assert_eq!((recall["survived"].as_u64(), recall["queries"].as_u64()), (Some(12), Some(12)));
    // A short shortlist: every listed candidate was shortlisted, and the recall is counted.
    let few = run(avc(tmp.path(), &["retrieve", "runs/pair", "--top", "2", "-q", "--out", "few"])
        .args(lists)
        .args(short)
        .arg("3"));
    assert!(few.status.success(), "{}", text(&few));
    let recall = json(&tmp.path().join("few/shortlist.json"));
    assert!(recall["survived"].as_u64().unwrap() <= 12);
    assert!(text(&few).contains("shortlist: the true candidate survived the top 3"), "{}", text(&few));
}

/// A model whose joint part scores a grid (`lagged_cosine`): cheap for every pair, so it
/// may shortlist for a joint model.
const SYNC: &str = "
inputs: {video: [24, 16], audio: [24, 8]}
nodes:
  - {name: vproj, op: linear, in: video, out: 8}
  - {name: aproj, op: linear, in: audio, out: 8}
  - {name: sync, op: lagged_cosine, in: [vproj, aproj], max_lag: 2}
  - {name: head, op: linear, in: sync, out: 1}
outputs:
  - {name: match, kind: logit, from: head}
train: {epochs: 1, batch_size: 8}
";

#[test]
fn a_grid_scored_model_shortlists_and_a_per_pair_joint_model_is_refused() {
    let tmp = TempDir::new().unwrap();
    train(tmp.path(), &pair_model(), "pair");
    train(tmp.path(), SYNC, "sync");
    let e = run(avc(tmp.path(), &["eval", "runs/pair", "--device", "cpu", "-q"]));
    assert!(e.status.success(), "{}", text(&e));
    let lists = ["--videos", "runs/pair/eval-best/video_ids.txt", "--audios", "runs/pair/eval-best/audio_ids.txt"];
    let full = run(avc(tmp.path(), &["retrieve", "runs/pair", "--top", "4", "-q", "--out", "full"]).args(lists));
    assert!(full.status.success(), "{}", text(&full));
    // Every candidate shortlisted by the grid model: the joint model's full ranking again.
    let by_sync = ["--shortlist", "runs/sync", "--shortlist-k"];
    let all = run(avc(tmp.path(), &["retrieve", "runs/pair", "--top", "4", "-q", "--out", "all"])
        .args(lists)
        .args(by_sync)
        .arg("12"));
    assert!(all.status.success(), "{}", text(&all));
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("full/ranking.csv")).unwrap(),
        std::fs::read_to_string(tmp.path().join("all/ranking.csv")).unwrap()
    );
    let few = run(avc(tmp.path(), &["retrieve", "runs/pair", "--top", "2", "-q", "--out", "few"])
        .args(lists)
        .args(by_sync)
        .arg("3"));
    assert!(few.status.success(), "{}", text(&few));
    assert!(json(&tmp.path().join("few/shortlist.json"))["queries"].as_u64() == Some(12));
    // A joint model that runs per pair would cost the full ranking: refused, nothing written.
    let refused = run(avc(tmp.path(), &["retrieve", "runs/sync", "--top", "2", "-q", "--out", "no"])
        .args(lists)
        .args(["--shortlist", "runs/pair", "--shortlist-k", "3"]));
    assert!(!refused.status.success());
    assert!(text(&refused).contains("expected a run that scores every pair cheaply"), "{}", text(&refused));
    assert!(!tmp.path().join("no").exists());
}

#[test]
fn embeddings_go_to_faiss_and_come_back_with_the_same_top_k() {
    let tmp = TempDir::new().unwrap();
    train(tmp.path(), TWO_TOWER, "towers");
    let e = run(avc(tmp.path(), &["eval", "runs/towers", "-q"]));
    assert!(e.status.success(), "{}", text(&e));
    let lists = ["--videos", "runs/towers/eval-best/video_ids.txt", "--audios", "runs/towers/eval-best/audio_ids.txt"];
    let r = run(avc(tmp.path(), &["retrieve", "runs/towers", "--top", "5", "-q", "--out", "ranked"])
        .args(lists)
        .args(["--embeddings-out", "emb"]));
    assert!(r.status.success(), "{}", text(&r));
    let python = crate::venv_python();
    let out = Command::new(&python)
        .arg("tests/python/faiss_topk.py")
        .arg(tmp.path().join("emb"))
        .arg("5")
        .output()
        .unwrap_or_else(|e| {
            panic!("{}: {e}; run `make setup` (scripts/libtorch.sh) to install faiss-cpu", python.display())
        });
    assert!(out.status.success(), "faiss script failed: {}", text(&out));
    let faiss: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect();
    let csv = std::fs::read_to_string(tmp.path().join("ranked/ranking.csv")).unwrap();
    let avc_ids: Vec<String> =
        csv.lines().skip(1).map(|l| l.split(',').take(3).collect::<Vec<_>>().join(",")).collect();
    assert_eq!(faiss.len(), 12 * 5);
    assert_eq!(faiss, avc_ids);
}

#[test]
fn bad_input_is_refused_with_its_place_and_nothing_is_written() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    train(dir, &pair_model(), "pair");
    let refused = |args: &[&str], code: i32, needle: &str| {
        let out = run(avc(dir, args).args(["--device", "cpu", "-q"]));
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(needle), "{args:?}: expected `{needle}` in:\n{}", text(&out));
        assert!(!text(&out).contains("panicked"), "{}", text(&out));
    };
    // A run directory without checkpoints.
    std::fs::create_dir_all(dir.join("runs/empty")).unwrap();
    std::fs::copy(dir.join("runs/pair/config.yaml"), dir.join("runs/empty/config.yaml")).unwrap();
    std::fs::copy(dir.join("runs/pair/architecture.yaml"), dir.join("runs/empty/architecture.yaml")).unwrap();
    refused(&["eval", "runs/empty"], 1, "best");
    // An architecture copy that no longer fits its weights: the per-tensor report.
    copy_dir(&dir.join("runs/pair"), &dir.join("runs/changed"));
    let arch = std::fs::read_to_string(dir.join("runs/changed/architecture.yaml")).unwrap();
    std::fs::write(dir.join("runs/changed/architecture.yaml"), arch.replace("out: 8}", "out: 9}")).unwrap();
    refused(&["eval", "runs/changed"], 1, "vproj.weight");
    // Ids missing from the data, duplicates, empty lists, K > N.
    std::fs::write(dir.join("videos.txt"), "synth-test-00\nsynth-test-01\n").unwrap();
    std::fs::write(dir.join("missing.txt"), "synth-test-00\nno-such-clip\n").unwrap();
    std::fs::write(dir.join("dup.txt"), "synth-test-00\nsynth-test-00\n").unwrap();
    std::fs::write(dir.join("empty.txt"), "\n").unwrap();
    fn retrieve(audios: &str) -> Vec<&str> {
        vec!["retrieve", "runs/pair", "--videos", "videos.txt", "--audios", audios]
    }
    refused(&retrieve("missing.txt"), 2, "missing.txt:2: clip 'no-such-clip' is not in the data");
    refused(&retrieve("dup.txt"), 2, "dup.txt:2: duplicate clip id");
    refused(&retrieve("empty.txt"), 2, "empty");
    let mut too_many = retrieve("videos.txt");
    too_many.extend(["--top", "3"]);
    refused(&too_many, 2, "--top 3: expected 1 to 2");
    refused(&["eval", "runs/pair", "--max-memory", "lots"], 2, "--max-memory");
    refused(&["eval", "runs/pair", "--resamples", "0"], 2, "must be at least 1");
    // A weights file cut short, and a directory that holds no run's settings.
    copy_dir(&dir.join("runs/pair"), &dir.join("runs/cut"));
    let weights = dir.join("runs/cut/best/weights.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    refused(&["eval", "runs/cut"], 1, "not a readable safetensors file");
    std::fs::create_dir_all(dir.join("runs/bare")).unwrap();
    refused(&["eval", "runs/bare"], 1, "cannot open run");
    refused(&["eval", "runs/pair", "--data", "videos.txt"], 2, "found a file");
    // A course directory whose test lists differ in length, and one whose shapes differ.
    let out = run(avc(dir, &["data", "synth", "--out", "course"]).args(KNOBS.iter().flat_map(|k| ["--synth", k])));
    assert!(out.status.success(), "{}", text(&out));
    std::fs::write(dir.join("course/test_audio.txt"), "synth-test-00\n").unwrap();
    refused(&["eval", "runs/pair", "--data", "course"], 1, "test lists differ in length");
    let out = run(avc(dir, &["data", "synth", "--out", "wide", "--synth", "n_train=8", "--synth", "n_test=4"]));
    assert!(out.status.success(), "{}", text(&out));
    refused(&["eval", "runs/pair", "--data", "wide"], 1, "expected [24, 16]");
    // Nothing half-written: only the runs, the lists and the data directories are there.
    for run in ["pair", "changed", "empty", "cut", "bare"] {
        let leftovers: Vec<_> = std::fs::read_dir(dir.join("runs").join(run))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("eval") || n.starts_with("retrieve") || n.contains("partial"))
            .collect();
        assert!(leftovers.is_empty(), "{run}: {leftovers:?}");
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() { copy_dir(&path, &target) } else { std::fs::copy(&path, &target).map(|_| ()).unwrap() }
    }
}

#[test]
fn ctrl_c_stops_the_scoring_and_writes_nothing() {
    use std::io::{BufRead, BufReader};
    let tmp = TempDir::new().unwrap();
    train(tmp.path(), &pair_model(), "pair");
    // 2,000 test clips: 4 M pairs, far more than the test waits for.
    let data = run(avc(tmp.path(), &["data", "synth", "--out", "big"])
        .args(["--synth", "n_train=4", "--synth", "n_test=2000", "--synth", "steps=24"])
        .args(["--synth", "video_dim=16", "--synth", "audio_dim=8"]));
    assert!(data.status.success(), "{}", text(&data));
    let mut child = avc(tmp.path(), &["eval", "runs/pair", "--device", "cpu", "--data", "big"])
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    assert!(first.starts_with("scoring 2000 videos x 2000 audios: 4000000 pairs"), "{first}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let sent = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert_eq!(out.status.code(), Some(130), "{rest}");
    assert!(rest.contains("nothing was written"), "{rest}");
    let written: Vec<_> = std::fs::read_dir(tmp.path().join("runs/pair"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("eval"))
        .collect();
    assert!(written.is_empty(), "{written:?}");
}

#[test]
fn compare_reads_two_evaluations_and_refuses_other_clips() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    train(dir, &pair_model(), "pair");
    for args in [vec!["eval", "runs/pair"], vec!["eval", "runs/pair", "--checkpoint", "last"]] {
        let out = run(avc(dir, &args).args(["--device", "cpu", "-q"]));
        assert!(out.status.success(), "{}", text(&out));
    }
    // A run directory stands for its eval-best; the differences are last less best.
    let out = run(avc(dir, &["compare", "runs/pair", "runs/pair/eval-last", "runs/pair", "--json", "cmp.json"]));
    assert!(out.status.success(), "{}", text(&out));
    let cmp = json(&dir.join("cmp.json"));
    let (best, last) =
        (json(&dir.join("runs/pair/eval-best/metrics.json")), json(&dir.join("runs/pair/eval-last/metrics.json")));
    for (k, name) in ["v2a", "a2v"].iter().enumerate() {
        for (protocol, key) in [("full", "full"), ("groups", "groups")] {
            for metric in ["top1", "mrr", "mean_rank"] {
                let diff = cmp[0]["directions"][k][protocol][metric]["value"].as_f64().unwrap();
                let expected = last[name][key][metric]["value"].as_f64().unwrap()
                    - best[name][key][metric]["value"].as_f64().unwrap();
                assert!((diff - expected).abs() < 1e-12, "{name} {protocol} {metric}: {diff} against {expected}");
                let low = cmp[0]["directions"][k][protocol][metric]["low"].as_f64().unwrap();
                let high = cmp[0]["directions"][k][protocol][metric]["high"].as_f64().unwrap();
                assert!(low <= diff && diff <= high, "{low} {diff} {high}");
                // The run against itself: nothing differs.
                assert_eq!(cmp[1]["directions"][k][protocol][metric]["high"].as_f64(), Some(0.0));
            }
        }
    }
    assert!(text(&out).contains("pair/last - pair/best on 12 clips"), "{}", text(&out));
    // Another set of clips is refused, naming both sides.
    let six = ["n_test=6", "steps=24", "video_dim=16", "audio_dim=8"];
    let other = run(avc(dir, &["eval", "runs/pair", "--out", "other", "--device", "cpu", "-q"])
        .args(six.iter().flat_map(|k| ["--synth", k])));
    assert!(other.status.success(), "{}", text(&other));
    let refused = run(avc(dir, &["compare", "runs/pair", "other"]));
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(text(&refused).contains("has 12 video clips and other has 6"), "{}", text(&refused));
    let missing = run(avc(dir, &["compare", "runs/pair", "nowhere"]));
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    assert!(text(&missing).contains("nowhere: expected an evaluation directory"), "{}", text(&missing));
}
