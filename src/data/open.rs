//! Opening a [`DataSource`]: find the clips (lists, shards, index), then fit them to the
//! model's declared length and decide what is held in memory.
//!
//! The first step gives a [`Plan`], the clips of each split at full length; `avc data
//! stats` and `avc data convert` work on it directly. [`open`] turns it into the
//! [`TrainingData`] a run reads.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::course::{self, Listed, index_pairs, read_list};
use super::crop::{Crop, Fit, Pass};
use super::index::{self, Indexed, ShardIndex};
use super::source::{AUTO_MEMORY_BYTES, DataSource, Lists, Memory, ReadOptions, ValidationRule};
use super::split::{Item, Split, Stream};
use super::training::{Fitted, Provenance, Skipped, TrainingData, Validation, digest_lines};
use super::{DataError, synth};

/// The per-clip `[steps, dim]` a model declares for video and audio, where it does.
pub type Expect = [Option<[usize; 2]>; 2];

/// The clips of a (non-synthetic) source at full length, before fitting.
#[derive(Debug)]
pub struct Plan {
    pub train: Stream,
    pub val: Option<Stream>,
    pub test: Stream,
    pub origin: String,
    pub provenance: Provenance,
    /// A course directory without a crop policy: every clip has the same length.
    pub strict: bool,
    /// The source is TFRecords (streamed by default, validated by hash).
    pub tfrecords: bool,
    pub options: ReadOptions,
}

/// Opens any source for training or evaluation, checked against the model's declared
/// shapes (`expect`).
pub fn open(source: &DataSource, expect: Expect) -> Result<TrainingData, DataError> {
    match source {
        DataSource::Synth { seed, knobs } => Ok(synth::try_generate(&synth::config(*seed, knobs)?)?.into()),
        _ => plan(source, expect)?.fit(expect),
    }
}

/// Finds the clips of a course directory or TFRecord source.
pub fn plan(source: &DataSource, expect: Expect) -> Result<Plan, DataError> {
    plan_for(source, expect, false)
}

/// The plan `avc data stats` describes: whatever the source holds, at any length, with
/// unreadable clips and records counted rather than fatal, and a single shard without test
/// pairs accepted (all of it training clips).
pub fn describe(source: &DataSource) -> Result<Plan, DataError> {
    let mut tolerant = source.clone();
    match &mut tolerant {
        DataSource::Dir { options, .. } => {
            options.skip_corrupt = true;
            options.crop.get_or_insert(Crop::Start);
        }
        DataSource::Yt8m { options, .. } => options.skip_corrupt = true,
        DataSource::Synth { .. } => {}
    }
    plan_for(&tolerant, [None, None], true)
}

fn plan_for(source: &DataSource, expect: Expect, describing: bool) -> Result<Plan, DataError> {
    match source {
        DataSource::Synth { .. } => Err(DataError::Inconsistent {
            what: "the synthetic set".into(),
            reason: "it is generated in memory; this needs a course directory or TFRecords".into(),
        }),
        DataSource::Dir { path, lists, options } => course_plan(path, lists, options, expect),
        DataSource::Yt8m { pattern, test_shards, lists, options } => {
            yt8m_plan(pattern, test_shards.as_deref(), lists, options, expect, describing)
        }
    }
}

/// A stream with no fit yet (full length).
fn unfitted(video_dim: usize, audio_dim: usize, pad: u8) -> Stream {
    Stream {
        video_ids: Vec::new(),
        audio_ids: Vec::new(),
        items: Vec::new(),
        shards: Vec::new(),
        video_dim,
        audio_dim,
        fit: Fit::equal(0, Crop::Start, pad),
    }
}

fn list_digest(path: &Path) -> Result<String, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::Read { path: path.to_path_buf(), source: e })?;
    Ok(index::hex(&<sha2::Sha256 as sha2::Digest>::digest(&bytes)))
}

fn course_plan(dir: &Path, lists: &Lists, options: &ReadOptions, expect: Expect) -> Result<Plan, DataError> {
    if !dir.is_dir() {
        return Err(DataError::Missing { path: dir.to_path_buf(), what: "data directory".into() });
    }
    let train_list = lists.train.clone().unwrap_or_else(|| dir.join(course::TRAIN_LIST));
    let video_list = lists.test_video.clone().unwrap_or_else(|| dir.join(course::TEST_VIDEO_LIST));
    let audio_list = lists.test_audio.clone().unwrap_or_else(|| dir.join(course::TEST_AUDIO_LIST));
    let train_ids = read_list(&train_list)?;
    let video_ids = read_list(&video_list)?;
    let audio_ids = read_list(&audio_list)?;
    if video_ids.len() != audio_ids.len() {
        return Err(DataError::ListLengths {
            video_list,
            video_len: video_ids.len(),
            audio_list,
            audio_len: audio_ids.len(),
        });
    }
    let strict = options.crop.is_none();
    let same = |ids: &[Listed]| -> Vec<(Listed, Listed)> { ids.iter().map(|e| (e.clone(), e.clone())).collect() };
    fn refs(pairs: &[(Listed, Listed)]) -> Vec<(&Listed, &Listed)> {
        pairs.iter().map(|(a, b)| (a, b)).collect()
    }
    let train_pairs = same(&train_ids);
    let mut skipped = Skipped::default();
    let mut skip = options.skip_corrupt.then_some(&mut skipped);
    let (train, widths) =
        index_pairs_skipping(dir, &refs(&train_pairs), [&train_list, &train_list], expect, strict, &mut skip)?;
    // Later splits must look like the first: the model's shapes, or the training clips'.
    let first = train.first().map(|c| c.frames).unwrap_or([0, 0]);
    let later: Expect = [expect[0].or(Some([first[0], widths[0]])), expect[1].or(Some([first[1], widths[1]]))];
    let test_pairs: Vec<(Listed, Listed)> = video_ids.iter().cloned().zip(audio_ids.iter().cloned()).collect();
    let (test, _) =
        index_pairs_skipping(dir, &refs(&test_pairs), [&video_list, &audio_list], later, strict, &mut skip)?;
    let val = match &lists.val {
        Some(list) => {
            let pairs = same(&read_list(list)?);
            Some(index_pairs_skipping(dir, &refs(&pairs), [list, list], later, strict, &mut skip)?.0)
        }
        None => None,
    };
    let mut lists_sha256 = BTreeMap::new();
    lists_sha256.insert("train".to_string(), list_digest(&train_list)?);
    lists_sha256.insert("test_video".to_string(), list_digest(&video_list)?);
    lists_sha256.insert("test_audio".to_string(), list_digest(&audio_list)?);
    if let Some(list) = &lists.val {
        lists_sha256.insert("val".to_string(), list_digest(list)?);
    }
    let to_stream = |clips: &[course::IndexedClip]| {
        let mut s = unfitted(widths[0], widths[1], options.pad);
        for c in clips {
            s.video_ids.push(c.video_id.clone());
            s.audio_ids.push(c.audio_id.clone());
            s.items.push(Item::Course { video: c.video.clone(), audio: c.audio.clone(), frames: c.frames });
        }
        s
    };
    let mut lines = vec![format!("course {} {}", widths[0], widths[1])];
    for (name, clips) in [("train", Some(&train)), ("val", val.as_ref()), ("test", Some(&test))] {
        for c in clips.into_iter().flatten() {
            // One length where the streams agree (as before they could differ), both otherwise.
            let [v, a] = c.frames;
            let frames = if v == a { v.to_string() } else { format!("{} {v} {a}", v.min(a)) };
            lines.push(format!("{name} {} {} {frames}", c.video_id, c.audio_id));
        }
    }
    Ok(Plan {
        train: to_stream(&train),
        val: val.as_deref().map(to_stream),
        test: to_stream(&test),
        origin: dir.display().to_string(),
        provenance: Provenance { index_sha256: digest_lines(&lines), lists_sha256, skipped, ..Provenance::default() },
        strict,
        tfrecords: false,
        options: options.clone(),
    })
}

/// [`index_pairs`], or with `skip` (`--skip-corrupt`) one pair at a time: a pair whose
/// files cannot be read or do not fit (another width; another length without a crop policy)
/// is left out and counted, the others are kept. The first readable pair sets the shapes the
/// rest must have, as in [`index_pairs`].
fn index_pairs_skipping(
    dir: &Path,
    pairs: &[(&Listed, &Listed)],
    lists: [&Path; 2],
    expect: Expect,
    strict: bool,
    skip: &mut Option<&mut Skipped>,
) -> Result<(Vec<course::IndexedClip>, [usize; 2]), DataError> {
    let Some(skipped) = skip else { return index_pairs(dir, pairs, lists, expect, strict) };
    let mut expect = expect;
    let mut widths = expect.map(|e| e.map_or(0, |[_, d]| d));
    let mut out = Vec::with_capacity(pairs.len());
    for pair in pairs {
        match index_pairs(dir, std::slice::from_ref(pair), lists, expect, strict) {
            Ok((mut clip, w)) => {
                let frames = clip.first().map_or([0, 0], |c| c.frames);
                expect = [0, 1].map(|k| expect[k].or(Some([frames[k], w[k]])));
                widths = w;
                out.append(&mut clip);
            }
            Err(e) => {
                skipped.records += 1;
                if skipped.examples.len() < 20 {
                    skipped.examples.push(e.to_string());
                }
            }
        }
    }
    Ok((out, widths))
}

/// The test shards: given, none (test lists), or the last shard held out (or, when
/// `describing`, none for a single shard).
fn test_shards(
    pattern: &str,
    train: &mut Vec<PathBuf>,
    given: Option<&str>,
    lists: &Lists,
    describing: bool,
) -> Result<Vec<PathBuf>, DataError> {
    match (given, lists.test_video.is_some(), lists.test_audio.is_some()) {
        (Some(p), false, false) => {
            let test = index::expand(p)?;
            train.retain(|s| !test.contains(s));
            Ok(test)
        }
        (Some(_), _, _) => Err(DataError::Inconsistent {
            what: "the test pairs".into(),
            reason: "give test shards or test lists, not both".into(),
        }),
        (None, true, true) => Ok(Vec::new()),
        (None, true, false) | (None, false, true) => Err(DataError::Inconsistent {
            what: "the test lists".into(),
            reason: "give both a test video list and a test audio list (line i of both is a pair)".into(),
        }),
        (None, false, false) if train.len() >= 2 => Ok(train.pop().into_iter().collect()),
        (None, false, false) if describing => Ok(Vec::new()),
        (None, false, false) => Err(DataError::Pattern {
            pattern: pattern.to_string(),
            reason: "a single shard and no test pairs: give test lists (--test-video-list, --test-audio-list), \
                     `test_shards` in a data file, or several shards (the last is then held out for testing)"
                .into(),
        }),
    }
}

/// Records that can be used, per shard, after the corrupt ones are refused or skipped.
struct Usable<'a> {
    records: Vec<Vec<&'a Indexed>>,
    widths: [usize; 2],
    skipped: Skipped,
}

fn usable<'a>(indexes: &'a [ShardIndex], options: &ReadOptions, expect: Expect) -> Result<Usable<'a>, DataError> {
    let mut skipped = Skipped::default();
    let mut skip = |shard: &Path, index: usize, reason: String| -> Result<(), DataError> {
        if !options.skip_corrupt {
            return Err(DataError::Record { shard: shard.to_path_buf(), index, reason });
        }
        if skipped.examples.len() < 20 {
            skipped.examples.push(format!("{}: record {index}: {reason}", shard.display()));
        }
        Ok(())
    };
    let mut widths: [Option<(usize, String)>; 2] =
        [0, 1].map(|k| expect[k].map(|[_, d]| (d, format!("the model's {} input", ["video", "audio"][k]))));
    let mut out = Vec::new();
    for s in indexes {
        if s.records.is_empty() && s.corrupt.is_empty() {
            skip(&s.path, 0, "the shard is empty (no records); expected tf.train.SequenceExample records".into())?;
            skipped.empty_shards += 1;
        }
        // The first problem in record order is the one reported.
        let mut problems: Vec<(usize, String)> = s.corrupt.iter().map(|c| (c.index, c.reason.clone())).collect();
        let mut keep = Vec::new();
        for r in &s.records {
            let mut bad = None;
            for k in 0..2 {
                let name = [super::yt8m::RGB, super::yt8m::AUDIO][k];
                match &widths[k] {
                    Some((w, _)) if *w == r.widths[k] => {}
                    Some((w, why)) => {
                        bad = Some(format!("frames of {} values in `{name}`, expected {w} ({why})", r.widths[k]));
                    }
                    None => {
                        let why = format!("like record {} of {}, the first one read", r.index, s.path.display());
                        widths[k] = Some((r.widths[k], why));
                    }
                }
            }
            match bad {
                Some(reason) => problems.push((r.index, reason)),
                None => keep.push(r),
            }
        }
        problems.sort_by_key(|p| p.0);
        for (index, reason) in problems {
            skip(&s.path, index, reason)?;
            skipped.records += 1;
        }
        out.push(keep);
    }
    let widths = widths.map(|w| w.map_or(0, |(w, _)| w));
    Ok(Usable { records: out, widths, skipped })
}

fn yt8m_plan(
    pattern: &str,
    given_test: Option<&str>,
    lists: &Lists,
    options: &ReadOptions,
    expect: Expect,
    describing: bool,
) -> Result<Plan, DataError> {
    let mut train_paths = index::expand(pattern)?;
    let test_paths = test_shards(pattern, &mut train_paths, given_test, lists, describing)?;
    if train_paths.is_empty() {
        return Err(DataError::Pattern {
            pattern: pattern.to_string(),
            reason: "every shard it matches is a test shard; no training shards are left".into(),
        });
    }
    let shards: Vec<PathBuf> = train_paths.iter().chain(&test_paths).cloned().collect();
    let cache = options.index_cache.clone().unwrap_or_else(index::default_cache_dir);
    let indexes = index::index_all(&shards, Some(&cache))?;
    let ok = usable(&indexes, options, expect)?;
    let n_train_shards = train_paths.len();
    let mut by_id: HashMap<&str, (usize, &Indexed)> = HashMap::new();
    for (k, records) in ok.records.iter().enumerate() {
        for r in records {
            by_id.entry(r.id.as_str()).or_insert((k, r));
        }
    }
    let lookup = |list: &Path, (line, id): &Listed| {
        by_id.get(id.as_str()).copied().ok_or_else(|| DataError::UnknownId {
            list: list.to_path_buf(),
            line: *line,
            id: id.clone(),
            origin: format!("yt8m:{pattern}"),
        })
    };
    let [vdim, adim] = ok.widths;
    let mut lists_sha256 = BTreeMap::new();
    // Test pairs.
    let mut test = unfitted(vdim, adim, options.pad);
    let mut held_out: HashSet<String> = HashSet::new();
    if let (Some(vl), Some(al)) = (&lists.test_video, &lists.test_audio) {
        let (v, a) = (read_list(vl)?, read_list(al)?);
        if v.len() != a.len() {
            return Err(DataError::ListLengths {
                video_list: vl.clone(),
                video_len: v.len(),
                audio_list: al.clone(),
                audio_len: a.len(),
            });
        }
        for (ve, ae) in v.iter().zip(&a) {
            let (vk, vr) = lookup(vl, ve)?;
            let (ak, ar) = lookup(al, ae)?;
            test.items.push(if vr == ar {
                Item::Record { shard: vk, entry: vr.clone() }
            } else {
                Item::Pair { video: (vk, vr.clone()), audio: (ak, ar.clone()) }
            });
            test.video_ids.push(ve.1.clone());
            test.audio_ids.push(ae.1.clone());
            held_out.extend([ve.1.clone(), ae.1.clone()]);
        }
        lists_sha256.insert("test_video".to_string(), list_digest(vl)?);
        lists_sha256.insert("test_audio".to_string(), list_digest(al)?);
    } else {
        for (k, records) in ok.records.iter().enumerate().skip(n_train_shards) {
            for r in records {
                test.items.push(Item::Record { shard: k, entry: (*r).clone() });
                test.video_ids.push(r.id.clone());
                test.audio_ids.push(r.audio_id().to_string());
            }
        }
    }
    // Validation list.
    let val = match &lists.val {
        Some(list) => {
            let mut val = unfitted(vdim, adim, options.pad);
            for e in read_list(list)? {
                let (k, r) = lookup(list, &e)?;
                val.items.push(Item::Record { shard: k, entry: r.clone() });
                val.video_ids.push(r.id.clone());
                val.audio_ids.push(r.id.clone());
                held_out.insert(r.id.clone());
            }
            lists_sha256.insert("val".to_string(), list_digest(list)?);
            Some(val)
        }
        None => None,
    };
    // Training clips: the list's, or every record of the training shards not held out.
    let mut train = unfitted(vdim, adim, options.pad);
    let mut push = |k: usize, r: &Indexed| {
        train.items.push(Item::Record { shard: k, entry: r.clone() });
        train.video_ids.push(r.id.clone());
        train.audio_ids.push(r.id.clone());
    };
    if let Some(list) = &lists.train {
        for e in read_list(list)? {
            let (k, r) = lookup(list, &e)?;
            push(k, r);
        }
        lists_sha256.insert("train".to_string(), list_digest(list)?);
    } else {
        for (k, records) in ok.records.iter().enumerate().take(n_train_shards) {
            records.iter().filter(|r| !held_out.contains(&r.id)).for_each(|r| push(k, r));
        }
    }
    for s in [&mut train, &mut test] {
        s.shards.clone_from(&shards);
    }
    let val = val.map(|mut v| {
        v.shards.clone_from(&shards);
        v
    });
    let provenance = Provenance {
        index_sha256: index::digest(&indexes),
        lists_sha256,
        skipped: ok.skipped,
        warnings: leakage(&train, &test).into_iter().collect(),
        ..Provenance::default()
    };
    // Which records are the test pairs is part of what the data is: say it where they
    // come from shards (lists are recorded in the provenance).
    let origin = match (given_test, test_paths.as_slice()) {
        (Some(given), _) => format!("yt8m:{pattern}, test shards {given}"),
        (None, [held_out]) => format!("yt8m:{pattern}, test shard {}", held_out.display()),
        _ => format!("yt8m:{pattern}"),
    };
    Ok(Plan { train, val, test, origin, provenance, strict: false, tfrecords: true, options: options.clone() })
}

/// A warning when training clips have the id of a test video or audio: training on a test
/// clip inflates every test number. YouTube-8M ids are unique per video, so a repeated id
/// is almost always the same video in two shards (a test shard among the training glob, or
/// a training list naming test clips).
fn leakage(train: &Stream, test: &Stream) -> Option<String> {
    let test_ids: HashSet<&str> = test.video_ids.iter().chain(&test.audio_ids).map(String::as_str).collect();
    let leaked: Vec<&str> = train.video_ids.iter().map(String::as_str).filter(|id| test_ids.contains(id)).collect();
    let first = leaked.first()?;
    Some(format!(
        "{} training clip{} ha{} the id of a test clip (e.g. '{}'): the test pairs are not held out from training, \
         so test results overstate what the model does on unseen clips",
        leaked.len(),
        if leaked.len() == 1 { "" } else { "s" },
        if leaked.len() == 1 { "s" } else { "ve" },
        super::ids::encode(first),
    ))
}

impl Plan {
    /// Fits every clip to the declared length and decides what is held in memory.
    pub fn fit(self, expect: Expect) -> Result<TrainingData, DataError> {
        let Plan { mut train, val, mut test, origin, mut provenance, strict, tfrecords, options } = self;
        let steps = fitted_steps(expect, &options, strict, train.items.first())?;
        let fit = Fit { steps, crop: options.crop.unwrap_or_default(), pad: options.pad };
        if !strict {
            for s in [Some(&train), val.as_ref(), Some(&test)].into_iter().flatten() {
                s.check_rates(&fit)?;
            }
        }
        let validation = match val {
            Some(v) => {
                let first = train.items.len();
                train.items.extend(v.items);
                train.video_ids.extend(v.video_ids);
                train.audio_ids.extend(v.audio_ids);
                Validation::Listed { first }
            }
            None => match options.validation.unwrap_or(if tfrecords {
                ValidationRule::Hash
            } else {
                ValidationRule::Seeded
            }) {
                ValidationRule::Seeded => Validation::Seeded,
                ValidationRule::Hash => Validation::Hash,
            },
        };
        let span = |i: &Item| fit.span(i.stream_frames())[0];
        let cropped = train.items.iter().filter(|i| span(i) > steps[0]).count();
        let padded = train.items.iter().filter(|i| span(i) < steps[0]).count();
        if !strict {
            let audio_steps = (steps[1] != steps[0]).then_some(steps[1]);
            provenance.fitted =
                Some(Fitted { steps: steps[0], audio_steps, crop: fit.crop, pad: fit.pad, cropped, padded });
        }
        train.fit = fit;
        test.fit = fit;
        let all: Vec<usize> = (0..test.items.len()).collect();
        let test = test.gather(&all, Pass::Eval)?;
        let per_clip =
            steps[0].saturating_mul(train.video_dim).saturating_add(steps[1].saturating_mul(train.audio_dim));
        let bytes = train.items.len().saturating_mul(per_clip);
        let moving = fit.crop == Crop::Random && cropped > 0;
        let load = match options.memory {
            Memory::Load if moving => {
                return Err(DataError::Setting {
                    key: "memory".into(),
                    reason: "random crops move every epoch, so the clips are read per batch: use memory: stream or \
                             auto"
                        .into(),
                });
            }
            Memory::Load => true,
            Memory::Stream => false,
            Memory::Auto => !tfrecords && !moving && bytes <= AUTO_MEMORY_BYTES,
        };
        let train = if load {
            let all: Vec<usize> = (0..train.items.len()).collect();
            Split::Memory(train.gather(&all, Pass::Eval)?)
        } else {
            Split::Stream(train)
        };
        provenance.streamed = train.is_streamed();
        Ok(TrainingData { train, test, origin, validation, provenance })
    }
}

/// One stream of listed clips: row-major `[clips, steps, dim]` bytes, `[steps, dim]`, and
/// each clip's own steps when some clip was padded (empty otherwise).
pub type ListedClips = (Vec<u8>, [usize; 2], Vec<u32>);

/// One stream (`video` or `audio`) of the clips `ids` (from list file `list`), looked up in
/// a course directory or TFRecord source and fitted like training clips (evaluation
/// windows): row-major `[ids.len(), steps, dim]` bytes and the per-clip shape. `expect` is
/// the model's declared shape for that stream.
pub fn read_ids(
    source: &DataSource,
    ids: &[Listed],
    list: &Path,
    stream: &str,
    expect: Option<[usize; 2]>,
) -> Result<ListedClips, DataError> {
    let audio = stream == "audio";
    let options = source.options();
    let steps = expect.map(|[s, _]| s).or(if audio { options.audio_steps.or(options.steps) } else { options.steps });
    // One stream at a time: its own length, its window centred in its own frames.
    let fit = |frames: usize| Fit::equal(steps.unwrap_or(frames), options.crop.unwrap_or_default(), options.pad);
    let mut out = Vec::new();
    let mut lengths: Vec<u32> = Vec::new();
    let mut shape: Option<[usize; 2]> = None;
    let mut push = |data: &[u8], [frames, dim]: [usize; 2], what: String| -> Result<(), DataError> {
        let f = fit(frames);
        let want = shape.get_or_insert([f.steps[0], expect.map_or(dim, |[_, d]| d)]);
        if dim != want[1] || (options.crop.is_none() && frames != want[0]) {
            return Err(DataError::Shape {
                path: PathBuf::from(what),
                expected: format!("{:?} (steps, dim), as the model declares or the first clip has", *want),
                found: format!("{:?}", [frames, dim]),
            });
        }
        lengths.push(f.append(0, data, dim, f.start(frames, 0, Pass::Eval), &mut out) as u32);
        Ok(())
    };
    match source {
        DataSource::Synth { .. } => {
            return Err(DataError::Inconsistent {
                what: "the synthetic set".into(),
                reason: "its clips are generated, not looked up by id".into(),
            });
        }
        DataSource::Dir { path, options, .. } if options.crop.is_none() => {
            // Without a crop every clip has the model's steps: nothing is padded.
            let (data, shape) = course::read_stream(path, ids, list, stream, expect)?;
            return Ok((data, shape, Vec::new()));
        }
        DataSource::Dir { path, .. } => {
            let file = if audio { course::AUDIO_FILE } else { course::VIDEO_FILE };
            for (line, id) in ids {
                let file = course::clip_dir(path, id).join(file);
                let what = format!("{stream} features of clip '{id}' ({}, line {line})", list.display());
                let (data, shape) = course::read_npy(&file, &what)?;
                push(&data, shape, file.display().to_string())?;
            }
        }
        DataSource::Yt8m { pattern, test_shards, .. } => {
            let mut shards = index::expand(pattern)?;
            if let Some(t) = test_shards {
                shards.extend(index::expand(t)?);
            }
            let cache = options.index_cache.clone().unwrap_or_else(index::default_cache_dir);
            let indexes = index::index_all(&shards, Some(&cache))?;
            let ok = usable(&indexes, &options, [None, None])?;
            let mut by_id: HashMap<&str, (usize, &Indexed)> = HashMap::new();
            for (k, records) in ok.records.iter().enumerate() {
                for r in records {
                    by_id.entry(r.id.as_str()).or_insert((k, r));
                }
            }
            let mut payload = Vec::new();
            for (line, id) in ids {
                let (k, r) = by_id.get(id.as_str()).copied().ok_or_else(|| DataError::UnknownId {
                    list: list.to_path_buf(),
                    line: *line,
                    id: id.clone(),
                    origin: format!("yt8m:{pattern}"),
                })?;
                let rec = super::split::read_shard_record(&shards[k], r, &mut payload)?;
                let frames = if audio { rec.audio_frames() } else { rec.frames };
                let (data, dim) = if audio { (rec.audio, rec.audio_width) } else { (rec.rgb, rec.rgb_width) };
                push(&data, [frames, dim], format!("{} (record {})", shards[k].display(), r.index))?;
            }
        }
    }
    let shape = shape.unwrap_or([0, 0]);
    // Only a list with a padded clip carries lengths: full clips run unmasked.
    if lengths.iter().all(|&l| l as usize >= shape[0]) {
        lengths.clear();
    }
    Ok((out, shape, lengths))
}

/// The `[video, audio]` lengths clips are fitted to: the model's (per stream), else the data
/// file's `steps` / `audio_steps`; a stream that has none takes the other's (one length for
/// both, as before streams could differ). Without a crop policy (`strict`), the first clip's
/// own lengths where the model declares none.
fn fitted_steps(
    expect: Expect,
    options: &ReadOptions,
    strict: bool,
    first: Option<&Item>,
) -> Result<[usize; 2], DataError> {
    let declared = expect.map(|e| e.map(|[s, _]| s));
    let [video, audio] = if strict {
        let own = first.map(Item::stream_frames);
        [0, 1].map(|k| declared[k].or(own.map(|f| f[k])))
    } else {
        [declared[0].or(options.steps), declared[1].or(options.audio_steps).or(options.steps)]
    };
    match (video.or(audio), audio.or(video)) {
        (Some(v), Some(a)) => Ok([v, a]),
        _ if strict => Ok([0, 0]),
        _ => Err(DataError::Setting {
            key: "steps".into(),
            reason: "the model's inputs do not declare a length (a symbol such as T): set `steps` in a data \
                     file so clips of different lengths can be cropped or padded to it"
                .into(),
        }),
    }
}

impl Stream {
    /// Checks that every clip's streams have the fit's rate ratio (see
    /// [`Fit::rate_mismatch`]); the error names the clip's file or record.
    fn check_rates(&self, fit: &Fit) -> Result<(), DataError> {
        for (row, item) in self.items.iter().enumerate() {
            let Some(reason) = fit.rate_mismatch(item.stream_frames()) else { continue };
            return Err(match item {
                Item::Record { shard, entry } | Item::Pair { audio: (shard, entry), .. } => DataError::Record {
                    shard: self.shards.get(*shard).cloned().unwrap_or_default(),
                    index: entry.index,
                    reason: format!("clip '{}': {reason}", super::ids::encode(&self.audio_ids[row])),
                },
                Item::Course { audio, .. } => DataError::Shape {
                    path: audio.clone(),
                    expected: format!("the audio of clip '{}' at the model's audio rate", self.audio_ids[row]),
                    found: reason,
                },
            });
        }
        Ok(())
    }
}
