//! The embedded default data set: synthetic clips generated deterministically from a seed.
//!
//! It has the course's shapes and quantization (1270 train / 30 test clips, 120 steps, video
//! 1024 and audio 128 values per step, uint8), so `avc train` runs with no download, and it is
//! built so that *temporal* models beat mean pooling:
//!
//! * A vocabulary of `scenes` latent vectors `z_s` (dimension `latent_dim`) is shared by all
//!   clips. Each clip has a timeline of segments (lengths uniform in
//!   `[min_segment, max_segment]`) whose scenes come from that vocabulary, so the same scenes
//!   recur in other clips in another order. By default every clip walks through reshuffled
//!   decks of the whole vocabulary (`shuffled_deck`), so all clips use most scenes about
//!   equally: the scene *histogram* says little about a clip, the *order and timing* say a lot.
//! * Both streams are fixed random projections of the same timeline, plus things the other
//!   stream does not share:
//!   `video_t = signal * Pv (z(scene at t) + distractor * z(d_v at t) + u_v) + ambient * a_v + noise * e_t`,
//!   `audio_t = signal * Pa (z(scene at t - lag) + distractor * z(d_a at t) + u_a) + ambient * a_a + noise * e'_t`.
//!   `Pv`, `Pa` are shared by all clips; `lag` is a per-clip integer in `[0, max_lag]`;
//!   `d_v`, `d_a` are per-stream *distractor* timelines drawn like the shared one but
//!   independently, so each stream also shows recurring scenes the other does not (matching
//!   needs the joint timeline, not any scene change); `u_v`, `u_a` (std `nuisance`, inside the
//!   scene subspace) and `a_v`, `a_a` (std `ambient`, isotropic) are per-clip constant offsets
//!   independent between the streams; `e` is i.i.d. noise per step.
//!   A mean over time keeps the offsets and both scene histograms (the unshared distractor one
//!   included), so it is dominated by what the streams do not share; a temporal model can
//!   subtract a clip's own mean, which cancels every constant offset, and compare the
//!   remaining timelines.
//! * At each segment onset, a shared "onset" latent (amplitude `onset`) is added for one
//!   step in both streams (audio lagged like its scenes): a synchronised event cue.
//! * `global_offset` (0 by default) adds one constant vector per stream to every clip and
//!   step: the data set's own mean, which real features have (they are not centred) and which
//!   a model has to see past; it carries no information about which clips match.
//!
//! Tuning: every knob is a field of [`SynthConfig`], settable by name with
//! [`SynthConfig::set`]; [`SynthConfig::describe`] names the non-default ones (it becomes the
//! data set's `origin`), and [`crate::data::probe::difficulty`] measures in seconds how much
//! matching information survives mean pooling versus a temporal readout. The defaults were
//! tuned with real training runs (docs/results.md): segment scenes drawn at random (not from
//! decks) so the scene histogram carries a little information, an unshared distractor
//! timeline of 0.85 times the shared one's strength, and per-step noise of 0.8, so mean
//! pooling stays well above chance while the temporal `final` model wins by a wide margin.
//!
//! Every random draw comes from `ChaCha8Rng` seeded with `seed`, one stream for the shared
//! world and one per clip, so the data are identical across runs and machines, independent of
//! the number of threads, and a clip does not change when `n_train` or `n_test` does.

use std::thread;

use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use super::{Clips, DataError, Dataset, quantize};

/// Every knob of the synthetic data set; [`Default`] gives the course's shapes.
///
/// All amplitudes are standard deviations in dequantized units (the quantized range is
/// [-2, 2]); with the defaults a value's standard deviation is about 0.75 and about 1.3% of
/// the values saturate at 0 or 255. The struct (de)serializes with serde, and [`SynthConfig::set`] changes one
/// field from text, so a command line or a tuning script can override any knob by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SynthConfig {
    /// Seed of every random draw.
    pub seed: u64,
    /// Number of training clips (ids `synth-train-0000`, ...).
    pub n_train: usize,
    /// Number of test pairs (ids `synth-test-00`, ...).
    pub n_test: usize,
    /// Time steps per clip (seconds in the course data): the clip's length, and each stream's
    /// unless `video_steps` / `audio_steps` say otherwise.
    pub steps: usize,
    /// The video's steps for the same `steps` seconds (its frame rate is `video_steps / steps`
    /// per second); unset: `steps`.
    pub video_steps: Option<usize>,
    /// The audio's steps for the same `steps` seconds (`audio_steps=240` with `steps=120`:
    /// audio at two frames per second); unset: `steps`. Both streams show the same scene at
    /// the same second, whatever their rates.
    pub audio_steps: Option<usize>,
    /// Values per video step.
    pub video_dim: usize,
    /// Values per audio step.
    pub audio_dim: usize,
    /// Size of the scene vocabulary shared by all clips.
    pub scenes: usize,
    /// Dimension of the latent scene vectors.
    pub latent_dim: usize,
    /// Shortest segment, in steps (at least 1).
    pub min_segment: usize,
    /// Longest segment, in steps (at least `min_segment`).
    pub max_segment: usize,
    /// Largest per-clip audio lag, in steps: audio step t shows the scene of video step t - lag.
    pub max_lag: usize,
    /// Draw segment scenes from reshuffled decks of the whole vocabulary (every clip uses all
    /// scenes about equally; the histogram is weakly informative). If false, each segment's
    /// scene is uniform over the vocabulary minus the previous scene (histograms vary more,
    /// which helps mean pooling).
    pub shuffled_deck: bool,
    /// Standard deviation of the scene signal per value (scales `P z`).
    pub signal: f32,
    /// Standard deviation of the per-clip latent offsets `u_v`, `u_a`, relative to the scene
    /// vectors' (1): nuisance inside the scene subspace, independent between the streams.
    pub nuisance: f32,
    /// Amplitude of a second, unshared scene timeline in each stream (drawn like the shared
    /// one, independently per stream), relative to the shared one: structured distraction that
    /// looks like signal, so matching needs the *joint* timeline, not any scene change.
    pub distractor: f32,
    /// Standard deviation of the per-clip isotropic offsets `a_v`, `a_a` per value.
    pub ambient: f32,
    /// Standard deviation of the i.i.d. per-step noise per value.
    pub noise: f32,
    /// Amplitude of the one-step onset event at each segment start, relative to the scene
    /// vectors (0 disables it).
    pub onset: f32,
    /// Standard deviation per value of a constant offset shared by every clip and step of a
    /// stream (drawn once per stream): features that are not centred, as real ones are not.
    /// 0 (the default) leaves the data exactly as without it.
    pub global_offset: f32,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            seed: 1,
            n_train: 1270,
            n_test: 30,
            steps: 120,
            video_steps: None,
            audio_steps: None,
            video_dim: 1024,
            audio_dim: 128,
            scenes: 12,
            latent_dim: 16,
            min_segment: 6,
            max_segment: 20,
            max_lag: 2,
            shuffled_deck: false,
            signal: 0.35,
            nuisance: 0.1,
            distractor: 0.85,
            ambient: 0.3,
            noise: 0.8,
            onset: 0.0,
            global_offset: 0.0,
        }
    }
}

/// The field names, in declaration order (serde's map order depends on crate features, so
/// messages and [`SynthConfig::describe`] use this list; a test keeps it in sync).
const KEYS: [&str; 21] = [
    "seed",
    "n_train",
    "n_test",
    "steps",
    "video_steps",
    "audio_steps",
    "video_dim",
    "audio_dim",
    "scenes",
    "latent_dim",
    "min_segment",
    "max_segment",
    "max_lag",
    "shuffled_deck",
    "signal",
    "nuisance",
    "distractor",
    "ambient",
    "noise",
    "onset",
    "global_offset",
];

/// Upper bound on the bytes a configuration may ask for, so a typo cannot exhaust memory.
const MAX_BYTES: usize = 1 << 36;
/// Upper bound on one clip's bytes (both streams): what avc reads back from a `.npy` file or a
/// record ([`super::npy::MAX_DATA_BYTES`]).
const MAX_CLIP_BYTES: u64 = super::npy::MAX_DATA_BYTES;
/// Upper bound on the shared world's `f32` tables, generated before any clip.
const MAX_WORLD_BYTES: u64 = 4 << 30;
/// Upper bound of each count setting, checked first so that a typo is named by its knob.
const KNOB_LIMITS: [(&str, usize); 12] = [
    ("n_train", 10_000_000),
    ("n_test", 1_000_000),
    ("steps", 100_000),
    ("video_steps", 100_000),
    ("audio_steps", 100_000),
    ("video_dim", 65_536),
    ("audio_dim", 65_536),
    ("scenes", 100_000),
    ("latent_dim", 4_096),
    ("min_segment", 100_000),
    ("max_segment", 100_000),
    ("max_lag", 100_000),
];

impl SynthConfig {
    /// The names of all settings, in declaration order (what [`SynthConfig::set`] accepts).
    pub fn keys() -> &'static [&'static str] {
        &KEYS
    }

    /// Sets one field by name from text (`"0.5"`, `"12"`, `"false"`), e.g. from a
    /// `--set data.noise=0.5` override. Unknown keys and ill-typed values are errors that list
    /// what is allowed. Does not call [`SynthConfig::validate`], so that several related
    /// settings can be changed in any order.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), DataError> {
        let setting = |reason: String| DataError::Setting { key: key.to_string(), reason };
        let mut json = serde_json::to_value(&*self).map_err(|e| setting(e.to_string()))?;
        let Some(map) = json.as_object_mut() else {
            return Err(setting("the configuration is not a map".into()));
        };
        if !map.contains_key(key) {
            return Err(setting(format!("unknown setting; known: {}", SynthConfig::keys().join(", "))));
        }
        let parsed =
            serde_json::from_str(value.trim()).unwrap_or_else(|_| serde_json::Value::String(value.to_string()));
        map.insert(key.to_string(), parsed);
        *self = serde_json::from_value(json).map_err(|e| setting(format!("cannot use '{value}': {e}")))?;
        Ok(())
    }

    /// Checks that the knobs make sense; [`generate`] clamps instead, [`try_generate`] calls
    /// this first. Reports the first problem, naming the setting.
    pub fn validate(&self) -> Result<(), DataError> {
        let bad = |key: &str, reason: String| Err(DataError::Setting { key: key.to_string(), reason });
        // First, so that a typo is blamed on its own knob, not on one it is compared with.
        for &(key, limit) in &KNOB_LIMITS {
            let v = self.count(key);
            if v > limit {
                return bad(key, format!("{v} is more than the limit of {limit}"));
            }
        }
        for (key, v) in [
            ("steps", self.steps),
            ("video_steps", self.stream_steps()[0]),
            ("audio_steps", self.stream_steps()[1]),
            ("video_dim", self.video_dim),
            ("audio_dim", self.audio_dim),
            ("scenes", self.scenes),
            ("latent_dim", self.latent_dim),
            ("min_segment", self.min_segment),
        ] {
            if v == 0 {
                return bad(key, "must be at least 1".into());
            }
        }
        if self.max_lag >= self.steps {
            return bad(
                "max_lag",
                format!("{} leaves no overlap between the streams of {} steps", self.max_lag, self.steps),
            );
        }
        if self.max_segment < self.min_segment {
            return bad("max_segment", format!("{} is below min_segment {}", self.max_segment, self.min_segment));
        }
        for (key, v) in [
            ("signal", self.signal),
            ("nuisance", self.nuisance),
            ("distractor", self.distractor),
            ("ambient", self.ambient),
            ("noise", self.noise),
            ("onset", self.onset),
            ("global_offset", self.global_offset),
        ] {
            if !v.is_finite() || v < 0.0 {
                return bad(key, format!("{v} is not a finite non-negative number"));
            }
        }
        // Within those limits the products below cannot overflow a u64.
        let [vs, as_] = self.stream_steps().map(|s| s as u64);
        let clip = vs * self.video_dim as u64 + as_ * self.audio_dim as u64;
        if clip > MAX_CLIP_BYTES {
            let what = if vs == as_ {
                format!("steps {} x (video_dim {} + audio_dim {})", self.steps, self.video_dim, self.audio_dim)
            } else {
                format!(
                    "video_steps {vs} x video_dim {} + audio_steps {as_} x audio_dim {}",
                    self.video_dim, self.audio_dim
                )
            };
            return bad(
                self.largest(&["steps", "video_steps", "audio_steps", "video_dim", "audio_dim"]),
                format!(
                    "one clip would be {clip} bytes ({what}), more than the limit of {MAX_CLIP_BYTES} (a clip avc \
                     reads back from a .npy file or record)"
                ),
            );
        }
        let (l, widths) = (self.latent_dim as u64, (self.video_dim + self.audio_dim) as u64);
        let world = 4 * (self.scenes as u64 * (l + widths) + (widths + 1) * l);
        if world > MAX_WORLD_BYTES {
            return bad(
                self.largest(&["scenes", "latent_dim", "video_dim", "audio_dim"]),
                format!(
                    "the shared scene templates and projections would be {world} bytes (scenes {}, latent_dim {}, \
                     video_dim {}, audio_dim {}), more than the limit of {MAX_WORLD_BYTES}",
                    self.scenes, self.latent_dim, self.video_dim, self.audio_dim
                ),
            );
        }
        let total = clip * (self.n_train + self.n_test) as u64;
        if total > MAX_BYTES as u64 {
            return bad(
                self.largest(&["n_train", "n_test"]),
                format!(
                    "the data set would be {total} bytes ({} clips of {clip}), more than the limit of {} GiB",
                    self.n_train + self.n_test,
                    MAX_BYTES >> 30
                ),
            );
        }
        Ok(())
    }

    /// A count setting by name (0 for a name that is not one).
    fn count(&self, key: &str) -> usize {
        match key {
            "n_train" => self.n_train,
            "n_test" => self.n_test,
            "steps" => self.steps,
            "video_steps" => self.video_steps.unwrap_or(0),
            "audio_steps" => self.audio_steps.unwrap_or(0),
            "video_dim" => self.video_dim,
            "audio_dim" => self.audio_dim,
            "scenes" => self.scenes,
            "latent_dim" => self.latent_dim,
            "min_segment" => self.min_segment,
            "max_segment" => self.max_segment,
            "max_lag" => self.max_lag,
            _ => 0,
        }
    }

    /// Of `keys`, the one furthest above its default: the likeliest typo, named in a limit
    /// that several settings share.
    fn largest(&self, keys: &[&'static str]) -> &'static str {
        let default = SynthConfig::default();
        let ratio = |k: &str| self.count(k) as f64 / default.count(k).max(1) as f64;
        keys.iter().copied().max_by(|a, b| ratio(a).total_cmp(&ratio(b))).unwrap_or("n_train")
    }

    /// Steps per clip of each stream, `[video, audio]`: `video_steps` and `audio_steps`, or
    /// `steps` where unset.
    pub fn stream_steps(&self) -> [usize; 2] {
        [self.video_steps.unwrap_or(self.steps), self.audio_steps.unwrap_or(self.steps)]
    }

    /// Human-readable origin: `synthetic (seed 1)`, plus every setting that differs from the
    /// default, so run summaries say which variant was used.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("seed {}", self.seed)];
        // Through text, so that f32 values print as written (0.35, not 0.3499999940395355).
        let as_map = |c: &SynthConfig| match serde_json::to_string(c).map(|t| serde_json::from_str(&t)) {
            Ok(Ok(serde_json::Value::Object(map))) => Some(map),
            _ => None,
        };
        if let (Some(mine), Some(default)) = (as_map(self), as_map(&SynthConfig::default())) {
            for &k in &KEYS[1..] {
                if let Some(v) = mine.get(k).filter(|&v| default.get(k) != Some(v)) {
                    parts.push(format!("{k}={v}"));
                }
            }
        }
        format!("synthetic ({})", parts.join(", "))
    }

    /// The configuration [`generate`] actually uses: counts at least 1 where 0 is meaningless,
    /// `max_segment >= min_segment`, `max_lag <= steps`, non-finite amplitudes as 0.
    fn clamped(&self) -> SynthConfig {
        let amp = |v: f32| if v.is_finite() { v.abs() } else { 0.0 };
        let min_segment = self.min_segment.max(1);
        SynthConfig {
            scenes: self.scenes.max(1),
            latent_dim: self.latent_dim.max(1),
            min_segment,
            max_segment: self.max_segment.max(min_segment),
            // A lag beyond the clip is meaningless and would overflow the timeline's length.
            max_lag: self.max_lag.min(self.steps),
            // A clip of no seconds has no steps in either stream.
            video_steps: self.video_steps.filter(|_| self.steps > 0),
            audio_steps: self.audio_steps.filter(|_| self.steps > 0),
            signal: amp(self.signal),
            nuisance: amp(self.nuisance),
            distractor: amp(self.distractor),
            ambient: amp(self.ambient),
            noise: amp(self.noise),
            onset: amp(self.onset),
            global_offset: amp(self.global_offset),
            ..self.clone()
        }
    }
}

/// What generated a clip: the scene shown at each step of each stream, and the audio lag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipTruth {
    /// Scene id at each video step (`video_steps` entries).
    pub video_scenes: Vec<usize>,
    /// Scene id at each audio step (`audio_steps` entries): with equal lengths
    /// `audio_scenes[t] == video_scenes[t - lag]` where defined; otherwise the same holds per
    /// second (lag in seconds).
    pub audio_scenes: Vec<usize>,
    /// Audio lag in steps, in `[0, max_lag]`.
    pub lag: usize,
    /// Whether a video step is a segment onset (audio onsets are the same, `lag` later).
    pub video_onsets: Vec<bool>,
    /// Scene id of the video-only distractor timeline at each step.
    pub video_distractors: Vec<usize>,
    /// Scene id of the audio-only distractor timeline at each step.
    pub audio_distractors: Vec<usize>,
}

/// The hidden structure behind a generated data set, for tests and for tuning (an oracle
/// decoder can tell how much information each stream carries).
#[derive(Debug, Clone, PartialEq)]
pub struct Truth {
    pub train: Vec<ClipTruth>,
    pub test: Vec<ClipTruth>,
    /// `[scenes, video_dim]`: what scene s adds to a video step (`signal * Pv z_s`).
    pub scene_video: Vec<f32>,
    /// `[scenes, audio_dim]`: what scene s adds to an audio step (`signal * Pa z_s`).
    pub scene_audio: Vec<f32>,
}

/// Generates the data set; identical for identical configurations. Never panics: settings
/// that [`SynthConfig::validate`] would reject are clamped (use [`try_generate`] for
/// user-provided configurations, which also refuses absurd sizes).
pub fn generate(cfg: &SynthConfig) -> Dataset {
    generate_with_truth(cfg).0
}

/// [`SynthConfig::validate`], then [`generate`].
pub fn try_generate(cfg: &SynthConfig) -> Result<Dataset, DataError> {
    cfg.validate()?;
    Ok(generate(cfg))
}

/// The generator's configuration: defaults, the seed, then `KEY=VALUE` knobs, validated.
pub fn config(seed: u64, knobs: &[String]) -> Result<SynthConfig, DataError> {
    let mut cfg = SynthConfig { seed, ..Default::default() };
    for knob in knobs {
        let (key, value) = knob.split_once('=').ok_or_else(|| DataError::Setting {
            key: knob.clone(),
            reason: "expected KEY=VALUE, e.g. noise=0.5".into(),
        })?;
        cfg.set(key.trim(), value.trim())?;
    }
    cfg.validate()?;
    Ok(cfg)
}

/// Clips generated and handed on per chunk: memory for one chunk, whatever the set's size.
const CHUNK: usize = 256;

/// Generates the set chunk by chunk into `sink` (the same clips as [`generate`]), so a set
/// larger than memory can be written; `progress(done, total)` is called after each chunk.
/// The size limit of [`SynthConfig::validate`] does not apply.
pub fn write_to(
    cfg: &SynthConfig,
    sink: &mut dyn super::sink::ClipSink,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(), DataError> {
    SynthConfig { n_train: 1, n_test: 1, ..cfg.clone() }.validate()?;
    let cfg = cfg.clamped();
    let world = World::new(&cfg);
    let widths = [cfg.video_dim, cfg.audio_dim];
    let total = cfg.n_train + cfg.n_test;
    let mut done = 0;
    for (split, n) in [(Split::Train, cfg.n_train), (Split::Test, cfg.n_test)] {
        for start in (0..n).step_by(CHUNK) {
            let (clips, _) = make_range(&cfg, &world, split, start..(start + CHUNK).min(n));
            for i in 0..clips.len() {
                let (id, v, a) = (&clips.video_ids[i], clips.video_clip(i), clips.audio_clip(i));
                match split {
                    Split::Train => sink.train(id, v, a, widths)?,
                    Split::Test => sink.test(id, v, id, a, widths)?,
                }
            }
            done += clips.len();
            progress(done, total);
        }
    }
    Ok(())
}

/// [`generate`], also returning the hidden timelines and scene templates.
pub fn generate_with_truth(cfg: &SynthConfig) -> (Dataset, Truth) {
    let origin = cfg.describe();
    let cfg = cfg.clamped();
    let world = World::new(&cfg);
    let (train, train_truth) = make_clips(&cfg, &world, Split::Train);
    let (test, test_truth) = make_clips(&cfg, &world, Split::Test);
    let truth =
        Truth { train: train_truth, test: test_truth, scene_video: world.scene_video, scene_audio: world.scene_audio };
    (Dataset { train, test, origin }, truth)
}

/// Random stream of the shared world; clips use the streams after it.
const WORLD_STREAM: u64 = 0;
/// First stream of the test clips: far from the training clips' `1 + i`.
const TEST_STREAM: u64 = 1 << 63;
/// Stream of the global offsets: its own, so that drawing them changes no other value.
const OFFSET_STREAM: u64 = 1 << 62;

#[derive(Clone, Copy)]
enum Split {
    Train,
    Test,
}

/// What all clips share: scene templates, onset templates and the projections (for the
/// per-clip nuisance, which lives in the scene subspace).
struct World {
    /// `[scenes, video_dim]`, `signal * Pv z_s`.
    scene_video: Vec<f32>,
    /// `[scenes, audio_dim]`, `signal * Pa z_s`.
    scene_audio: Vec<f32>,
    /// `[video_dim]`, `signal * onset * Pv o`.
    onset_video: Vec<f32>,
    /// `[audio_dim]`, `signal * onset * Pa o`.
    onset_audio: Vec<f32>,
    /// `[video_dim, latent_dim]`, entries N(0, 1 / latent_dim) so `Pv z` has unit variance.
    pv: Vec<f32>,
    /// `[audio_dim, latent_dim]`.
    pa: Vec<f32>,
    /// `[video_dim]` and `[audio_dim]`: the constant every clip's steps share (`global_offset`).
    global_video: Vec<f32>,
    global_audio: Vec<f32>,
}

impl World {
    fn new(cfg: &SynthConfig) -> World {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        rng.set_stream(WORLD_STREAM);
        let l = cfg.latent_dim;
        let z = normals(&mut rng, cfg.scenes * l, 1.0);
        let o = normals(&mut rng, l, 1.0);
        let scale = 1.0 / (l as f32).sqrt();
        let pv = normals(&mut rng, cfg.video_dim * l, scale);
        let pa = normals(&mut rng, cfg.audio_dim * l, scale);
        let mut scene_video = Vec::with_capacity(cfg.scenes * cfg.video_dim);
        let mut scene_audio = Vec::with_capacity(cfg.scenes * cfg.audio_dim);
        for zs in z.chunks_exact(l) {
            scene_video.extend(project(&pv, zs, cfg.signal));
            scene_audio.extend(project(&pa, zs, cfg.signal));
        }
        let onset_video = project(&pv, &o, cfg.signal * cfg.onset);
        let onset_audio = project(&pa, &o, cfg.signal * cfg.onset);
        let mut offsets = ChaCha8Rng::seed_from_u64(cfg.seed);
        offsets.set_stream(OFFSET_STREAM);
        let global_video = normals(&mut offsets, cfg.video_dim, cfg.global_offset);
        let global_audio = normals(&mut offsets, cfg.audio_dim, cfg.global_offset);
        World { scene_video, scene_audio, onset_video, onset_audio, pv, pa, global_video, global_audio }
    }
}

/// `n` draws of N(0, std^2).
fn normals(rng: &mut ChaCha8Rng, n: usize, std: f32) -> Vec<f32> {
    (0..n).map(|_| std * rng.sample::<f32, _>(StandardNormal)).collect()
}

/// `scale * P v` for a row-major `[rows, v.len()]` matrix `P`.
fn project(p: &[f32], v: &[f32], scale: f32) -> Vec<f32> {
    p.chunks_exact(v.len().max(1)).map(|row| scale * row.iter().zip(v).map(|(a, b)| a * b).sum::<f32>()).collect()
}

/// Generates one split, clips spread over the available cores. Each clip has its own random
/// stream, so the result does not depend on the number of threads.
fn make_clips(cfg: &SynthConfig, world: &World, split: Split) -> (Clips, Vec<ClipTruth>) {
    let n = match split {
        Split::Train => cfg.n_train,
        Split::Test => cfg.n_test,
    };
    make_range(cfg, world, split, 0..n)
}

/// The clip id of clip `i` of a split.
fn clip_id(split: Split, i: usize) -> String {
    match split {
        Split::Train => format!("synth-train-{i:04}"),
        Split::Test => format!("synth-test-{i:02}"),
    }
}

/// Generates clips `range` of one split (the same clips as in the whole split).
fn make_range(
    cfg: &SynthConfig,
    world: &World,
    split: Split,
    range: std::ops::Range<usize>,
) -> (Clips, Vec<ClipTruth>) {
    let offset = range.start;
    let n = range.len();
    let ids: Vec<String> = range.map(|i| clip_id(split, i)).collect();
    let [vsteps, asteps] = cfg.stream_steps();
    let (vlen, alen) = (vsteps * cfg.video_dim, asteps * cfg.audio_dim);
    let mut video = vec![0u8; n * vlen];
    let mut audio = vec![0u8; n * alen];
    let threads = thread::available_parallelism().map_or(1, |t| t.get()).clamp(1, 16);
    let per_thread = n.div_ceil(threads).max(1);
    let mut truth = Vec::with_capacity(n);
    thread::scope(|scope| {
        let mut handles = Vec::new();
        let (mut video_rest, mut audio_rest) = (video.as_mut_slice(), audio.as_mut_slice());
        for first in (0..n).step_by(per_thread) {
            let count = per_thread.min(n - first);
            let (vchunk, vr) = std::mem::take(&mut video_rest).split_at_mut(count * vlen);
            let (achunk, ar) = std::mem::take(&mut audio_rest).split_at_mut(count * alen);
            (video_rest, audio_rest) = (vr, ar);
            handles.push(scope.spawn(move || {
                (0..count)
                    .map(|k| {
                        let v = &mut vchunk[k * vlen..(k + 1) * vlen];
                        let a = &mut achunk[k * alen..(k + 1) * alen];
                        make_clip(cfg, world, stream(split, offset + first + k), v, a)
                    })
                    .collect::<Vec<_>>()
            }));
        }
        for h in handles {
            match h.join() {
                Ok(part) => truth.extend(part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    let clips = Clips {
        audio_ids: ids.clone(),
        video_ids: ids,
        video,
        audio,
        video_steps: vsteps,
        audio_steps: asteps,
        video_dim: cfg.video_dim,
        audio_dim: cfg.audio_dim,
        lengths: [Vec::new(), Vec::new()],
    };
    (clips, truth)
}

fn stream(split: Split, i: usize) -> u64 {
    match split {
        Split::Train => WORLD_STREAM + 1 + i as u64,
        Split::Test => TEST_STREAM + i as u64,
    }
}

/// Draws the scene timeline of one clip: `len` positions of scene ids, and which positions
/// start a segment. The first segment is cut at a random point so that clips do not all
/// begin with a fresh onset.
fn timeline(cfg: &SynthConfig, rng: &mut ChaCha8Rng, len: usize) -> (Vec<usize>, Vec<bool>) {
    let mut scenes = Vec::with_capacity(len);
    let mut onsets = Vec::with_capacity(len);
    let mut deck: Vec<usize> = Vec::new();
    let mut previous: Option<usize> = None;
    let mut first = true;
    while scenes.len() < len {
        let full = rng.random_range(cfg.min_segment..=cfg.max_segment);
        let seg = if first { rng.random_range(1..=full) } else { full };
        let scene = if cfg.shuffled_deck {
            if deck.is_empty() {
                deck.extend(0..cfg.scenes);
                deck.shuffle(rng);
                // Avoid repeating the last scene across a deck boundary (a segment would
                // silently merge with the previous one).
                if deck.len() > 1 && deck.last() == previous.as_ref() {
                    let last = deck.len() - 1;
                    deck.swap(0, last);
                }
            }
            deck.pop().unwrap_or(0)
        } else {
            match previous {
                Some(p) if cfg.scenes > 1 => (p + rng.random_range(1..cfg.scenes)) % cfg.scenes,
                _ => rng.random_range(0..cfg.scenes),
            }
        };
        for k in 0..seg.min(len - scenes.len()) {
            scenes.push(scene);
            onsets.push(k == 0 && !first);
        }
        previous = Some(scene);
        first = false;
    }
    (scenes, onsets)
}

/// Fills one clip's quantized features (`video`: `[steps, video_dim]`, `audio`:
/// `[steps, audio_dim]`, either possibly empty) from its own random stream.
fn make_clip(cfg: &SynthConfig, world: &World, stream: u64, video: &mut [u8], audio: &mut [u8]) -> ClipTruth {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    rng.set_stream(stream);
    let lag = rng.random_range(0..=cfg.max_lag);
    let positions = cfg.steps + cfg.max_lag;
    let (scenes, onsets) = timeline(cfg, &mut rng, positions);
    // Drawn even when `distractor` is 0, so that its amplitude changes nothing else.
    let (video_distractors, _) = timeline(cfg, &mut rng, cfg.steps);
    let (audio_distractors, _) = timeline(cfg, &mut rng, cfg.steps);

    // Per-clip constant offsets, independent between the streams, plus the offset all clips
    // share (`global_offset`, no draw here).
    let offset = |rng: &mut ChaCha8Rng, p: &[f32], dim: usize, onset: &[f32], global: &[f32]| {
        let u = normals(rng, cfg.latent_dim, cfg.nuisance);
        let mut off = project(p, &u, cfg.signal);
        off.resize(dim, 0.0);
        for (x, g) in off.iter_mut().zip(global) {
            *x += cfg.ambient * rng.sample::<f32, _>(StandardNormal) + g;
        }
        // The same offset plus the onset event, chosen per step without a branch per value.
        let with_onset: Vec<f32> = off.iter().zip(onset).map(|(a, b)| a + b).collect();
        (off, with_onset)
    };
    let video_offsets = offset(&mut rng, &world.pv, cfg.video_dim, &world.onset_video, &world.global_video);
    let audio_offsets = offset(&mut rng, &world.pa, cfg.audio_dim, &world.onset_audio, &world.global_audio);

    // A stream's step t shows the second `t * steps / stream steps` (the identity when the
    // stream has `steps` steps); an onset is on the first step of its second only.
    let [vsteps, asteps] = cfg.stream_steps();
    let second = |t: usize, n: usize| t * cfg.steps / n.max(1);
    let first_of_second = |t: usize, n: usize| t == 0 || second(t - 1, n) != second(t, n);
    let video_at = |t: usize| cfg.max_lag + second(t, vsteps);
    let audio_at = |t: usize| cfg.max_lag + second(t, asteps) - lag;
    let amp = Amplitudes { noise: cfg.noise, distractor: cfg.distractor };
    fill(amp, &mut rng, video, cfg.video_dim, &world.scene_video, &video_offsets, |t| {
        let p = video_at(t);
        (scenes[p], onsets[p] && first_of_second(t, vsteps), video_distractors[second(t, vsteps)])
    });
    fill(amp, &mut rng, audio, cfg.audio_dim, &world.scene_audio, &audio_offsets, |t| {
        let p = audio_at(t);
        (scenes[p], onsets[p] && first_of_second(t, asteps), audio_distractors[second(t, asteps)])
    });
    ClipTruth {
        video_scenes: (0..vsteps).map(|t| scenes[video_at(t)]).collect(),
        audio_scenes: (0..asteps).map(|t| scenes[audio_at(t)]).collect(),
        lag,
        video_onsets: (0..vsteps).map(|t| onsets[video_at(t)] && first_of_second(t, vsteps)).collect(),
        video_distractors,
        audio_distractors,
    }
}

/// Per-step amplitudes of [`fill`].
#[derive(Clone, Copy)]
struct Amplitudes {
    noise: f32,
    distractor: f32,
}

/// The inner loop: each step is
/// `template[scene] + distractor * template[unshared scene] + offset (+ onset) + noise`,
/// quantized. No allocation per step; one normal draw per value.
fn fill(
    amp: Amplitudes,
    rng: &mut ChaCha8Rng,
    out: &mut [u8],
    dim: usize,
    templates: &[f32],
    offsets: &(Vec<f32>, Vec<f32>),
    at: impl Fn(usize) -> (usize, bool, usize),
) {
    if dim == 0 {
        return;
    }
    for (t, row) in out.chunks_exact_mut(dim).enumerate() {
        let (scene, onset, other) = at(t);
        let template = &templates[scene * dim..(scene + 1) * dim];
        let distractor = &templates[other * dim..(other + 1) * dim];
        let offset = if onset { &offsets.1 } else { &offsets.0 };
        for (((q, &s), &d), &o) in row.iter_mut().zip(template).zip(distractor).zip(offset) {
            let e: f32 = rng.sample(StandardNormal);
            *q = quantize(s + amp.distractor * d + o + amp.noise * e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::dequantize;

    fn small() -> SynthConfig {
        SynthConfig { n_train: 24, n_test: 6, steps: 40, video_dim: 64, audio_dim: 32, ..SynthConfig::default() }
    }

    #[test]
    fn deterministic_for_a_seed() {
        let a = generate(&small());
        let b = generate(&small());
        assert_eq!(a, b);
        let c = generate(&SynthConfig { seed: 2, ..small() });
        assert_ne!(a.train.video, c.train.video);
        assert_ne!(a.test.audio, c.test.audio);
        assert_eq!(a.origin, "synthetic (seed 1, n_train=24, n_test=6, steps=40, video_dim=64, audio_dim=32)");
    }

    #[test]
    fn clips_do_not_depend_on_counts() {
        // Per-clip random streams: more clips leave the existing ones unchanged.
        let a = generate(&small());
        let b = generate(&SynthConfig { n_train: 30, n_test: 2, ..small() });
        assert_eq!(a.train.video_clip(7), b.train.video_clip(7));
        assert_eq!(a.test.audio_clip(1), b.test.audio_clip(1));
    }

    #[test]
    fn shapes_counts_and_ids() {
        let cfg = small();
        let ds = generate(&cfg);
        assert_eq!(ds.train.len(), 24);
        assert_eq!(ds.test.len(), 6);
        for clips in [&ds.train, &ds.test] {
            assert!(clips.validate("clips").is_ok());
            assert_eq!(clips.stream_shape("video"), Some([40, 64]));
            assert_eq!(clips.stream_shape("audio"), Some([40, 32]));
            assert_eq!(clips.video_ids, clips.audio_ids);
        }
        assert_eq!(ds.train.video_ids[3], "synth-train-0003");
        assert_eq!(ds.test.video_ids[5], "synth-test-05");
    }

    #[test]
    fn values_mostly_inside_the_range() {
        let ds = generate(&small());
        let clipped = ds.train.video.iter().chain(&ds.train.audio).filter(|&&q| q == 0 || q == 255).count();
        let total = ds.train.video.len() + ds.train.audio.len();
        assert!(
            // The defaults' per-step noise saturates about 4% of values, as the real
            // course features saturate at the ends of their range too.
            (clipped as f64) < 0.05 * total as f64,
            "{clipped} of {total} values clipped"
        );
        let mean = ds.train.video.iter().map(|&q| f64::from(dequantize(q))).sum::<f64>() / ds.train.video.len() as f64;
        assert!(mean.abs() < 0.2, "mean {mean}");
    }

    /// Decodes the scene at each step from features alone, given the scene templates: remove
    /// the clip's mean (which holds every constant offset), then take the nearest de-meaned
    /// template. The timeline's own mean is taken from the truth, which is fine for a test of
    /// the generator.
    fn decode(features: &[u8], dim: usize, templates: &[f32], scenes: &[usize]) -> Vec<usize> {
        let steps = features.len() / dim;
        let x: Vec<f32> = features.iter().map(|&q| dequantize(q)).collect();
        let mut mean = vec![0f32; dim];
        let mut tmean = vec![0f32; dim];
        for t in 0..steps {
            for d in 0..dim {
                mean[d] += x[t * dim + d] / steps as f32;
                tmean[d] += templates[scenes[t] * dim + d] / steps as f32;
            }
        }
        let n_scenes = templates.len() / dim;
        (0..steps)
            .map(|t| {
                let dist = |s: usize| -> f32 {
                    (0..dim)
                        .map(|d| {
                            let r = (x[t * dim + d] - mean[d]) - (templates[s * dim + d] - tmean[d]);
                            r * r
                        })
                        .sum()
                };
                (0..n_scenes).min_by(|&a, &b| dist(a).total_cmp(&dist(b))).unwrap_or(0)
            })
            .collect()
    }

    #[test]
    fn matched_streams_share_the_scene_timeline() {
        let cfg = SynthConfig {
            n_train: 8,
            n_test: 0,
            video_dim: 256,
            audio_dim: 128,
            scenes: 8,
            onset: 0.0,
            distractor: 0.0,
            ..SynthConfig::default()
        };
        let (ds, truth) = generate_with_truth(&cfg);
        let (mut v_hits, mut a_hits, mut shared, mut total) = (0, 0, 0, 0);
        for (i, t) in truth.train.iter().enumerate() {
            assert!(t.lag <= cfg.max_lag);
            // The audio is the video's timeline, lagged.
            for s in t.lag..cfg.steps {
                assert_eq!(t.audio_scenes[s], t.video_scenes[s - t.lag]);
            }
            // Most clips use the whole vocabulary (weakly informative histograms).
            let used = (0..cfg.scenes).filter(|s| t.video_scenes.contains(s)).count();
            assert!(used >= cfg.scenes - 2, "clip {i} uses {used} scenes");
            let v = decode(ds.train.video_clip(i), cfg.video_dim, &truth.scene_video, &t.video_scenes);
            let a = decode(ds.train.audio_clip(i), cfg.audio_dim, &truth.scene_audio, &t.audio_scenes);
            v_hits += v.iter().zip(&t.video_scenes).filter(|(x, y)| x == y).count();
            a_hits += a.iter().zip(&t.audio_scenes).filter(|(x, y)| x == y).count();
            // What the features themselves show: audio at t + lag = video at t.
            shared += (0..cfg.steps - t.lag).filter(|&s| a[s + t.lag] == v[s]).count();
            total += cfg.steps;
        }
        let rate = |h: usize| h as f64 / total as f64;
        assert!(rate(v_hits) > 0.95, "video decoded {:.3}", rate(v_hits));
        assert!(rate(a_hits) > 0.9, "audio decoded {:.3}", rate(a_hits));
        assert!(rate(shared) > 0.85, "shared {:.3}", rate(shared));
    }

    #[test]
    fn global_offset_is_one_constant_for_every_clip_and_step() {
        // Small signal so that nothing saturates: the difference is then exactly the offset,
        // up to one quantization level.
        let plain = SynthConfig { signal: 0.1, noise: 0.1, ambient: 0.1, ..small() };
        let shifted = SynthConfig { global_offset: 0.5, ..plain.clone() };
        let (a, b) = (generate(&plain), generate(&shifted));
        let dim = plain.video_dim;
        let diff: Vec<f32> =
            a.train.video.iter().zip(&b.train.video).map(|(&x, &y)| dequantize(y) - dequantize(x)).collect();
        let first = &diff[..dim];
        let level = 4.0 / 255.0 + 1e-4;
        for row in diff.chunks_exact(dim) {
            assert!(row.iter().zip(first).all(|(x, y)| (x - y).abs() <= level), "not one constant per value");
        }
        let spread = (first.iter().map(|x| x * x).sum::<f32>() / dim as f32).sqrt();
        assert!((0.3..0.7).contains(&spread), "offset std {spread}, asked 0.5");
        // Nothing else moved: the same clips, scenes and per-clip draws.
        assert_eq!(generate_with_truth(&plain).1, generate_with_truth(&shifted).1);
        assert!(shifted.describe().ends_with("global_offset=0.5)"), "{}", shifted.describe());
    }

    #[test]
    fn non_deck_draw_never_repeats_a_scene() {
        let cfg = SynthConfig {
            shuffled_deck: false,
            scenes: 3,
            n_train: 4,
            n_test: 0,
            video_dim: 8,
            audio_dim: 4,
            ..small()
        };
        let (_, truth) = generate_with_truth(&cfg);
        for t in &truth.train {
            for s in 1..cfg.steps {
                if t.video_onsets[s] {
                    assert_ne!(t.video_scenes[s], t.video_scenes[s - 1]);
                }
            }
        }
    }

    #[test]
    fn settings_by_name() {
        let mut cfg = SynthConfig::default();
        assert!(cfg.set("noise", "0.5").is_ok());
        assert!(cfg.set("scenes", "12").is_ok());
        assert!(cfg.set("shuffled_deck", "false").is_ok());
        assert_eq!((cfg.noise, cfg.scenes, cfg.shuffled_deck), (0.5, 12, false));
        let msg = cfg.set("nosie", "1").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("nosie") && msg.contains("noise") && msg.contains("max_lag"), "{msg}");
        let msg = cfg.set("scenes", "many").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("scenes") && msg.contains("many"), "{msg}");
        let serde_keys = match serde_json::to_value(SynthConfig::default()) {
            Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect::<Vec<_>>(),
            _ => Vec::new(),
        };
        let mut keys: Vec<String> = SynthConfig::keys().iter().map(|k| k.to_string()).collect();
        keys.sort();
        assert_eq!(
            keys,
            serde_keys.into_iter().collect::<std::collections::BTreeSet<_>>().into_iter().collect::<Vec<_>>()
        );
        let cfg = SynthConfig { noise: 0.35, onset: 0.5, ..SynthConfig::default() };
        assert_eq!(cfg.describe(), "synthetic (seed 1, noise=0.35, onset=0.5)");
    }

    #[test]
    fn invalid_settings_are_reported_and_clamped() {
        let cfg = SynthConfig {
            min_segment: 10,
            max_segment: 4,
            n_train: 3,
            n_test: 1,
            video_dim: 4,
            audio_dim: 2,
            ..small()
        };
        let msg = cfg.validate().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("max_segment") && msg.contains("min_segment"), "{msg}");
        assert!(try_generate(&cfg).is_err());
        let ds = generate(&cfg);
        assert_eq!(ds.train.len(), 3);
        let zeros = SynthConfig { scenes: 0, latent_dim: 0, min_segment: 0, noise: f32::NAN, steps: 0, ..small() };
        assert!(zeros.validate().is_err());
        assert_eq!(generate(&zeros).train.len(), small().n_train);
        let huge = SynthConfig { n_train: usize::MAX, ..small() };
        assert!(huge.validate().is_err());
    }

    #[test]
    fn default_set_generates_quickly() {
        let start = std::time::Instant::now();
        let ds = generate(&SynthConfig::default());
        let took = start.elapsed();
        eprintln!("default synthetic set ({} + {} clips) generated in {took:.2?}", ds.train.len(), ds.test.len());
        assert_eq!(ds.train.video.len(), 1270 * 120 * 1024);
        assert_eq!(ds.test.audio.len(), 30 * 120 * 128);
        // Generous: release builds take a few seconds on two cores; debug builds are slower.
        assert!(took.as_secs() < 120, "took {took:?}");
    }
}
