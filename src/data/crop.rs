//! Fitting clips of any length to the length a model declares.
//!
//! YouTube-8M videos are 120 to 300 seconds long while a model declares one length (the
//! course used 120). A longer clip is cropped to a window of that length, a shorter one is
//! padded at its end with a fixed byte, the *mask value* (0 by default, which dequantizes to
//! -1.992, the bottom of the feature range, where real features are rare).
//!
//! Where the window starts:
//! * `start`: at the first second;
//! * `center`: in the middle (rounded down);
//! * `random`: for training, uniformly at random per clip and epoch, drawn from the run's
//!   seed, the epoch and the clip's position, so the same seed gives the same windows and a
//!   resumed run the windows it would have had. Validation and test use `center`.
//!
//! A window is a span of seconds, the same in both streams: when a model declares different
//! lengths for video and audio (`[120, 1024]` and `[240, 128]`: audio at twice the video's
//! frame rate), the window is chosen in video steps and the audio's starts at the same
//! second ([`Fit::starts`]). Equal lengths behave exactly as one length always did.

use serde::{Deserialize, Serialize};

/// Where a window of the declared length starts in a longer clip.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Crop {
    #[default]
    Start,
    Center,
    Random,
}

impl Crop {
    pub fn name(self) -> &'static str {
        match self {
            Crop::Start => "start",
            Crop::Center => "center",
            Crop::Random => "random",
        }
    }
}

impl std::str::FromStr for Crop {
    type Err = String;

    fn from_str(s: &str) -> Result<Crop, String> {
        match s {
            "start" => Ok(Crop::Start),
            "center" | "centre" => Ok(Crop::Center),
            "random" => Ok(Crop::Random),
            other => Err(format!("unknown crop policy '{other}'; expected start, center or random")),
        }
    }
}

/// What a clip is read for: training (random windows move per epoch) or evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    Train { seed: u64, epoch: u64 },
    Eval,
}

/// How clips are fitted to the model's lengths.
///
/// `steps` is `[video, audio]`: the two lengths span the same seconds, so their ratio is the
/// streams' rate ratio (`[120, 240]`: audio at twice the video's frame rate). A window is
/// chosen in video steps and the audio's starts at the same second, `start * audio /
/// video` audio steps (rounded down); with equal lengths both start at the same step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fit {
    /// The declared lengths, in steps, `[video, audio]`.
    pub steps: [usize; 2],
    pub crop: Crop,
    /// The byte padded steps are filled with.
    pub pad: u8,
}

impl Fit {
    /// The same length for both streams (rates 1:1).
    pub fn equal(steps: usize, crop: Crop, pad: u8) -> Fit {
        Fit { steps: [steps, steps], crop, pad }
    }

    /// The frames of a clip of `frames` (`[video, audio]`) that span the same seconds, in
    /// each stream: the shorter stream (at the fit's rates) decides, the other is cut to it.
    /// With equal lengths that is the shorter stream's frame count for both.
    pub fn span(&self, frames: [usize; 2]) -> [usize; 2] {
        let [sv, sa] = self.steps;
        if sv == sa || sv == 0 || sa == 0 {
            let n = frames[0].min(frames[1]);
            return [n, n];
        }
        // The audio's frames in video steps, rounded down.
        let video = frames[0].min(scale(frames[1], sv, sa));
        [video, frames[1].min(scale(video, sa, sv))]
    }

    /// The first frame of the window of clip `clip` (its position in the split), which has
    /// `frames` frames, in the video stream (or in both, with equal lengths).
    pub fn start(&self, frames: usize, clip: usize, pass: Pass) -> usize {
        let spare = frames.saturating_sub(self.steps[0]);
        match (self.crop, pass) {
            _ if spare == 0 => 0,
            (Crop::Start, _) => 0,
            (Crop::Center, _) | (Crop::Random, Pass::Eval) => spare / 2,
            (Crop::Random, Pass::Train { seed, epoch }) => {
                (mix(seed, epoch, clip as u64) % (spare as u64 + 1)) as usize
            }
        }
    }

    /// The window's first frame in each stream, `[video, audio]`, for a clip whose
    /// [`Fit::span`] is `span`: the same second in both.
    pub fn starts(&self, span: [usize; 2], clip: usize, pass: Pass) -> [usize; 2] {
        let video = self.start(span[0], clip, pass);
        let [sv, sa] = self.steps;
        let audio = if sv == sa { video } else { scale(video, sa, sv.max(1)) };
        [video, audio]
    }

    /// Appends `steps[stream] * width` bytes to `out`: the window of `data` (`[frames, width]`
    /// row-major) starting at `start`, then mask rows if the clip is short. Returns how many
    /// steps are the clip's own (at least 1: an empty clip counts its first padded step, so a
    /// pooling over its steps stays defined).
    pub fn append(&self, stream: usize, data: &[u8], width: usize, start: usize, out: &mut Vec<u8>) -> usize {
        let steps = self.steps[stream];
        let frames = data.len() / width.max(1);
        let take = frames.saturating_sub(start).min(steps);
        out.extend_from_slice(&data[start * width..(start + take) * width]);
        out.resize(out.len() + (steps - take) * width, self.pad);
        take.max(1).min(steps)
    }

    /// Why a clip of `frames` (`[video, audio]`) does not fit the fit's rate ratio, if it
    /// does not: with different declared lengths, a clip's audio must have about `audio /
    /// video` frames per video frame (within 5% and one frame), or its windows would cover
    /// different seconds. Equal lengths accept any clip (the shorter stream decides).
    pub fn rate_mismatch(&self, frames: [usize; 2]) -> Option<String> {
        let [sv, sa] = self.steps;
        if sv == sa || sv == 0 || sa == 0 {
            return None;
        }
        let expected = scale(frames[0], sa, sv);
        let off = expected.abs_diff(frames[1]);
        (off > expected / 20 + 1).then(|| {
            format!(
                "its video has {} frames and its audio {}, but the model's lengths ({sv} video and {sa} audio \
                 steps for the same seconds) want about {expected} audio frames for {} video frames ({} {})",
                frames[0],
                frames[1],
                frames[0],
                off,
                if frames[1] > expected { "too many" } else { "too few" }
            )
        })
    }
}

/// `n * num / den`, rounded down, without overflow for any sizes avc reads.
fn scale(n: usize, num: usize, den: usize) -> usize {
    (n as u128 * num as u128 / den.max(1) as u128).min(usize::MAX as u128) as usize
}

/// An independent random number per (epoch, clip), salted so crops do not share
/// training's batch streams.
fn mix(seed: u64, a: u64, b: u64) -> u64 {
    crate::random::at(seed ^ 0x0c40_5eed, a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_padding() {
        let fit = |crop| Fit::equal(3, crop, 9);
        let data: Vec<u8> = (0..7 * 2).map(|v| v as u8).collect();
        let train = Pass::Train { seed: 1, epoch: 1 };
        assert_eq!(fit(Crop::Start).start(7, 0, train), 0);
        assert_eq!(fit(Crop::Center).start(7, 0, train), 2);
        assert_eq!(fit(Crop::Random).start(7, 0, Pass::Eval), 2);
        let starts: Vec<usize> = (0..200).map(|c| fit(Crop::Random).start(7, c, train)).collect();
        assert!(starts.iter().all(|&s| s <= 4));
        assert!((0..=4).all(|s| starts.contains(&s)), "{starts:?}");
        // The same (seed, epoch, clip) gives the same window; another epoch moves it.
        assert_eq!(starts, (0..200).map(|c| fit(Crop::Random).start(7, c, train)).collect::<Vec<_>>());
        let next = Pass::Train { seed: 1, epoch: 2 };
        assert_ne!(starts, (0..200).map(|c| fit(Crop::Random).start(7, c, next)).collect::<Vec<_>>());
        let mut out = Vec::new();
        fit(Crop::Center).append(0, &data, 2, 2, &mut out);
        assert_eq!(out, [4, 5, 6, 7, 8, 9]);
        let mut out = Vec::new();
        fit(Crop::Start).append(1, &data[..4], 2, 0, &mut out);
        assert_eq!(out, [0, 1, 2, 3, 9, 9]);
        assert_eq!(fit(Crop::Random).start(2, 5, train), 0);
        assert_eq!("centre".parse::<Crop>(), Ok(Crop::Center));
        assert!("middle".parse::<Crop>().is_err());
    }

    #[test]
    fn streams_of_different_rates_share_their_seconds() {
        // Audio at twice the video's rate: 4 video and 8 audio steps per window.
        let fit = Fit { steps: [4, 8], crop: Crop::Center, pad: 0 };
        // 10 s of video, 20 s worth of audio frames: the window is seconds 3..7 of both.
        assert_eq!(fit.span([10, 20]), [10, 20]);
        assert_eq!(fit.starts([10, 20], 0, Pass::Eval), [3, 6]);
        // The audio is short (only 7 s): both streams are cut to 7 s.
        assert_eq!(fit.span([10, 14]), [7, 14]);
        assert_eq!(fit.starts(fit.span([10, 14]), 0, Pass::Eval), [1, 2]);
        // Random windows move both streams to the same second.
        let random = Fit { crop: Crop::Random, ..fit };
        for clip in 0..50 {
            let [v, a] = random.starts([30, 60], clip, Pass::Train { seed: 3, epoch: 1 });
            assert_eq!(a, 2 * v);
            assert!(v <= 26);
        }
        let mut out = Vec::new();
        let audio: Vec<u8> = (0..20).collect();
        fit.append(1, &audio, 1, 6, &mut out);
        assert_eq!(out, [6, 7, 8, 9, 10, 11, 12, 13]);
        // Equal lengths: the old rule, whatever the clip's streams have.
        let equal = Fit::equal(4, Crop::Center, 0);
        assert_eq!(equal.span([10, 7]), [7, 7]);
        assert_eq!(equal.starts([7, 7], 0, Pass::Eval), [1, 1]);
        assert_eq!(equal.rate_mismatch([300, 120]), None);
        // A 1:1 clip for a 1:2 model is named with the frames it has and wants.
        assert_eq!(fit.rate_mismatch([300, 600]), None);
        assert_eq!(fit.rate_mismatch([300, 610]), None);
        let msg = fit.rate_mismatch([300, 300]).unwrap_or_default();
        assert!(msg.contains("about 600 audio frames") && msg.contains("300 too few"), "{msg}");
    }
}
