//! `avc data stats` and `avc data synth`, on the TensorFlow-written reference shards and on
//! written sets: the counts, the length histogram and the feature moments against what the
//! fixtures hold; unreadable records and clips counted rather than fatal (and skipped by
//! training with `--skip-corrupt`); duplicate ids; both layouts of `synth`.

use avc::data::source::{Lists, ReadOptions};
use avc::data::{DataSource, course, dequantize, open, stats, synth};
use std::path::Path;
use tempfile::TempDir;

const FIXTURES: &str = "tests/fixtures/yt8m";

#[derive(serde::Deserialize)]
struct Expected {
    shard: String,
    frames: usize,
    rgb: String,
    audio: String,
}

fn expected(shard: &str) -> Vec<Expected> {
    let text = std::fs::read_to_string(format!("{FIXTURES}/expected.json")).unwrap();
    let all: Vec<Expected> = serde_json::from_str(&text).unwrap();
    all.into_iter().filter(|e| e.shard == shard).collect()
}

fn yt8m(pattern: &str, cache: &Path) -> DataSource {
    DataSource::Yt8m {
        pattern: pattern.to_string(),
        test_shards: None,
        lists: Lists::default(),
        options: ReadOptions { index_cache: Some(cache.to_path_buf()), ..ReadOptions::default() },
    }
}

/// Per-dimension mean and standard deviation of dequantized `[rows, dim]` bytes.
fn moments(bytes: &[u8], dim: usize) -> (Vec<f64>, Vec<f64>) {
    let rows = bytes.len() / dim;
    let mut mean = vec![0.0; dim];
    let mut var = vec![0.0; dim];
    for row in bytes.chunks_exact(dim) {
        row.iter().enumerate().for_each(|(k, &q)| mean[k] += f64::from(dequantize(q)) / rows as f64);
    }
    for row in bytes.chunks_exact(dim) {
        row.iter().enumerate().for_each(|(k, &q)| var[k] += (f64::from(dequantize(q)) - mean[k]).powi(2) / rows as f64);
    }
    (mean, var.into_iter().map(f64::sqrt).collect())
}

fn close(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-9)
}

#[test]
fn stats_of_a_tensorflow_shard_match_its_bytes() {
    let cache = TempDir::new().unwrap();
    // A single shard is described whole (training would need test pairs).
    let source = yt8m(&format!("{FIXTURES}/ref-00000.tfrecord"), cache.path());
    assert!(open(&source, [None, None]).is_err());
    let s = stats::stats(&source, 6, 100).unwrap();
    let clips = expected("ref-00000.tfrecord");
    assert_eq!((s.train_clips, s.test_pairs, s.sample), (clips.len(), 0, clips.len()));
    let frames: Vec<usize> = clips.iter().map(|e| e.frames).collect();
    assert_eq!((s.min_frames, s.max_frames), (*frames.iter().min().unwrap(), *frames.iter().max().unwrap()));
    assert_eq!(s.cropped, frames.iter().filter(|&&f| f > 6).count());
    assert_eq!(s.padded, frames.iter().filter(|&&f| f < 6).count());
    assert_eq!(s.lengths.iter().map(|b| b.clips).sum::<usize>(), clips.len());
    let (mut rgb, mut audio) = (Vec::new(), Vec::new());
    for e in &clips {
        rgb.extend(course::read_npy(Path::new(&format!("{FIXTURES}/{}", e.rgb)), "rgb").unwrap().0);
        audio.extend(course::read_npy(Path::new(&format!("{FIXTURES}/{}", e.audio)), "audio").unwrap().0);
    }
    let (vm, vs) = moments(&rgb, 1024);
    let (am, as_) = moments(&audio, 128);
    assert!(close(&s.video.mean, &vm) && close(&s.video.std, &vs), "video moments differ from the fixture's bytes");
    assert!(close(&s.audio.mean, &am) && close(&s.audio.std, &as_), "audio moments differ from the fixture's bytes");
    assert_eq!((s.duplicates.within_train, s.unreadable.records), (0, 0));
    let text = stats::render(&s);
    assert!(text.contains("4 train") && text.contains("2 to 9 frames") && text.contains("1 clips cropped, 2 padded"));
}

#[test]
fn stats_count_unreadable_records_and_duplicates() {
    let tmp = TempDir::new().unwrap();
    let cache = tmp.path().join("cache");
    // Every corrupt shard at once: five problems counted, nothing fatal.
    let s = stats::stats(&yt8m(&format!("{FIXTURES}/corrupt/*.tfrecord"), &cache), 4, 10).unwrap();
    assert_eq!((s.unreadable.records, s.unreadable.empty_shards), (4, 1), "{:?}", s.unreadable);
    for name in ["empty", "flipped", "no_audio", "truncated", "wide"] {
        assert!(s.unreadable.examples.iter().any(|e| e.contains(&format!("{name}.tfrecord: record"))), "{name}");
    }
    // The same shard under two names: each of its ids twice.
    for copy in ["a.tfrecord", "b.tfrecord"] {
        std::fs::copy(format!("{FIXTURES}/ref-00000.tfrecord"), tmp.path().join(copy)).unwrap();
    }
    std::fs::copy(format!("{FIXTURES}/ref-00001.tfrecord"), tmp.path().join("c.tfrecord")).unwrap();
    let s = stats::stats(&yt8m(tmp.path().join("*.tfrecord").to_str().unwrap(), &cache), 120, 10).unwrap();
    assert_eq!((s.train_clips, s.test_pairs, s.duplicates.within_train), (8, 3, 4));
    assert_eq!(s.padded, 8);
    assert!(s.duplicates.examples.iter().any(|e| e.contains("-Ab_c1xYz09 (2 times in train)")), "{:?}", s.duplicates);
}

#[test]
fn unreadable_course_clips_are_counted_or_skipped() {
    let tmp = TempDir::new().unwrap();
    let cfg = synth::config(2, &["n_train=12".into(), "n_test=4".into(), "steps=10".into()]).unwrap();
    let ds = synth::generate(&cfg);
    course::write(&ds, tmp.path()).unwrap();
    let broken = tmp.path().join(&ds.train.video_ids[3]).join(course::VIDEO_FILE);
    let bytes = std::fs::read(&broken).unwrap();
    std::fs::write(&broken, &bytes[..100]).unwrap();
    let source = DataSource::dir(tmp.path());
    let msg = open(&source, [None, None]).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains(&ds.train.video_ids[3]), "{msg}");
    let s = stats::stats(&source, 10, 50).unwrap();
    assert_eq!((s.train_clips, s.unreadable.records), (11, 1));
    assert!(s.unreadable.examples[0].contains(broken.to_str().unwrap()), "{:?}", s.unreadable);
    assert!(stats::render(&s).contains("unreadable: 1 clips"));
    let tolerant = DataSource::Dir {
        path: tmp.path().to_path_buf(),
        lists: Lists::default(),
        options: ReadOptions { skip_corrupt: true, ..ReadOptions::default() },
    };
    let data = open(&tolerant, [None, None]).unwrap();
    assert_eq!((data.train.len(), data.test.len(), data.provenance.skipped.records), (11, 4, 1));
    assert!(!data.train.video_ids().contains(&ds.train.video_ids[3]));
}

fn avc(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_avc"))
        .current_dir(dir)
        .args(args)
        .env("AVC_CACHE_DIR", dir.join("cache"))
        .output()
        .expect("avc runs")
}

#[test]
fn synth_writes_either_layout_with_the_asked_counts() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    let small = ["--synth", "steps=8", "--synth", "video_dim=16", "--synth", "audio_dim=8"];
    let mut args = vec!["data", "synth", "--out", "course", "--clips", "33", "--test-clips", "7"];
    args.extend(small);
    let out = avc(dir, &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = |f: &str| std::fs::read_to_string(dir.join("course").join(f)).unwrap().lines().count();
    assert_eq!((lines("train.txt"), lines("test_video.txt"), lines("test_audio.txt")), (33, 7, 7));
    let mut args = vec!["data", "synth", "--out", "shards", "--layout", "yt8m", "--clips", "33", "--test-clips", "7"];
    args.extend(["--shard-clips", "10"]);
    args.extend(small);
    assert!(avc(dir, &args).status.success());
    let train_shards = std::fs::read_dir(dir.join("shards")).unwrap().filter_map(Result::ok);
    let n = train_shards.filter(|e| e.file_name().to_string_lossy().starts_with("train-")).count();
    assert_eq!(n, 4, "33 clips at 10 per shard");
    // The two layouts hold the same clips.
    let out = avc(dir, &["data", "stats", "course", "--steps", "8", "--json", "a.json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(avc(dir, &["data", "stats", "shards/data.yaml", "--steps", "8", "--json", "b.json"]).status.success());
    let json = |f: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(f)).unwrap()).unwrap()
    };
    let (a, b) = (json("a.json"), json("b.json"));
    for key in ["train_clips", "test_pairs", "video", "audio", "lengths"] {
        assert_eq!(a[key], b[key], "{key}");
    }
    // A stats source that is not there is a usage error naming it.
    let out = avc(dir, &["data", "stats", "nowhere"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nowhere"));
}
