//! Sizes checked before anything is allocated (issue 13, item 3), for the commands that
//! need libtorch: a model larger than the device's memory is refused by `avc train` with
//! the node and the size, before libtorch allocates; libtorch's own failures read as one
//! line. (Sizes in the language, and `avc check`'s refusal, are avc-lang's
//! tests/model_sizes.rs.)

use std::path::Path;

/// A two-tower model whose video tower is `video_node` (a node named `big` on `video`).
fn model(video_node: &str) -> String {
    format!(
        "input video: [120, 1024]\ninput audio: [120, 128]\n{video_node}\nvm = mean(big)\n\
         a = linear(audio, out: 8)\nj = concat(vm, mean(a))\nhead = linear(j, out: 1)\noutput match: logit(head)\n"
    )
}

fn avc(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_avc")).current_dir(dir).args(args).output().unwrap()
}

#[test]
fn train_refuses_a_petabyte_model_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    // An LSTM of 2^24 units: 1.1e15 parameters, 4 PiB of f32.
    std::fs::write(dir.path().join("pb.avc"), model("big = lstm(video, hidden: 16777216)")).unwrap();
    let started = std::time::Instant::now();
    let args = ["train", "pb.avc", "--device", "cpu", "--max-batches", "1"];
    let out = avc(dir.path(), &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(stderr.contains("error[size::memory]") && stderr.contains("node `big`"), "{args:?}: {stderr}");
    assert!(stderr.contains("PiB") || stderr.contains("GiB"), "{args:?}: no size in {stderr}");
    assert!(!stderr.contains("frame #") && stderr.lines().count() < 20, "{args:?}: a backtrace? {stderr}");
    assert!(!dir.path().join("runs").exists(), "a refused run leaves no run directory");
    assert!(started.elapsed().as_secs() < 60, "refused before any allocation, not after trying");
}

#[test]
fn a_libtorch_failure_reads_as_one_line() {
    let error = tch::Tensor::f_empty([1i64 << 50], (tch::Kind::Float, tch::Device::Cpu)).expect_err("4 PiB");
    let full = error.to_string();
    assert!(full.lines().count() > 1, "libtorch's message has its backtrace: {full}");
    let summary = avc::lower::torch_summary(&error);
    assert_eq!(summary.lines().count(), 1, "{summary}");
    assert!(summary.contains("allocate") && !summary.contains("frame #"), "{summary}");
    let lowered = avc::lower::LowerError::Torch { node: "big".into(), error };
    let text = lowered.to_string();
    assert!(text.starts_with("node `big`: libtorch failed: ") && text.lines().count() == 1, "{text}");
    // What `avc train -v` adds: the whole message, found through the error's causes.
    let failed = avc::train::TrainError::Lower(lowered);
    assert_eq!(failed.to_string().lines().count(), 1, "{failed}");
    assert_eq!(avc::lower::torch_details(&failed), Some(full), "the whole text behind a training error");
    assert_eq!(avc::lower::torch_details(&avc::train::TrainError::NothingToTrain), None);
}
