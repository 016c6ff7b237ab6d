//! Seeded mutation fuzzing of every data reader: list files, data files (YAML), `.npy`
//! files, TFRecord shards (framing and records) and cached shard indexes. Valid inputs are
//! mutated (bit flips, interesting bytes, truncation, insertions, huge lengths, deep
//! nesting) and each reader must return (Ok or an error that names the file), never panic,
//! never allocate what a length field claims, and never overflow a 1 MiB stack.
//!
//! Deterministic: the seed is fixed, so a failure reproduces; each target prints its count
//! and time. `AVC_FUZZ_INPUTS` raises the count for a longer local run.

use avc::data::index::ShardIndex;
use avc::data::{course, index, sink, source, tfrecord, yt8m};
use std::path::Path;
use std::time::Instant;

/// Inputs per reader in the ordinary suite.
const INPUTS: usize = 100_000;

fn inputs() -> usize {
    std::env::var("AVC_FUZZ_INPUTS").ok().and_then(|v| v.parse().ok()).unwrap_or(INPUTS)
}

use crate::Gen;

/// Bytes that parsers treat specially.
const INTERESTING: [u8; 16] =
    [0, 0xff, 0x7f, 0x80, b'\n', b'\r', b'#', b'%', b'[', b'{', b'(', b':', b'\'', b'"', b'-', b' '];
/// Runs inserted whole: escapes, line ends, a BOM, nesting, huge numbers.
const TOKENS: [&[u8]; 12] = [
    b"%",
    b"%2",
    b"%ff",
    b"\r",
    b"\xef\xbb\xbf",
    b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    b"{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{",
    b"((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((",
    b"1000000000000",
    b"18446744073709551615",
    b"&a [*a, *a, *a, *a]",
    b"\n  - ",
];

/// One to four random mutations of `input`.
fn mutate(g: &mut Gen, input: &mut Vec<u8>) {
    for _ in 0..1 + g.below(4) {
        let at = g.below(input.len() + 1);
        match g.below(7) {
            0 if !input.is_empty() => {
                let k = g.below(input.len());
                input[k] ^= 1 << g.below(8);
            }
            1 if !input.is_empty() => {
                let k = g.below(input.len());
                input[k] = INTERESTING[g.below(INTERESTING.len())];
            }
            2 => input.truncate(at),
            3 => {
                let token = TOKENS[g.below(TOKENS.len())];
                let times = if token.len() > 40 { 1 + g.below(60) } else { 1 };
                for _ in 0..times {
                    input.splice(at..at, token.iter().copied());
                }
            }
            4 => {
                let n = g.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| g.draw() as u8).collect();
                input.splice(at..at, bytes);
            }
            5 if input.len() >= 8 => {
                // A huge little-endian length or count over 4 or 8 bytes.
                let k = g.below(input.len() - 7);
                let huge = [1u64 << 40, 1_000_000_000_000, u64::MAX, u32::MAX as u64, 1 << 31][g.below(5)];
                let width = if g.below(2) == 0 { 4 } else { 8 };
                input[k..k + width].copy_from_slice(&huge.to_le_bytes()[..width]);
            }
            _ if !input.is_empty() => {
                // Duplicate a chunk.
                let from = g.below(input.len());
                let to = (from + 1 + g.below(64)).min(input.len());
                let chunk = input[from..to].to_vec();
                input.splice(at..at, chunk);
            }
            _ => input.push(g.draw() as u8),
        }
    }
}

/// Runs `read` on `n` mutations of `seeds` on a thread with a 1 MiB stack; a panic fails the
/// test with the input that caused it. `read` returns the error's text, if any, which must
/// name `name`.
fn fuzz<F>(target: &'static str, seed: u64, seeds: Vec<Vec<u8>>, name: String, read: F)
where
    F: Fn(&[u8]) -> Option<String> + Send + 'static,
{
    let n = inputs();
    let run = move || {
        let started = Instant::now();
        let mut g = Gen(seed);
        let (mut errors, mut unnamed) = (0usize, Vec::new());
        for i in 0..n {
            let mut input = seeds[g.below(seeds.len())].clone();
            if i % 16 != 0 {
                mutate(&mut g, &mut input);
            }
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read(&input)));
            match outcome {
                Ok(None) => {}
                Ok(Some(message)) => {
                    errors += 1;
                    if !message.contains(&name) && unnamed.len() < 5 {
                        unnamed.push(message);
                    }
                }
                Err(_) => panic!("{target}: input {i} panicked: {:?}", String::from_utf8_lossy(&input)),
            }
        }
        assert!(unnamed.is_empty(), "{target}: errors that do not name {name}: {unnamed:#?}");
        println!("{target}: {n} inputs ({errors} refused) in {:.2?}", started.elapsed());
    };
    let thread = std::thread::Builder::new().name(format!("fuzz-{target}")).stack_size(1 << 20).spawn(run);
    thread.expect("spawns").join().unwrap_or_else(|e| std::panic::resume_unwind(e));
}

fn error_text<T>(r: Result<T, avc::data::DataError>) -> Option<String> {
    r.err().map(|e| e.to_string())
}

#[test]
fn fuzz_list_files() {
    let seeds = vec![
        b"-Ab_c1xYz09\n_under_score\n--double-dash\n".to_vec(),
        b"\xef\xbb\xbf# picked by hand\r\n  clip-1  \r\n\r\n%23hash\r\n%20lead\r\ntrail%20\r\n".to_vec(),
        b"a%2Fb\r%2E%2E\rtrain%2Etxt\r50%25\r\xe6\x97\xa5\xe6\x9c\xac\r".to_vec(),
    ];
    fuzz("list", 0x11, seeds, "fuzz/train.txt".into(), |b| {
        error_text(course::parse_list_bytes(b, Path::new("fuzz/train.txt")))
    });
}

#[test]
fn fuzz_data_files() {
    let seeds = vec![
        b"source: yt8m\npath: frame/train*.tfrecord\ntest_shards: frame/validate0000.tfrecord\nlists:\n  train: lists/train.txt\n  val: v.txt\ncrop: random\npad: 3\nsteps: 120\nvalidation: hash\nskip_corrupt: true\nmemory: stream\nindex_cache: /tmp/x\n".to_vec(),
        b"\xef\xbb\xbf# a course set\nsource: course\npath: nowhere/features\nlists: {train: a.txt, test_video: b.txt, test_audio: c.txt}\n".to_vec(),
        sink_data_file(),
    ];
    fuzz("data-file", 0x22, seeds, "fuzz/data.yaml".into(), |b| {
        error_text(source::parse_data_file(b, Path::new("fuzz/data.yaml")))
    });
}

/// The data file a TFRecord conversion writes.
fn sink_data_file() -> Vec<u8> {
    let tmp = tempfile::TempDir::new().unwrap();
    let mut s = sink::create(sink::Layout::Yt8m, tmp.path(), 10).unwrap();
    s.finish().unwrap();
    std::fs::read(tmp.path().join(sink::DATA_FILE)).unwrap()
}

/// A `.npy` file as numpy writes it, in format `version`.
fn npy(version: u8, shape: [usize; 2], fortran: bool) -> Vec<u8> {
    let mut header = format!(
        "{{'descr': '|u1', 'fortran_order': {}, 'shape': ({}, {}), }}",
        if fortran { "True" } else { "False" },
        shape[0],
        shape[1]
    );
    while (header.len() + 11) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.extend_from_slice(&[version, 0]);
    if version == 1 {
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(header.as_bytes());
    out.extend((0..shape[0] * shape[1]).map(|v| v as u8));
    out
}

#[test]
fn fuzz_npy_files() {
    let seeds = vec![npy(1, [4, 6], false), npy(2, [3, 5], true), npy(3, [1, 1], false), npy(1, [0, 7], false)];
    // Every seed reads as written first: the mutations start from valid files.
    for s in &seeds {
        assert!(course::parse_npy(s, Path::new("x.npy")).is_ok());
    }
    fuzz("npy", 0x33, seeds, "fuzz/vfeat.npy".into(), |b| {
        error_text(course::parse_npy(b, Path::new("fuzz/vfeat.npy")))
    });
}

/// A shard of a few records as avc writes them.
fn shard(ids: &[&str], frames: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, id) in ids.iter().enumerate() {
        let rgb: Vec<u8> = (0..frames * 4).map(|v| (v + k) as u8).collect();
        let audio: Vec<u8> = (0..frames * 2).map(|v| (v * 3 + k) as u8).collect();
        let audio_id = (k == 1).then_some("other");
        tfrecord::write_record(&mut out, &yt8m::encode(id, audio_id, &rgb, 4, &audio, 2)).unwrap();
    }
    out
}

/// Rewrites a record's length with a matching length CRC (which random flips almost never
/// produce), so the scanner trusts a huge or wrong length: the case the size limit is for.
fn trusted_length(g: &mut Gen, input: &mut [u8]) {
    if input.len() >= 12 {
        let huge = [1_000_000_000_000u64, u64::MAX, (1 << 30) + 1, g.draw() % 4096][g.below(4)];
        let len = huge.to_le_bytes();
        input[..8].copy_from_slice(&len);
        input[8..12].copy_from_slice(&tfrecord::masked_crc32c(&len).to_le_bytes());
    }
}

#[test]
fn fuzz_tfrecord_shards() {
    let seeds = vec![shard(&["-Ab_c1xYz09", "b", "#c"], 3), shard(&["x"], 1), shard(&[], 0)];
    fuzz("tfrecord", 0x44, seeds, "fuzz/train-00000.tfrecord".into(), |b| {
        let mut input = b.to_vec();
        // A quarter of the inputs get a trusted length (seeded from the input itself).
        let mut g = Gen(b.iter().fold(7u64, |h, &x| h.wrapping_mul(31).wrapping_add(u64::from(x))));
        if g.below(4) == 0 {
            trusted_length(&mut g, &mut input);
        }
        let path = Path::new("fuzz/train-00000.tfrecord");
        match ShardIndex::scan(&input[..], input.len() as u64, path, 0) {
            Ok(index) => {
                // Every record found decodes again; every refusal says why.
                for r in &index.records {
                    let end = (r.offset + tfrecord::HEADER + r.length) as usize;
                    let payload = &input[(r.offset + tfrecord::HEADER) as usize..end];
                    assert!(yt8m::decode(payload).is_ok_and(|rec| rec.id == r.id && rec.frames == r.frames));
                }
                // The first refused record, as a plan reports it.
                index.corrupt.first().map(|c| {
                    let e = avc::data::DataError::Record {
                        shard: path.to_path_buf(),
                        index: c.index,
                        reason: c.reason.clone(),
                    };
                    e.to_string()
                })
            }
            Err(e) => Some(e.to_string()),
        }
    });
}

#[test]
fn fuzz_cached_shard_indexes() {
    // A real shard and its index: a cached index that was tampered with must not make a
    // read allocate what it claims, or read outside the shard.
    let tmp = tempfile::TempDir::new().unwrap();
    let shard_path = tmp.path().join("train-00000.tfrecord");
    std::fs::write(&shard_path, shard(&["a", "b", "c"], 2)).unwrap();
    let built = ShardIndex::build(&shard_path).unwrap();
    let json = serde_json::to_vec(&built).unwrap();
    let name = shard_path.display().to_string();
    fuzz("shard-index", 0x55, vec![json], name, move |b| {
        let Ok(cached) = serde_json::from_slice::<ShardIndex>(b) else { return None };
        let mut payload = Vec::new();
        for r in &cached.records {
            if let Err(e) = avc::data::split::read_shard_record(&shard_path, r, &mut payload) {
                return Some(e.to_string());
            }
        }
        let _ = index::digest(&[cached]);
        None
    });
    drop(tmp);
}
