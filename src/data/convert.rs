//! `avc data convert`: any source written in either layout, clip by clip, at full length
//! (nothing is cropped), so course layout -> TFRecords -> course layout gives back the same
//! files, and every clip id with them (ids are encoded in the course layout, see [`ids`]).
//!
//! Validation clips from a `val` list are written as training clips; the test pairs stay
//! test pairs (test shards in TFRecords, test lists in the course layout).
//!
//! Nothing is written before everything that can be checked is: the source is planned
//! (lists read, shards indexed), the output must not overlap what the source reads, and in
//! the course layout every id must have a directory name.

use std::path::{Path, PathBuf};

use super::open::{Plan, plan};
use super::sink::{self, ClipSink, Layout};
use super::source::{DataSource, Lists};
use super::split::Stream;
use super::{DataError, course, ids, synth};

/// Clips per TFRecord shard when converting.
pub const CLIPS_PER_SHARD: usize = 1000;

/// Converts `source` into `layout` as the directory `out`; `progress(done, total)` after
/// each clip. Returns the writer's summary line.
///
/// `out` is written whole: into a hidden sibling, marked as avc's data of this layout and
/// renamed into place ([`avc_lang::output::write_dir`]), so an earlier conversion there is
/// replaced, never mixed with this one. The caller has claimed `out`
/// ([`crate::outputs::claim`]), which refuses a directory avc did not write.
pub fn convert(
    source: &DataSource,
    layout: Layout,
    out: &Path,
    clips_per_shard: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<String, DataError> {
    if let DataSource::Synth { seed, knobs } = source {
        let cfg = synth::config(*seed, knobs)?;
        return write_whole(layout, out, clips_per_shard, |sink| synth::write_to(&cfg, sink, progress));
    }
    let mut p = plan(source, [None, None])?;
    // Streams of different lengths (audio at another frame rate) are written whole, at the
    // ratio of the first training clip's; equal ones, as always, cut to the shorter stream.
    let ratio = p.train.items.first().map(|i| i.stream_frames()).filter(|[v, a]| v != a);
    if let Some(ratio) = ratio {
        for s in [Some(&mut p.train), p.val.as_mut(), Some(&mut p.test)].into_iter().flatten() {
            s.fit.steps = ratio;
        }
    }
    check_overlap(source, &p, layout, out)?;
    if layout == Layout::Course {
        check_dir_names(&p)?;
    }
    let total = p.train.items.len() + p.val.as_ref().map_or(0, |v| v.items.len()) + p.test.items.len();
    let mut done = 0;
    let mut payload = Vec::new();
    let mut copy = |s: &Stream, test: bool, sink: &mut dyn ClipSink| -> Result<(), DataError> {
        let widths = [s.video_dim, s.audio_dim];
        for row in 0..s.items.len() {
            let (video, audio, _) = s.read(row, &mut payload)?;
            if test {
                sink.test(&s.video_ids[row], &video, &s.audio_ids[row], &audio, widths)?;
            } else {
                sink.train(&s.video_ids[row], &video, &audio, widths)?;
            }
            done += 1;
            progress(done, total);
        }
        Ok(())
    };
    write_whole(layout, out, clips_per_shard, |sink| {
        copy(&p.train, false, sink)?;
        if let Some(val) = &p.val {
            copy(val, false, sink)?;
        }
        copy(&p.test, true, sink)
    })
}

/// Writes the directory `out` whole through a sink of `layout` that `fill` feeds; returns
/// the sink's summary (which names `out`, not the hidden sibling it was written as).
fn write_whole(
    layout: Layout,
    out: &Path,
    clips_per_shard: usize,
    fill: impl FnOnce(&mut dyn ClipSink) -> Result<(), DataError>,
) -> Result<String, DataError> {
    let kind = match layout {
        Layout::Course => crate::outputs::COURSE_DATA,
        Layout::Yt8m => crate::outputs::YT8M_DATA,
    };
    let mut summary = String::new();
    let io = |path: &Path, e: std::io::Error| DataError::Write { path: path.to_path_buf(), source: e };
    let body = |tmp: &Path| {
        let mut sink = sink::create_shown(layout, tmp, out, clips_per_shard)?;
        fill(sink.as_mut())?;
        summary = sink.finish()?;
        Ok(())
    };
    avc_lang::output::write_dir(out, kind, body, io)?;
    Ok(summary)
}

/// Every id of the plan must name a course directory (not empty, not too long once
/// encoded): refused with the clip named, before anything is written.
fn check_dir_names(p: &Plan) -> Result<(), DataError> {
    let splits = [("train", Some(&p.train)), ("validation", p.val.as_ref()), ("test", Some(&p.test))];
    for (split, stream) in splits {
        let Some(s) = stream else { continue };
        for (row, (v, a)) in s.video_ids.iter().zip(&s.audio_ids).enumerate() {
            for id in [v, a] {
                ids::dir_name(id).map_err(|reason| DataError::Inconsistent {
                    what: format!("{split} clip {} '{}' of {}", row + 1, ids::encode(id), p.origin),
                    reason: format!("its id cannot be written in the course layout: {reason}"),
                })?;
            }
        }
    }
    Ok(())
}

/// Refuses an output directory that overlaps what the source reads: converting into it
/// would read the output back as input next time (a glob over the directory doubles every
/// clip) or overwrite the source while it is read.
///
/// Overlap means: a file or directory the source reads (the course directory, a list
/// file, a shard, a directory of shards) is `out` or lies inside it; `out` lies inside the
/// course directory; or a file the writer creates would match the source's glob.
fn check_overlap(source: &DataSource, p: &Plan, layout: Layout, out: &Path) -> Result<(), DataError> {
    let out_real = real(out);
    let conflict = |read: &Path, what: &str| DataError::Conflict {
        path: out.to_path_buf(),
        reason: format!(
            "the source {} reads {} ({what}) there; writing into it would mix the output with the input. \
             Choose an --out directory outside what the source reads",
            source.describe(),
            read.display()
        ),
    };
    let mut reads: Vec<(PathBuf, &str)> = list_paths(source).into_iter().map(|l| (l, "a list file")).collect();
    match source {
        DataSource::Dir { path, .. } => {
            if out_real.starts_with(real(path)) {
                return Err(conflict(path, "the course directory"));
            }
            reads.push((path.clone(), "the course directory"));
        }
        DataSource::Yt8m { pattern, test_shards, .. } => {
            for pat in std::iter::once(pattern).chain(test_shards) {
                if Path::new(pat).is_dir() {
                    reads.push((PathBuf::from(pat), "a directory of shards"));
                } else if let Some(file) = written_match(pat, layout, out) {
                    return Err(conflict(Path::new(pat), &format!("a glob that {} would match", file.display())));
                }
            }
            for shard in p.train.shards.iter().chain(&p.test.shards) {
                reads.push((shard.clone(), "a shard"));
            }
        }
        DataSource::Synth { .. } => {}
    }
    match reads.iter().find(|(read, _)| real(read).starts_with(&out_real)) {
        Some((read, what)) => Err(conflict(read, what)),
        None => Ok(()),
    }
}

/// The list files a source reads, named or by default.
fn list_paths(source: &DataSource) -> Vec<PathBuf> {
    let (lists, dir): (&Lists, Option<&PathBuf>) = match source {
        DataSource::Dir { path, lists, .. } => (lists, Some(path)),
        DataSource::Yt8m { lists, .. } => (lists, None),
        DataSource::Synth { .. } => return Vec::new(),
    };
    let defaults = [course::TRAIN_LIST, course::TEST_VIDEO_LIST, course::TEST_AUDIO_LIST];
    let named = [&lists.train, &lists.test_video, &lists.test_audio];
    let mut out: Vec<PathBuf> = named
        .iter()
        .zip(defaults)
        .filter_map(|(given, default)| (*given).clone().or_else(|| dir.map(|d| d.join(default))))
        .collect();
    out.extend(lists.val.clone());
    out
}

/// A file the writer of `layout` creates under `out` that the glob `pattern` matches.
fn written_match(pattern: &str, layout: Layout, out: &Path) -> Option<PathBuf> {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let glob = glob::Pattern::new(&absolute(Path::new(pattern)).to_string_lossy()).ok()?;
    let names: &[&str] = match layout {
        Layout::Yt8m => &["train-00000.tfrecord", "test-00000.tfrecord", sink::DATA_FILE],
        Layout::Course => &[course::TRAIN_LIST, course::TEST_VIDEO_LIST, course::TEST_AUDIO_LIST],
    };
    let mut files: Vec<PathBuf> = names.iter().map(|n| out.join(n)).collect();
    if layout == Layout::Course {
        files.extend([course::VIDEO_FILE, course::AUDIO_FILE].map(|f| out.join("clip").join(f)));
    }
    files.into_iter().find(|f| glob.matches_path(&absolute(f)) || glob.matches_path(&real(f)))
}

/// `path` with symbolic links and `..` resolved, as far as it exists (the output directory
/// may not exist yet): the longest existing ancestor canonicalized, the rest appended.
fn real(path: &Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut missing = Vec::new();
    let mut here = abs.as_path();
    loop {
        if let Ok(canonical) = here.canonicalize() {
            return missing.iter().rev().fold(canonical, |p, part| p.join(part));
        }
        match (here.parent(), here.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_os_string());
                here = parent;
            }
            _ => return abs,
        }
    }
}
