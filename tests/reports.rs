//! The torch side's text that people read, snapshot-tested as the language side's
//! diagnostics are: eval summaries, the per-epoch line, `avc runs`' table, `--profile`'s
//! table and error reports. Each is rendered from fixed values (no timing, no training), so a
//! change of wording or layout shows as a snapshot diff to review.

use avc::eval::apply::Evaluation;
use avc::eval::evaldir::Provenance;
use avc::eval::metrics::Bootstrap;
use avc::eval::protocol::{Direction, read_direction};
use avc::eval::{EvalError, Ranking, summary};
use avc::report::Report;
use avc::train::EpochMetrics;
use avc_lang::ast::OutputKind;
use std::path::PathBuf;
use std::time::Duration;

/// 70 clips (two 30-way groups of 35) whose true pairs score higher for most videos: the rest rank among rivals.
fn evaluation() -> Evaluation {
    let n = 70;
    let mut scores = Vec::with_capacity(n * n);
    for i in 0..n {
        for j in 0..n {
            let noise = ((i * 7919 + j * 104_729) % 1000) as f32 / 1000.0;
            scores.push(if i == j && i % 4 != 0 { 1.5 + noise } else { noise });
        }
    }
    let ids: Vec<String> = (0..n).map(|i| format!("clip{i:02}")).collect();
    let mut eval = Evaluation {
        video_ids: ids.clone(),
        audio_ids: ids,
        scores,
        n,
        kind: OutputKind::Logit,
        directions: Vec::new(),
    };
    let boot = Bootstrap { resamples: 200, ..Bootstrap::default() };
    for d in [Direction::VideoToAudio, Direction::AudioToVideo] {
        let result = read_direction(&eval.oriented(d), &boot);
        eval.directions.push(result);
    }
    eval
}

#[test]
fn eval_summary() {
    let eval = evaluation();
    let provenance =
        Provenance { run: "final-001".into(), checkpoint: "best".into(), epoch: 7, data: "synth:1".into() };
    let dir = PathBuf::from("runs/final-001/eval-best");
    let text = summary::render(&eval) + &summary::closing(eval.n, &provenance, Duration::from_millis(1234), &dir);
    insta::assert_snapshot!("eval_summary", text);
}

fn ranking(top1: f64, top5: f64, mrr: f64) -> Ranking {
    Ranking { top1, top5, mrr, median_rank: 2.0, queries: 30 }
}

fn metrics(epoch: i64) -> EpochMetrics {
    EpochMetrics {
        epoch,
        train_loss: 0.6812,
        val_loss: 0.5123,
        val: ranking(0.4, 0.8, 0.55),
        test_loss: 0.5311,
        test: ranking(0.3667, 0.7667, 0.5012),
        lr: 1e-3,
        seconds: 12.34,
        temperature: None,
        skipped_steps: None,
        loss_scale: None,
    }
}

#[test]
fn epoch_lines() {
    let lines =
        [avc::train::format_epoch_line(&metrics(3), 10, true), avc::train::format_epoch_line(&metrics(4), 10, false)];
    insta::assert_snapshot!("epoch_lines", lines.join("\n"));
}

#[test]
fn runs_table() {
    use avc::run::runs::RunRow;
    let rows = vec![
        RunRow { dir: "runs/final-001".into(), epochs_done: 10, best: Some(metrics(7)), interrupted: false },
        RunRow { dir: "runs/two_tower-002".into(), epochs_done: 2, best: Some(metrics(2)), interrupted: true },
        RunRow { dir: "runs/broken-003".into(), epochs_done: 0, best: None, interrupted: false },
    ];
    insta::assert_snapshot!("runs_table", avc::run::runs::render(&rows));
}

#[test]
fn profile_table() {
    let phases = |scale: f64| {
        serde_json::json!({"data": 0.5 * scale, "forward": 2.0 * scale, "backward": 3.1 * scale,
                           "step": 0.4 * scale, "batches": (20.0 * scale) as usize})
    };
    let summary = serde_json::json!({
        "device": "cpu",
        "synchronized": false,
        "seconds": phases(2.0),
        "share": {"data": 0.083, "forward": 0.333, "backward": 0.517, "step": 0.067, "batches": 40},
        "ms_per_batch": {"data": 25.0, "forward": 100.0, "backward": 155.0, "step": 20.0, "batches": 40},
        "epochs": [{"epoch": 1, "seconds": phases(1.0)}, {"epoch": 2, "seconds": phases(1.0)}],
        "first_batch": phases(0.1),
    });
    let summary: avc::train::profile::ProfileSummary = serde_json::from_value(summary).expect("a profile summary");
    insta::assert_snapshot!("profile_table", avc::train::profile::render(&summary));
    // A rank of a data-parallel job: its all-reduce is a row, and its bytes a line.
    let job = |scale: f64| {
        serde_json::json!({"data": 0.5 * scale, "forward": 2.0 * scale, "backward": 3.1 * scale,
                           "step": 0.4 * scale, "all_reduce": 0.6 * scale, "batches": (20.0 * scale) as usize})
    };
    let summary = serde_json::json!({
        "device": "cpu",
        "synchronized": false,
        "seconds": job(2.0),
        "share": {"data": 0.075, "forward": 0.303, "backward": 0.470, "step": 0.061, "all_reduce": 0.091, "batches": 40},
        "ms_per_batch": {"data": 25.0, "forward": 100.0, "backward": 155.0, "step": 20.0, "all_reduce": 30.0, "batches": 40},
        "epochs": [{"epoch": 1, "seconds": job(1.0)}, {"epoch": 2, "seconds": job(1.0)}],
        "first_batch": job(0.1),
        "all_reduce_bytes": 1324820,
    });
    let summary: avc::train::profile::ProfileSummary = serde_json::from_value(summary).expect("a job's profile");
    insta::assert_snapshot!("profile_table_job", avc::train::profile::render(&summary));
}

/// Errors as `avc` prints them: the message with its causes, the place when the message
/// does not name it, and the exit code.
#[test]
fn error_reports() {
    use avc::data::DataError;
    let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory (os error 2)");
    let errors: Vec<(&str, Box<dyn Report>)> = vec![
        ("unreadable list", Box::new(DataError::Read { path: "data/train.txt".into(), source: io() })),
        (
            "bad id",
            Box::new(DataError::BadId {
                path: "data/test_video.txt".into(),
                id: "a b".into(),
                line: 12,
                reason: "contains a space".into(),
            }),
        ),
        (
            "bad record",
            Box::new(DataError::Record {
                shard: "yt8m/train00.tfrecord".into(),
                index: 41,
                reason: "truncated".into(),
            }),
        ),
        ("checkpoint", Box::new(EvalError::Checkpoint { run: "runs/final-001".into(), source: Box::new(io()) })),
        ("write", Box::new(EvalError::write("runs/final-001/eval-best", io()))),
        ("interrupted", Box::new(EvalError::Interrupted)),
        (
            "a failed step",
            Box::new(avc::train::TrainError::Step(Box::new(avc::train::StepFailure {
                phase: "backward",
                function: Some("AmaxBackward0".into()),
                node: "joint.conv".into(),
                op: "conv1d".into(),
                bytes: "1.2 GiB".into(),
                error: tch::TchError::Torch("out of memory".into()),
            }))),
        ),
        ("usage", Box::new(avc::report::Usage("give an architecture file, or --resume RUN".into()))),
    ];
    let mut text = String::new();
    for (name, e) in &errors {
        let d = e.diagnostic();
        text.push_str(&format!("# {name} (exit code {})\n{d}\n", d.exit_code));
    }
    insta::assert_snapshot!("error_reports", text);
}
