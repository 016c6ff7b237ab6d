//! Modalities of different lengths: audio at another frame rate than the video (issue 22,
//! item 4). The synthetic generator makes such sets, both layouts write and read them, a
//! crop takes the same seconds of both streams, the data check names the stream whose
//! length is wrong and by how much, and a model with its own length symbol per input
//! trains, evaluates and retrieves on them.

use avc::data::crop::Crop;
use avc::data::source::{DataSource, Lists, ReadOptions};
use avc::data::{Split, TrainingData, open, sink, synth};
use std::path::{Path, PathBuf};

/// 12 seconds: 12 video steps and 24 audio steps (audio at two steps a second), tiny widths.
const KNOBS: [&str; 7] =
    ["n_train=24", "n_test=6", "steps=12", "audio_steps=24", "video_dim=16", "audio_dim=8", "max_lag=0"];

fn knobs() -> Vec<String> {
    KNOBS.map(String::from).to_vec()
}

fn config() -> synth::SynthConfig {
    synth::config(4, &knobs()).unwrap()
}

/// Writes the synthetic set of `cfg` in `layout` under `dir`.
fn write(cfg: &synth::SynthConfig, layout: sink::Layout, dir: &Path) {
    let mut out = sink::create(layout, dir, 10).unwrap();
    synth::write_to(cfg, out.as_mut(), &mut |_, _| {}).unwrap();
    out.finish().unwrap();
}

/// The TFRecord set `dir/data.yaml` with its index cached in `cache` and `options`.
fn shards(dir: &Path, cache: &Path, options: ReadOptions) -> DataSource {
    match DataSource::parse(dir.join(sink::DATA_FILE).to_str().unwrap()).unwrap() {
        DataSource::Yt8m { pattern, test_shards, lists, options: own } => DataSource::Yt8m {
            pattern,
            test_shards,
            lists,
            options: ReadOptions { index_cache: Some(cache.to_path_buf()), crop: options.crop.or(own.crop), ..options },
        },
        other => panic!("not TFRecords: {other:?}"),
    }
}

fn course(dir: &Path, options: ReadOptions) -> DataSource {
    DataSource::Dir { path: dir.to_path_buf(), lists: Lists::default(), options }
}

fn memory(data: &TrainingData) -> avc::data::Clips {
    let rows: Vec<usize> = (0..data.train.len()).collect();
    data.train.gather(&rows, avc::data::crop::Pass::Eval).unwrap()
}

#[test]
fn synth_audio_steps_keeps_the_streams_aligned_per_second() {
    let cfg = synth::config(4, &["steps=12".into(), "audio_steps=24".into(), "max_lag=2".into(), "n_train=8".into()])
        .unwrap();
    let (ds, truth) = synth::generate_with_truth(&cfg);
    assert_eq!((ds.train.video_steps, ds.train.audio_steps), (12, 24));
    assert_eq!(ds.train.audio.len(), 8 * 24 * 128);
    assert!(ds.train.validate("train").is_ok() && ds.test.validate("test").is_ok());
    for t in &truth.train {
        assert_eq!((t.video_scenes.len(), t.audio_scenes.len()), (12, 24));
        for s in 0..12 {
            // Two audio steps per second, the same scene in both.
            assert_eq!(t.audio_scenes[2 * s], t.audio_scenes[2 * s + 1]);
            if s >= t.lag {
                assert_eq!(t.audio_scenes[2 * s], t.video_scenes[s - t.lag], "second {s}, lag {}", t.lag);
            }
        }
    }
    assert!(ds.origin.contains("audio_steps=24"), "{}", ds.origin);
    // Saying the default out loud changes nothing.
    let plain = synth::config(4, &["steps=12".into(), "n_train=8".into()]).unwrap();
    let explicit =
        synth::config(4, &["steps=12".into(), "audio_steps=12".into(), "video_steps=12".into(), "n_train=8".into()])
            .unwrap();
    assert_eq!(synth::generate(&plain).train, synth::generate(&explicit).train);
    // The video's own rate, too.
    let half = synth::config(4, &["steps=12".into(), "video_steps=6".into(), "n_train=2".into()]).unwrap();
    assert_eq!(synth::generate(&half).train.steps(), [6, 12]);
    let err = synth::config(1, &["audio_steps=0".into()]).unwrap_err().to_string();
    assert!(err.contains("'audio_steps'") && err.contains("at least 1"), "{err}");
    let err = synth::config(1, &["audio_steps=1000000".into()]).unwrap_err().to_string();
    assert!(err.contains("'audio_steps'") && err.contains("limit"), "{err}");
}

#[test]
fn both_layouts_write_and_read_streams_of_their_own_lengths() {
    let tmp = crate::scratch_dir("lengths-layouts");
    let cfg = config();
    let generated = synth::generate(&cfg);
    let course_dir = tmp.join("course");
    write(&cfg, sink::Layout::Course, &course_dir);
    // Course layout: each stream's files have their own length; no model needs to say so.
    let data = open(&course(&course_dir, ReadOptions::default()), [None, None]).unwrap();
    assert_eq!(data.train.steps(), [12, 24]);
    assert_eq!(data.test.steps(), [12, 24]);
    assert_eq!(data.test, generated.test);
    assert_eq!(memory(&data).audio, generated.train.audio);
    // Declared by a model: the same.
    let declared = open(&course(&course_dir, ReadOptions::default()), [Some([12, 16]), Some([24, 8])]).unwrap();
    assert_eq!(declared.test, generated.test);
    // A file of the wrong length is named, with what was expected.
    let bad = course_dir.join("synth-train-0003").join("afeat.npy");
    avc::data::course::write_npy(&bad, &[0u8; 23 * 8], [23, 8]).unwrap();
    let msg = open(&course(&course_dir, ReadOptions::default()), [None, None]).unwrap_err().to_string();
    assert!(msg.contains(&bad.display().to_string()) && msg.contains("[24, 8]") && msg.contains("[23, 8]"), "{msg}");

    // TFRecords: records declare their audio's frame count; read back byte for byte, streamed.
    let shard_dir = tmp.join("shards");
    write(&cfg, sink::Layout::Yt8m, &shard_dir);
    let cache = tmp.join("cache");
    let source = shards(&shard_dir, &cache, ReadOptions::default());
    let data = open(&source, [Some([12, 16]), Some([24, 8])]).unwrap();
    assert!(data.train.is_streamed());
    assert_eq!(data.train.steps(), [12, 24]);
    assert_eq!(data.test, generated.test);
    assert_eq!(memory(&data).video, generated.train.video);
    assert_eq!(memory(&data).audio, generated.train.audio);
    // Converting keeps every stream whole, both ways.
    let back = tmp.join("back");
    avc::data::convert::convert(&source, sink::Layout::Course, &back, 10, &mut |_, _| {}).unwrap();
    let again = open(&course(&back, ReadOptions::default()), [None, None]).unwrap();
    assert_eq!(again.test, generated.test);
}

#[test]
fn a_crop_takes_the_same_seconds_of_both_streams() {
    let tmp = crate::scratch_dir("lengths-crop");
    let cfg = config();
    let generated = synth::generate(&cfg);
    let dir = tmp.join("shards");
    write(&cfg, sink::Layout::Yt8m, &dir);
    let cache = tmp.join("cache");
    // A model of 8 seconds: 8 video and 16 audio steps; centred in 12 s, seconds 2..10.
    let center = ReadOptions { crop: Some(Crop::Center), ..ReadOptions::default() };
    let data = open(&shards(&dir, &cache, center.clone()), [Some([8, 16]), Some([16, 8])]).unwrap();
    assert_eq!(data.test.steps(), [8, 16]);
    for i in 0..data.test.len() {
        assert_eq!(data.test.video_clip(i), &generated.test.video_clip(i)[2 * 16..10 * 16]);
        assert_eq!(data.test.audio_clip(i), &generated.test.audio_clip(i)[4 * 8..20 * 8]);
    }
    // Random windows in training: wherever the video's starts, the audio's starts at the
    // same second.
    let random = ReadOptions { crop: Some(Crop::Random), ..ReadOptions::default() };
    let data = open(&shards(&dir, &cache, random), [Some([8, 16]), Some([16, 8])]).unwrap();
    let Split::Stream(stream) = &data.train else { panic!("random crops stream") };
    let rows: Vec<usize> = (0..stream.items.len()).collect();
    let pass = avc::data::crop::Pass::Train { seed: 5, epoch: 2 };
    let batch = data.train.gather(&rows, pass).unwrap();
    let mut starts = std::collections::BTreeSet::new();
    for (k, id) in batch.video_ids.iter().enumerate() {
        let i = generated.train.video_ids.iter().position(|g| g == id).unwrap();
        let full = generated.train.video_clip(i);
        let start = (0..=4).find(|s| &full[s * 16..(s + 8) * 16] == batch.video_clip(k)).expect("a video window");
        assert_eq!(batch.audio_clip(k), &generated.train.audio_clip(i)[2 * start * 8..2 * (start + 8) * 8], "{id}");
        starts.insert(start);
    }
    assert!(starts.len() > 1, "random windows move: {starts:?}");
    assert_eq!(data.provenance.fitted.as_ref().map(|f| (f.steps, f.audio_steps)), Some((8, Some(16))));
    // A model whose lengths say 2:1 on data at 1:1 is refused, naming the record and by how much.
    let equal = synth::config(4, &["n_train=6".into(), "n_test=3".into(), "steps=12".into()]).unwrap();
    let flat = tmp.join("flat");
    write(&equal, sink::Layout::Yt8m, &flat);
    let msg = open(&shards(&flat, &cache, center), [Some([8, 1024]), Some([16, 128])]).unwrap_err().to_string();
    assert!(msg.contains("train-00000.tfrecord: record 0") && msg.contains("about 24 audio frames"), "{msg}");
    assert!(msg.contains("12 too few"), "{msg}");
}

const TWO_SYMBOLS: &str = "
input video: [Tv, 16]
input audio: [Ta, 8]

vproj = linear(video, out: 16)
vpool = max(vproj)
aproj = linear(audio, out: 16)
apool = mean(aproj)
vemb = linear(vpool, out: 8)
aemb = linear(apool, out: 8)

output towers: embeddings(vemb, aemb)

train {
    epochs: 1
    batch_size: 8
}
";

fn compile_dsl(text: &str) -> avc_lang::compile::Compiled {
    match avc_lang::compile::compile(&avc_lang::source::SourceFile::new("lengths.avc", text)) {
        Ok(c) => c,
        Err(f) => panic!("{}", avc_lang::diag::render_all(&f.diagnostics, &f.source, false)),
    }
}

#[test]
fn the_data_check_names_the_stream_and_by_how_much() {
    let data: TrainingData = synth::generate(&config()).into();
    // Own symbols: any lengths.
    assert!(avc::data::expect::check(&compile_dsl(TWO_SYMBOLS), &data).is_ok());
    // One shared symbol: the streams must agree.
    let shared = compile_dsl(&TWO_SYMBOLS.replace("Tv", "T").replace("Ta", "T"));
    assert_eq!(avc::data::expect::shared_length(&shared).as_deref(), Some("T"));
    let msg = avc::data::expect::check(&shared, &data).unwrap_err().to_string();
    assert!(msg.contains("inputs `video` and `audio` share the length `T`"), "{msg}");
    assert!(msg.contains("have 12 steps per clip and the `audio` features 24 (12 more)"), "{msg}");
    // A fixed length: which stream, and by how much.
    let fixed = compile_dsl(&TWO_SYMBOLS.replace("Tv", "12").replace("Ta", "20"));
    let msg = avc::data::expect::check(&fixed, &data).unwrap_err().to_string();
    assert!(msg.contains("input `audio` is declared as [20, 8]"), "{msg}");
    assert!(msg.contains("(the `audio` stream has 4 steps too many)"), "{msg}");
    let fits = compile_dsl(&TWO_SYMBOLS.replace("Tv", "12").replace("Ta", "24"));
    assert!(avc::data::expect::check(&fits, &data).is_ok());
}

#[test]
fn a_model_with_its_own_length_per_input_trains_evaluates_and_retrieves() {
    let _rng = crate::torch_rng_lock();
    let tmp = crate::scratch_dir("lengths-train");
    let compiled = compile_dsl(TWO_SYMBOLS);
    let data: TrainingData = synth::generate(&config()).into();
    let cfg = avc::train::settle(&compiled, &[], tch::Device::Cpu).unwrap();
    let opts = avc::train::TrainOptions {
        device: tch::Device::Cpu,
        runs_dir: tmp.to_path_buf(),
        run_name: Some("run".into()),
        arch_path: PathBuf::from("lengths.avc"),
        verbose: false,
        max_batches: None,
        stop_at: None,
        data_source: DataSource::Synth { seed: 4, knobs: knobs() },
        overrides: vec![],
        init: None,
        profile: false,
    };
    let report = avc::train::train(&compiled, &data, &cfg, &opts).unwrap();
    let epoch = &report.epochs[0];
    assert!(epoch.train_loss.is_finite() && epoch.val_loss.is_finite(), "{epoch:?}");
    assert_eq!(epoch.test.queries, 6);
    // Retrieval from a course directory of such clips: each list at its stream's length.
    let dir = tmp.join("course");
    write(&config(), sink::Layout::Course, &dir);
    let source = course(&dir, ReadOptions::default());
    let (videos, audios) = avc::eval::retrieve::load_lists(
        &source,
        &compiled,
        &dir.join(avc::data::course::TEST_VIDEO_LIST),
        &dir.join(avc::data::course::TEST_AUDIO_LIST),
    )
    .unwrap();
    assert_eq!((videos.steps, audios.steps), (12, 24));
    assert_eq!(audios.data.len(), 6 * 24 * 8);
    // A model whose inputs share one length cannot read them, and says why.
    let shared = compile_dsl(&TWO_SYMBOLS.replace("Tv", "T").replace("Ta", "T"));
    let err = avc::eval::retrieve::load_lists(
        &source,
        &shared,
        &dir.join(avc::data::course::TEST_VIDEO_LIST),
        &dir.join(avc::data::course::TEST_AUDIO_LIST),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("12 steps per clip but the audios 24 (12 more)"), "{err}");
}
