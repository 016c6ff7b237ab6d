//! Writing so that a file or directory under its final name is always complete: everything
//! is written under a temporary sibling name, flushed to disk, and renamed into place (a
//! rename within a directory is atomic). A failed or interrupted write leaves the previous
//! content, if any, untouched and no temporary file behind (except after a SIGKILL, when a
//! dot-file may remain, never under the final name).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The temporary sibling of `path`: hidden, unique to this process, with the same extension
/// (libraries that pick a format by extension, such as a PNG writer, still work).
fn temporary(path: &Path) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    path.with_file_name(format!(".partial-{}-{name}", std::process::id()))
}

/// Runs `body` against a temporary path, syncs what it wrote and renames it over `path`.
pub fn write_with(path: &Path, body: impl FnOnce(&Path) -> io::Result<()>) -> io::Result<()> {
    let tmp = temporary(path);
    let result = body(&tmp).and_then(|()| fs::File::open(&tmp)?.sync_all()).and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Makes the rename itself durable; not every file system allows it, hence no error.
        let _ = fs::File::open(dir).and_then(|d| d.sync_all());
    }
    result
}

/// Writes `bytes` to `path` atomically.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with(path, |tmp| fs::write(tmp, bytes))
}

/// Moves a finished directory `tmp` to `dir`, replacing an older `dir` (moved aside first,
/// removed after), so a reader sees the old directory or the new one, never a mix.
pub fn replace_dir(tmp: &Path, dir: &Path) -> io::Result<()> {
    if dir.exists() {
        let old = temporary(dir).with_extension("old");
        fs::rename(dir, &old)?;
        fs::rename(tmp, dir)?;
        return fs::remove_dir_all(&old);
    }
    fs::rename(tmp, dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("a.txt");
        write(&path, b"old").unwrap();
        let failed = write_with(&path, |tmp| {
            fs::write(tmp, b"half")?;
            Err(io::Error::other("disk full"))
        });
        assert!(failed.is_err());
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
        write(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
    }

    #[test]
    fn a_directory_is_replaced_whole() {
        let root = tempfile::TempDir::new().unwrap();
        let (dir, tmp) = (root.path().join("eval"), root.path().join(".eval.tmp"));
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("stale.txt"), b"x").unwrap();
        fs::create_dir(&tmp).unwrap();
        fs::write(tmp.join("metrics.json"), b"{}").unwrap();
        replace_dir(&tmp, &dir).unwrap();
        let names: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["metrics.json"]);
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 1);
    }
}
