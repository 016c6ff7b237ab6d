//! The one rule every output path goes through (docs/safety.md).
//!
//! A command writes a file or a directory. Before it writes anything, [`claim`] checks the
//! path against what the command reads and against what is already there:
//!
//! * it never writes onto one of its own inputs, nor onto a directory that holds one
//!   (paths compared after following symbolic links), `--force` or not;
//! * an existing directory is replaced only when it is empty or avc's own earlier output
//!   of the same kind (its marker file says so, [`mark`]); an existing file only when it is
//!   avc's own output of the same kind (its kind's recogniser says so); anything else needs
//!   `--force`;
//! * a file is never written over a directory, nor a directory over a file.
//!
//! A refusal is an [`OutputError`] naming the flag, the path and the reason, before any byte
//! is written. The writing itself is atomic ([`crate::atomic`]): a reader sees the old
//! output or the new one, never a mix.

use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// The file in an output directory that says which command wrote it.
pub const MARKER: &str = ".avc-output";

/// What a command writes.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A directory written whole and replaced whole.
    Dir(DirKind),
    /// One file.
    File(FileKind),
}

/// A kind of output directory: `name` is written into its marker file ([`MARKER`]) unless
/// the kind has a marker of its own (a sweep directory's `sweep.json`).
#[derive(Debug, Clone, Copy)]
pub struct DirKind {
    pub name: &'static str,
    /// A file whose presence marks the kind instead of [`MARKER`].
    pub own_marker: Option<&'static str>,
    /// The files this kind always writes: a directory holding all of them and nothing else
    /// (but [`DirKind::optional`] ones) was written by avc before markers existed, and is its
    /// own too. Empty: no unmarked directory is recognised (a data set is never guessed at).
    pub files: &'static [&'static str],
    /// Files this kind writes only sometimes.
    pub optional: &'static [&'static str],
}

/// A kind of output file; `recognise` says whether an existing file's first bytes are avc's
/// own earlier output of this kind (`None`: never, so replacing one always needs `--force`).
#[derive(Debug, Clone, Copy)]
pub struct FileKind {
    pub name: &'static str,
    pub recognise: Option<fn(&[u8]) -> bool>,
}

/// Something a command reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// This file or directory itself (a run directory: outputs may go inside it).
    Path(PathBuf),
    /// This directory and everything under it (a data set, a checkpoint): nothing may be
    /// written inside it either.
    Tree(PathBuf),
}

impl Input {
    pub fn path(&self) -> &Path {
        match self {
            Input::Path(p) | Input::Tree(p) => p,
        }
    }
}

/// Bytes read from an existing file for its kind's recogniser.
const SNIFF_BYTES: u64 = 64 * 1024;

/// One output path of a command, with the flag that named it (for messages).
#[derive(Debug, Clone, Copy)]
pub struct Output<'a> {
    /// `--out`, `-o`, `--json`, or a phrase like "the default output" when no flag named it.
    pub flag: &'a str,
    pub path: &'a Path,
    pub kind: Kind,
}

/// Why an output path was refused; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{flag} {path}: this is one of the command's inputs ({input}); give another path")]
    IsInput { flag: String, path: String, input: String },
    #[error("{flag} {path}: this is inside {input}, which the command reads; give a path outside it")]
    InsideInput { flag: String, path: String, input: String },
    #[error(
        "{flag} {path}: this directory holds one of the command's inputs ({input}); writing here would \
         replace it; give another path"
    )]
    HoldsInput { flag: String, path: String, input: String },
    #[error(
        "{flag} {path}: {what} exists and is not {kind} that avc wrote; nothing was touched (give another \
         path, or --force to replace it)"
    )]
    Foreign { flag: String, path: String, what: &'static str, kind: &'static str },
    #[error("{flag} {path}: {found} is there, {expected} was to be written; give another path")]
    WrongType { flag: String, path: String, found: &'static str, expected: &'static str },
    #[error("{flag} {path}: cannot look at it ({reason})")]
    Unreadable { flag: String, path: String, reason: String },
}

impl OutputError {
    /// The exit code: 2, a usage error.
    pub fn exit_code(&self) -> u8 {
        2
    }
}

/// Checks that `out` may be written by a command reading `inputs`; see the module docs.
/// Returns `Ok(true)` when something is already there that the write will replace.
pub fn claim(out: &Output, inputs: &[Input], force: bool) -> Result<bool, OutputError> {
    let resolved = resolve(out.path);
    for input in inputs {
        let input_resolved = resolve(input.path());
        let (flag, path, input_shown) = (flag(out), shown(out.path), shown(input.path()));
        if input_resolved == resolved {
            return Err(OutputError::IsInput { flag, path, input: input_shown });
        }
        if input_resolved.starts_with(&resolved) {
            return Err(OutputError::HoldsInput { flag, path, input: input_shown });
        }
        if matches!(input, Input::Tree(_)) && resolved.starts_with(&input_resolved) {
            return Err(OutputError::InsideInput { flag, path, input: input_shown });
        }
    }
    let meta = match fs::metadata(out.path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(unreadable(out, e)),
    };
    match out.kind {
        Kind::Dir(kind) => claim_dir(out, kind, meta.is_dir(), force),
        Kind::File(kind) => claim_file(out, kind, meta.is_dir(), force),
    }
}

fn claim_dir(out: &Output, kind: DirKind, is_dir: bool, force: bool) -> Result<bool, OutputError> {
    if !is_dir {
        return Err(wrong_type(out, "a file", "a directory"));
    }
    let mut entries = fs::read_dir(out.path).map_err(|e| unreadable(out, e))?;
    if entries.next().is_none() || is_marked(out.path, kind) || force {
        return Ok(true);
    }
    Err(OutputError::Foreign { flag: flag(out), path: shown(out.path), what: "a directory", kind: kind.name })
}

fn claim_file(out: &Output, kind: FileKind, is_dir: bool, force: bool) -> Result<bool, OutputError> {
    if is_dir {
        return Err(wrong_type(out, "a directory", "a file"));
    }
    if force {
        return Ok(true);
    }
    let head = head(out.path).map_err(|e| unreadable(out, e))?;
    match kind.recognise {
        Some(recognise) if recognise(&head) => Ok(true),
        _ => Err(OutputError::Foreign { flag: flag(out), path: shown(out.path), what: "a file", kind: kind.name }),
    }
}

/// The first bytes of a file, which its kind's recogniser reads.
fn head(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::new();
    fs::File::open(path)?.take(SNIFF_BYTES).read_to_end(&mut head)?;
    Ok(head)
}

/// Whether the file at `path` is avc's own output of `kind`.
pub fn is_own_file(path: &Path, kind: FileKind) -> bool {
    matches!((kind.recognise, head(path)), (Some(recognise), Ok(head)) if recognise(&head))
}

/// Whether `dir` carries the marker of `kind`.
pub fn is_marked(dir: &Path, kind: DirKind) -> bool {
    let marked = match kind.own_marker {
        Some(file) => dir.join(file).is_file(),
        None => fs::read_to_string(dir.join(MARKER)).is_ok_and(|text| text.trim() == kind.name),
    };
    marked || written_before_markers(dir, kind)
}

/// Whether `dir` holds every file `kind` always writes and nothing it does not write.
fn written_before_markers(dir: &Path, kind: DirKind) -> bool {
    let Ok(entries) = fs::read_dir(dir) else { return false };
    let names: Vec<_> = entries.flatten().map(|e| e.file_name()).collect();
    let known = |n: &std::ffi::OsString| kind.files.iter().chain(kind.optional).any(|f| n.as_os_str() == *f);
    !kind.files.is_empty() && kind.files.iter().all(|f| dir.join(f).is_file()) && names.iter().all(known)
}

/// Writes the marker of `kind` into `dir` (a directory being written, before it is renamed
/// into place), so a later run may replace it without `--force`.
pub fn mark(dir: &Path, kind: DirKind) -> std::io::Result<()> {
    match kind.own_marker {
        Some(_) => Ok(()),
        None => fs::write(dir.join(MARKER), format!("{}\n", kind.name)),
    }
}

/// Writes the directory `dir` whole: `body` fills a hidden sibling, which is marked as
/// `kind` and renamed over `dir` (an older `dir` is moved aside first and removed after), so
/// a reader sees the old directory or the new one, never a mix, and a failed `body` leaves
/// the old one untouched and no sibling behind. `io` turns a failure of this function's own
/// file operations into the caller's error. Call [`claim`] first.
pub fn write_dir<E>(
    dir: &Path,
    kind: DirKind,
    body: impl FnOnce(&Path) -> Result<(), E>,
    io: impl Fn(&Path, std::io::Error) -> E,
) -> Result<(), E> {
    let name = dir.file_name().map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
    // A fresh sibling, never one already there (a crashed run's is left alone, not deleted).
    let mut attempt = 0;
    let tmp = loop {
        let tmp = parent.join(format!(".{name}.partial-{}-{attempt}", std::process::id()));
        match fs::create_dir(&tmp) {
            Ok(()) => break tmp,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 1000 => attempt += 1,
            Err(e) => return Err(io(&tmp, e)),
        }
    };
    let written = body(&tmp)
        .and_then(|()| mark(&tmp, kind).map_err(|e| io(&tmp, e)))
        .and_then(|()| replace_dir(&tmp, dir).map_err(|e| io(dir, e)));
    if written.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    written
}

/// Moves the finished `tmp` to `dir`. An existing `dir` is moved aside first and removed
/// only once the new one is in place.
fn replace_dir(tmp: &Path, dir: &Path) -> std::io::Result<()> {
    crate::atomic::replace_dir(tmp, dir)
}

/// `path` made absolute, with every symbolic link in its existing part followed and `.` and
/// `..` taken out of the rest, so two spellings of one place compare equal.
pub fn resolve(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = fs::canonicalize(existing) {
            return rest.iter().rev().fold(real, |acc: PathBuf, part: &Component| join_lexically(acc, *part));
        }
        match (existing.parent(), existing.components().next_back()) {
            (Some(parent), Some(last)) => {
                rest.push(last);
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

fn join_lexically(mut base: PathBuf, part: Component) -> PathBuf {
    match part {
        Component::ParentDir => {
            base.pop();
        }
        Component::CurDir => {}
        other => base.push(other),
    }
    base
}

fn flag(out: &Output) -> String {
    out.flag.to_string()
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

fn unreadable(out: &Output, e: std::io::Error) -> OutputError {
    OutputError::Unreadable { flag: flag(out), path: shown(out.path), reason: e.to_string() }
}

fn wrong_type(out: &Output, found: &'static str, expected: &'static str) -> OutputError {
    OutputError::WrongType { flag: flag(out), path: shown(out.path), found, expected }
}

/// Recognisers for the kinds of file avc writes.
pub mod recognise {
    /// A JSON document that starts (after white space) with `{` or `[` and names `key` near
    /// its start: how avc's JSON outputs are told from other JSON.
    pub fn json_with_key(head: &[u8], key: &str) -> bool {
        let text = String::from_utf8_lossy(head);
        let trimmed = text.trim_start();
        (trimmed.starts_with('{') || trimmed.starts_with('[')) && text.contains(&format!("\"{key}\""))
    }

    /// A safetensors file whose header's metadata holds `"format": value`.
    pub fn safetensors_with(head: &[u8], key: &str, value: &str) -> bool {
        let Some(len) = head.get(..8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default())) else {
            return false;
        };
        let Some(header) = usize::try_from(len).ok().and_then(|len| head.get(8..8 + len)) else { return false };
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(header) else { return false };
        json.get("__metadata__").and_then(|m| m.get(key)).and_then(|v| v.as_str()) == Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVAL: DirKind =
        DirKind { name: "evaluation", own_marker: None, files: &["metrics.json", "scores.npy"], optional: &["a.png"] };
    const JSON: FileKind =
        FileKind { name: "a comparison", recognise: Some(|h| recognise::json_with_key(h, "baseline")) };

    fn dir_out(path: &Path) -> Output<'_> {
        Output { flag: "--out", path, kind: Kind::Dir(EVAL) }
    }

    fn file_out(path: &Path) -> Output<'_> {
        Output { flag: "--json", path, kind: Kind::File(JSON) }
    }

    #[test]
    fn a_new_path_or_an_empty_directory_may_be_written() {
        let root = tempfile::TempDir::new().unwrap();
        assert!(!claim(&dir_out(&root.path().join("new")), &[], false).unwrap());
        let empty = root.path().join("empty");
        fs::create_dir(&empty).unwrap();
        assert!(claim(&dir_out(&empty), &[], false).unwrap());
    }

    #[test]
    fn inputs_and_directories_holding_them_are_refused_even_with_force() {
        let root = tempfile::TempDir::new().unwrap();
        let run = root.path().join("run");
        fs::create_dir_all(run.join("best")).unwrap();
        let best = run.join("best");
        for out in [&run, &best, &root.path().to_path_buf()] {
            let err = claim(&dir_out(out), &[Input::Path(run.clone()), Input::Tree(best.clone())], true).unwrap_err();
            assert!(matches!(err, OutputError::IsInput { .. } | OutputError::HoldsInput { .. }), "{err}");
        }
        // Another spelling of the same place.
        let dotted = run.join("best/../best/.");
        assert!(matches!(
            claim(&dir_out(&dotted), &[Input::Path(best.clone())], true),
            Err(OutputError::IsInput { .. })
        ));
        // Inside an input directory is fine (eval writes RUN/eval-best), inside a tree not.
        let inputs = [Input::Path(run.clone()), Input::Tree(best.clone())];
        assert!(claim(&dir_out(&run.join("eval-best")), &inputs, false).is_ok());
        let inside = claim(&dir_out(&best.join("eval")), &inputs, true);
        assert!(matches!(inside, Err(OutputError::InsideInput { .. })), "{inside:?}");
    }

    #[cfg(unix)]
    #[test]
    fn symbolic_links_are_followed() {
        let root = tempfile::TempDir::new().unwrap();
        let data = root.path().join("data.yaml");
        fs::write(&data, "path: x\n").unwrap();
        let link = root.path().join("link.json");
        std::os::unix::fs::symlink(&data, &link).unwrap();
        let data_input = [Input::Path(data.clone())];
        assert!(matches!(claim(&file_out(&link), &data_input, true), Err(OutputError::IsInput { .. })));
        let dir_link = root.path().join("dirlink");
        std::os::unix::fs::symlink(root.path(), &dir_link).unwrap();
        let through = dir_link.join("data.yaml");
        assert!(matches!(claim(&file_out(&through), &data_input, true), Err(OutputError::IsInput { .. })));
    }

    #[test]
    fn foreign_directories_need_force_and_marked_ones_do_not() {
        let root = tempfile::TempDir::new().unwrap();
        let dir = root.path().join("d");
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("notes.txt"), "mine").unwrap();
        assert!(matches!(claim(&dir_out(&dir), &[], false), Err(OutputError::Foreign { .. })));
        assert!(claim(&dir_out(&dir), &[], true).unwrap());
        fs::write(dir.join(MARKER), "retrieval\n").unwrap();
        assert!(matches!(claim(&dir_out(&dir), &[], false), Err(OutputError::Foreign { .. })), "another kind");
        mark(&dir, EVAL).unwrap();
        assert!(claim(&dir_out(&dir), &[], false).unwrap());
    }

    #[test]
    fn an_output_written_before_markers_is_recognised_by_its_files_alone() {
        let root = tempfile::TempDir::new().unwrap();
        let dir = root.path().join("eval-best");
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("metrics.json"), "{}").unwrap();
        fs::write(dir.join("scores.npy"), "").unwrap();
        assert!(claim(&dir_out(&dir), &[], false).unwrap());
        fs::write(dir.join("thesis.tex"), "mine").unwrap();
        assert!(matches!(claim(&dir_out(&dir), &[], false), Err(OutputError::Foreign { .. })), "another file");
        fs::remove_file(dir.join("thesis.tex")).unwrap();
        fs::write(dir.join("a.png"), "").unwrap();
        assert!(claim(&dir_out(&dir), &[], false).unwrap(), "an optional file");
        fs::remove_file(dir.join("metrics.json")).unwrap();
        assert!(matches!(claim(&dir_out(&dir), &[], false), Err(OutputError::Foreign { .. })), "a file missing");
    }

    #[test]
    fn files_are_replaced_only_when_recognised_or_forced() {
        let root = tempfile::TempDir::new().unwrap();
        let theirs = root.path().join("theirs.json");
        fs::write(&theirs, "{\"precious\": 1}").unwrap();
        assert!(matches!(claim(&file_out(&theirs), &[], false), Err(OutputError::Foreign { .. })));
        assert!(claim(&file_out(&theirs), &[], true).unwrap());
        let ours = root.path().join("ours.json");
        fs::write(&ours, "[\n  {\"baseline\": \"runs/a\"}]").unwrap();
        assert!(claim(&file_out(&ours), &[], false).unwrap());
    }

    #[test]
    fn a_file_is_not_written_over_a_directory_nor_the_reverse() {
        let root = tempfile::TempDir::new().unwrap();
        let file = root.path().join("f");
        fs::write(&file, "x").unwrap();
        assert!(matches!(claim(&dir_out(&file), &[], true), Err(OutputError::WrongType { .. })));
        assert!(matches!(claim(&file_out(root.path()), &[], true), Err(OutputError::WrongType { .. })));
    }

    #[test]
    fn safetensors_metadata_is_recognised() {
        let header = br#"{"__metadata__":{"format":"avc-export"}}"#;
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header);
        assert!(recognise::safetensors_with(&bytes, "format", "avc-export"));
        assert!(!recognise::safetensors_with(&bytes, "format", "pt"));
        assert!(!recognise::safetensors_with(b"\xff\xff\xff\xff\xff\xff\xff\xff{", "format", "pt"));
    }
}
