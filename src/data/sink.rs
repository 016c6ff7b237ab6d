//! Writing clips one at a time in either layout, so that generating or converting a set of
//! any size needs memory for one clip, not for the set.
//!
//! * [`CourseSink`]: `DIR/<id>/vfeat.npy`, `afeat.npy`, then the three list files;
//! * [`Yt8mSink`]: `train-NNNNN.tfrecord` and `test-NNNNN.tfrecord` shards of
//!   SequenceExamples, then `data.yaml`, the data file that names them (train shards, test
//!   shards as held-out test pairs).
//!
//! Every file is written under a temporary name and renamed when complete; the lists (or
//! the data file) come last, so a directory that has them is complete.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{DataError, course, ids, tfrecord, yt8m};

/// Where clips go.
pub trait ClipSink {
    /// A training clip: both streams `[frames, width]` row-major.
    fn train(&mut self, id: &str, video: &[u8], audio: &[u8], widths: [usize; 2]) -> Result<(), DataError>;
    /// A test pair: the video of `video_id` and the audio of `audio_id` (often the same id).
    fn test(
        &mut self,
        video_id: &str,
        video: &[u8],
        audio_id: &str,
        audio: &[u8],
        widths: [usize; 2],
    ) -> Result<(), DataError>;
    /// Writes what makes the output complete (lists, data file); returns a one-line summary.
    fn finish(&mut self) -> Result<String, DataError>;
}

/// Which layout to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Course,
    Yt8m,
}

impl std::str::FromStr for Layout {
    type Err = String;

    fn from_str(s: &str) -> Result<Layout, String> {
        match s {
            "course" => Ok(Layout::Course),
            "yt8m" | "tfrecord" => Ok(Layout::Yt8m),
            other => Err(format!("unknown layout '{other}'; expected course or yt8m")),
        }
    }
}

/// A sink of the given layout under `dir`.
pub fn create(layout: Layout, dir: &Path, clips_per_shard: usize) -> Result<Box<dyn ClipSink>, DataError> {
    create_shown(layout, dir, dir, clips_per_shard)
}

/// A sink writing under `dir` whose summary names `shown`: the directory a staged `dir`
/// (written whole, then renamed) becomes.
pub fn create_shown(
    layout: Layout,
    dir: &Path,
    shown: &Path,
    clips_per_shard: usize,
) -> Result<Box<dyn ClipSink>, DataError> {
    fs::create_dir_all(dir).map_err(|e| DataError::Write { path: dir.to_path_buf(), source: e })?;
    Ok(match layout {
        Layout::Course => Box::new(CourseSink { shown: shown.to_path_buf(), ..CourseSink::new(dir) }),
        Layout::Yt8m => {
            let mut sink = Yt8mSink::new(dir, clips_per_shard);
            sink.shown = shown.to_path_buf();
            Box::new(sink)
        }
    })
}

/// The course layout, written clip by clip.
pub struct CourseSink {
    dir: PathBuf,
    /// The directory the summary names.
    shown: PathBuf,
    train: Vec<String>,
    test_video: Vec<String>,
    test_audio: Vec<String>,
    /// Every file written, with a digest of its content: an id written twice must carry the
    /// same features.
    written: HashMap<PathBuf, [u8; 32]>,
}

impl CourseSink {
    pub fn new(dir: &Path) -> CourseSink {
        CourseSink {
            dir: dir.to_path_buf(),
            shown: dir.to_path_buf(),
            train: Vec::new(),
            test_video: Vec::new(),
            test_audio: Vec::new(),
            written: HashMap::new(),
        }
    }

    /// Writes one stream of clip `id` into its directory, named by the id's encoding
    /// ([`ids::dir_name`]: an id that has none is refused, naming it).
    fn clip_file(&mut self, id: &str, file: &str, data: &[u8], width: usize) -> Result<(), DataError> {
        let name = ids::dir_name(id).map_err(|reason| DataError::Inconsistent {
            what: format!("clip id '{}'", ids::encode(id)),
            reason: format!("its id cannot be written in the course layout: {reason}"),
        })?;
        let path = self.dir.join(name).join(file);
        let digest: [u8; 32] = Sha256::digest(data).into();
        match self.written.get(&path) {
            Some(d) if *d == digest => return Ok(()),
            Some(_) => {
                return Err(DataError::Conflict {
                    path,
                    reason: format!("clip '{id}' appears twice with different features"),
                });
            }
            None => {}
        }
        let frames = data.len() / width.max(1);
        course::write_npy(&path, data, [frames, width])?;
        self.written.insert(path, digest);
        Ok(())
    }
}

impl ClipSink for CourseSink {
    fn train(&mut self, id: &str, video: &[u8], audio: &[u8], widths: [usize; 2]) -> Result<(), DataError> {
        self.clip_file(id, course::VIDEO_FILE, video, widths[0])?;
        self.clip_file(id, course::AUDIO_FILE, audio, widths[1])?;
        self.train.push(ids::encode(id));
        Ok(())
    }

    fn test(
        &mut self,
        video_id: &str,
        video: &[u8],
        audio_id: &str,
        audio: &[u8],
        widths: [usize; 2],
    ) -> Result<(), DataError> {
        self.clip_file(video_id, course::VIDEO_FILE, video, widths[0])?;
        self.clip_file(audio_id, course::AUDIO_FILE, audio, widths[1])?;
        self.test_video.push(ids::encode(video_id));
        self.test_audio.push(ids::encode(audio_id));
        Ok(())
    }

    fn finish(&mut self) -> Result<String, DataError> {
        course::write_list(&self.dir.join(course::TRAIN_LIST), &self.train)?;
        course::write_list(&self.dir.join(course::TEST_VIDEO_LIST), &self.test_video)?;
        course::write_list(&self.dir.join(course::TEST_AUDIO_LIST), &self.test_audio)?;
        Ok(format!(
            "wrote {} train and {} test clips to {} (course layout)",
            self.train.len(),
            self.test_video.len(),
            self.shown.display()
        ))
    }
}

/// One shard being written: its temporary file, final name and record count.
struct OpenShard {
    out: BufWriter<File>,
    tmp: PathBuf,
    path: PathBuf,
    records: usize,
}

/// YouTube-8M-style shards, written record by record.
pub struct Yt8mSink {
    dir: PathBuf,
    /// The directory the summary names.
    shown: PathBuf,
    per_shard: usize,
    open: [Option<OpenShard>; 2],
    shards: [usize; 2],
    clips: [usize; 2],
}

/// The data file a [`Yt8mSink`] writes beside its shards.
pub const DATA_FILE: &str = "data.yaml";

impl Yt8mSink {
    pub fn new(dir: &Path, per_shard: usize) -> Yt8mSink {
        Yt8mSink {
            dir: dir.to_path_buf(),
            shown: dir.to_path_buf(),
            per_shard: per_shard.max(1),
            open: [None, None],
            shards: [0, 0],
            clips: [0, 0],
        }
    }

    /// Appends a record to the train (0) or test (1) shard in progress.
    fn record(&mut self, which: usize, payload: &[u8]) -> Result<(), DataError> {
        if self.open[which].as_ref().is_some_and(|s| s.records >= self.per_shard) {
            self.close(which)?;
        }
        if self.open[which].is_none() {
            let name = format!("{}-{:05}.tfrecord", ["train", "test"][which], self.shards[which]);
            let path = self.dir.join(&name);
            let tmp = self.dir.join(format!(".partial-{}-{name}", std::process::id()));
            let file = File::create(&tmp).map_err(|e| DataError::Write { path: tmp.clone(), source: e })?;
            self.open[which] = Some(OpenShard { out: BufWriter::with_capacity(1 << 20, file), tmp, path, records: 0 });
            self.shards[which] += 1;
        }
        if let Some(shard) = self.open[which].as_mut() {
            tfrecord::write_record(&mut shard.out, payload)
                .map_err(|e| DataError::Write { path: shard.tmp.clone(), source: e })?;
            shard.records += 1;
        }
        self.clips[which] += 1;
        Ok(())
    }

    fn close(&mut self, which: usize) -> Result<(), DataError> {
        let Some(shard) = self.open[which].take() else { return Ok(()) };
        let done = shard
            .out
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all())
            .and_then(|()| fs::rename(&shard.tmp, &shard.path));
        done.map_err(|e| {
            let _ = fs::remove_file(&shard.tmp);
            DataError::Write { path: shard.path.clone(), source: e }
        })
    }
}

impl Drop for Yt8mSink {
    fn drop(&mut self) {
        for shard in self.open.iter_mut().filter_map(Option::take) {
            let _ = fs::remove_file(&shard.tmp);
        }
    }
}

impl ClipSink for Yt8mSink {
    fn train(&mut self, id: &str, video: &[u8], audio: &[u8], widths: [usize; 2]) -> Result<(), DataError> {
        self.record(0, &yt8m::encode(id, None, video, widths[0], audio, widths[1]))
    }

    fn test(
        &mut self,
        video_id: &str,
        video: &[u8],
        audio_id: &str,
        audio: &[u8],
        widths: [usize; 2],
    ) -> Result<(), DataError> {
        let audio_id = (audio_id != video_id).then_some(audio_id);
        self.record(1, &yt8m::encode(video_id, audio_id, video, widths[0], audio, widths[1]))
    }

    fn finish(&mut self) -> Result<String, DataError> {
        self.close(0)?;
        self.close(1)?;
        let text = "# Written by avc: train shards, and test shards whose records are the test pairs.\n\
                    source: yt8m\npath: train-*.tfrecord\ntest_shards: test-*.tfrecord\n";
        let file = self.dir.join(DATA_FILE);
        avc_lang::atomic::write(&file, text.as_bytes())
            .map_err(|e| DataError::Write { path: file.clone(), source: e })?;
        Ok(format!(
            "wrote {} train clips in {} shards and {} test pairs in {} shards to {}; use --data {}",
            self.clips[0],
            self.shards[0],
            self.clips[1],
            self.shards[1],
            self.shown.display(),
            self.shown.join(DATA_FILE).display()
        ))
    }
}
