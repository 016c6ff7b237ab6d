//! Killing `avc train` at arbitrary moments (SIGKILL, no chance to clean up) always leaves
//! a readable `last` checkpoint, from which `--resume` finishes the run.

use avc::run::checkpoint::{Checkpoint, WEIGHTS};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn arch() -> String {
    crate::small_model(32, "{epochs: 400, batch_size: 16}")
}

fn start(dir: &Path) -> std::process::Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_avc"));
    cmd.arg("train").arg(dir.join("tiny.yaml")).args(["--device", "cpu", "--name", "run", "-q"]);
    cmd.arg("--runs").arg(dir);
    for knob in ["n_train=64", "n_test=8", "steps=24", "video_dim=16", "audio_dim=8"] {
        cmd.args(["--synth", knob]);
    }
    cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("avc starts")
}

#[test]
fn a_killed_run_keeps_a_loadable_checkpoint_and_resumes() {
    let scratch = tempfile::TempDir::new().unwrap();
    let dir = scratch.path().to_path_buf();
    std::fs::write(dir.join("tiny.yaml"), arch()).unwrap();
    let run = dir.join("run");
    // Kill at a spread of moments after the first checkpoint exists: some land mid-save.
    for (i, delay_ms) in [0u64, 7, 23, 41, 66, 97, 131].into_iter().enumerate() {
        let mut child = if i == 0 {
            start(&dir)
        } else {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_avc"));
            cmd.args(["train", "--device", "cpu", "-q", "--resume"]).arg(&run);
            cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()
        };
        let begun = Instant::now();
        let before = Checkpoint::locate(&run, "last").ok().and_then(|d| Checkpoint::read_state(&d).ok());
        while Checkpoint::locate(&run, "last").ok().and_then(|d| Checkpoint::read_state(&d).ok()) == before {
            assert!(begun.elapsed() < Duration::from_secs(120), "no new checkpoint within 2 minutes");
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap();
        child.wait().unwrap();
        let last = Checkpoint::locate(&run, "last").expect("a complete `last` checkpoint survives the kill");
        let state = Checkpoint::read_state(&last).expect("state.json parses");
        assert!(state.epoch >= 1);
        let weights = Checkpoint::read_tensors(&last.join(WEIGHTS)).expect("weights load");
        assert!(weights.contains_key("rnn.weight_ih_l0"), "{:?}", weights.keys().collect::<Vec<_>>());
    }
    // The last resume trains one more epoch than the kills reached, and runs to the end.
    let last = Checkpoint::locate(&run, "last").unwrap();
    let reached = Checkpoint::read_state(&last).unwrap();
    let target = reached.epoch + 1;
    let status = Command::new(env!("CARGO_BIN_EXE_avc"))
        .args(["train", "--device", "cpu", "-q", "--set", &format!("train.epochs={target}"), "--resume"])
        .arg(&run)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "resume after the kills failed: {status}");
    // Training went on: `last` is the complete target epoch, and every epoch up to it was
    // logged exactly once with finite numbers.
    let end = Checkpoint::read_state(&Checkpoint::locate(&run, "last").unwrap()).unwrap();
    assert_eq!((end.epoch, end.epoch_complete), (target, true), "{reached:?} -> {end:?}");
    let log = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let epochs: Vec<i64> = log
        .lines()
        .map(|l| {
            let m: serde_json::Value = serde_json::from_str(l).unwrap();
            assert!(m["train_loss"].as_f64().is_some_and(f64::is_finite), "{l}");
            m["epoch"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(epochs, (1..=target).collect::<Vec<_>>(), "metrics.jsonl:\n{log}");
}
