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

/// How clips are fitted to the model's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fit {
    /// The declared length, in steps.
    pub steps: usize,
    pub crop: Crop,
    /// The byte padded steps are filled with.
    pub pad: u8,
}

impl Fit {
    /// The first frame of the window of clip `clip` (its position in the split), which has
    /// `frames` frames.
    pub fn start(&self, frames: usize, clip: usize, pass: Pass) -> usize {
        let spare = frames.saturating_sub(self.steps);
        match (self.crop, pass) {
            _ if spare == 0 => 0,
            (Crop::Start, _) => 0,
            (Crop::Center, _) | (Crop::Random, Pass::Eval) => spare / 2,
            (Crop::Random, Pass::Train { seed, epoch }) => {
                (mix(seed, epoch, clip as u64) % (spare as u64 + 1)) as usize
            }
        }
    }

    /// Appends `steps * width` bytes to `out`: the window of `data` (`[frames, width]`
    /// row-major) starting at `start`, then mask rows if the clip is short.
    pub fn append(&self, data: &[u8], width: usize, start: usize, out: &mut Vec<u8>) {
        let frames = data.len() / width.max(1);
        let take = frames.saturating_sub(start).min(self.steps);
        out.extend_from_slice(&data[start * width..(start + take) * width]);
        out.resize(out.len() + (self.steps - take) * width, self.pad);
    }
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
        let fit = |crop| Fit { steps: 3, crop, pad: 9 };
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
        fit(Crop::Center).append(&data, 2, 2, &mut out);
        assert_eq!(out, [4, 5, 6, 7, 8, 9]);
        let mut out = Vec::new();
        fit(Crop::Start).append(&data[..4], 2, 0, &mut out);
        assert_eq!(out, [0, 1, 2, 3, 9, 9]);
        assert_eq!(fit(Crop::Random).start(2, 5, train), 0);
        assert_eq!("centre".parse::<Crop>(), Ok(Crop::Center));
        assert!("middle".parse::<Crop>().is_err());
    }
}
