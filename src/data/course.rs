//! The course's on-disk layout, read and written.
//!
//! ```text
//! DIR/<clip_id>/vfeat.npy    uint8 [steps, video_dim]
//! DIR/<clip_id>/afeat.npy    uint8 [steps, audio_dim]
//! DIR/train.txt              one clip id per line (matched pairs)
//! DIR/test_video.txt         line i of both test lists is a matching pair
//! DIR/test_audio.txt
//! ```
//!
//! Loading checks every file against the shapes the model declares (or, without a
//! declaration, against the first clip), because a wrong file otherwise surfaces as a shape
//! error deep inside training, far from its cause. Every error names the file.
//!
//! Writing goes through a temporary name and a rename per file, and writes the list files
//! last, so an interrupted or failed export never leaves a half-written `.npy` behind and a
//! directory with lists is complete.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use npyz::{DType, Order, TypeChar, WriteOptions, WriterBuilder};

use super::{Clips, DataError, Dataset, ids, npy};

/// Video features of a clip, inside its directory.
pub const VIDEO_FILE: &str = "vfeat.npy";
/// Audio features of a clip, inside its directory.
pub const AUDIO_FILE: &str = "afeat.npy";
/// Default name of the training list.
pub const TRAIN_LIST: &str = "train.txt";
/// Default name of the test video list.
pub const TEST_VIDEO_LIST: &str = "test_video.txt";
/// Default name of the test audio list.
pub const TEST_AUDIO_LIST: &str = "test_audio.txt";

/// Where a data set lives: the clip directory and the three list files (which may live
/// elsewhere, e.g. several splits over one feature directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub dir: PathBuf,
    pub train_list: PathBuf,
    pub test_video_list: PathBuf,
    pub test_audio_list: PathBuf,
}

impl Layout {
    /// The default layout: the lists `train.txt`, `test_video.txt`, `test_audio.txt` inside
    /// `dir`.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Layout {
        let dir = dir.into();
        Layout {
            train_list: dir.join(TRAIN_LIST),
            test_video_list: dir.join(TEST_VIDEO_LIST),
            test_audio_list: dir.join(TEST_AUDIO_LIST),
            dir,
        }
    }
}

/// Loads a data set. `expect_video` / `expect_audio` are the per-clip shapes the model
/// declares (`[steps, dim]`); a file with another shape is an error naming the file, the
/// expected and the found shape. Without an expectation, every clip must agree with the first
/// one read. A pair's video and audio must have the same number of steps, unless the
/// expectations give the streams different lengths (audio at another frame rate).
pub fn load(
    layout: &Layout,
    expect_video: Option<[usize; 2]>,
    expect_audio: Option<[usize; 2]>,
) -> Result<Dataset, DataError> {
    if !layout.dir.is_dir() {
        return Err(DataError::Missing { path: layout.dir.clone(), what: "data directory".into() });
    }
    let train_ids = read_list(&layout.train_list)?;
    let video_ids = read_list(&layout.test_video_list)?;
    let audio_ids = read_list(&layout.test_audio_list)?;
    if video_ids.len() != audio_ids.len() {
        return Err(DataError::ListLengths {
            video_list: layout.test_video_list.clone(),
            video_len: video_ids.len(),
            audio_list: layout.test_audio_list.clone(),
            audio_len: audio_ids.len(),
        });
    }
    let apart = matches!((expect_video, expect_audio), (Some([v, _]), Some([a, _])) if v != a);
    let mut reader = Reader {
        dir: &layout.dir,
        video: expect_video.map(Expected::Declared),
        audio: expect_audio.map(Expected::Declared),
        apart,
    };
    let train_pairs: Vec<(&Listed, &Listed)> = train_ids.iter().map(|e| (e, e)).collect();
    let train = reader.clips(&train_pairs, &layout.train_list, &layout.train_list)?;
    let test_pairs: Vec<(&Listed, &Listed)> = video_ids.iter().zip(&audio_ids).collect();
    let test = reader.clips(&test_pairs, &layout.test_video_list, &layout.test_audio_list)?;
    // An empty train or test set leaves that split's shape at zero: take it from the other.
    let (train, test) = if train.is_empty() {
        (fill_shape(train, &test), test)
    } else {
        let test = fill_shape(test, &train);
        (train, test)
    };
    Ok(Dataset { train, test, origin: layout.dir.display().to_string() })
}

/// A clip id and its 1-based line in the list file.
pub type Listed = (usize, String);

/// Reads one stream (`video` or `audio`) of the clips `ids` (from list file `list`) out of
/// `dir`, one after the other: row-major `[ids.len(), steps, dim]` bytes and the per-clip
/// shape. Every file must have the shape `expect` (the model's declaration), or without
/// one, the first file's.
pub fn read_stream(
    dir: &Path,
    ids: &[Listed],
    list: &Path,
    stream: &str,
    expect: Option<[usize; 2]>,
) -> Result<(Vec<u8>, [usize; 2]), DataError> {
    let file = if stream == "audio" { AUDIO_FILE } else { VIDEO_FILE };
    let mut expected = expect.map(Expected::Declared);
    let mut data = Vec::new();
    let mut shape = expect.unwrap_or([0, 0]);
    for (line, id) in ids {
        let what = format!("{stream} features of clip '{id}' ({}, line {line})", list.display());
        let (bytes, found) = read_clip(&clip_dir(dir, id).join(file), &what, stream, &mut expected)?;
        data.extend_from_slice(&bytes);
        shape = found;
    }
    Ok((data, shape))
}

/// What a stream's next file must look like, and why.
#[derive(Debug, Clone)]
enum Expected {
    /// The model's declared input shape.
    Declared([usize; 2]),
    /// The shape of the first file read for this stream.
    First([usize; 2], PathBuf),
}

impl Expected {
    fn shape(&self) -> [usize; 2] {
        match self {
            Expected::Declared(s) | Expected::First(s, _) => *s,
        }
    }

    fn describe(&self, stream: &str) -> String {
        match self {
            Expected::Declared([s, d]) => {
                format!("[{s}, {d}] (steps, dim), as the model declares its {stream} input")
            }
            Expected::First([s, d], first) => {
                format!("[{s}, {d}] (steps, dim), like the first {stream} file read, {}", first.display())
            }
        }
    }
}

/// Reads clip files, remembering each stream's expected shape across splits.
struct Reader<'a> {
    dir: &'a Path,
    video: Option<Expected>,
    audio: Option<Expected>,
    /// The streams have their own lengths (the expectations say so).
    apart: bool,
}

impl Reader<'_> {
    /// Reads the pairs `(video entry, audio entry)`, whose ids come from the given lists.
    fn clips(
        &mut self,
        pairs: &[(&Listed, &Listed)],
        video_list: &Path,
        audio_list: &Path,
    ) -> Result<Clips, DataError> {
        let mut clips = Clips::empty([0, 0], 0, 0);
        for &((vline, vid), (aline, aid)) in pairs {
            let vpath = clip_dir(self.dir, vid).join(VIDEO_FILE);
            let apath = clip_dir(self.dir, aid).join(AUDIO_FILE);
            let vwhat = format!("video features of clip '{vid}' ({}, line {vline})", video_list.display());
            let awhat = format!("audio features of clip '{aid}' ({}, line {aline})", audio_list.display());
            let (video, [vsteps, vdim]) = read_clip(&vpath, &vwhat, "video", &mut self.video)?;
            let (audio, [asteps, adim]) = read_clip(&apath, &awhat, "audio", &mut self.audio)?;
            if vsteps != asteps && !self.apart {
                return Err(DataError::Steps { video: vpath, video_steps: vsteps, audio: apath, audio_steps: asteps });
            }
            (clips.video_steps, clips.audio_steps, clips.video_dim, clips.audio_dim) = (vsteps, asteps, vdim, adim);
            clips.video.extend_from_slice(&video);
            clips.audio.extend_from_slice(&audio);
            clips.video_ids.push(vid.clone());
            clips.audio_ids.push(aid.clone());
        }
        Ok(clips)
    }
}

/// Gives an empty split the per-clip shape of the other split, so `stream_shape` stays
/// meaningful.
fn fill_shape(clips: Clips, other: &Clips) -> Clips {
    if clips.is_empty() { Clips::empty(other.steps(), other.video_dim, other.audio_dim) } else { clips }
}

/// Reads one uint8 2-D `.npy` file as row-major bytes, checking it against (and, on first
/// use, setting) the stream's expected shape.
fn read_clip(
    path: &Path,
    what: &str,
    stream: &str,
    expected: &mut Option<Expected>,
) -> Result<(Vec<u8>, [usize; 2]), DataError> {
    read_data(open_clip(path, what, stream, expected)?, path)
}

/// Reads the data of an opened and checked `.npy` file (its size was checked against the
/// file and [`npy::MAX_DATA_BYTES`] before this allocates it).
fn read_data<R: Read>((npy, shape, found): OpenedNpy<R>, path: &Path) -> Result<(Vec<u8>, [usize; 2]), DataError> {
    let [steps, dim] = shape;
    let order = npy.order();
    let mut data = vec![0u8; steps * dim];
    npy.into_inner().read_exact(&mut data).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => truncated(path, &found, steps * dim),
        _ => DataError::Npy { path: path.to_path_buf(), reason: e.to_string() },
    })?;
    if order == Order::Fortran {
        data = transpose(&data, dim, steps);
    }
    Ok((data, shape))
}

/// An opened `.npy` file: the reader at the start of its data, its shape, and the shape as
/// its header wrote it.
type OpenedNpy<R> = (npy::Opened<R>, [usize; 2], Vec<u64>);

/// Opens a uint8 2-D `.npy` file and checks its header against (and, on first use, sets)
/// the stream's expected shape: the reader is left at the start of the data.
fn open_clip(
    path: &Path,
    what: &str,
    stream: &str,
    expected: &mut Option<Expected>,
) -> Result<OpenedNpy<BufReader<File>>, DataError> {
    let file = File::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => DataError::Missing { path: path.to_path_buf(), what: what.to_string() },
        _ => DataError::Read { path: path.to_path_buf(), source: e },
    })?;
    let file_len = file.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
    check_clip(npy::open(BufReader::new(file), file_len, path)?, file_len, path, stream, expected)
}

/// Checks an opened `.npy` stream of `len` bytes: uint8, 2-D, the expected shape, and data
/// that the file can hold and [`npy::MAX_DATA_BYTES`] allows, before anything allocates
/// what a corrupt header claims.
fn check_clip<R: Read>(
    npy: npy::Opened<R>,
    len: u64,
    path: &Path,
    stream: &str,
    expected: &mut Option<Expected>,
) -> Result<OpenedNpy<R>, DataError> {
    if !is_uint8(&npy.dtype()) {
        return Err(DataError::Dtype { path: path.to_path_buf(), found: dtype_name(&npy.dtype()) });
    }
    let found = npy.shape().to_vec();
    let shape_error =
        |expected: String| DataError::Shape { path: path.to_path_buf(), expected, found: format!("{found:?}") };
    let shape = match found.as_slice() {
        &[s, d] => match (usize::try_from(s), usize::try_from(d)) {
            (Ok(s), Ok(d)) if s.checked_mul(d).is_some() => [s, d],
            _ => return Err(shape_error("a shape that fits in memory".into())),
        },
        _ => {
            let want = match expected {
                Some(e) => e.describe(stream),
                None => "a 2-D array [steps, dim]".to_string(),
            };
            return Err(shape_error(format!("{want}; found a {}-D array", found.len())));
        }
    };
    match expected {
        Some(e) if e.shape() != shape => return Err(shape_error(e.describe(stream))),
        Some(_) => {}
        None => *expected = Some(Expected::First(shape, path.to_path_buf())),
    }
    let bytes = (shape[0] * shape[1]) as u64;
    if bytes > len {
        return Err(truncated(path, &found, shape[0] * shape[1]));
    }
    if bytes > npy::MAX_DATA_BYTES {
        return Err(DataError::TooLarge {
            path: path.to_path_buf(),
            what: format!("one clip's features (its header declares {found:?})"),
            size: bytes,
            limit: npy::MAX_DATA_BYTES,
        });
    }
    Ok((npy, shape, found))
}

/// Reads a uint8 2-D `.npy` file of any shape: `(bytes, [steps, dim])`; `what` names it in
/// errors.
pub fn read_npy(path: &Path, what: &str) -> Result<(Vec<u8>, [usize; 2]), DataError> {
    read_clip(path, what, "features", &mut None)
}

/// [`read_npy`] on the bytes of a file already in memory; `path` names it in errors.
pub fn parse_npy(bytes: &[u8], path: &Path) -> Result<(Vec<u8>, [usize; 2]), DataError> {
    let len = bytes.len() as u64;
    read_data(check_clip(npy::open(bytes, len, path)?, len, path, "features", &mut None)?, path)
}

/// One clip found by [`index_pairs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedClip {
    pub video_id: String,
    pub audio_id: String,
    pub video: PathBuf,
    pub audio: PathBuf,
    /// The two files' lengths, `[video, audio]`.
    pub frames: [usize; 2],
}

/// Reads the headers (not the data) of the pairs `(video entry, audio entry)`: the index a
/// streamed course split reads from. `strict`: every file must have the expected shape (the
/// model's, or the first file's, per stream: the two streams may have different lengths);
/// otherwise only the widths must agree and lengths may differ (they are cropped or padded).
/// Returns the clips and the `[video, audio]` widths.
pub fn index_pairs(
    dir: &Path,
    pairs: &[(&Listed, &Listed)],
    lists: [&Path; 2],
    expect: [Option<[usize; 2]>; 2],
    strict: bool,
) -> Result<(Vec<IndexedClip>, [usize; 2]), DataError> {
    let mut expected: [Option<Expected>; 2] = expect.map(|e| e.map(Expected::Declared));
    let mut out = Vec::with_capacity(pairs.len());
    let mut widths = expect.map(|e| e.map(|[_, d]| d));
    for &((vline, vid), (aline, aid)) in pairs {
        let paths = [clip_dir(dir, vid).join(VIDEO_FILE), clip_dir(dir, aid).join(AUDIO_FILE)];
        let mut shapes = [[0usize; 2]; 2];
        for (k, stream) in STREAMS_OF_FILES.iter().enumerate() {
            let (id, line) = if k == 0 { (vid, vline) } else { (aid, aline) };
            let what = format!("{stream} features of clip '{id}' ({}, line {line})", lists[k].display());
            let shape = if strict {
                open_clip(&paths[k], &what, stream, &mut expected[k])?.1
            } else {
                let shape = open_clip(&paths[k], &what, stream, &mut None)?.1;
                match widths[k] {
                    Some(w) if w != shape[1] => {
                        return Err(DataError::Shape {
                            path: paths[k].clone(),
                            expected: format!(
                                "[steps, {w}] (any length; the width of the model's {stream} input or the first file)"
                            ),
                            found: format!("{shape:?}"),
                        });
                    }
                    Some(_) => {}
                    None => widths[k] = Some(shape[1]),
                }
                shape
            };
            shapes[k] = shape;
        }
        let [video, audio] = paths;
        out.push(IndexedClip {
            video_id: vid.clone(),
            audio_id: aid.clone(),
            video,
            audio,
            frames: [shapes[0][0], shapes[1][0]],
        });
        widths = [Some(shapes[0][1]), Some(shapes[1][1])];
    }
    Ok((out, widths.map(|w| w.unwrap_or(0))))
}

/// The stream each clip file holds, in [video, audio] order.
const STREAMS_OF_FILES: [&str; 2] = ["video", "audio"];

/// The error for a file with less data than its header's shape needs.
fn truncated(path: &Path, shape: &[u64], bytes: usize) -> DataError {
    DataError::Npy {
        path: path.to_path_buf(),
        reason: format!("truncated: the header says {shape:?}, {bytes} bytes of data, but the file holds fewer"),
    }
}

/// `data` holds `rows x cols` row-major; returns the `cols x rows` row-major transpose (a
/// Fortran-order `[steps, dim]` array is a C-order `[dim, steps]` one).
fn transpose(data: &[u8], rows: usize, cols: usize) -> Vec<u8> {
    let mut out = vec![0u8; data.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = data[r * cols + c];
        }
    }
    out
}

/// One byte, unsigned: numpy's `|u1` (endianness is irrelevant for a single byte).
fn is_uint8(dtype: &DType) -> bool {
    matches!(dtype, DType::Plain(t) if t.type_char() == TypeChar::Uint && t.size_field() == 1)
}

/// numpy's name for a dtype where there is a common one (`float32 ('<f4')`), else its
/// descriptor.
fn dtype_name(dtype: &DType) -> String {
    let descr = dtype.descr();
    let name = match dtype {
        DType::Plain(t) => match (t.type_char(), t.size_field()) {
            (TypeChar::Uint, n) => Some(format!("uint{}", n * 8)),
            (TypeChar::Int, n) => Some(format!("int{}", n * 8)),
            (TypeChar::Float, n) => Some(format!("float{}", n * 8)),
            (TypeChar::Bool, _) => Some("bool".to_string()),
            (TypeChar::Object, _) => Some("object (pickled)".to_string()),
            _ => None,
        },
        _ => None,
    };
    match name {
        Some(n) => format!("{n} ({descr})"),
        None => descr,
    }
}

/// The largest list file read: 256 MiB is some 20 million YouTube ids, far beyond any data
/// set, while a file that is not a list at all (a shard named by mistake) is refused before
/// it is read into memory.
pub const MAX_LIST_BYTES: u64 = 256 << 20;

/// Reads a list file: one id per line (see [`parse_list`]).
pub fn read_list(path: &Path) -> Result<Vec<Listed>, DataError> {
    let not_found = |e: io::Error| match e.kind() {
        io::ErrorKind::NotFound => DataError::MissingList { path: path.to_path_buf() },
        _ => DataError::Read { path: path.to_path_buf(), source: e },
    };
    let file = File::open(path).map_err(not_found)?;
    parse_list_bytes(&read_capped(file, path, MAX_LIST_BYTES, "a list file")?, path)
}

/// [`read_list`] on the bytes of a list already read; `path` names it in errors.
pub fn parse_list_bytes(bytes: &[u8], path: &Path) -> Result<Vec<Listed>, DataError> {
    within_cap(bytes, path, MAX_LIST_BYTES, "a list file")?;
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count();
        DataError::DataFile {
            path: path.to_path_buf(),
            at: format!(":{line}"),
            reason: "not UTF-8 text; a list holds one clip id per line".into(),
        }
    })?;
    parse_list(text, path)
}

/// Reads at most `limit` bytes of `file`; more is a [`DataError::TooLarge`] naming `path`.
/// Read through `take`, so a file that grows or lies about its size is refused as well.
pub fn read_capped(file: File, path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, DataError> {
    let too_large = |size: u64| DataError::TooLarge { path: path.to_path_buf(), what: what.to_string(), size, limit };
    if let Ok(meta) = file.metadata()
        && meta.is_file()
        && meta.len() > limit
    {
        return Err(too_large(meta.len()));
    }
    let mut out = Vec::new();
    file.take(limit + 1).read_to_end(&mut out).map_err(|e| DataError::Read { path: path.to_path_buf(), source: e })?;
    if out.len() as u64 > limit {
        return Err(too_large(out.len() as u64));
    }
    Ok(out)
}

/// Refuses bytes already read past a reader's cap, naming the file and the limit.
pub(crate) fn within_cap(bytes: &[u8], path: &Path, limit: u64, what: &str) -> Result<(), DataError> {
    let size = bytes.len() as u64;
    if size > limit {
        return Err(DataError::TooLarge { path: path.to_path_buf(), what: what.to_string(), size, limit });
    }
    Ok(())
}

/// The lines of a list: ended by LF, CR LF or a lone CR (old Mac files), so no line break
/// of any system leaves a CR inside an id.
fn list_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let t = rest?;
        match t.find(['\n', '\r']) {
            Some(k) => {
                let skip = if t[k..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&t[k + skip..]);
                Some(&t[..k])
            }
            None => {
                rest = None;
                Some(t)
            }
        }
    })
}

/// [`read_list`] on text already read (standard input, say); `path` names it in errors.
///
/// One id per line, percent-decoded ([`ids`]); surrounding whitespace, blank lines, `#`
/// comments and a byte-order mark are skipped, because people hand-make and annotate
/// lists. Ids must be unique.
pub fn parse_list(text: &str, path: &Path) -> Result<Vec<Listed>, DataError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for (k, raw) in list_lines(text).enumerate() {
        let (written, line) = (raw.trim(), k + 1);
        if written.is_empty() || written.starts_with('#') {
            continue;
        }
        let id = ids::decode(written).map_err(|reason| DataError::BadId {
            path: path.to_path_buf(),
            id: written.to_string(),
            line,
            reason,
        })?;
        if let Some(&first_line) = seen.get(&id) {
            return Err(DataError::DuplicateId { path: path.to_path_buf(), id: written.to_string(), line, first_line });
        }
        seen.insert(id.clone(), line);
        out.push((line, id));
    }
    if out.is_empty() {
        return Err(DataError::EmptyList { path: path.to_path_buf() });
    }
    Ok(out)
}

/// The directory of clip `id` inside `dir`: its encoded name ([`ids::encode`]), one path
/// component whatever the id holds.
pub fn clip_dir(dir: &Path, id: &str) -> PathBuf {
    dir.join(ids::encode(id))
}

/// The directory name of an id about to be written, or an error naming the list and line
/// it goes to (an empty id, or one too long for a file name).
fn dir_name_for(list: &Path, id: &str, line: usize) -> Result<String, DataError> {
    ids::dir_name(id).map_err(|reason| DataError::BadId {
        path: list.to_path_buf(),
        id: ids::encode(id),
        line,
        reason: format!("cannot be written: {reason}"),
    })
}

/// Writes a data set in the course layout under `dir` (created if needed): every clip's
/// `vfeat.npy` / `afeat.npy` by id, then the three list files with their default names.
///
/// Train clips must have `video_ids == audio_ids` (the train list has one id per clip). Test
/// video clips are written under their video ids, test audio clips under their audio ids.
/// An id used twice must carry the same features each time.
pub fn write(ds: &Dataset, dir: &Path) -> Result<(), DataError> {
    ds.train.validate(&format!("train clips of {}", ds.origin))?;
    ds.test.validate(&format!("test clips of {}", ds.origin))?;
    let layout = Layout::in_dir(dir);
    for (i, (v, a)) in ds.train.video_ids.iter().zip(&ds.train.audio_ids).enumerate() {
        if v != a {
            return Err(DataError::Inconsistent {
                what: format!("train clips of {}", ds.origin),
                reason: format!(
                    "clip {i} has video id '{v}' but audio id '{a}'; the train list needs one id per matched pair"
                ),
            });
        }
    }

    // Plan every file first, so that id problems are found before anything is written.
    let mut plan = Plan { dir, files: HashMap::new(), order: Vec::new() };
    plan.add(&layout.train_list, &ds.train, true)?;
    plan.add(&layout.train_list, &ds.train, false)?;
    plan.add(&layout.test_video_list, &ds.test, true)?;
    plan.add(&layout.test_audio_list, &ds.test, false)?;
    let Plan { files, order, .. } = plan;

    for path in &order {
        let Some(&(data, [steps, dim])) = files.get(path) else {
            continue;
        };
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| DataError::Write { path: parent.to_path_buf(), source: e })?;
        }
        write_atomic(path, |w| {
            WriteOptions::<u8>::new()
                .default_dtype()
                .shape(&[steps as u64, dim as u64])
                .writer(&mut *w)
                .write_header_only()?;
            w.write_all(data)
        })?;
    }
    for (list, ids) in [
        (&layout.train_list, &ds.train.video_ids),
        (&layout.test_video_list, &ds.test.video_ids),
        (&layout.test_audio_list, &ds.test.audio_ids),
    ] {
        let names: Vec<String> = ids.iter().map(|id| ids::encode(id)).collect();
        write_list(list, &names)?;
    }
    Ok(())
}

/// The clip files [`write`] will create: path -> (bytes, shape), in a stable order.
struct Plan<'a> {
    dir: &'a Path,
    files: HashMap<PathBuf, (&'a [u8], [usize; 2])>,
    order: Vec<PathBuf>,
}

impl<'a> Plan<'a> {
    /// Adds one stream of `clips` under its ids (video ids for video, audio ids for audio);
    /// `list` is the list file the ids will be written to, for error messages.
    fn add(&mut self, list: &Path, clips: &'a Clips, video: bool) -> Result<(), DataError> {
        let (ids, file, shape) = if video {
            (&clips.video_ids, VIDEO_FILE, [clips.video_steps, clips.video_dim])
        } else {
            (&clips.audio_ids, AUDIO_FILE, [clips.audio_steps, clips.audio_dim])
        };
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, id) in ids.iter().enumerate() {
            let name = dir_name_for(list, id, i + 1)?;
            if let Some(&first_line) = seen.get(id.as_str()) {
                return Err(DataError::DuplicateId {
                    path: list.to_path_buf(),
                    id: id.clone(),
                    line: i + 1,
                    first_line,
                });
            }
            seen.insert(id, i + 1);
            let data = if video { clips.video_clip(i) } else { clips.audio_clip(i) };
            let path = self.dir.join(name).join(file);
            match self.files.entry(path.clone()) {
                Entry::Vacant(slot) => {
                    slot.insert((data, shape));
                    self.order.push(path);
                }
                Entry::Occupied(slot) if *slot.get() == (data, shape) => {}
                Entry::Occupied(_) => {
                    return Err(DataError::Conflict {
                        path,
                        reason: format!("clip '{id}' appears in train and test with different features"),
                    });
                }
            }
        }
        Ok(())
    }
}

/// Writes one uint8 `[steps, dim]` array as `.npy` at `path` (atomically), creating its
/// directory.
pub fn write_npy(path: &Path, data: &[u8], shape: [usize; 2]) -> Result<(), DataError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| DataError::Write { path: parent.to_path_buf(), source: e })?;
    }
    write_atomic(path, |w| {
        WriteOptions::<u8>::new()
            .default_dtype()
            .shape(&[shape[0] as u64, shape[1] as u64])
            .writer(&mut *w)
            .write_header_only()?;
        w.write_all(data)
    })
}

/// Writes a list file atomically, one name per line as given: names are ids already
/// encoded ([`ids::encode`]), which is what a list line and a clip directory hold.
pub fn write_list(path: &Path, names: &[String]) -> Result<(), DataError> {
    let mut text = String::new();
    for id in names {
        let _ = writeln!(text, "{id}");
    }
    write_atomic(path, |w| w.write_all(text.as_bytes()))
}

/// Writes `path` through a temporary sibling and a rename; on any error the temporary file is
/// removed and the previous content of `path` (if any) is untouched.
fn write_atomic(path: &Path, body: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>) -> Result<(), DataError> {
    let written = avc_lang::atomic::write_with(path, |tmp| {
        let mut w = BufWriter::new(File::create(tmp)?);
        body(&mut w)?;
        w.flush()
    });
    written.map_err(|source| DataError::Write { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synth::{SynthConfig, generate};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh, unique directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("avc-data-{name}-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn small() -> SynthConfig {
        SynthConfig { n_train: 5, n_test: 3, steps: 12, video_dim: 10, audio_dim: 6, ..SynthConfig::default() }
    }

    /// A small synthetic set written to a fresh directory.
    fn written(name: &str) -> (TempDir, Dataset) {
        let tmp = TempDir::new(name);
        let ds = generate(&small());
        let res = write(&ds, &tmp.0);
        assert!(res.is_ok(), "{res:?}");
        (tmp, ds)
    }

    fn load_err(dir: &Path, v: Option<[usize; 2]>, a: Option<[usize; 2]>) -> String {
        match load(&Layout::in_dir(dir), v, a) {
            Ok(_) => String::from("loaded without error"),
            Err(e) => e.to_string(),
        }
    }

    fn write_f32(path: &Path, shape: [u64; 2]) {
        let res = (|| {
            let mut f = File::create(path)?;
            let mut w = WriteOptions::<f32>::new().default_dtype().shape(&shape).writer(&mut f).begin_nd()?;
            w.extend(std::iter::repeat_n(0.5f32, (shape[0] * shape[1]) as usize))?;
            w.finish()
        })();
        assert!(res.is_ok(), "{res:?}");
    }

    fn write_u8(path: &Path, shape: &[u64], data: &[u8], order: Order) {
        let res = (|| {
            let mut f = File::create(path)?;
            let mut w =
                WriteOptions::<u8>::new().default_dtype().order(order).shape(shape).writer(&mut f).begin_nd()?;
            w.extend(data.iter().copied())?;
            w.finish()
        })();
        assert!(res.is_ok(), "{res:?}");
    }

    #[test]
    fn write_then_load_round_trips() {
        let (tmp, ds) = written("roundtrip");
        let declared = load(&Layout::in_dir(&tmp.0), Some([12, 10]), Some([12, 6]));
        let inferred = load(&Layout::in_dir(&tmp.0), None, None);
        for loaded in [declared, inferred] {
            let loaded = match loaded {
                Ok(l) => l,
                Err(e) => panic!("{e}"),
            };
            assert_eq!(loaded.train, ds.train);
            assert_eq!(loaded.test, ds.test);
            assert_eq!(loaded.origin, tmp.0.display().to_string());
        }
        let list = fs::read_to_string(tmp.0.join(TRAIN_LIST)).unwrap_or_default();
        assert_eq!(list.lines().collect::<Vec<_>>(), ds.train.video_ids);
        // No temporary files left behind.
        let leftovers = fs::read_dir(tmp.0.join("synth-train-0000")).map(|d| d.count()).unwrap_or(0);
        assert_eq!(leftovers, 2);
    }

    #[test]
    fn lists_ignore_blank_lines_comments_and_whitespace() {
        let (tmp, ds) = written("lists");
        let text = format!(
            "\u{feff}# picked by hand\n  {}  \r\n\n  # {}\n{}\n",
            ds.train.video_ids[3], ds.train.video_ids[2], ds.train.video_ids[1]
        );
        assert!(fs::write(tmp.0.join(TRAIN_LIST), text).is_ok());
        let loaded = load(&Layout::in_dir(&tmp.0), None, None);
        let loaded = loaded.map(|l| l.train).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded, ds.train.subset(&[3, 1]));
    }

    #[test]
    fn fortran_order_is_transposed() {
        let (tmp, ds) = written("fortran");
        let clip = ds.train.audio_clip(0);
        // Column-major bytes of the same [12, 6] array.
        let mut fortran = vec![0u8; clip.len()];
        for t in 0..12 {
            for d in 0..6 {
                fortran[d * 12 + t] = clip[t * 6 + d];
            }
        }
        write_u8(&tmp.0.join("synth-train-0000").join(AUDIO_FILE), &[12, 6], &fortran, Order::Fortran);
        let loaded = load(&Layout::in_dir(&tmp.0), None, None).map(|l| l.train).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded.audio_clip(0), clip);
    }

    #[test]
    fn wrong_shape_names_file_expected_and_found() {
        let (tmp, _) = written("shape");
        let path = tmp.0.join("synth-train-0002").join(VIDEO_FILE);
        write_u8(&path, &[12, 11], &[7u8; 12 * 11], Order::C);
        let msg = load_err(&tmp.0, Some([12, 10]), Some([12, 6]));
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("[12, 10]") && msg.contains("model declares") && msg.contains("[12, 11]"), "{msg}");
        // Without a declaration, the first clip sets the expectation.
        let msg = load_err(&tmp.0, None, None);
        assert!(msg.contains(&path.display().to_string()) && msg.contains("[12, 11]"), "{msg}");
        assert!(msg.contains("first video file") && msg.contains("synth-train-0000"), "{msg}");
        // The declaration itself can be what disagrees with every file.
        let msg = load_err(&tmp.0, Some([120, 10]), None);
        assert!(msg.contains("synth-train-0000") && msg.contains("[120, 10]") && msg.contains("[12, 10]"), "{msg}");
    }

    #[test]
    fn wrong_rank_is_reported() {
        let (tmp, _) = written("rank");
        let path = tmp.0.join("synth-test-01").join(AUDIO_FILE);
        write_u8(&path, &[12, 6, 1], &[1u8; 72], Order::C);
        let msg = load_err(&tmp.0, None, Some([12, 6]));
        assert!(
            msg.contains(&path.display().to_string()) && msg.contains("[12, 6, 1]") && msg.contains("3-D"),
            "{msg}"
        );
    }

    #[test]
    fn wrong_dtype_names_file_and_types() {
        let (tmp, _) = written("dtype");
        let path = tmp.0.join("synth-train-0001").join(AUDIO_FILE);
        write_f32(&path, [12, 6]);
        let msg = load_err(&tmp.0, None, None);
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("expected uint8") && msg.contains("float32") && msg.contains("<f4"), "{msg}");
    }

    #[test]
    fn missing_audio_file_is_named() {
        let (tmp, _) = written("missing");
        let path = tmp.0.join("synth-train-0004").join(AUDIO_FILE);
        assert!(fs::remove_file(&path).is_ok());
        let msg = load_err(&tmp.0, None, None);
        assert!(msg.contains(&path.display().to_string()) && msg.contains("does not exist"), "{msg}");
        assert!(msg.contains("audio features of clip 'synth-train-0004'") && msg.contains("line 5"), "{msg}");
    }

    #[test]
    fn truncated_and_garbage_files() {
        let (tmp, _) = written("truncated");
        let path = tmp.0.join("synth-train-0000").join(VIDEO_FILE);
        let bytes = fs::read(&path).unwrap_or_default();
        assert!(fs::write(&path, &bytes[..bytes.len() - 5]).is_ok());
        let msg = load_err(&tmp.0, None, None);
        assert!(msg.contains(&path.display().to_string()) && msg.contains("truncated"), "{msg}");
        // A header claiming far more data than the file holds is refused before allocating.
        let header = File::create(&path).and_then(|mut f| {
            let shape = [1u64 << 40, 1 << 20];
            WriteOptions::<u8>::new().default_dtype().shape(&shape).writer(&mut f).write_header_only().map(|_| ())
        });
        assert!(header.is_ok(), "{header:?}");
        let msg = load_err(&tmp.0, None, None);
        assert!(msg.contains(&path.display().to_string()) && msg.contains("truncated"), "{msg}");
        assert!(fs::write(&path, b"not numpy at all").is_ok());
        let msg = load_err(&tmp.0, None, None);
        assert!(msg.contains(&path.display().to_string()) && msg.contains("not a readable .npy"), "{msg}");
    }

    #[test]
    fn test_list_length_mismatch() {
        let (tmp, _) = written("lengths");
        let list = tmp.0.join(TEST_AUDIO_LIST);
        let text = fs::read_to_string(&list).unwrap_or_default() + "synth-train-0000\n";
        assert!(fs::write(&list, text).is_ok());
        let msg = load_err(&tmp.0, None, None);
        assert!(msg.contains(&list.display().to_string()) && msg.contains(TEST_VIDEO_LIST), "{msg}");
        assert!(msg.contains("has 3 ids") && msg.contains("has 4"), "{msg}");
    }

    #[test]
    fn empty_or_missing_lists() {
        let (tmp, _) = written("empty");
        let list = tmp.0.join(TRAIN_LIST);
        assert!(fs::write(&list, "\n   \n\t\n").is_ok());
        let msg = load_err(&tmp.0, None, None);
        assert!(msg.contains(&list.display().to_string()) && msg.contains("empty"), "{msg}");
        assert!(fs::remove_file(&list).is_ok());
        let msg = load_err(&tmp.0, None, None);
        assert!(msg.contains(&list.display().to_string()) && msg.contains("missing"), "{msg}");
        let msg = load_err(&tmp.0.join("nowhere"), None, None);
        assert!(msg.contains("nowhere") && msg.contains("data directory"), "{msg}");
    }

    #[test]
    fn duplicate_and_bad_ids() {
        let (tmp, _) = written("ids");
        let list = tmp.0.join(TEST_VIDEO_LIST);
        assert!(fs::write(&list, "synth-test-00\nsynth-test-01\nsynth-test-00\n").is_ok());
        let msg = load_err(&tmp.0, None, None);
        assert!(msg.contains(&format!("{}:3", list.display())) && msg.contains("'synth-test-00'"), "{msg}");
        assert!(msg.contains("line 1"), "{msg}");
        // An id is a name, never a path: `../etc` is looked up as one directory inside DIR.
        assert!(fs::write(&list, "synth-test-00\n../etc\nsynth-test-02\n").is_ok());
        let msg = load_err(&tmp.0, None, None);
        let inside = tmp.0.join("..%2Fetc").join(VIDEO_FILE);
        assert!(msg.contains(&inside.display().to_string()) && msg.contains("'../etc'"), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
        // A '%' that starts no escape is refused with its line: ids are percent-decoded.
        assert!(fs::write(&list, "synth-test-00\n50%\nsynth-test-02\n").is_ok());
        let msg = load_err(&tmp.0, None, None);
        assert!(msg.contains(&format!("{}:2", list.display())) && msg.contains("%25"), "{msg}");
        // Two spellings of one id are one id.
        assert!(fs::write(&list, "synth-test-00\nsynth%2Dtest-00\n").is_ok());
        let msg = load_err(&tmp.0, None, None);
        assert!(msg.contains(&format!("{}:2", list.display())) && msg.contains("first on line 1"), "{msg}");
    }

    #[test]
    fn hostile_ids_round_trip_through_write_and_load() {
        let tmp = TempDir::new("hostile");
        let mut ds = generate(&small());
        let hostile = ["#hash", " lead", "trail ", "a/b", "..", "tab\there", "cr\rlf\n", "50%"];
        for (i, id) in hostile.iter().take(ds.train.len()).enumerate() {
            ds.train.video_ids[i] = id.to_string();
            ds.train.audio_ids[i] = id.to_string();
        }
        for (i, id) in hostile.iter().skip(ds.train.len()).take(ds.test.len()).enumerate() {
            ds.test.video_ids[i] = id.to_string();
            ds.test.audio_ids[i] = id.to_string();
        }
        assert!(write(&ds, &tmp.0).is_ok());
        let loaded = load(&Layout::in_dir(&tmp.0), None, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((loaded.train, loaded.test), (ds.train.clone(), ds.test.clone()));
        // Every clip is one directory directly inside DIR.
        let dirs = fs::read_dir(&tmp.0).map(|d| d.filter_map(|e| e.ok()).filter(|e| e.path().is_dir()).count());
        assert_eq!(dirs.unwrap_or(0), ds.train.len() + ds.test.len());
        // An empty id has no directory: refused before anything is written.
        let fresh = TempDir::new("empty-id");
        ds.test.video_ids[0] = String::new();
        let msg = write(&ds, &fresh.0).map(|_| ()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains(TEST_VIDEO_LIST) && msg.contains(":1:") && msg.contains("empty"), "{msg}");
        assert!(!fresh.0.exists());
    }

    #[test]
    fn lists_with_old_mac_line_ends_and_size_limit() {
        let (tmp, ds) = written("cr");
        let list = tmp.0.join(TRAIN_LIST);
        let text = format!("# by hand\r{}\r\r{}\r", ds.train.video_ids[4], ds.train.video_ids[0]);
        assert!(fs::write(&list, text).is_ok());
        let ids = read_list(&list).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ids, vec![(2, ds.train.video_ids[4].clone()), (4, ds.train.video_ids[0].clone())]);
        let big = fs::File::create(&list).and_then(|f| f.set_len(MAX_LIST_BYTES + 1));
        assert!(big.is_ok());
        let msg = read_list(&list).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains(&list.display().to_string()) && msg.contains("limit of 268435456"), "{msg}");
        assert!(fs::write(&list, b"ok\n\xff\xfe\n").is_ok());
        let msg = read_list(&list).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains(&format!("{}:2", list.display())) && msg.contains("UTF-8"), "{msg}");
    }

    #[test]
    fn pair_steps_must_agree() {
        let (tmp, _) = written("steps");
        let path = tmp.0.join("synth-train-0000").join(AUDIO_FILE);
        write_u8(&path, &[11, 6], &[3u8; 66], Order::C);
        let msg = load_err(&tmp.0, None, None);
        assert!(
            msg.contains(&path.display().to_string()) && msg.contains("12 steps") && msg.contains("has 11"),
            "{msg}"
        );
        assert!(msg.contains(VIDEO_FILE), "{msg}");
    }

    #[test]
    fn failed_write_leaves_no_partial_files() {
        let tmp = TempDir::new("atomic");
        let ds = generate(&small());
        // A directory where a clip file should go makes its rename fail.
        let blocked = tmp.0.join("synth-train-0003").join(AUDIO_FILE);
        assert!(fs::create_dir_all(blocked.join("inside")).is_ok());
        let msg = write(&ds, &tmp.0).map(|_| ()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains(&blocked.display().to_string()), "{msg}");
        let names: Vec<String> = fs::read_dir(tmp.0.join("synth-train-0003"))
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");
        // The lists come last, so the failed export has none.
        assert!(!tmp.0.join(TRAIN_LIST).exists());
    }

    #[test]
    fn write_rejects_inconsistent_data() {
        let tmp = TempDir::new("reject");
        let mut ds = generate(&small());
        ds.train.audio_ids[1] = "other".into();
        let msg = write(&ds, &tmp.0).map(|_| ()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("clip 1") && msg.contains("other"), "{msg}");
        let mut ds = generate(&small());
        ds.test.video_ids[0] = ds.train.video_ids[0].clone();
        let msg = write(&ds, &tmp.0).map(|_| ()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("synth-train-0000") && msg.contains("different features"), "{msg}");
        let mut ds = generate(&small());
        ds.test.audio.pop();
        let msg = write(&ds, &tmp.0).map(|_| ()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("test clips") && msg.contains("audio holds"), "{msg}");
        assert!(!tmp.0.exists());
    }
}
