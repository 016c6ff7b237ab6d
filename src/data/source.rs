//! Where data come from: one notion for every command that takes `--data`.
//!
//! ```text
//! synth | synth:SEED            the embedded synthetic set
//! DIR  (or course:DIR)          the course layout: DIR/<id>/vfeat.npy, afeat.npy and lists
//! yt8m:PATH_OR_GLOB             YouTube-8M frame-level TFRecord shards
//! FILE.yaml                     a data file naming one of the above, its lists and rules
//! ```
//!
//! A [`DataSource`] is what a run records (config.yaml, sweep.json): a data file is resolved
//! into the source it names, with its paths made relative to the file's directory, so the
//! record says exactly what was read.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::DataError;
use super::crop::Crop;

/// Where the data come from, recorded in every run so `--resume`, `avc eval` and the
/// sweep can load them again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataSource {
    /// The embedded generator, its seed and `KEY=VALUE` knob overrides.
    Synth { seed: u64, knobs: Vec<String> },
    /// A directory in the course's layout.
    Dir {
        path: PathBuf,
        #[serde(default, skip_serializing_if = "Lists::is_empty")]
        lists: Lists,
        #[serde(default, skip_serializing_if = "ReadOptions::is_default")]
        options: ReadOptions,
    },
    /// YouTube-8M frame-level TFRecord shards: a file, a directory or a glob.
    Yt8m {
        pattern: String,
        /// Shards whose records are the test pairs (held out from training).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        test_shards: Option<String>,
        #[serde(default, skip_serializing_if = "Lists::is_empty")]
        lists: Lists,
        #[serde(default, skip_serializing_if = "ReadOptions::is_default")]
        options: ReadOptions,
    },
}

impl DataSource {
    /// The same source with every path absolute (directory, list files, shard pattern), so
    /// a run or a sweep task can be resumed from any working directory.
    pub fn absolute(&self) -> std::io::Result<DataSource> {
        let abs = |p: &PathBuf| std::path::absolute(p);
        let lists = |l: &Lists| -> std::io::Result<Lists> {
            let each = |p: &Option<PathBuf>| p.as_ref().map(abs).transpose();
            Ok(Lists {
                train: each(&l.train)?,
                test_video: each(&l.test_video)?,
                test_audio: each(&l.test_audio)?,
                val: each(&l.val)?,
            })
        };
        Ok(match self {
            DataSource::Synth { .. } => self.clone(),
            DataSource::Dir { path, lists: l, options } => {
                DataSource::Dir { path: abs(path)?, lists: lists(l)?, options: options.clone() }
            }
            DataSource::Yt8m { pattern, test_shards, lists: l, options } => {
                let absolute_pattern = |p: &String| -> std::io::Result<String> {
                    Ok(if std::path::Path::new(p).is_absolute() {
                        p.clone()
                    } else {
                        abs(&PathBuf::from(p))?.display().to_string()
                    })
                };
                DataSource::Yt8m {
                    pattern: absolute_pattern(pattern)?,
                    test_shards: test_shards.as_ref().map(absolute_pattern).transpose()?,
                    lists: lists(l)?,
                    options: options.clone(),
                }
            }
        })
    }
}

/// List files, one clip id per line. For a course directory, a missing entry means the
/// default name inside it (`train.txt`, `test_video.txt`, `test_audio.txt`; no `val`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lists {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_video: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_audio: Option<PathBuf>,
    /// Validation clips (instead of carving them out of the training list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val: Option<PathBuf>,
}

impl Lists {
    pub fn is_empty(&self) -> bool {
        *self == Lists::default()
    }
}

/// How the validation clips are chosen when no `val` list is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValidationRule {
    /// A seeded shuffle of the training clips (the default for the synthetic set and course
    /// directories; the share is `train.validation`).
    Seeded,
    /// A clip is in validation when a hash of its id falls below the share: stable when
    /// shards are added or reordered, and independent of the seed (the default for
    /// YouTube-8M).
    Hash,
}

/// Whether a split is held in memory or read per batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Memory {
    /// In memory when it fits in [`AUTO_MEMORY_BYTES`] and no random crop is asked for
    /// (course directories); streamed otherwise (always for TFRecords).
    #[default]
    Auto,
    Load,
    Stream,
}

/// The largest training split `memory: auto` holds in memory.
pub const AUTO_MEMORY_BYTES: usize = 1 << 30;

/// How clips are read and split, beyond where they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadOptions {
    /// How clips longer than the declared length are cropped (and shorter ones padded). No
    /// policy for a course directory means every clip must have the declared length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop: Option<Crop>,
    /// The byte padded steps hold (0 by default: -1.992 after dequantization).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pad: u8,
    /// The length clips are fitted to when the model does not declare one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<usize>,
    /// The audio's length when the model does not declare one and it differs from `steps`
    /// (audio at another frame rate): the same seconds as `steps` video steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_steps: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<ValidationRule>,
    /// Skip unreadable records (counted in the run's manifest) instead of failing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_corrupt: bool,
    #[serde(default, skip_serializing_if = "is_auto")]
    pub memory: Memory,
    /// Where TFRecord indexes are cached (default `~/.cache/avc/index`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_cache: Option<PathBuf>,
}

fn is_zero(v: &u8) -> bool {
    *v == 0
}

fn is_auto(m: &Memory) -> bool {
    *m == Memory::Auto
}

impl ReadOptions {
    pub fn is_default(&self) -> bool {
        *self == ReadOptions::default()
    }
}

/// What the command line may add to a source: list files and read options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub train_list: Option<PathBuf>,
    pub test_video_list: Option<PathBuf>,
    pub test_audio_list: Option<PathBuf>,
    pub val_list: Option<PathBuf>,
    pub crop: Option<Crop>,
    pub skip_corrupt: bool,
}

impl Overrides {
    pub fn is_empty(&self) -> bool {
        *self == Overrides::default()
    }
}

impl DataSource {
    /// The default: the synthetic set of seed 1.
    pub fn synth(seed: u64) -> DataSource {
        DataSource::Synth { seed, knobs: Vec::new() }
    }

    /// A course directory with the default list names.
    pub fn dir(path: impl Into<PathBuf>) -> DataSource {
        DataSource::Dir { path: path.into(), lists: Lists::default(), options: ReadOptions::default() }
    }

    /// Parses `--data`'s text: `synth`, `synth:SEED`, `yt8m:PATTERN`, `course:DIR`, a data
    /// file (`.yaml`/`.yml`) or a directory.
    pub fn parse(text: &str) -> Result<DataSource, String> {
        if let Some(rest) = text.strip_prefix("synth") {
            if rest.is_empty() {
                return Ok(DataSource::synth(1));
            }
            if let Some(seed) = rest.strip_prefix(':') {
                return seed
                    .parse()
                    .map(DataSource::synth)
                    .map_err(|_| format!("--data {text}: expected synth:SEED with a whole number"));
            }
        }
        if let Some(pattern) = text.strip_prefix("yt8m:") {
            if pattern.is_empty() {
                return Err(format!("--data {text}: expected yt8m:PATH_OR_GLOB, e.g. yt8m:frame/train*.tfrecord"));
            }
            return Ok(DataSource::Yt8m {
                pattern: pattern.to_string(),
                test_shards: None,
                lists: Lists::default(),
                options: ReadOptions::default(),
            });
        }
        if let Some(dir) = text.strip_prefix("course:") {
            return Ok(DataSource::dir(dir));
        }
        let path = Path::new(text);
        let yaml = matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"));
        if yaml {
            return read_data_file(path).map_err(|e| e.to_string());
        }
        if path.is_file() {
            let hint =
                if text.contains(".tfrecord") { format!("; for TFRecords write yt8m:{text}") } else { String::new() };
            return Err(format!(
                "--data {text}: expected a course-layout directory, a data file (.yaml), yt8m:PATTERN or synth, found a file{hint}"
            ));
        }
        Ok(DataSource::dir(path))
    }

    /// Adds the command line's list files and options.
    pub fn with(mut self, o: &Overrides) -> Result<DataSource, String> {
        if o.is_empty() {
            return Ok(self);
        }
        match &mut self {
            DataSource::Synth { .. } => {
                Err("--train-list, --test-video-list, --test-audio-list, --val-list, --crop and --skip-corrupt \
                     apply to a course directory or TFRecords, not to the synthetic set"
                    .into())
            }
            DataSource::Dir { lists, options, .. } | DataSource::Yt8m { lists, options, .. } => {
                let set = |slot: &mut Option<PathBuf>, v: &Option<PathBuf>| {
                    if v.is_some() {
                        slot.clone_from(v);
                    }
                };
                set(&mut lists.train, &o.train_list);
                set(&mut lists.test_video, &o.test_video_list);
                set(&mut lists.test_audio, &o.test_audio_list);
                set(&mut lists.val, &o.val_list);
                if o.crop.is_some() {
                    options.crop = o.crop;
                }
                options.skip_corrupt |= o.skip_corrupt;
                Ok(self)
            }
        }
    }

    /// The read options (defaults for the synthetic set).
    pub fn options(&self) -> ReadOptions {
        match self {
            DataSource::Synth { .. } => ReadOptions::default(),
            DataSource::Dir { options, .. } | DataSource::Yt8m { options, .. } => options.clone(),
        }
    }

    /// A short human-readable name: `synthetic (seed 1)`, a directory, `yt8m:PATTERN`.
    pub fn describe(&self) -> String {
        match self {
            DataSource::Synth { seed, knobs } if knobs.is_empty() => format!("synthetic (seed {seed})"),
            DataSource::Synth { seed, knobs } => format!("synthetic (seed {seed}, {})", knobs.join(", ")),
            DataSource::Dir { path, .. } => path.display().to_string(),
            DataSource::Yt8m { pattern, .. } => format!("yt8m:{pattern}"),
        }
    }
}

/// The data file's text, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DataFile {
    /// `course` or `yt8m`.
    source: SourceKind,
    /// The course directory, or the shards (file, directory or glob).
    path: String,
    #[serde(default)]
    test_shards: Option<String>,
    #[serde(default)]
    lists: Lists,
    #[serde(default)]
    crop: Option<Crop>,
    #[serde(default)]
    pad: u8,
    #[serde(default)]
    steps: Option<usize>,
    #[serde(default)]
    audio_steps: Option<usize>,
    #[serde(default)]
    validation: Option<ValidationRule>,
    #[serde(default)]
    skip_corrupt: bool,
    #[serde(default)]
    memory: Memory,
    #[serde(default)]
    index_cache: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum SourceKind {
    Course,
    Yt8m,
}

/// Reads a data file into the source it names; relative paths are relative to the file's
/// directory. Errors name the file, and the line and column where serde_yaml knows them.
pub fn read_data_file(path: &Path) -> Result<DataSource, DataError> {
    let file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => DataError::Missing { path: path.to_path_buf(), what: "data file".into() },
        _ => DataError::Read { path: path.to_path_buf(), source: e },
    })?;
    parse_data_file(&super::course::read_capped(file, path, MAX_DATA_FILE_BYTES, "a data file")?, path)
}

/// The largest data file read: a few lines of settings, so 1 MiB is generous, and a file
/// named by mistake (a shard, a video) is refused before it is read into memory.
pub const MAX_DATA_FILE_BYTES: u64 = 1 << 20;

/// [`read_data_file`] on the bytes of a data file already read; `path` names it in errors
/// and is what relative paths are relative to.
pub fn parse_data_file(bytes: &[u8], path: &Path) -> Result<DataSource, DataError> {
    super::course::within_cap(bytes, path, MAX_DATA_FILE_BYTES, "a data file")?;
    let text = std::str::from_utf8(bytes).map_err(|e| DataError::DataFile {
        path: path.to_path_buf(),
        at: format!(":{}", 1 + bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count()),
        reason: "not UTF-8 text".into(),
    })?;
    // Editors on Windows start UTF-8 files with a byte-order mark, which YAML would read as
    // part of the first key.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let file: DataFile = serde_yaml::from_str(text).map_err(|e| {
        let at = e.location().map(|l| format!(":{}:{}", l.line(), l.column())).unwrap_or_default();
        DataError::DataFile {
            path: path.to_path_buf(),
            at,
            reason: format!(
                "{e}; expected `source: course|yt8m`, `path`, and optionally test_shards, lists (train, \
                 test_video, test_audio, val), crop, pad, steps, audio_steps, validation, skip_corrupt, memory, \
                 index_cache"
            ),
        }
    })?;
    let base = path.parent().unwrap_or(Path::new(""));
    let rel = |p: &Path| if p.is_absolute() { p.to_path_buf() } else { base.join(p) };
    let rel_text = |p: &str| rel(Path::new(p)).to_string_lossy().into_owned();
    let lists = Lists {
        train: file.lists.train.as_deref().map(rel),
        test_video: file.lists.test_video.as_deref().map(rel),
        test_audio: file.lists.test_audio.as_deref().map(rel),
        val: file.lists.val.as_deref().map(rel),
    };
    let options = ReadOptions {
        crop: file.crop,
        pad: file.pad,
        steps: file.steps,
        audio_steps: file.audio_steps,
        validation: file.validation,
        skip_corrupt: file.skip_corrupt,
        memory: file.memory,
        index_cache: file.index_cache.as_deref().map(rel),
    };
    Ok(match file.source {
        SourceKind::Course => {
            if file.test_shards.is_some() {
                return Err(DataError::DataFile {
                    path: path.to_path_buf(),
                    at: String::new(),
                    reason: "`test_shards` applies to `source: yt8m`; a course directory takes test lists".into(),
                });
            }
            let dir = rel(Path::new(&file.path));
            if dir.is_file() {
                let hint =
                    if file.path.contains(".tfrecord") { "; for TFRecord shards write `source: yt8m`" } else { "" };
                return Err(DataError::DataFile {
                    path: path.to_path_buf(),
                    at: key_line(text, "path"),
                    reason: format!(
                        "`path` names {}, a file; `source: course` needs a directory holding <id>/vfeat.npy, \
                         <id>/afeat.npy and the list files{hint}",
                        dir.display()
                    ),
                });
            }
            DataSource::Dir { path: dir, lists, options }
        }
        SourceKind::Yt8m => DataSource::Yt8m {
            pattern: rel_text(&file.path),
            test_shards: file.test_shards.as_deref().map(rel_text),
            lists,
            options,
        },
    })
}

/// `:LINE:1` of the top-level `key:` in a data file's text, where it is found (serde_yaml
/// locates only syntax errors, not a value that is valid YAML but wrong).
fn key_line(text: &str, key: &str) -> String {
    text.lines()
        .position(|l| l.strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with(':')))
        .map(|k| format!(":{}:1", k + 1))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(DataSource::parse("synth"), Ok(DataSource::synth(1)));
        assert_eq!(DataSource::parse("synth:7"), Ok(DataSource::synth(7)));
        assert!(DataSource::parse("synth:x").is_err_and(|e| e.contains("synth:SEED")));
        assert!(
            matches!(DataSource::parse("yt8m:a/*.tfrecord"), Ok(DataSource::Yt8m { pattern, .. }) if pattern == "a/*.tfrecord")
        );
        assert!(DataSource::parse("yt8m:").is_err());
        assert_eq!(DataSource::parse("course:d"), Ok(DataSource::dir("d")));
        assert_eq!(DataSource::parse("some/dir"), Ok(DataSource::dir("some/dir")));
        let err = DataSource::parse("nowhere.yaml").err().unwrap_or_default();
        assert!(err.contains("nowhere.yaml") && err.contains("data file"), "{err}");
    }

    #[test]
    fn overrides_fill_lists_and_refuse_synth() {
        let o = Overrides { train_list: Some("f/train.txt".into()), skip_corrupt: true, ..Overrides::default() };
        let s = DataSource::dir("d").with(&o);
        assert!(
            matches!(&s, Ok(DataSource::Dir { lists, options, .. }) if lists.train == Some("f/train.txt".into()) && options.skip_corrupt)
        );
        assert!(DataSource::synth(1).with(&o).is_err());
        assert_eq!(DataSource::synth(1).with(&Overrides::default()), Ok(DataSource::synth(1)));
    }

    #[test]
    fn old_records_still_read() {
        let old: Result<DataSource, _> = serde_yaml::from_str("!dir\npath: /data/x\n");
        assert_eq!(old.ok(), Some(DataSource::dir("/data/x")));
        let round = serde_yaml::to_string(&DataSource::dir("/d")).unwrap_or_default();
        assert!(!round.contains("lists") && !round.contains("options"), "{round}");
    }
}
