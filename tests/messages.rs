//! Messages that say what is wrong (issue 13, item 4), for the commands that need libtorch:
//! the training command's flags and data (`--max-batches 0`, a one-clip training list, a
//! relative `--data` resumed from elsewhere, an architecture copy that no longer compiles)
//! and counts and Slurm values refused before anything is written. (The language's
//! messages, and `avc graph -o g.png`, are avc-lang's tests/messages.rs.)

use std::path::Path;
use std::process::Command;

fn avc(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_avc")).current_dir(dir).args(args).env("OMP_NUM_THREADS", "1").output().unwrap()
}

fn refused(dir: &Path, args: &[&str], code: i32, says: &str) {
    let out = avc(dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(stderr.contains(says), "{args:?} should say {says:?}: {stderr}");
}

const SMALL: &str = "input video: [24, 16]\ninput audio: [24, 8]\nv = linear(video, out: 4)\na = linear(audio, out: 4)\n\
                     j = concat(mean(v), mean(a))\nhead = linear(j, out: 1)\noutput match: logit(head)\n\
                     train {\n  epochs: 1\n  batch_size: 4\n}\n";

#[test]
fn command_line_mistakes_are_refused_with_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("m.avc"), SMALL).unwrap();
    for command in ["train", "sweep"] {
        refused(d, &[command, "m.avc", "--max-batches", "0"], 2, "must be at least 1");
    }
    refused(d, &["train", "m.avc", "--data", "m.avc"], 2, "found a file");
}

#[test]
fn training_data_and_resume_messages_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("m.avc"), SMALL).unwrap();
    let synth = avc(
        d,
        &[
            "data",
            "synth",
            "--out",
            "data",
            "--clips",
            "12",
            "--test-clips",
            "4",
            "--synth",
            "steps=24",
            "--synth",
            "video_dim=16",
            "--synth",
            "audio_dim=8",
        ],
    );
    assert!(synth.status.success(), "{}", String::from_utf8_lossy(&synth.stderr));
    // A training list with one clip, the default one and one given by flag.
    let all = std::fs::read_to_string(d.join("data/train.txt")).unwrap();
    let first = all.lines().next().unwrap().to_string();
    std::fs::write(d.join("one.txt"), format!("{first}\n")).unwrap();
    refused(
        d,
        &["train", "m.avc", "--data", "data", "--train-list", "one.txt"],
        1,
        "1 clip (from the list file one.txt)",
    );
    std::fs::write(d.join("data/train.txt"), format!("{first}\n")).unwrap();
    refused(d, &["train", "m.avc", "--data", "data"], 1, "train.txt");
    std::fs::write(d.join("data/train.txt"), &all).unwrap();
    // A relative --data is recorded resolved: the run resumes from another directory.
    let out =
        avc(d, &["train", "m.avc", "--data", "data", "--runs", "runs", "--name", "r", "-q", "--max-batches", "1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let config = std::fs::read_to_string(d.join("runs/r/config.yaml")).unwrap();
    let data = d.join("data");
    assert!(config.contains(&format!("path: {}", data.display())), "{config}");
    let elsewhere = tempfile::tempdir().unwrap();
    let run = d.join("runs/r");
    let run = run.to_str().unwrap();
    let out = avc(elsewhere.path(), &["train", "--resume", run, "--set", "train.epochs=2", "-q"]);
    assert!(out.status.success(), "resume from elsewhere: {}", String::from_utf8_lossy(&out.stderr));
    // An architecture copy that no longer compiles: the diagnostics, located in the copy.
    std::fs::write(d.join("runs/r/architecture.avc"), SMALL.replace("out: 4)\na", "out: 4, bogus: 1)\na")).unwrap();
    refused(elsewhere.path(), &["train", "--resume", run, "-q"], 1, "error[op::unknown-param]");
    refused(elsewhere.path(), &["train", "--resume", run, "-q"], 1, "architecture.avc:3:");
}

/// Counts that mean nothing at 0 are refused by the flag, and Slurm's values are checked
/// against Slurm's formats before a plan is written.
#[test]
fn zero_counts_and_bad_slurm_values_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("m.avc"), SMALL).unwrap();
    for args in [
        &["data", "synth", "--out", "s", "--shard-clips", "0"][..],
        &["data", "synth", "--out", "s", "--clips", "0"],
        &["data", "stats", "synth", "--sample", "0"],
        &["data", "convert", "synth", "--to", "yt8m", "--out", "s", "--shard-clips", "0"],
        &["export", "runs/none", "--sample", "s.safetensors", "--sample-clips", "0"],
    ] {
        refused(d, args, 2, "must be at least 1");
    }
    let emit = ["sweep", "m.avc", "--emit", "slurm", "--out", "plan"];
    for (flag, value, says) in [
        ("--time", "2h", "HH:MM:SS"),
        ("--mem", "8GB", "K, M, G or T"),
        ("--partition", "gpu;rm -rf", "partition names"),
    ] {
        refused(d, &[&emit[..], &[flag, value]].concat(), 2, says);
    }
    assert_eq!(std::fs::read_dir(d).unwrap().count(), 1, "only m.avc: nothing was written");
}
