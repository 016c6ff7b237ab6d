//! The index of a TFRecord source: for every record, its shard and byte offset, its id, its
//! length in frames and its widths, so that any clip can be read with one positioned read.
//!
//! Building it reads every byte once (both CRCs are checked and every record is decoded, so
//! corrupt records are known before training starts). Each shard's index is cached as JSON
//! under `<cache>/index/` (default `~/.cache/avc/index`), keyed by the shard's canonical
//! path and valid while the shard's size and modification time are unchanged; a changed
//! shard is indexed again, the others are reused.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::DataError;
use super::tfrecord::{Frame, Scanner};
use super::yt8m;

/// The largest cached index file read.
const MAX_CACHE_BYTES: u64 = 1 << 30;

/// Bumped when the cached format or what indexing checks changes.
const VERSION: u32 = 1;

/// One readable record of a shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Indexed {
    /// Position in the shard (0-based), for messages.
    pub index: usize,
    pub offset: u64,
    pub length: u64,
    pub crc: u32,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_id: Option<String>,
    /// Frames of `rgb` (and of `audio`, unless `audio_frames` is set).
    pub frames: usize,
    /// Frames of `audio`, where they differ from `frames` (audio at another frame rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_frames: Option<usize>,
    /// Values per frame of `rgb` and of `audio`.
    pub widths: [usize; 2],
}

impl Indexed {
    pub fn frame(&self) -> Frame {
        Frame { offset: self.offset, length: self.length, crc: self.crc }
    }

    /// Frames of each stream, `[rgb, audio]`.
    pub fn stream_frames(&self) -> [usize; 2] {
        [self.frames, self.audio_frames.unwrap_or(self.frames)]
    }

    /// The pair's audio id (`audio_id`, else `id`).
    pub fn audio_id(&self) -> &str {
        self.audio_id.as_deref().unwrap_or(&self.id)
    }
}

/// A record that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Corrupt {
    pub index: usize,
    pub offset: u64,
    pub reason: String,
}

/// One shard's index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardIndex {
    pub version: u32,
    pub path: PathBuf,
    pub size: u64,
    pub modified_ns: u64,
    pub records: Vec<Indexed>,
    pub corrupt: Vec<Corrupt>,
}

impl ShardIndex {
    /// Reads and checks every record of `path`.
    pub fn build(path: &Path) -> Result<ShardIndex, DataError> {
        let (size, modified_ns) = stamp(path)?;
        let file = std::fs::File::open(path).map_err(|source| DataError::Read { path: path.to_path_buf(), source })?;
        ShardIndex::scan(std::io::BufReader::with_capacity(1 << 20, file), size, path, modified_ns)
    }

    /// [`ShardIndex::build`] on a stream of `size` bytes (a shard read already, a test's
    /// bytes); `path` and `modified_ns` are recorded, and `path` names it in errors.
    pub fn scan(input: impl std::io::Read, size: u64, path: &Path, modified_ns: u64) -> Result<ShardIndex, DataError> {
        let read_err = |source| DataError::Read { path: path.to_path_buf(), source };
        let mut scanner = Scanner::new(input, size);
        let mut out = ShardIndex {
            version: VERSION,
            path: path.to_path_buf(),
            size,
            modified_ns,
            records: vec![],
            corrupt: vec![],
        };
        let mut payload = Vec::new();
        let mut index = 0;
        while let Some(next) = scanner.next_record(&mut payload) {
            match next.map_err(read_err)? {
                // Owned as `Bytes`: the frames are decoded as slices, not copied one by one.
                Ok(frame) => match yt8m::decode(prost::bytes::Bytes::from(std::mem::take(&mut payload))) {
                    Ok(r) => out.records.push(Indexed {
                        audio_frames: (r.audio_frames() != r.frames).then(|| r.audio_frames()),
                        index,
                        offset: frame.offset,
                        length: frame.length,
                        crc: frame.crc,
                        id: r.id,
                        audio_id: r.audio_id,
                        frames: r.frames,
                        widths: [r.rgb_width, r.audio_width],
                    }),
                    Err(reason) => out.corrupt.push(Corrupt { index, offset: frame.offset, reason }),
                },
                Err(e) => {
                    let rest = if e.recoverable() { "" } else { "; the records after it cannot be framed" };
                    let offset = match e {
                        super::tfrecord::FrameError::TruncatedHeader { offset, .. }
                        | super::tfrecord::FrameError::LengthCrc { offset }
                        | super::tfrecord::FrameError::TruncatedPayload { offset, .. }
                        | super::tfrecord::FrameError::PayloadCrc { offset, .. }
                        | super::tfrecord::FrameError::TooLarge { offset, .. } => offset,
                    };
                    out.corrupt.push(Corrupt { index, offset, reason: format!("{e}{rest}") });
                }
            }
            index += 1;
        }
        Ok(out)
    }

    /// The cached index of `path` if it is still valid, else a fresh one (then cached).
    /// A cache that cannot be read or written is only slower, never an error.
    pub fn load(path: &Path, cache: Option<&Path>) -> Result<ShardIndex, DataError> {
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let Some(file) = cache.map(|c| c.join(cache_name(&canonical))) else {
            return ShardIndex::build(path);
        };
        let stamp = stamp(path)?;
        // A cache file is input too: one larger than any index (a million records is some
        // 200 MB) is ignored rather than read.
        let sane = std::fs::metadata(&file).is_ok_and(|m| m.len() <= MAX_CACHE_BYTES);
        if sane
            && let Ok(text) = std::fs::read(&file)
            && let Ok(cached) = serde_json::from_slice::<ShardIndex>(&text)
            && cached.version == VERSION
            && (cached.size, cached.modified_ns) == stamp
        {
            return Ok(ShardIndex { path: path.to_path_buf(), ..cached });
        }
        let built = ShardIndex::build(path)?;
        if let Ok(text) = serde_json::to_vec(&built) {
            let _ = std::fs::create_dir_all(file.parent().unwrap_or(Path::new(".")));
            let _ = avc_lang::atomic::write(&file, &text);
        }
        Ok(built)
    }
}

/// A shard's size and modification time (ns since 1970), what invalidates its cache.
fn stamp(path: &Path) -> Result<(u64, u64), DataError> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => DataError::Missing { path: path.to_path_buf(), what: "TFRecord shard".into() },
        _ => DataError::Read { path: path.to_path_buf(), source: e },
    })?;
    let modified = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok());
    Ok((meta.len(), modified.map_or(0, |d| d.as_nanos() as u64)))
}

fn cache_name(canonical: &Path) -> String {
    let digest = Sha256::digest(canonical.to_string_lossy().as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    let stem = canonical.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem: String = stem.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')).collect();
    format!("{stem}-{hex}.json")
}

/// The index cache directory: `$AVC_CACHE_DIR/index`, else `$XDG_CACHE_HOME/avc/index`,
/// else `~/.cache/avc/index`.
pub fn default_cache_dir() -> PathBuf {
    let base = std::env::var_os("AVC_CACHE_DIR").map(PathBuf::from).unwrap_or_else(|| {
        std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache"))
            .join("avc")
    });
    base.join("index")
}

/// Indexes every shard, several at a time (each is one sequential read).
pub fn index_all(shards: &[PathBuf], cache: Option<&Path>) -> Result<Vec<ShardIndex>, DataError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4).min(shards.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<Option<Result<ShardIndex, DataError>>> = (0..shards.len()).map(|_| None).collect();
    let slots = std::sync::Mutex::new(&mut results);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(path) = shards.get(k) else { break };
                    let r = ShardIndex::load(path, cache);
                    if let Ok(mut slots) = slots.lock() {
                        slots[k] = Some(r);
                    }
                }
            });
        }
    });
    results
        .into_iter()
        .zip(shards)
        .map(|(r, path)| {
            r.unwrap_or_else(|| {
                Err(DataError::Record { shard: path.clone(), index: 0, reason: "indexing stopped".into() })
            })
        })
        .collect()
}

/// The shards a pattern names: a file, a directory (its `*.tfrecord*` files) or a glob;
/// sorted by path. Nothing matching is an error that names the pattern.
pub fn expand(pattern: &str) -> Result<Vec<PathBuf>, DataError> {
    let as_path = Path::new(pattern);
    let found: Vec<PathBuf> = if as_path.is_file() {
        vec![as_path.to_path_buf()]
    } else if as_path.is_dir() {
        let entries =
            std::fs::read_dir(as_path).map_err(|e| DataError::Read { path: as_path.to_path_buf(), source: e })?;
        entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n.to_string_lossy().contains(".tfrecord")))
            .collect()
    } else {
        let paths = glob::glob(pattern)
            .map_err(|e| DataError::Pattern { pattern: pattern.to_string(), reason: e.to_string() })?;
        paths.filter_map(Result::ok).filter(|p| p.is_file()).collect()
    };
    let mut found = found;
    found.sort();
    if found.is_empty() {
        let reason = if as_path.is_dir() {
            "the directory holds no *.tfrecord files".to_string()
        } else {
            "no file matches (expected a shard, a directory of shards, or a glob such as 'frame/train*.tfrecord')"
                .into()
        };
        return Err(DataError::Pattern { pattern: pattern.to_string(), reason });
    }
    Ok(found)
}

/// A digest of what the index says about the shards: file names, sizes, and every record's
/// position, CRC, id and length. Equal for the same data wherever it lies; any changed
/// byte changes a CRC and so the digest.
pub fn digest(shards: &[ShardIndex]) -> String {
    let mut h = Sha256::new();
    for s in shards {
        let name = s.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        h.update(format!("shard {name} {}\n", s.size).as_bytes());
        for r in &s.records {
            h.update(
                format!("{} {} {} {} {} {} {:?}\n", r.offset, r.length, r.crc, r.frames, r.id, r.audio_id(), r.widths)
                    .as_bytes(),
            );
            // Only where the streams differ, so that equal-length sets keep their digests.
            if let Some(a) = r.audio_frames {
                h.update(format!("audio_frames {a}\n").as_bytes());
            }
        }
        for c in &s.corrupt {
            h.update(format!("corrupt {} {}\n", c.index, c.offset).as_bytes());
        }
    }
    hex(&h.finalize())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
