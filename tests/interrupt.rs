//! Ctrl-C (SIGINT) on `avc train` and `avc sweep` once training is under way: the process
//! saves `last`, exits with 130 and prints the command that continues; that command then
//! finishes the work.

use avc::run::checkpoint::{Checkpoint, TrainingState, WEIGHTS};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn arch() -> String {
    crate::small_model(16, "{epochs: 400, batch_size: 8}")
}

const KNOBS: [&str; 5] = ["n_train=32", "n_test=8", "steps=24", "video_dim=16", "audio_dim=8"];

fn scratch(name: &str) -> crate::Scratch {
    let dir = crate::scratch_dir(&format!("sigint-{name}"));
    std::fs::write(dir.join("tiny.yaml"), arch()).unwrap();
    dir
}

fn avc(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_avc"));
    cmd.current_dir(dir).args(args).args(["--device", "cpu", "-q"]);
    cmd
}

fn with_data(mut cmd: Command) -> Command {
    for knob in KNOBS {
        cmd.args(["--synth", knob]);
    }
    cmd
}

fn last_state(run: &Path) -> Option<TrainingState> {
    Checkpoint::locate(run, "last").ok().and_then(|d| Checkpoint::read_state(&d).ok())
}

/// Waits until `run` has a `last` checkpoint (training is under way), then sends SIGINT
/// once and collects what the process printed.
fn interrupt_once_training(child: Child, run: &Path) -> Output {
    let begun = Instant::now();
    while last_state(run).is_none() {
        assert!(begun.elapsed() < Duration::from_secs(120), "no checkpoint within 2 minutes");
        std::thread::sleep(Duration::from_millis(5));
    }
    let sent = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn ctrl_c_on_train_saves_last_and_says_how_to_resume() {
    let dir = scratch("train");
    let mut cmd = with_data(avc(&dir, &["train", "tiny.yaml", "--name", "run", "--runs", "runs"]));
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let out = interrupt_once_training(child, &dir.join("runs/run"));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(130), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.contains("interrupted: finishing the current batch and saving a checkpoint"), "{stderr}");
    assert!(stdout.contains("Resume with: avc train --resume runs/run"), "{stdout}");

    let run = dir.join("runs/run");
    let last = Checkpoint::locate(&run, "last").expect("a `last` checkpoint");
    let state = Checkpoint::read_state(&last).expect("state.json parses");
    assert!(!state.epoch_complete && state.epoch >= 1, "stopped inside an epoch: {state:?}");
    let weights = Checkpoint::read_tensors(&last.join(WEIGHTS)).expect("weights load");
    assert!(weights.contains_key("rnn.weight_ih_l0"));

    // The printed command (with the epoch count lowered) finishes the run.
    let epochs = format!("train.epochs={}", state.epoch);
    let resumed = avc(&dir, &["train", "--resume", "runs/run", "--set", &epochs]).output().unwrap();
    assert!(resumed.status.success(), "{}", text(&resumed.stderr));
    let end = last_state(&run).unwrap();
    assert!(end.epoch_complete && end.epoch == state.epoch, "{end:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ctrl_c_on_a_sweep_stops_after_saving_and_the_sweep_continues() {
    let dir = scratch("sweep");
    let args = ["sweep", "tiny.yaml", "--set", "train.epochs=6", "--seeds", "2", "--name", "sw", "--runs", "runs"];
    let mut cmd = with_data(avc(&dir, &args));
    cmd.args(["--max-batches", "1"]);
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let out = interrupt_once_training(child, &dir.join("runs/sw/seed=1"));
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "stdout: {stdout}\nstderr: {}", text(&out.stderr));
    assert!(stdout.contains("Continue with: avc sweep --resume runs/sw"), "{stdout}");
    let results = std::fs::read_to_string(dir.join("runs/sw/results.csv")).unwrap();
    assert!(results.contains("seed=1,1,interrupted,") && results.contains("seed=2,2,pending,"), "{results}");

    let resumed = avc(&dir, &["sweep", "--resume", "runs/sw"]).output().unwrap();
    assert!(resumed.status.success(), "{}", text(&resumed.stderr));
    let results = std::fs::read_to_string(dir.join("runs/sw/results.csv")).unwrap();
    assert_eq!(results.matches(",done,").count(), 2, "{results}");
    let _ = std::fs::remove_dir_all(&dir);
}
