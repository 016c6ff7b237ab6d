//! The run directory's derived outputs: TensorBoard event files (read back with the real
//! TensorBoard), the curves PNG and the Markdown summary.

use avc::eval::Ranking;
use avc::train::EpochMetrics;
use avc::train::report::curves::{CURVES_SIZE, plot_curves};
use avc::train::report::summary_md::summary_markdown;
use avc::train::report::tensorboard::{Event, EventWriter, What, crc32c, masked_crc32c};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn scratch(name: &str) -> crate::Scratch {
    crate::scratch_dir(&format!("outputs-{name}"))
}

fn ranking(top1: f64, top5: f64, mrr: f64, median_rank: f64, queries: usize) -> Ranking {
    Ranking { top1, top5, mrr, median_rank, queries }
}

/// A plausible run: losses fall (validation turns up late), accuracy rises, the learning
/// rate halves on plateaus.
fn fake_run(epochs: i64) -> Vec<EpochMetrics> {
    (1..=epochs)
        .map(|e| {
            let t = e as f64;
            let wiggle = 0.02 * (t * 1.7).sin();
            let top1 = (0.55 * (1.0 - (-t / 6.0).exp()) + wiggle).clamp(0.0, 1.0);
            let top5 = (0.9 * (1.0 - (-t / 4.0).exp()) + wiggle).clamp(0.0, 1.0);
            EpochMetrics {
                epoch: e,
                train_loss: 0.2 + 0.5 * (-t / 5.0).exp(),
                val_loss: 0.3 + 0.4 * (-t / 4.0).exp() + 0.004 * t,
                val: ranking(top1, top5, (top1 + top5) / 2.0, 3.0, 254),
                test_loss: 0.32 + 0.4 * (-t / 4.0).exp() + 0.005 * t + wiggle,
                test: ranking(top1 * 0.9, top5 * 0.95, (top1 + top5) / 2.1, 4.0, 30),
                lr: 0.005 * 0.5f64.powi(((e - 1) / 7) as i32),
                seconds: 12.0 + wiggle * 10.0,
                temperature: None,
                skipped_steps: None,
                loss_scale: None,
            }
        })
        .collect()
}

// ---------------------------------------------------------------- TensorBoard event files

#[test]
fn crc32c_test_vectors() {
    assert_eq!(crc32c(b""), 0);
    assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    // RFC 3720 (iSCSI), B.4: 32 bytes of zeros, 32 bytes of 0xff.
    assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
    assert_eq!(crc32c(&[0xffu8; 32]), 0x62A8_AB43);
    // ((crc >> 15) | (crc << 17)) + 0xa282ead8, wrapping, of 0xE3069283.
    assert_eq!(masked_crc32c(b"123456789"), 0xC78A_B0E5);
}

/// The records of a TFRecord file, with both CRCs checked.
fn read_records(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    let mut records = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let len_bytes = &bytes[at..at + 8];
        let len = u64::from_le_bytes(len_bytes.try_into().unwrap()) as usize;
        let len_crc = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap());
        assert_eq!(len_crc, masked_crc32c(len_bytes), "length CRC of record {}", records.len());
        let payload = &bytes[at + 12..at + 12 + len];
        let crc = u32::from_le_bytes(bytes[at + 12 + len..at + 16 + len].try_into().unwrap());
        assert_eq!(crc, masked_crc32c(payload), "payload CRC of record {}", records.len());
        records.push(payload.to_vec());
        at += 16 + len;
    }
    records
}

#[test]
fn event_file_is_framed_tfrecords() {
    let dir = scratch("framing");
    let mut w = EventWriter::create(&dir).unwrap();
    w.scalar("a", 1, 0.5).unwrap();
    w.scalar("b/c", -3, -2.25).unwrap();
    w.flush().unwrap();
    let path = w.path().to_path_buf();
    let name = path.file_name().unwrap().to_str().unwrap();
    assert!(name.starts_with("events.out.tfevents."), "{name}");
    assert_eq!(path.parent(), Some(&*dir));
    let records = read_records(&path);
    assert_eq!(records.len(), 3);
    // The version event: wall_time (field 1, fixed64), file_version (field 3); step 0 is
    // proto3's default and so not on the wire (TensorFlow's writer omits it too).
    assert_eq!(records[0][0], 0x09);
    assert!(records[0].ends_with(b"\x1a\x0dbrain.Event:2"), "{:?}", records[0]);
    let version = <Event as prost::Message>::decode(records[0].as_slice()).unwrap();
    assert_eq!((version.step, version.what), (0, Some(What::FileVersion("brain.Event:2".into()))));
    // A scalar: ... summary (field 5) { value (1) { tag (1) "a", simple_value (2) 0.5f } }.
    let mut summary = vec![0x2a, 10, 0x0a, 8, 0x0a, 1, b'a', 0x15];
    summary.extend_from_slice(&0.5f32.to_le_bytes());
    assert!(records[1].ends_with(&summary), "{:?}", records[1]);
    // A negative step is a ten-byte varint.
    assert_eq!(&records[2][9..11], &[0x10, 0xfd]);
    let scalar = <Event as prost::Message>::decode(records[2].as_slice()).unwrap();
    assert_eq!(scalar.step, -3);
    assert_eq!(records[2][20], 0x2a);
    // Two writers in the same second get different files.
    let w2 = EventWriter::create(&dir).unwrap();
    assert_ne!(w2.path(), path.as_path());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The Python of the venv that `scripts/libtorch.sh` makes (with torch and tensorboard).
pub fn venv_python() -> PathBuf {
    let cache = std::env::var_os("AVC_CACHE_DIR").map(PathBuf::from).unwrap_or_else(|| {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache"));
        base.join("avc")
    });
    cache.join("torch-2.13.0").join("bin").join("python")
}

const READ_EVENTS: &str = r#"
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
acc.Reload()
out = {"file_version": acc.file_version, "scalars": {}}
for tag in acc.Tags()["scalars"]:
    out["scalars"][tag] = [[e.step, e.value, e.wall_time] for e in acc.Scalars(tag)]
print(json.dumps(out))
"#;

/// tag -> [(step, value, wall time)], as TensorBoard read them.
type Scalars = BTreeMap<String, Vec<(i64, f64, f64)>>;

/// Reads an event directory with TensorBoard's own `EventAccumulator`:
/// (file version, scalars). Fails, saying how to install it,
/// when the venv or its tensorboard is missing.
fn tensorboard_read(dir: &Path) -> (Option<f64>, Scalars) {
    let python = venv_python();
    let hint = "run scripts/libtorch.sh (without LIBTORCH set) to install torch and tensorboard into that venv";
    assert!(python.exists(), "{} does not exist: {hint}", python.display());
    let out = Command::new(&python).arg("-c").arg(READ_EVENTS).arg(dir).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} could not read the events ({}): {stderr}\nIf tensorboard is missing, {hint}",
        python.display(),
        out.status
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let version = v["file_version"].as_f64();
    let scalars = v["scalars"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(tag, events)| {
            let events = events
                .as_array()
                .unwrap()
                .iter()
                .map(|e| (e[0].as_i64().unwrap(), e[1].as_f64().unwrap(), e[2].as_f64().unwrap()))
                .collect();
            (tag.clone(), events)
        })
        .collect();
    (version, scalars)
}

#[test]
fn tensorboard_reads_back_scalars() {
    let dir = scratch("tensorboard");
    let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let mut w = EventWriter::create(&dir).unwrap();
    let written: Vec<(&str, i64, f32)> = vec![
        ("loss/train", 0, 0.6875),
        ("loss/train", 1, 0.5),
        ("loss/train", 2, 0.312_5),
        ("top1/val", 1, 0.1),
        ("top1/val", 2, 1.0 / 3.0),
        ("lr", 1, 5e-3),
        ("lr", 300, 1.25e-7),
        ("weird tag/ü", 7, -123_456.79),
    ];
    for &(tag, step, value) in &written {
        w.scalar(tag, step, value).unwrap();
    }
    w.flush().unwrap();
    let (version, scalars) = tensorboard_read(&dir);
    // TensorBoard parses `brain.Event:2` into the number 2.
    assert_eq!(version, Some(2.0));
    let tags: Vec<&str> = scalars.keys().map(String::as_str).collect();
    assert_eq!(tags, ["loss/train", "lr", "top1/val", "weird tag/ü"]);
    for (tag, events) in &scalars {
        let expected: Vec<(i64, f32)> = written.iter().filter(|w| w.0 == tag).map(|w| (w.1, w.2)).collect();
        assert_eq!(events.len(), expected.len(), "{tag}");
        for ((step, value, wall), (want_step, want)) in events.iter().zip(expected) {
            assert_eq!(*step, want_step, "{tag}");
            assert!((value - f64::from(want)).abs() <= 1e-6 * f64::from(want).abs().max(1.0), "{tag}: {value}");
            assert!(*wall >= before - 1.0 && *wall < before + 600.0, "{tag}: wall time {wall}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn log_epoch_writes_every_metric() {
    let dir = scratch("log-epoch");
    let run = fake_run(3);
    let mut w = EventWriter::create(&dir).unwrap();
    for m in &run {
        w.log_epoch(m).unwrap();
    }
    // log_epoch flushed: a reader sees everything while the writer is still open.
    let (_, scalars) = tensorboard_read(&dir);
    let tags: Vec<&str> = scalars.keys().map(String::as_str).collect();
    let mut expected = [
        "loss/train",
        "loss/val",
        "loss/test",
        "top1/val",
        "top1/test",
        "top5/val",
        "top5/test",
        "mrr/val",
        "mrr/test",
        "lr",
        "seconds",
    ];
    expected.sort();
    assert_eq!(tags, expected);
    let get = |m: &EpochMetrics, tag: &str| match tag {
        "loss/train" => m.train_loss,
        "loss/val" => m.val_loss,
        "loss/test" => m.test_loss,
        "top1/val" => m.val.top1,
        "top1/test" => m.test.top1,
        "top5/val" => m.val.top5,
        "top5/test" => m.test.top5,
        "mrr/val" => m.val.mrr,
        "mrr/test" => m.test.mrr,
        "lr" => m.lr,
        "seconds" => m.seconds,
        _ => unreachable!(),
    };
    for (tag, events) in &scalars {
        assert_eq!(events.iter().map(|e| e.0).collect::<Vec<_>>(), [1, 2, 3], "{tag}");
        for (e, m) in events.iter().zip(&run) {
            let want = get(m, tag);
            assert!((e.1 - want).abs() <= 1e-6 * want.abs().max(1.0), "{tag} at {}: {} vs {want}", e.0, e.1);
        }
    }
    drop(w);
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------- curves

/// Checks the PNG signature and returns the IHDR's (width, height).
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{} is not a PNG", path.display());
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

#[test]
fn curves_png_of_a_run() {
    let dir = scratch("curves");
    let path = dir.join("curves.png");
    plot_curves(&fake_run(20), "final: 20 epochs (fake numbers)", &path).unwrap();
    assert_eq!(png_size(&path), CURVES_SIZE);
    assert_eq!(CURVES_SIZE, (1200, 900));
    // No temporary file is left beside it.
    let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["curves.png"]);
    // Set AVC_CURVES_SAMPLE=/tmp/curves-sample.png to look at it.
    if let Some(sample) = std::env::var_os("AVC_CURVES_SAMPLE") {
        std::fs::copy(&path, sample).unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn curves_of_one_epoch_and_of_odd_numbers() {
    let dir = scratch("curves-odd");
    let one = dir.join("one.png");
    plot_curves(&fake_run(1), "one epoch", &one).unwrap();
    assert_eq!(png_size(&one), CURVES_SIZE);

    // Non-finite values, a zero learning rate, a constant series, unsorted and huge epochs:
    // a picture, no panic.
    let mut odd = fake_run(4);
    odd[0].train_loss = f64::NAN;
    odd[1].val_loss = f64::INFINITY;
    odd[2].lr = 0.0;
    odd[3].test.top1 = f64::NEG_INFINITY;
    for m in &mut odd {
        m.test_loss = 0.25;
    }
    odd.swap(0, 3);
    let path = dir.join("odd.png");
    plot_curves(&odd, "", &path).unwrap();
    assert_eq!(png_size(&path), CURVES_SIZE);

    let mut nothing = fake_run(2);
    for m in &mut nothing {
        (m.train_loss, m.val_loss, m.test_loss, m.lr) = (f64::NAN, f64::NAN, f64::NAN, -1.0);
    }
    nothing[1].epoch = i64::MAX;
    nothing[0].epoch = i64::MIN;
    // Whatever plotters makes of such a range, it must answer, not panic.
    let _ = plot_curves(&nothing, "nothing finite", &dir.join("nothing.png"));

    let mut tiny = fake_run(3);
    tiny.iter_mut().for_each(|m| m.lr = 1e-320);
    plot_curves(&tiny, "subnormal lr", &dir.join("tiny.png")).unwrap();

    let empty = dir.join("empty.png");
    let err = plot_curves(&[], "empty", &empty).unwrap_err();
    assert_eq!(
        (err.picture.as_path(), &err.reason),
        (empty.as_path(), &avc::plot::DrawError::Nothing("no epoch to plot"))
    );
    assert!(!empty.exists());

    // A directory that does not exist: an error, not a panic.
    let missing = dir.join("missing/curves.png");
    let err = plot_curves(&fake_run(2), "x", &missing).unwrap_err();
    assert_eq!(err.picture, missing, "the error names the picture: {err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------- summary.md

#[test]
fn summary_has_the_numbers() {
    let mut run = fake_run(5);
    run[2].val = ranking(0.5, 0.875, 0.6543, 2.0, 254);
    run[2].test = ranking(0.4333, 0.8, 0.5678, 2.5, 30);
    run[4].val = ranking(0.45, 0.85, 0.61, 2.0, 254);
    run[4].test = ranking(0.3667, 0.7667, 0.5123, 3.0, 30);
    for m in &mut run {
        m.seconds = 30.0;
    }
    let table = "node      op       shape\nvideo     input    [B, 120, 1024]";
    let md = summary_markdown("final", table, &run, 3, Some("curves.png"));
    assert!(md.starts_with("# final"), "{md}");
    assert!(md.contains("```text\nnode      op       shape\nvideo     input    [B, 120, 1024]\n```"), "{md}");
    assert!(md.contains("Best epoch (by validation): 3 of 5"), "{md}");
    for number in ["50.0%", "87.5%", "0.654", "43.3%", "80.0%", "0.568"] {
        assert!(md.contains(number), "best epoch's {number} missing:\n{md}");
    }
    assert!(md.contains("Final epoch: 5"), "{md}");
    for number in ["45.0%", "85.0%", "0.610", "36.7%", "76.7%", "0.512"] {
        assert!(md.contains(number), "final epoch's {number} missing:\n{md}");
    }
    assert!(md.contains("2 min 30 s"), "total time missing:\n{md}");
    assert!(md.contains("![curves](curves.png)"), "{md}");

    let md = summary_markdown("final", table, &run, 3, None);
    assert!(!md.contains("!["), "{md}");
    // A table with a code fence in it does not end the block early.
    let md = summary_markdown("x", "a ``` b", &run[..1], 1, None);
    assert!(md.contains("````text\na ``` b\n````"), "{md}");
    // No epoch: still a summary, no panic.
    let md = summary_markdown("x", "t", &[], 0, None);
    assert!(md.contains("No epoch finished"), "{md}");
    let md = summary_markdown("x", "t", &run, 42, None);
    assert!(md.contains("Not among the recorded epochs"), "{md}");
}
