//! A split of clips either held in memory or read from disk per batch.
//!
//! Streaming keeps memory bounded whatever the size of the set: only the ids and an index
//! entry per clip stay in memory, and [`Split::gather`] reads the clips of one batch (one
//! positioned read per TFRecord, or two `.npy` files per course clip), fitting each to the
//! declared length. Reads depend only on the rows asked for and the [`Pass`], so batches are
//! the same whichever thread decodes them and in whatever order.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::crop::{Fit, Pass};
use super::index::Indexed;
use super::{Clips, DataError, course, tfrecord, yt8m};

/// Clips in memory, or streamed from their files.
#[derive(Debug)]
pub enum Split {
    Memory(Clips),
    Stream(Stream),
}

/// Where one streamed clip's features are.
#[derive(Debug, Clone)]
pub enum Item {
    /// A YouTube-8M record: its shard (an index into [`Stream::shards`]) and framing.
    Record { shard: usize, entry: Indexed },
    /// A test pair whose video and audio come from two records.
    Pair { video: (usize, Indexed), audio: (usize, Indexed) },
    /// A course clip: `DIR/<video id>/vfeat.npy` and `DIR/<audio id>/afeat.npy`, with the
    /// frame counts the index found, `[video, audio]`.
    Course { video: PathBuf, audio: PathBuf, frames: [usize; 2] },
}

impl Item {
    /// The clip's length in frames (before fitting): the shorter stream's, which for audio
    /// at a higher rate than the video is the video's (its seconds).
    pub fn frames(&self) -> usize {
        let [v, a] = self.stream_frames();
        v.min(a)
    }

    /// The clip's frames in each stream, `[video, audio]` (before fitting).
    pub fn stream_frames(&self) -> [usize; 2] {
        match self {
            Item::Record { entry, .. } => entry.stream_frames(),
            Item::Pair { video, audio } => [video.1.stream_frames()[0], audio.1.stream_frames()[1]],
            Item::Course { frames, .. } => *frames,
        }
    }
}

/// One clip's features, `(video, audio, [video frames, audio frames])`, row-major.
pub type ClipBytes = (Vec<u8>, Vec<u8>, [usize; 2]);

/// Clips read per batch from their files.
#[derive(Debug)]
pub struct Stream {
    pub video_ids: Vec<String>,
    pub audio_ids: Vec<String>,
    pub items: Vec<Item>,
    pub shards: Vec<PathBuf>,
    pub video_dim: usize,
    pub audio_dim: usize,
    pub fit: Fit,
}

impl Split {
    /// The number of clips.
    pub fn len(&self) -> usize {
        match self {
            Split::Memory(c) => c.len(),
            Split::Stream(s) => s.items.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn video_ids(&self) -> &[String] {
        match self {
            Split::Memory(c) => &c.video_ids,
            Split::Stream(s) => &s.video_ids,
        }
    }

    pub fn audio_ids(&self) -> &[String] {
        match self {
            Split::Memory(c) => &c.audio_ids,
            Split::Stream(s) => &s.audio_ids,
        }
    }

    /// `[steps, dim]` of a stream by name, as [`Clips::stream_shape`].
    pub fn stream_shape(&self, stream: &str) -> Option<[usize; 2]> {
        match self {
            Split::Memory(c) => c.stream_shape(stream),
            Split::Stream(s) => match stream {
                "video" => Some([s.fit.steps[0], s.video_dim]),
                "audio" => Some([s.fit.steps[1], s.audio_dim]),
                _ => None,
            },
        }
    }

    /// Steps per clip of each stream, `[video, audio]`, as batches have them.
    pub fn steps(&self) -> [usize; 2] {
        match self {
            Split::Memory(c) => c.steps(),
            Split::Stream(s) => s.fit.steps,
        }
    }

    /// Whether clips are read from disk per batch.
    pub fn is_streamed(&self) -> bool {
        matches!(self, Split::Stream(_))
    }

    /// The clips at `rows`, in that order, as a small in-memory set.
    pub fn gather(&self, rows: &[usize], pass: Pass) -> Result<Clips, DataError> {
        match self {
            Split::Memory(c) => Ok(c.subset(rows)),
            Split::Stream(s) => s.gather(rows, pass),
        }
    }
}

impl Stream {
    /// Reads and fits the clips at `rows`.
    pub fn gather(&self, rows: &[usize], pass: Pass) -> Result<Clips, DataError> {
        let mut out = Clips::empty(self.fit.steps, self.video_dim, self.audio_dim);
        out.video.reserve(rows.len() * out.video_clip_len());
        out.audio.reserve(rows.len() * out.audio_clip_len());
        let mut payload = Vec::new();
        for &row in rows {
            let (video, audio, frames) = self.read(row, &mut payload)?;
            let [sv, sa] = self.fit.starts(frames, row, pass);
            let lv = self.fit.append(0, &video, self.video_dim, sv, &mut out.video);
            let la = self.fit.append(1, &audio, self.audio_dim, sa, &mut out.audio);
            out.lengths[0].push(lv as u32);
            out.lengths[1].push(la as u32);
            out.video_ids.push(self.video_ids[row].clone());
            out.audio_ids.push(self.audio_ids[row].clone());
        }
        // Only a set with a padded clip carries lengths: full clips run unmasked.
        let [sv, sa] = self.fit.steps;
        if out.lengths[0].iter().all(|&v| v as usize >= sv) && out.lengths[1].iter().all(|&a| a as usize >= sa) {
            out.lengths = [Vec::new(), Vec::new()];
        }
        Ok(out)
    }

    /// One clip's features, cut to the seconds both streams span ([`Fit::span`]): (video,
    /// audio, `[video frames, audio frames]`).
    pub fn read(&self, row: usize, payload: &mut Vec<u8>) -> Result<ClipBytes, DataError> {
        let cut = |v: &[u8], vd: usize, a: &[u8], ad: usize, frames: [usize; 2]| {
            let [fv, fa] = self.fit.span(frames);
            (v[..fv * vd].to_vec(), a[..fa * ad].to_vec(), [fv, fa])
        };
        match &self.items[row] {
            Item::Record { shard, entry } => {
                let r = self.record(*shard, entry, payload)?;
                let frames = [r.frames, r.audio_frames()];
                if self.fit.span(frames) == frames {
                    return Ok((r.rgb, r.audio, frames));
                }
                Ok(cut(&r.rgb, r.rgb_width, &r.audio, r.audio_width, frames))
            }
            Item::Pair { video, audio } => {
                let v = self.record(video.0, &video.1, payload)?;
                let a = self.record(audio.0, &audio.1, payload)?;
                Ok(cut(&v.rgb, v.rgb_width, &a.audio, a.audio_width, [v.frames, a.audio_frames()]))
            }
            Item::Course { video, audio, .. } => {
                let id = &self.video_ids[row];
                let (v, [vf, vd]) = course::read_npy(video, &format!("video features of clip '{id}'"))?;
                let (a, [af, ad]) = course::read_npy(audio, &format!("audio features of clip '{id}'"))?;
                for (path, dim, want) in [(video, vd, self.video_dim), (audio, ad, self.audio_dim)] {
                    if dim != want {
                        return Err(DataError::Shape {
                            path: path.clone(),
                            expected: format!("[steps, {want}], as when the data were opened"),
                            found: format!("[_, {dim}]"),
                        });
                    }
                }
                // The shorter stream (at the fit's rates) decides the window; the other is cut to it.
                Ok(cut(&v, vd, &a, ad, [vf, af]))
            }
        }
    }
}

impl Stream {
    /// One record of shard `shard`, checked against the split's widths.
    fn record(&self, shard: usize, entry: &Indexed, payload: &mut Vec<u8>) -> Result<yt8m::Record, DataError> {
        let path = &self.shards[shard];
        let r = read_shard_record(path, entry, payload)?;
        if [r.rgb_width, r.audio_width] != [self.video_dim, self.audio_dim] {
            return Err(record_error(
                path,
                entry.index,
                format!(
                    "frames of {} (rgb) and {} (audio) values, expected {} and {}",
                    r.rgb_width, r.audio_width, self.video_dim, self.audio_dim
                ),
            ));
        }
        Ok(r)
    }
}

/// Reads and decodes one indexed record, checking its CRC against the file.
pub fn read_shard_record(path: &Path, entry: &Indexed, payload: &mut Vec<u8>) -> Result<yt8m::Record, DataError> {
    let read_err = |source| DataError::Read { path: path.to_path_buf(), source };
    let file = File::open(path).map_err(read_err)?;
    match tfrecord::read_at(&file, entry.frame(), payload) {
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err(record_error(path, entry.index, "the shard is shorter than when it was indexed".into()));
        }
        Err(e) => return Err(read_err(e)),
        Ok(Err(e)) => {
            return Err(record_error(path, entry.index, format!("{e} (the shard changed since it was indexed?)")));
        }
        Ok(Ok(())) => {}
    }
    // Owned as `Bytes`, the payload's frames are decoded as slices of it, not copied one by one.
    let owned = prost::bytes::Bytes::from(std::mem::take(payload));
    yt8m::decode(owned).map_err(|reason| record_error(path, entry.index, reason))
}

fn record_error(shard: &Path, index: usize, reason: String) -> DataError {
    DataError::Record { shard: shard.to_path_buf(), index, reason }
}
