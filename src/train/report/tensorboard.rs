//! A TensorBoard event-file writer (no TensorFlow).
//!
//! An event file is a sequence of TFRecords ([`crate::data::tfrecord`], the framing avc
//! also reads YouTube-8M shards with), each holding one serialized `Event` protobuf. The
//! messages are declared below with `prost`'s derive, from
//! tensorflow/core/util/event.proto and tensorflow/core/framework/summary.proto (only the
//! fields avc writes):
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

pub use crate::data::tfrecord::{crc32c, masked_crc32c};
use crate::train::EpochMetrics;
use prost::Message;
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
        let event = Event { wall_time: wall_time(), step: 0, what: Some(What::FileVersion("brain.Event:2".into())) };
        writer.record(&event.encode_to_vec())?;
        writer.flush()?;
        Ok(writer)
    }

    /// The event file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one scalar (`tag` at `step`, wall time now). Buffered: see [`Self::flush`].
    pub fn scalar(&mut self, tag: &str, step: i64, value: f32) -> io::Result<()> {
        let summary = Summary { value: vec![SummaryValue { tag: tag.to_string(), simple_value: value }] };
        let event = Event { wall_time: wall_time(), step, what: Some(What::Summary(summary)) };
        self.record(&event.encode_to_vec())
    }

    /// Writes the buffered events to the file and syncs them to disk.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_data()
    }

    /// Writes one epoch's metrics at step = epoch, then flushes. Tags: `loss/train`,
    /// `loss/val`, `loss/test`, `top1/val`, `top1/test`, `top5/val`, `top5/test`, `mrr/val`,
    /// `mrr/test`, `lr`, `seconds`, and `temperature` when it is learned. Top-k and MRR are fractions in [0, 1], as in
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
        if let Some(t) = m.temperature {
            self.scalar("temperature", m.epoch, t as f32)?;
        }
        self.flush()
    }

    /// Frames one serialized event as a TFRecord.
    fn record(&mut self, payload: &[u8]) -> io::Result<()> {
        crate::data::tfrecord::write_record(&mut self.out, payload)
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

/// `tensorflow.Event` (the fields avc writes).
#[derive(Clone, PartialEq, Message)]
pub struct Event {
    #[prost(double, tag = "1")]
    pub wall_time: f64,
    #[prost(int64, tag = "2")]
    pub step: i64,
    #[prost(oneof = "What", tags = "3, 5")]
    pub what: Option<What>,
}

/// `Event.what`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum What {
    #[prost(string, tag = "3")]
    FileVersion(String),
    #[prost(message, tag = "5")]
    Summary(Summary),
}

/// `tensorflow.Summary`.
#[derive(Clone, PartialEq, Message)]
pub struct Summary {
    #[prost(message, repeated, tag = "1")]
    pub value: Vec<SummaryValue>,
}

/// `tensorflow.Summary.Value` (scalars only).
#[derive(Clone, PartialEq, Message)]
pub struct SummaryValue {
    #[prost(string, tag = "1")]
    pub tag: String,
    #[prost(float, tag = "2")]
    pub simple_value: f32,
}
