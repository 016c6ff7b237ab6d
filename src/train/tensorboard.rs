//! A TensorBoard event-file writer, written from the file format (no TensorFlow).
//!
//! An event file is a sequence of TFRecords, each framing one serialized `Event` protobuf:
//!
//! ```text
//! u64 length (LE) | u32 masked crc32c(length bytes) | payload | u32 masked crc32c(payload)
//! ```
//!
//! The messages this writer emits (from tensorflow/core/util/event.proto and summary.proto):
//!
//! ```text
//! message Event   { double wall_time = 1; int64 step = 2;
//!                   oneof what { string file_version = 3; Summary summary = 5; } }
//! message Summary { message Value { string tag = 1; float simple_value = 2; }
//!                   repeated Value value = 1; }
//! ```
//!
//! The first record of a file is the `file_version` event `brain.Event:2`; every scalar is
//! one event carrying one `Summary.Value`.

use super::EpochMetrics;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Appends scalar events to a new event file in a directory.
pub struct EventWriter {
    out: BufWriter<File>,
    path: PathBuf,
}

impl EventWriter {
    /// Creates `dir` if needed and a new event file in it, named as TensorBoard's writers do:
    /// `events.out.tfevents.<unix seconds>.<hostname>` (`avc` when the host name is
    /// unknown), with a `.N` suffix if another writer made that name in the same second.
    /// The file starts with the `brain.Event:2` version record, already flushed.
    pub fn create(dir: &Path) -> Result<EventWriter, io::Error> {
        std::fs::create_dir_all(dir)?;
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let base = format!("events.out.tfevents.{secs}.{}", hostname());
        let mut n = 0u32;
        let (file, path) = loop {
            let name = if n == 0 { base.clone() } else { format!("{base}.{n}") };
            let path = dir.join(name);
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => break (file, path),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(e) => return Err(e),
            }
        };
        let mut writer = EventWriter { out: BufWriter::new(file), path };
        let mut event = event_header(wall_time(), 0);
        put_bytes(&mut event, 3, b"brain.Event:2");
        writer.record(&event)?;
        writer.flush()?;
        Ok(writer)
    }

    /// The event file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one scalar (`tag` at `step`, wall time now). Buffered: see [`Self::flush`].
    pub fn scalar(&mut self, tag: &str, step: i64, value: f32) -> io::Result<()> {
        let mut summary_value = Vec::with_capacity(tag.len() + 8);
        put_bytes(&mut summary_value, 1, tag.as_bytes());
        put_key(&mut summary_value, 2, WIRE_32BIT);
        summary_value.extend_from_slice(&value.to_le_bytes());
        let mut summary = Vec::with_capacity(summary_value.len() + 4);
        put_bytes(&mut summary, 1, &summary_value);
        let mut event = event_header(wall_time(), step);
        put_bytes(&mut event, 5, &summary);
        self.record(&event)
    }

    /// Writes the buffered events to the file and syncs them to disk.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_data()
    }

    /// Writes one epoch's metrics at step = epoch, then flushes. Tags: `loss/train`,
    /// `loss/val`, `loss/test`, `top1/val`, `top1/test`, `top5/val`, `top5/test`, `mrr/val`,
    /// `mrr/test`, `lr`, `seconds`. Top-k and MRR are fractions in [0, 1], as in
    /// `metrics.jsonl`.
    pub fn log_epoch(&mut self, m: &EpochMetrics) -> io::Result<()> {
        let scalars = [
            ("loss/train", m.train_loss),
            ("loss/val", m.val_loss),
            ("loss/test", m.test_loss),
            ("top1/val", m.val.top1),
            ("top1/test", m.test.top1),
            ("top5/val", m.val.top5),
            ("top5/test", m.test.top5),
            ("mrr/val", m.val.mrr),
            ("mrr/test", m.test.mrr),
            ("lr", m.lr),
            ("seconds", m.seconds),
        ];
        for (tag, value) in scalars {
            self.scalar(tag, m.epoch, value as f32)?;
        }
        self.flush()
    }

    /// Frames one serialized event as a TFRecord.
    fn record(&mut self, payload: &[u8]) -> io::Result<()> {
        let len = (payload.len() as u64).to_le_bytes();
        self.out.write_all(&len)?;
        self.out.write_all(&masked_crc32c(&len).to_le_bytes())?;
        self.out.write_all(payload)?;
        self.out.write_all(&masked_crc32c(payload).to_le_bytes())
    }
}

/// The host name for the file name (only characters safe in a file name), or `avc`.
fn hostname() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_default();
    let name: String =
        raw.trim().chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')).collect();
    if name.is_empty() || name.starts_with('.') { "avc".to_string() } else { name }
}

fn wall_time() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

const WIRE_VARINT: u8 = 0;
const WIRE_64BIT: u8 = 1;
const WIRE_LEN: u8 = 2;
const WIRE_32BIT: u8 = 5;

/// `Event.wall_time` and `Event.step`, the fields every event starts with.
fn event_header(wall_time: f64, step: i64) -> Vec<u8> {
    let mut event = Vec::with_capacity(64);
    put_key(&mut event, 1, WIRE_64BIT);
    event.extend_from_slice(&wall_time.to_le_bytes());
    put_key(&mut event, 2, WIRE_VARINT);
    // int64 is a varint of the two's complement (ten bytes when negative).
    put_varint(&mut event, step as u64);
    event
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn put_key(buf: &mut Vec<u8>, field: u32, wire: u8) {
    put_varint(buf, (u64::from(field) << 3) | u64::from(wire));
}

/// A length-delimited field: a string, bytes or an embedded message.
fn put_bytes(buf: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_key(buf, field, WIRE_LEN);
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as TFRecord uses.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc = CRC32C_TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

/// TFRecord's masked CRC: rotated right by 15 bits plus a constant, so a CRC stored inside
/// CRC'd data does not weaken the check.
pub fn masked_crc32c(data: &[u8]) -> u32 {
    crc32c(data).rotate_right(15).wrapping_add(0xa282_ead8)
}

static CRC32C_TABLE: [u32; 256] = crc32c_table();

const fn crc32c_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}
