//! Data sources: YouTube-8M shards written by TensorFlow read byte-identical, corrupt
//! shards refused by shard and record (or skipped and counted), conversion between the
//! layouts, list files elsewhere and ids with `-` and `_`, data files, streaming that gives
//! the same training as memory, random crops that resume exactly, and `--resume` refusing
//! data that changed.

use crate::data_tree as tree;
use avc::data::crop::{Crop, Pass};
use avc::data::source::{Lists, Memory, Overrides, ReadOptions};
use avc::data::split::read_shard_record;
use avc::data::{DataSource, Split, TrainingData, course, index, open, sink, synth};
use avc::train::{Ending, resume, train};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

const FIXTURES: &str = "tests/fixtures/yt8m";

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

/// A TFRecord source over `pattern` whose test pairs are the records of `test`, with its
/// index cached in `cache`.
fn yt8m(pattern: &str, test: &str, cache: &Path, options: ReadOptions) -> DataSource {
    DataSource::Yt8m {
        pattern: pattern.to_string(),
        test_shards: Some(test.to_string()),
        lists: Lists::default(),
        options: ReadOptions { index_cache: Some(cache.to_path_buf()), ..options },
    }
}

fn open_err(source: &DataSource) -> String {
    match open(source, [None, None]) {
        Ok(_) => "opened without error".into(),
        Err(e) => e.to_string(),
    }
}

#[derive(serde::Deserialize)]
struct Expected {
    shard: String,
    index: usize,
    id: String,
    frames: usize,
    rgb: String,
    audio: String,
    rgb_sha256: String,
    audio_sha256: String,
}

fn expected() -> Vec<Expected> {
    let text = std::fs::read_to_string(fixture("expected.json")).expect("tests/fixtures/yt8m/expected.json");
    serde_json::from_str(&text).expect("expected.json parses")
}

fn sha256(bytes: &[u8]) -> String {
    index::hex(&<sha2::Sha256 as sha2::Digest>::digest(bytes))
}

fn npy(rel: &str) -> (Vec<u8>, [usize; 2]) {
    course::read_npy(Path::new(&fixture(rel)), rel).expect("expected .npy reads")
}

#[test]
fn tensorflow_shards_read_byte_identical() {
    let records = expected();
    assert_eq!(records.len(), 7);
    for e in &records {
        let shard = PathBuf::from(fixture(&e.shard));
        let index = index::ShardIndex::build(&shard).unwrap();
        assert!(index.corrupt.is_empty(), "{:?}", index.corrupt);
        let entry = &index.records[e.index];
        assert_eq!((entry.id.as_str(), entry.frames, entry.widths), (e.id.as_str(), e.frames, [1024, 128]));
        let r = read_shard_record(&shard, entry, &mut Vec::new()).unwrap();
        let (rgb, rgb_shape) = npy(&e.rgb);
        let (audio, audio_shape) = npy(&e.audio);
        assert_eq!((rgb_shape, audio_shape), ([e.frames, 1024], [e.frames, 128]));
        assert!(r.rgb == rgb && r.audio == audio, "record {} of {} differs from TensorFlow's bytes", e.index, e.shard);
        // The hashes the script wrote from its own arrays: the .npy files are those bytes too.
        assert_eq!((sha256(&r.rgb), sha256(&r.audio)), (e.rgb_sha256.clone(), e.audio_sha256.clone()), "{}", e.id);
    }
    // Ids may start with '-' and contain '_'.
    assert!(records.iter().any(|e| e.id.starts_with('-') && e.id.contains('_')));
}

#[test]
fn opened_shards_are_fitted_to_the_declared_length() {
    let cache = TempDir::new().unwrap();
    let source = yt8m(
        &fixture("ref-00000.tfrecord"),
        &fixture("ref-00001.tfrecord"),
        cache.path(),
        ReadOptions { crop: Some(Crop::Center), pad: 7, ..ReadOptions::default() },
    );
    let data = open(&source, [Some([6, 1024]), Some([6, 128])]).unwrap();
    assert!(data.train.is_streamed());
    assert_eq!((data.train.len(), data.test.len()), (4, 3));
    // Where the test pairs come from is part of the data's name (metrics.json's `data`).
    assert_eq!(
        data.origin,
        format!("yt8m:{}, test shards {}", fixture("ref-00000.tfrecord"), fixture("ref-00001.tfrecord"))
    );
    let fitted = data.provenance.fitted.clone().unwrap();
    assert_eq!((fitted.cropped, fitted.padded), (1, 2), "9 frames cropped, 2 and 5 padded: {fitted:?}");
    let rows: Vec<usize> = (0..4).collect();
    let clips = data.train.gather(&rows, Pass::Eval).unwrap();
    for (k, e) in expected().iter().filter(|e| e.shard == "ref-00000.tfrecord").enumerate() {
        let (rgb, _) = npy(&e.rgb);
        let start = e.frames.saturating_sub(6) / 2;
        let take = e.frames.min(6);
        let mut want = rgb[start * 1024..(start + take) * 1024].to_vec();
        want.resize(6 * 1024, 7);
        assert_eq!(clips.video_ids[k], e.id);
        assert!(clips.video_clip(k) == want.as_slice(), "clip {k} ({})", e.id);
    }
    // The index is cached: a second open reads the cache, with the same digest.
    assert!(std::fs::read_dir(cache.path()).unwrap().count() >= 2);
    let again = open(&source, [Some([6, 1024]), Some([6, 128])]).unwrap();
    assert_eq!(again.provenance.index_sha256, data.provenance.index_sha256);
}

#[test]
fn corrupt_shards_name_shard_and_record_or_are_skipped() {
    let cache = TempDir::new().unwrap();
    let test = fixture("ref-00001.tfrecord");
    for (name, record, words) in [
        ("flipped", 1, "CRC mismatch"),
        ("truncated", 2, "truncated"),
        ("no_audio", 1, "no feature list `audio`"),
        ("wide", 2, "1000 values in `rgb`, expected 1024"),
        ("empty", 0, "empty"),
    ] {
        let shard = fixture(&format!("corrupt/{name}.tfrecord"));
        let strict = yt8m(&shard, &test, cache.path(), ReadOptions::default());
        let msg = open_err(&strict);
        assert!(msg.contains(&format!("{name}.tfrecord: record {record}: ")) && msg.contains(words), "{name}: {msg}");
        let tolerant = yt8m(&shard, &test, cache.path(), ReadOptions { skip_corrupt: true, ..ReadOptions::default() });
        let data = open(&tolerant, [Some([4, 1024]), Some([4, 128])]).unwrap_or_else(|e| panic!("{name}: {e}"));
        let skipped = &data.provenance.skipped;
        if name == "empty" {
            assert_eq!((skipped.records, skipped.empty_shards, data.train.len()), (0, 1, 0));
        } else {
            assert_eq!(skipped.records, 1, "{name}");
            assert_eq!(data.train.len(), 2, "{name}: the other records are kept");
            assert!(skipped.examples[0].contains(&format!("record {record}")), "{:?}", skipped.examples);
        }
    }
    // A model declaring another width: every record is the wrong width, named.
    let msg = match open(
        &yt8m(&fixture("ref-00000.tfrecord"), &test, cache.path(), ReadOptions::default()),
        [Some([6, 512]), None],
    ) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    };
    assert!(msg.contains("ref-00000.tfrecord: record 0: frames of 1024 values in `rgb`, expected 512"), "{msg}");
}

fn small_synth(n_train: usize, n_test: usize, steps: usize) -> avc::data::SynthConfig {
    let knobs = [
        format!("n_train={n_train}"),
        format!("n_test={n_test}"),
        format!("steps={steps}"),
        "video_dim=16".into(),
        "audio_dim=8".into(),
    ];
    synth::config(3, &knobs).unwrap()
}

fn convert(source: &DataSource, to: sink::Layout, out: &Path) {
    avc::data::convert::convert(source, to, out, 7, &mut |_, _| {}).unwrap();
}

#[test]
fn convert_round_trips_course_and_tfrecords() {
    let tmp = TempDir::new().unwrap();
    let course_dir = tmp.path().join("course");
    course::write(&synth::generate(&small_synth(20, 6, 12)), &course_dir).unwrap();
    // Test pairs whose audio comes from another clip id survive the trip too.
    let audio_list = course_dir.join(course::TEST_AUDIO_LIST);
    let mut ids: Vec<String> = std::fs::read_to_string(&audio_list).unwrap().lines().map(String::from).collect();
    ids.rotate_left(1);
    std::fs::write(&audio_list, ids.join("\n") + "\n").unwrap();
    let shards = tmp.path().join("shards");
    convert(&DataSource::dir(&course_dir), sink::Layout::Yt8m, &shards);
    assert!(shards.join("train-00002.tfrecord").is_file() && shards.join("test-00000.tfrecord").is_file());
    let back = tmp.path().join("back");
    let data_file = shards.join(sink::DATA_FILE);
    convert(&DataSource::parse(data_file.to_str().unwrap()).unwrap(), sink::Layout::Course, &back);
    // `convert` marks its output as avc's (docs/safety.md); `course::write` does not.
    let marker = std::fs::read_to_string(back.join(avc_lang::output::MARKER)).unwrap();
    assert_eq!(marker, "course-layout data\n");
    assert_eq!(tree(&back), tree(&course_dir), "course -> TFRecords -> course changes nothing");
}

#[test]
fn tensorflow_shards_convert_to_course_and_back() {
    let tmp = TempDir::new().unwrap();
    let cache = tmp.path().join("cache");
    let source = yt8m(&fixture("ref-00000.tfrecord"), &fixture("ref-00001.tfrecord"), &cache, ReadOptions::default());
    let course_dir = tmp.path().join("course");
    convert(&source, sink::Layout::Course, &course_dir);
    for e in expected() {
        let dir = course_dir.join(&e.id);
        let (v, _) = course::read_npy(&dir.join(course::VIDEO_FILE), "video").unwrap();
        let (a, _) = course::read_npy(&dir.join(course::AUDIO_FILE), "audio").unwrap();
        assert!(v == npy(&e.rgb).0 && a == npy(&e.audio).0, "{}", e.id);
    }
    let train = std::fs::read_to_string(course_dir.join(course::TRAIN_LIST)).unwrap();
    assert_eq!(train.lines().next(), Some("-Ab_c1xYz09"));
    // Back to TFRecords: the same features, record for record.
    let shards = tmp.path().join("shards");
    let crop = ReadOptions { crop: Some(Crop::Start), ..ReadOptions::default() };
    convert(&DataSource::Dir { path: course_dir, lists: Lists::default(), options: crop }, sink::Layout::Yt8m, &shards);
    let ours = index::ShardIndex::build(&shards.join("train-00000.tfrecord")).unwrap();
    let theirs = index::ShardIndex::build(Path::new(&fixture("ref-00000.tfrecord"))).unwrap();
    assert_eq!(ours.records.len(), theirs.records.len());
    for (o, t) in ours.records.iter().zip(&theirs.records) {
        let a = read_shard_record(&shards.join("train-00000.tfrecord"), o, &mut Vec::new()).unwrap();
        let b = read_shard_record(Path::new(&fixture("ref-00000.tfrecord")), t, &mut Vec::new()).unwrap();
        assert_eq!(a, b);
    }
}

#[test]
fn lists_elsewhere_and_ids_with_dashes() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("features");
    let mut ds = synth::generate(&small_synth(8, 3, 12));
    for ids in [&mut ds.train.video_ids, &mut ds.train.audio_ids] {
        ids.iter_mut().enumerate().for_each(|(i, id)| *id = format!("-tr_{i}"));
    }
    course::write(&ds, &dir).unwrap();
    let lists = tmp.path().join("filelists");
    std::fs::create_dir_all(&lists).unwrap();
    for name in [course::TRAIN_LIST, course::TEST_VIDEO_LIST, course::TEST_AUDIO_LIST] {
        std::fs::rename(dir.join(name), lists.join(name)).unwrap();
    }
    let plain = DataSource::parse(dir.to_str().unwrap()).unwrap();
    assert!(open_err(&plain).contains("train.txt is missing"));
    let overrides = Overrides {
        train_list: Some(lists.join(course::TRAIN_LIST)),
        test_video_list: Some(lists.join(course::TEST_VIDEO_LIST)),
        test_audio_list: Some(lists.join(course::TEST_AUDIO_LIST)),
        ..Overrides::default()
    };
    let data = open(&plain.with(&overrides).unwrap(), [Some([12, 16]), Some([12, 8])]).unwrap();
    assert_eq!(data.train.video_ids()[0], "-tr_0");
    let Split::Memory(train) = &data.train else { panic!("a small course set is held in memory") };
    assert_eq!(train.video_clip(5), ds.train.video_clip(5));
    assert_eq!(data.provenance.lists_sha256.len(), 3);
    // The same through a data file, relative to its own directory.
    let file = tmp.path().join("data.yaml");
    std::fs::write(
        &file,
        "source: course\npath: features\nlists:\n  train: filelists/train.txt\n  test_video: filelists/test_video.txt\n  test_audio: filelists/test_audio.txt\n",
    )
    .unwrap();
    let from_file = open(&DataSource::parse(file.to_str().unwrap()).unwrap(), [None, None]).unwrap();
    assert_eq!(from_file.provenance, data.provenance);
    std::fs::write(&file, "source: course\npath: features\ncorp: center\n").unwrap();
    let msg = DataSource::parse(file.to_str().unwrap()).err().unwrap_or_default();
    assert!(msg.contains("data.yaml:3:") && msg.contains("corp"), "{msg}");
}

fn numbers(r: &avc::train::RunReport) -> Vec<(i64, String)> {
    r.epochs.iter().map(|m| (m.epoch, format!("{:.6} {:.6} {:.4}", m.train_loss, m.val_loss, m.test.mrr))).collect()
}

fn options(runs: &Path, source: &DataSource) -> avc::train::TrainOptions {
    avc::train::TrainOptions {
        device: tch::Device::Cpu,
        runs_dir: runs.to_path_buf(),
        run_name: Some("run".into()),
        arch_path: PathBuf::from("small.yaml"),
        verbose: false,
        max_batches: None,
        stop_at: None,
        data_source: source.clone(),
        overrides: vec![],
        init: None,
        profile: false,
    }
}

fn small() -> (avc_lang::compile::Compiled, avc::train::Settled) {
    let compiled = crate::training::compile_text(&crate::small_model(8, "{epochs: 2, batch_size: 8}"));
    let cfg = avc::train::settle(&compiled, &[], tch::Device::Cpu).unwrap();
    (compiled, cfg)
}

#[test]
fn streaming_trains_exactly_like_memory() {
    let _rng = crate::torch_rng_lock();
    let tmp = TempDir::new().unwrap();
    course::write(&synth::generate(&small_synth(48, 12, 24)), tmp.path()).unwrap();
    let (compiled, cfg) = small();
    let mut reports = Vec::new();
    for memory in [Memory::Load, Memory::Stream] {
        let source = DataSource::Dir {
            path: tmp.path().to_path_buf(),
            lists: Lists::default(),
            options: ReadOptions { memory, ..ReadOptions::default() },
        };
        let data: TrainingData = avc::data::expect::load(&compiled, &source).unwrap();
        assert_eq!(data.train.is_streamed(), memory == Memory::Stream);
        let runs = tmp.path().join(format!("runs-{memory:?}"));
        reports.push(train(&compiled, &data, &cfg, &options(&runs, &source)).unwrap());
    }
    assert_eq!(numbers(&reports[0]), numbers(&reports[1]));
}

#[test]
fn random_crops_resume_exactly_and_changed_data_is_refused() {
    let _rng = crate::torch_rng_lock();
    let tmp = TempDir::new().unwrap();
    let shards = tmp.path().join("shards");
    let mut sink = sink::create(sink::Layout::Yt8m, &shards, 16).unwrap();
    synth::write_to(&small_synth(40, 10, 30), sink.as_mut(), &mut |_, _| {}).unwrap();
    sink.finish().unwrap();
    let source = yt8m(
        shards.join("train-*.tfrecord").to_str().unwrap(),
        shards.join("test-*.tfrecord").to_str().unwrap(),
        &tmp.path().join("cache"),
        ReadOptions { crop: Some(Crop::Random), ..ReadOptions::default() },
    );
    let (compiled, _) = small();
    let cfg = avc::train::settle(&compiled, &["train.epochs=3".into()], tch::Device::Cpu).unwrap();
    let data = avc::data::expect::load(&compiled, &source).unwrap();
    assert_eq!(data.provenance.fitted.as_ref().map(|f| f.cropped), Some(40));
    let whole = train(&compiled, &data, &cfg, &options(&tmp.path().join("a"), &source)).unwrap();
    let mut opts = options(&tmp.path().join("b"), &source);
    opts.overrides = vec!["train.epochs=3".into()];
    opts.stop_at = Some((2, 1));
    let stopped = train(&compiled, &data, &cfg, &opts).unwrap();
    assert_eq!(stopped.ending, Ending::Interrupted);
    let resumed = resume(&stopped.dir, &[], tch::Device::Cpu, false).unwrap();
    assert_eq!(numbers(&resumed), numbers(&whole));
    // Random windows differ from fixed ones: the crop policy is applied.
    let start = DataSource::Yt8m {
        pattern: shards.join("train-*.tfrecord").display().to_string(),
        test_shards: Some(shards.join("test-*.tfrecord").display().to_string()),
        lists: Lists::default(),
        options: ReadOptions { index_cache: Some(tmp.path().join("cache")), ..ReadOptions::default() },
    };
    let fixed = train(
        &compiled,
        &avc::data::expect::load(&compiled, &start).unwrap(),
        &cfg,
        &options(&tmp.path().join("c"), &start),
    )
    .unwrap();
    assert_ne!(numbers(&fixed), numbers(&whole));
    // A shard that changes is refused on resume.
    opts.stop_at = Some((2, 1));
    opts.runs_dir = tmp.path().join("d");
    let stopped = train(&compiled, &data, &cfg, &opts).unwrap();
    let mut extra = sink::create(sink::Layout::Yt8m, &tmp.path().join("extra"), 100).unwrap();
    synth::write_to(&small_synth(3, 1, 30), extra.as_mut(), &mut |_, _| {}).unwrap();
    extra.finish().unwrap();
    std::fs::copy(tmp.path().join("extra/train-00000.tfrecord"), shards.join("train-00001.tfrecord")).unwrap();
    let err = resume(&stopped.dir, &[], tch::Device::Cpu, false).map(|_| ()).unwrap_err().to_string();
    assert!(err.contains("the data changed") && err.contains("index digest"), "{err}");
}

fn avc(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_avc"))
        .current_dir(dir)
        .args(args)
        .env("AVC_CACHE_DIR", dir.join("cache"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("avc runs")
}

fn text(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn data_commands_end_to_end() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    let knobs = ["--synth", "steps=24", "--synth", "video_dim=16", "--synth", "audio_dim=8"];
    let mut args = vec!["data", "synth", "--out", "shards", "--layout", "yt8m", "--clips", "40", "--test-clips", "12"];
    args.extend(knobs);
    let out = avc(dir, &args);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("40 train clips") && text(&out).contains("12 test pairs"), "{}", text(&out));
    let out = avc(dir, &["data", "stats", "shards/data.yaml", "--steps", "20"]);
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    assert!(
        report.contains("40 train") && report.contains("12 test pairs") && report.contains("40 clips cropped"),
        "{report}"
    );
    std::fs::write(dir.join("small.yaml"), crate::small_model(8, "{epochs: 1, batch_size: 8}")).unwrap();
    let out = avc(
        dir,
        &[
            "train",
            "small.yaml",
            "--data",
            "shards/data.yaml",
            "--runs",
            "runs",
            "--name",
            "r",
            "-q",
            "--device",
            "cpu",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("runs/r/manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["data_provenance"]["streamed"], true);
    assert_eq!(
        manifest["data_source"]["yt8m"]["test_shards"].as_str().map(|p| p.ends_with("test-*.tfrecord")),
        Some(true)
    );
    // eval and retrieve read the same source.
    let out = avc(dir, &["eval", "runs/r", "--device", "cpu", "-q", "--resamples", "10"]);
    assert!(out.status.success() && text(&out).contains("12 clips"), "{}", text(&out));
    std::fs::write(dir.join("ids.txt"), "synth-test-00\nsynth-test-03\n").unwrap();
    let out = avc(
        dir,
        &["retrieve", "runs/r", "--videos", "ids.txt", "--audios", "ids.txt", "--top", "2", "--device", "cpu", "-q"],
    );
    assert!(out.status.success(), "{}", text(&out));
    // Convert to the course layout and train from it with lists named on the command line.
    let out = avc(dir, &["data", "convert", "shards/data.yaml", "--to", "course", "--out", "course"]);
    assert!(out.status.success(), "{}", text(&out));
    std::fs::rename(dir.join("course/train.txt"), dir.join("my-train.txt")).unwrap();
    let out = avc(
        dir,
        &[
            "train",
            "small.yaml",
            "--data",
            "course",
            "--train-list",
            "my-train.txt",
            "--runs",
            "runs",
            "--name",
            "c",
            "-q",
            "--device",
            "cpu",
            "--max-batches",
            "1",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    // Usage errors: a list flag without a source; a TFRecord file given as a directory.
    let out = avc(dir, &["train", "small.yaml", "--train-list", "my-train.txt"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = avc(dir, &["data", "stats", "shards/train-00000.tfrecord"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("yt8m:shards/train-00000.tfrecord"), "{}", text(&out));
}

#[test]
fn the_index_cache_is_used_until_the_shard_changes() {
    let tmp = TempDir::new().unwrap();
    let shard = tmp.path().join("s.tfrecord");
    std::fs::copy(fixture("ref-00000.tfrecord"), &shard).unwrap();
    let cache = tmp.path().join("cache");
    let first = index::ShardIndex::load(&shard, Some(&cache)).unwrap();
    assert_eq!(first.records.len(), 4);
    let cached: Vec<PathBuf> = std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(cached.len(), 1);
    // A cache entry that says something else proves the cache is read while the shard is unchanged.
    let mut doctored = first.clone();
    doctored.records.truncate(1);
    std::fs::write(&cached[0], serde_json::to_vec(&doctored).unwrap()).unwrap();
    assert_eq!(index::ShardIndex::load(&shard, Some(&cache)).unwrap().records.len(), 1);
    // Appending a record changes the shard's size and time: it is indexed again.
    let mut bytes = std::fs::read(&shard).unwrap();
    bytes.extend(std::fs::read(fixture("ref-00001.tfrecord")).unwrap());
    std::fs::write(&shard, bytes).unwrap();
    let again = index::ShardIndex::load(&shard, Some(&cache)).unwrap();
    assert_eq!(again.records.len(), 7);
    assert_ne!(index::digest(&[again]), index::digest(&[first]));
}

#[test]
fn skipped_records_are_counted_in_the_manifest() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("shards")).unwrap();
    for (from, to) in [("ref-00000.tfrecord", "a.tfrecord"), ("corrupt/flipped.tfrecord", "b.tfrecord")] {
        std::fs::copy(fixture(from), dir.join("shards").join(to)).unwrap();
    }
    std::fs::copy(fixture("ref-00001.tfrecord"), dir.join("test.tfrecord")).unwrap();
    std::fs::write(dir.join("data.yaml"), "source: yt8m\npath: shards\ntest_shards: test.tfrecord\ncrop: center\n")
        .unwrap();
    let model = "
inputs: {video: [4, 1024], audio: [4, 128]}
nodes:
  - {name: v, op: linear, in: video, out: 4}
  - {name: a, op: linear, in: audio, out: 4}
  - {name: j, op: concat, in: [v, a]}
  - {name: p, op: max, in: j}
  - {name: head, op: linear, in: p, out: 1}
outputs:
  - {name: match, kind: logit, from: head}
train: {epochs: 1, batch_size: 4, validation: 0.3}
";
    std::fs::write(dir.join("m.yaml"), model).unwrap();
    let args = ["train", "m.yaml", "--data", "data.yaml", "--runs", "runs", "--name", "r", "-q", "--device", "cpu"];
    let out = avc(dir, &args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("b.tfrecord: record 1: CRC mismatch"), "{}", text(&out));
    let mut tolerant = args.to_vec();
    tolerant.push("--skip-corrupt");
    let out = avc(dir, &tolerant);
    assert!(out.status.success(), "{}", text(&out));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("runs/r/manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["data_provenance"]["skipped"]["records"], 1);
    assert_eq!(manifest["data_provenance"]["fitted"]["cropped"], 3, "9, 6 and 5 frames are longer than 4");
}
