//! `avc data convert`: any source written in either layout, clip by clip, at full length
//! (nothing is cropped), so course layout -> TFRecords -> course layout gives back the same
//! files.
//!
//! Validation clips from a `val` list are written as training clips; the test pairs stay
//! test pairs (test shards in TFRecords, test lists in the course layout).

use std::path::Path;

use super::open::plan;
use super::sink::{self, ClipSink, Layout};
use super::source::DataSource;
use super::split::Stream;
use super::{DataError, synth};

/// Clips per TFRecord shard when converting.
pub const CLIPS_PER_SHARD: usize = 1000;

/// Converts `source` into `layout` under `out`; `progress(done, total)` after each clip.
/// Returns the writer's summary line.
pub fn convert(
    source: &DataSource,
    layout: Layout,
    out: &Path,
    clips_per_shard: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<String, DataError> {
    let mut sink = sink::create(layout, out, clips_per_shard)?;
    if let DataSource::Synth { seed, knobs } = source {
        synth::write_to(&synth::config(*seed, knobs)?, sink.as_mut(), progress)?;
        return sink.finish();
    }
    let p = plan(source, [None, None])?;
    let total = p.train.items.len() + p.val.as_ref().map_or(0, |v| v.items.len()) + p.test.items.len();
    let mut done = 0;
    let mut payload = Vec::new();
    let mut copy = |s: &Stream, test: bool, sink: &mut dyn ClipSink| -> Result<(), DataError> {
        let widths = [s.video_dim, s.audio_dim];
        for row in 0..s.items.len() {
            let (video, audio, _) = s.read(row, &mut payload)?;
            if test {
                sink.test(&s.video_ids[row], &video, &s.audio_ids[row], &audio, widths)?;
            } else {
                sink.train(&s.video_ids[row], &video, &audio, widths)?;
            }
            done += 1;
            progress(done, total);
        }
        Ok(())
    };
    copy(&p.train, false, sink.as_mut())?;
    if let Some(val) = &p.val {
        copy(val, false, sink.as_mut())?;
    }
    copy(&p.test, true, sink.as_mut())?;
    sink.finish()
}
