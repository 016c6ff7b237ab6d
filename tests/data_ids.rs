//! Nothing a user has is lost: clip ids of any text survive course -> TFRecords -> course
//! and TFRecords -> course -> TFRecords with every byte (a seeded property test over hostile
//! ids), `avc data convert` refuses an output that overlaps its input, and the data
//! readers' messages name what is wrong (a BOM, a file given as a course directory, a
//! too-large synth knob, test ids among the training clips).

use avc::data::source::{Lists, ReadOptions};
use avc::data::split::read_shard_record;
use avc::data::{Clips, DataSource, Dataset, course, ids, index, open, sink, synth};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

use crate::{Gen, data_tree as tree};

/// Pieces ids are made of: everything the list format or a file name could misread.
const PIECES: [&str; 26] = [
    "#",
    " ",
    "  ",
    "\t",
    "\r",
    "\n",
    "\r\n",
    "/",
    "..",
    ".",
    "%",
    "%25",
    "%zz",
    "%2F",
    "\\",
    "\0",
    "é",
    "日本",
    "\u{feff}",
    "\u{3000}",
    "\u{2028}",
    "train.txt",
    "-Ab_c1",
    "x",
    "# comment",
    "data.yaml",
];

/// A random non-empty id: a few pieces, or now and then a long one (its encoding still a
/// file name: at most 255 bytes).
fn random_id(g: &mut Gen) -> String {
    if g.below(8) == 0 {
        let long = "x".repeat(150 + g.below(80));
        return format!("{}{long}{}", PIECES[g.below(PIECES.len())], PIECES[g.below(PIECES.len())]);
    }
    let n = 1 + g.below(4);
    (0..n).map(|_| PIECES[g.below(PIECES.len())]).collect()
}

/// `n` distinct ids, none in `taken`, all with a course directory name.
fn fresh_ids(g: &mut Gen, n: usize, taken: &mut Vec<String>) -> Vec<String> {
    let mut out = Vec::new();
    while out.len() < n {
        let id = random_id(g);
        if !taken.contains(&id) && ids::dir_name(&id).is_ok() {
            taken.push(id.clone());
            out.push(id);
        }
    }
    out
}

/// A small set with hostile ids: 1-4 training clips, 1-3 test pairs whose audio ids are a
/// rotation of their video ids (a pair's audio may come from another clip), tiny clips.
fn random_set(g: &mut Gen) -> Dataset {
    let (steps, vdim, adim) = (1 + g.below(3), 1 + g.below(4), 1 + g.below(3));
    let mut taken = Vec::new();
    let bytes = |g: &mut Gen, n: usize| -> Vec<u8> { (0..n).map(|_| g.draw() as u8).collect() };
    let n_train = 1 + g.below(4);
    let train_ids = fresh_ids(g, n_train, &mut taken);
    let train = Clips {
        video_ids: train_ids.clone(),
        audio_ids: train_ids,
        video: bytes(g, n_train * steps * vdim),
        audio: bytes(g, n_train * steps * adim),
        video_steps: steps,
        audio_steps: steps,
        video_dim: vdim,
        audio_dim: adim,
        lengths: [Vec::new(), Vec::new()],
    };
    let n_test = 1 + g.below(3);
    let video_ids = fresh_ids(g, n_test, &mut taken);
    let mut audio_ids = video_ids.clone();
    audio_ids.rotate_left(g.below(n_test));
    let test = Clips {
        video_ids,
        audio_ids,
        video: bytes(g, n_test * steps * vdim),
        audio: bytes(g, n_test * steps * adim),
        video_steps: steps,
        audio_steps: steps,
        video_dim: vdim,
        audio_dim: adim,
        lengths: [Vec::new(), Vec::new()],
    };
    Dataset { train, test, origin: "random".into() }
}

/// Every file under `dir` (relative path, bytes), sorted.
fn convert(source: &DataSource, to: sink::Layout, out: &Path) -> Result<String, String> {
    avc::data::convert::convert(source, to, out, 2, &mut |_, _| {}).map_err(|e| e.to_string())
}

/// The data file a TFRecord conversion wrote, with its index cached under `cache`.
fn shards_source(dir: &Path, cache: &Path) -> DataSource {
    match avc::data::source::read_data_file(&dir.join(sink::DATA_FILE)).unwrap() {
        DataSource::Yt8m { pattern, test_shards, lists, options } => DataSource::Yt8m {
            pattern,
            test_shards,
            lists,
            options: ReadOptions { index_cache: Some(cache.to_path_buf()), ..options },
        },
        other => panic!("{other:?}"),
    }
}

/// A record as read back: (shard name, id, audio id, rgb, audio).
type RecordBytes = (String, String, String, Vec<u8>, Vec<u8>);

/// Every record of every shard under `dir`, training shards first.
fn records(dir: &Path) -> Vec<RecordBytes> {
    let mut out = Vec::new();
    let mut shards: Vec<PathBuf> =
        tree(dir).into_iter().map(|(p, _)| p).filter(|p| p.to_string_lossy().ends_with(".tfrecord")).collect();
    // Training shards first, as the writer wrote them.
    shards.sort_by_key(|p| (p.to_string_lossy().starts_with("test-"), p.clone()));
    for rel in shards {
        let path = dir.join(&rel);
        for r in index::ShardIndex::build(&path).unwrap().records {
            let rec = read_shard_record(&path, &r, &mut Vec::new()).unwrap();
            let audio_id = rec.audio_id().to_string();
            out.push((rel.display().to_string(), rec.id, audio_id, rec.rgb, rec.audio));
        }
    }
    out
}

#[test]
fn hostile_ids_survive_both_round_trips() {
    let started = std::time::Instant::now();
    let cases = 40;
    for case in 0..cases {
        let mut g = Gen(0xA5C0_0000 + case);
        let ds = random_set(&mut g);
        let tmp = TempDir::new().unwrap();
        let (cache, t) = (tmp.path().join("cache"), tmp.path());
        // course -> TFRecords -> course: the same files, byte for byte, and the same clips.
        course::write(&ds, &t.join("course")).unwrap_or_else(|e| panic!("case {case}: {e}"));
        let source = DataSource::Dir {
            path: t.join("course"),
            lists: Lists::default(),
            options: ReadOptions { index_cache: Some(cache.clone()), ..ReadOptions::default() },
        };
        convert(&source, sink::Layout::Yt8m, &t.join("shards")).unwrap_or_else(|e| panic!("case {case}: {e}"));
        let back = t.join("back");
        convert(&shards_source(&t.join("shards"), &cache), sink::Layout::Course, &back)
            .unwrap_or_else(|e| panic!("case {case}: {e}"));
        assert_eq!(tree(&back), tree(&t.join("course")), "case {case}: {ds:?}");
        let loaded = course::load(&course::Layout::in_dir(&back), None, None).unwrap();
        assert_eq!((loaded.train, loaded.test), (ds.train.clone(), ds.test.clone()), "case {case}");
        // TFRecords -> course -> TFRecords: the same records, byte for byte.
        let again = t.join("again");
        let back_source = DataSource::Dir { path: back, lists: Lists::default(), options: ReadOptions::default() };
        convert(&back_source, sink::Layout::Yt8m, &again).unwrap_or_else(|e| panic!("case {case}: {e}"));
        assert_eq!(tree(&again), tree(&t.join("shards")), "case {case}");
        let recs = records(&again);
        assert_eq!(recs.len(), ds.train.len() + ds.test.len(), "case {case}");
        for (i, (shard, id, audio_id, rgb, audio)) in recs.iter().enumerate() {
            let (clips, k) = if i < ds.train.len() { (&ds.train, i) } else { (&ds.test, i - ds.train.len()) };
            assert!(shard.starts_with(if i < ds.train.len() { "train-" } else { "test-" }), "case {case}");
            assert_eq!((id, audio_id), (&clips.video_ids[k], &clips.audio_ids[k]), "case {case}");
            assert_eq!((&rgb[..], &audio[..]), (clips.video_clip(k), clips.audio_clip(k)), "case {case}");
        }
    }
    println!("{cases} random sets round-tripped both ways in {:.2?}", started.elapsed());
}

#[test]
fn ids_without_a_directory_name_are_refused_before_writing() {
    let tmp = TempDir::new().unwrap();
    let cache = tmp.path().join("cache");
    let mut ds = synth::generate(&synth::config(1, &["n_train=3".into(), "n_test=2".into()]).unwrap());
    ds.train.video_ids[1] = "y".repeat(300);
    ds.train.audio_ids[1] = "y".repeat(300);
    // The TFRecord layout holds any id...
    let shards = tmp.path().join("shards");
    let mut s = sink::create(sink::Layout::Yt8m, &shards, 10).unwrap();
    for i in 0..ds.train.len() {
        let widths = [ds.train.video_dim, ds.train.audio_dim];
        s.train(&ds.train.video_ids[i], ds.train.video_clip(i), ds.train.audio_clip(i), widths).unwrap();
    }
    for (i, id) in ["", "t1"].iter().enumerate() {
        let widths = [ds.test.video_dim, ds.test.audio_dim];
        s.test(id, ds.test.video_clip(i), id, ds.test.audio_clip(i), widths).unwrap();
    }
    s.finish().unwrap();
    // ...the course layout has no directory for an empty id or one of 300 bytes.
    let out = tmp.path().join("course");
    let e = convert(&shards_source(&shards, &cache), sink::Layout::Course, &out).unwrap_err();
    assert!(e.contains("train clip 2") && e.contains(&"y".repeat(300)) && e.contains("255"), "{e}");
    assert!(!out.exists(), "nothing written");
}

#[test]
fn convert_refuses_an_output_that_overlaps_its_input() {
    let tmp = TempDir::new().unwrap();
    let t = tmp.path();
    let cache = t.join("cache");
    let ds = synth::generate(&synth::config(1, &["n_train=4".into(), "n_test=2".into(), "steps=4".into()]).unwrap());
    course::write(&ds, &t.join("course")).unwrap();
    convert(&DataSource::dir(t.join("course")), sink::Layout::Yt8m, &t.join("shards")).unwrap();
    let before = tree(t);
    let shards = shards_source(&t.join("shards"), &cache);
    let refused = |source: &DataSource, to: sink::Layout, out: &Path, read: &str| {
        let e = convert(source, to, out).unwrap_err();
        assert!(e.contains(&out.display().to_string()) && e.contains(read), "{e}");
    };
    // Into the directory a glob reads: the next read would see every clip twice.
    refused(&shards, sink::Layout::Yt8m, &t.join("shards"), "train-00000.tfrecord");
    refused(&shards, sink::Layout::Course, &t.join("shards"), "train-00000.tfrecord");
    // A directory above the shards, through a path with `..`.
    refused(&shards, sink::Layout::Course, &t.join("shards/../"), "a shard");
    // A glob over subdirectories would match what the writer creates.
    let glob = DataSource::Yt8m {
        pattern: format!("{}/*/train-*.tfrecord", t.display()),
        test_shards: Some(format!("{}/shards/test-*.tfrecord", t.display())),
        lists: Lists::default(),
        options: ReadOptions { index_cache: Some(cache.clone()), ..ReadOptions::default() },
    };
    refused(&glob, sink::Layout::Yt8m, &t.join("new"), "would match");
    // The course directory itself, inside it, and a directory holding a list file.
    let course_source = DataSource::dir(t.join("course"));
    refused(&course_source, sink::Layout::Course, &t.join("course"), "course directory");
    refused(&course_source, sink::Layout::Yt8m, &t.join("course/sub"), "course directory");
    let lists_dir = t.join("lists");
    std::fs::create_dir_all(&lists_dir).unwrap();
    std::fs::copy(t.join("course/train.txt"), lists_dir.join("mine.txt")).unwrap();
    let listed = DataSource::Dir {
        path: t.join("course"),
        lists: Lists { train: Some(lists_dir.join("mine.txt")), ..Lists::default() },
        options: ReadOptions::default(),
    };
    refused(&listed, sink::Layout::Yt8m, &lists_dir, "a list file");
    assert_eq!(tree(t).into_iter().filter(|(p, _)| !p.starts_with("cache")).collect::<Vec<_>>(), {
        let mut b = before.into_iter().filter(|(p, _)| !p.starts_with("cache")).collect::<Vec<_>>();
        b.push((PathBuf::from("lists/mine.txt"), std::fs::read(lists_dir.join("mine.txt")).unwrap()));
        b.sort();
        b
    });
    // A sibling directory is fine.
    convert(&shards, sink::Layout::Course, &t.join("elsewhere")).unwrap();
}

#[test]
fn data_file_messages_name_what_is_wrong() {
    let tmp = TempDir::new().unwrap();
    let t = tmp.path();
    let ds = synth::generate(&synth::config(1, &["n_train=3".into(), "n_test=2".into(), "steps=4".into()]).unwrap());
    course::write(&ds, &t.join("course")).unwrap();
    // A byte-order mark reads as without.
    let file = t.join("bom.yaml");
    std::fs::write(&file, "\u{feff}source: course\npath: course\n").unwrap();
    let source = avc::data::source::read_data_file(&file).unwrap();
    assert!(matches!(&source, DataSource::Dir { path, .. } if path == &t.join("course")), "{source:?}");
    // `path` naming a file, not a directory: said so, at its line.
    std::fs::write(&file, "source: course\n# the features\npath: course/train.txt\n").unwrap();
    let e = avc::data::source::read_data_file(&file).unwrap_err().to_string();
    assert!(e.contains(&format!("{}:3:1", file.display())) && e.contains("a file") && e.contains("directory"), "{e}");
    // A data file too large to be one.
    std::fs::File::create(&file).unwrap().set_len(avc::data::source::MAX_DATA_FILE_BYTES + 1).unwrap();
    let e = avc::data::source::read_data_file(&file).unwrap_err().to_string();
    assert!(e.contains(&file.display().to_string()) && e.contains("limit of 1048576"), "{e}");
}

#[test]
fn too_large_synth_knobs_are_named() {
    for (knob, named) in [
        ("steps=100000000", "steps"),
        ("n_train=100000000", "n_train"),
        ("n_test=100000000", "n_test"),
        ("video_dim=10000000", "video_dim"),
        ("audio_dim=10000000", "audio_dim"),
        ("scenes=10000000", "scenes"),
        ("latent_dim=100000", "latent_dim"),
        ("min_segment=100000000", "min_segment"),
        ("max_segment=100000000", "max_segment"),
        ("max_lag=100000000", "max_lag"),
    ] {
        let e = synth::config(1, &[knob.into()]).unwrap_err().to_string();
        assert!(e.starts_with(&format!("data setting '{named}'")), "{knob}: {e}");
    }
    // Within each limit, but one clip too large: the knob furthest above its default.
    let e = synth::config(1, &["steps=50000".into(), "video_dim=30000".into()]).unwrap_err().to_string();
    assert!(e.starts_with("data setting 'steps'") && e.contains("one clip"), "{e}");
    let e = synth::config(1, &["scenes=100000".into(), "video_dim=20000".into()]).unwrap_err().to_string();
    assert!(e.starts_with("data setting 'scenes'") && e.contains("scene templates"), "{e}");
}

#[test]
fn training_shards_holding_test_ids_warn_with_the_count() {
    let tmp = TempDir::new().unwrap();
    let t = tmp.path();
    let cache = t.join("cache");
    let ds = synth::generate(&synth::config(1, &["n_train=5".into(), "n_test=3".into(), "steps=4".into()]).unwrap());
    let mut s = sink::create(sink::Layout::Yt8m, &t.join("shards"), 100).unwrap();
    let widths = [ds.train.video_dim, ds.train.audio_dim];
    for i in 0..ds.train.len() {
        s.train(&ds.train.video_ids[i], ds.train.video_clip(i), ds.train.audio_clip(i), widths).unwrap();
    }
    // Two test clips are also in the training shard (a test shard among the training glob).
    for i in 0..2 {
        s.train(&ds.test.video_ids[i], ds.test.video_clip(i), ds.test.audio_clip(i), widths).unwrap();
    }
    for i in 0..ds.test.len() {
        let id = &ds.test.video_ids[i];
        s.test(id, ds.test.video_clip(i), id, ds.test.audio_clip(i), widths).unwrap();
    }
    s.finish().unwrap();
    let source = shards_source(&t.join("shards"), &cache);
    let plan = avc::data::open::plan(&source, [None, None]).unwrap();
    let w = &plan.provenance.warnings;
    assert!(w.len() == 1 && w[0].starts_with("2 training clips have the id of a test clip"), "{w:?}");
    let stats = avc::data::stats::stats(&source, 4, 10).unwrap();
    assert!(avc::data::stats::render(&stats).contains("warning: 2 training clips"), "{stats:?}");
    // Without the leak, no warning (and none in what a run records).
    course::write(&ds, &t.join("clean")).unwrap();
    convert(&DataSource::dir(t.join("clean")), sink::Layout::Yt8m, &t.join("clean-shards")).unwrap();
    let clean = shards_source(&t.join("clean-shards"), &cache);
    assert!(avc::data::open::plan(&clean, [None, None]).unwrap().provenance.warnings.is_empty());
    let recorded = serde_json::to_string(&open(&clean, [Some([4, 1024]), Some([4, 128])]).unwrap().provenance);
    assert!(!recorded.unwrap().contains("warnings"));
}
