//! Read throughput of a data source: building its index (cold page cache, no cached index),
//! opening it again (cached index), and reading random batches of 64 clips with the
//! training loop's reader (two background threads, four batches ahead), from a cold page
//! cache and again warm.
//!
//! ```text
//! cargo bench --bench data -- SOURCE [CLIPS]
//! ```
//!
//! SOURCE is anything `--data` takes except `synth` (e.g. `/tmp/big/data.yaml`); CLIPS
//! (default 4096) is how many clips each reading pass reads. The page cache is emptied for
//! the source's files with `fdatasync` and `posix_fadvise(DONTNEED)`, which drops their pages
//! without root (and without touching other programs' cache); the share of the files still
//! cached afterwards is measured with `mincore` and printed.
//! Clips are fitted to 120 steps of 1024 + 128 values, the course's shapes.

use avc::data::crop::Pass;
use avc::data::prefetch::prefetch;
use avc::data::source::ReadOptions;
use avc::data::{DataSource, index, open};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let Some(text) = args.first() else {
        println!(
            "usage: cargo bench --bench data -- SOURCE [CLIPS]   (SOURCE: a course directory, yt8m:GLOB or a data file)"
        );
        return;
    };
    let clips: usize = args.get(1).and_then(|c| c.parse().ok()).unwrap_or(4096);
    if let Err(e) = run(text, clips) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(text: &str, clips: usize) -> Result<(), String> {
    let cache = std::env::temp_dir().join(format!("avc-bench-index-{}", std::process::id()));
    let source = with_cache(DataSource::parse(text)?, &cache);
    let files = files_of(&source)?;
    let bytes: u64 = files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
    println!("{text}: {} files, {:.2} GB", files.len(), bytes as f64 / 1e9);
    let expect = [Some([120, 1024]), Some([120, 128])];

    let left = evict(&files);
    let started = Instant::now();
    let data = open(&source, expect).map_err(|e| e.to_string())?;
    let cold_index = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let again = open(&source, expect).map_err(|e| e.to_string())?;
    let warm_index = started.elapsed().as_secs_f64();
    assert_eq!(again.provenance.index_sha256, data.provenance.index_sha256);
    drop(again);
    let n = data.train.len();
    println!(
        "index: {n} training clips; built in {cold_index:.1} s from a cold page cache ({:.0} MB/s; {:.1}% of the files cached at the start), reopened from the cached index in {warm_index:.2} s",
        bytes as f64 / 1e6 / cold_index,
        100.0 * left
    );

    let mut rows: Vec<usize> = (0..n).collect();
    rows.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(7));
    rows.truncate(clips.min(n));
    let batches: Vec<&[usize]> = rows.chunks(64).collect();
    let per_clip = 120 * (1024 + 128);
    for (label, cold) in [("cold", true), ("warm", false)] {
        let cached = if cold { evict(&files) } else { resident(&files) };
        let started = Instant::now();
        let pass = Pass::Train { seed: 1, epoch: 1 };
        let read: usize = prefetch(
            batches.len(),
            2,
            4,
            |k| data.train.gather(batches[k], pass).map(|c| c.len()),
            |jobs| jobs.map(|r| r.unwrap_or(0)).sum(),
        );
        let s = started.elapsed().as_secs_f64();
        println!(
            "read {label}: {read} random clips in {s:.1} s: {:.0} clips/s ({:.0} MB/s of fitted features; {:.1}% of the files cached at the start)",
            read as f64 / s,
            (read * per_clip) as f64 / 1e6 / s,
            100.0 * cached
        );
    }
    let _ = std::fs::remove_dir_all(&cache);
    Ok(())
}

/// The source with its TFRecord index cached in `cache` (a fresh directory: cold).
fn with_cache(source: DataSource, cache: &Path) -> DataSource {
    let fresh = |options: ReadOptions| ReadOptions { index_cache: Some(cache.to_path_buf()), ..options };
    match source {
        DataSource::Yt8m { pattern, test_shards, lists, options } => {
            DataSource::Yt8m { pattern, test_shards, lists, options: fresh(options) }
        }
        other => other,
    }
}

/// Every file the source reads.
fn files_of(source: &DataSource) -> Result<Vec<PathBuf>, String> {
    match source {
        DataSource::Yt8m { pattern, test_shards, .. } => {
            let mut files = index::expand(pattern).map_err(|e| e.to_string())?;
            if let Some(t) = test_shards {
                files.extend(index::expand(t).map_err(|e| e.to_string())?);
            }
            Ok(files)
        }
        DataSource::Dir { path, .. } => {
            let mut files = Vec::new();
            let mut stack = vec![path.clone()];
            while let Some(d) = stack.pop() {
                for e in std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?.flatten() {
                    let p = e.path();
                    if p.is_dir() { stack.push(p) } else { files.push(p) }
                }
            }
            Ok(files)
        }
        DataSource::Synth { .. } => {
            Err("the synthetic set is generated in memory; give a directory or TFRecords".into())
        }
    }
}

/// Drops the files' pages from the page cache (no root needed): written back first
/// (`fdatasync`), since `posix_fadvise(DONTNEED)` leaves dirty pages, then dropped. Returns
/// the share of the files' bytes still resident afterwards (`mincore`), which the report
/// prints next to the cold numbers.
fn evict(files: &[PathBuf]) -> f64 {
    use std::os::fd::AsRawFd;
    for f in files {
        if let Ok(file) = std::fs::File::open(f) {
            let _ = file.sync_data();
            // SAFETY: a valid open descriptor; the call only advises the kernel.
            unsafe {
                libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
            }
        }
    }
    resident(files)
}

/// The share of the files' pages in the page cache.
fn resident(files: &[PathBuf]) -> f64 {
    use std::os::fd::AsRawFd;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as usize;
    let (mut total, mut present) = (0usize, 0usize);
    for f in files {
        let Ok(file) = std::fs::File::open(f) else { continue };
        let len = file.metadata().map_or(0, |m| m.len() as usize);
        if len == 0 {
            continue;
        }
        let pages = len.div_ceil(page);
        let mut vec = vec![0u8; pages];
        // SAFETY: a read-only shared mapping of `len` bytes of an open file, unmapped below;
        // mincore writes one byte per page into `vec`, which has one per page.
        unsafe {
            let addr = libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, file.as_raw_fd(), 0);
            if addr == libc::MAP_FAILED {
                continue;
            }
            if libc::mincore(addr, len, vec.as_mut_ptr()) == 0 {
                total += pages;
                present += vec.iter().filter(|&&b| b & 1 == 1).count();
            }
            libc::munmap(addr, len);
        }
    }
    present as f64 / total.max(1) as f64
}
