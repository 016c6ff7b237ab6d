//! A fast gauge of how hard a synthetic configuration is, for tuning [`SynthConfig`] without
//! a training run.
//!
//! The synthetic set is meant to reward temporal models over mean pooling. This module
//! measures how much matching information survives each kind of pooling, with two readouts
//! that know the generator's scene templates (so nothing is learned and a probe takes
//! seconds):
//!
//! * **mean pool**: each stream's features are averaged over time, projected onto the scene
//!   templates, centred over the clips, and compared by cosine similarity;
//! * **temporal**: each step is projected onto the templates after removing the clip's own
//!   mean (which holds every constant per-clip offset), and the two sequences are compared by
//!   cosine similarity at the best lag in `[0, max_lag]`.
//!
//! Both are linear and use the true templates, so they are neither lower nor upper bounds on
//! what a trained network reaches, but the gap between them tracks what the knobs do: with
//! the defaults the mean-pool readout is clearly above chance (1/30) and far below the
//! temporal one. Accuracies follow the course's protocol: groups of 30 pairs, for each video
//! rank the 30 audios.

use super::synth::{SynthConfig, generate_with_truth};
use super::{Clips, dequantize};

/// Retrieval accuracies (video -> audio, 30-way groups) of the two template readouts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Difficulty {
    /// Clips evaluated (a multiple of 30).
    pub clips: usize,
    /// Top-1 and top-5 accuracy of the mean-pool readout.
    pub mean_pool: [f64; 2],
    /// Top-1 and top-5 accuracy of the temporal readout.
    pub temporal: [f64; 2],
    /// Share of quantized values at 0 or 255 (saturated).
    pub clipped: f64,
}

impl std::fmt::Display for Difficulty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} clips: mean-pool top-1 {:.3} top-5 {:.3}; temporal top-1 {:.3} top-5 {:.3}; clipped {:.4} (chance top-1 {:.3})",
            self.clips,
            self.mean_pool[0],
            self.mean_pool[1],
            self.temporal[0],
            self.temporal[1],
            self.clipped,
            1.0 / GROUP as f64
        )
    }
}

/// Pairs per retrieval group, as in the course's test protocol.
const GROUP: usize = 30;

/// Generates `clips` test pairs (rounded up to a multiple of 30, at least 30) with `cfg`'s
/// knobs and measures both readouts on them. The training split is not generated.
pub fn difficulty(cfg: &SynthConfig, clips: usize) -> Difficulty {
    let n = clips.max(1).div_ceil(GROUP) * GROUP;
    let cfg = SynthConfig { n_train: 0, n_test: n, ..cfg.clone() };
    let (ds, truth) = generate_with_truth(&cfg);
    let test = &ds.test;
    let scenes = truth.scene_video.len() / test.video_dim.max(1);
    let video = Projected::new(test, true, &truth.scene_video, scenes);
    let audio = Projected::new(test, false, &truth.scene_audio, scenes);

    let centred = |p: &Projected| -> Vec<Vec<f64>> {
        let mut avg = vec![0.0; scenes];
        for m in &p.means {
            avg.iter_mut().zip(m).for_each(|(a, x)| *a += x / n as f64);
        }
        p.means.iter().map(|m| m.iter().zip(&avg).map(|(x, a)| x - a).collect()).collect()
    };
    let (mv, ma) = (centred(&video), centred(&audio));
    let mean_pool = ranks(n, |i, j| cosine(&mv[i], &ma[j]));

    let max_lag = cfg.max_lag.min(test.video_steps.saturating_sub(1));
    let temporal = ranks(n, |i, j| {
        (0..=max_lag)
            .map(|lag| {
                let len = (test.video_steps - lag) * scenes;
                cosine(&video.steps[i][..len], &audio.steps[j][lag * scenes..lag * scenes + len])
            })
            .fold(f64::MIN, f64::max)
    });

    let saturated = test.video.iter().chain(&test.audio).filter(|&&q| q == 0 || q == 255).count();
    let total = (test.video.len() + test.audio.len()).max(1);
    Difficulty { clips: n, mean_pool, temporal, clipped: saturated as f64 / total as f64 }
}

/// One stream of every clip, projected onto the (centred) scene templates.
struct Projected {
    /// Per clip, `[scenes]`: the time-averaged features' projections.
    means: Vec<Vec<f64>>,
    /// Per clip, `[video_steps, scenes]`: each step's projections minus the clip's mean (audio
    /// at another rate is read at the video's steps: step t takes the audio step of its second).
    steps: Vec<Vec<f64>>,
}

impl Projected {
    fn new(clips: &Clips, video: bool, templates: &[f32], scenes: usize) -> Projected {
        let dim = if video { clips.video_dim } else { clips.audio_dim };
        let mut centred = vec![0f64; scenes * dim];
        for d in 0..dim {
            let avg = (0..scenes).map(|s| f64::from(templates[s * dim + d])).sum::<f64>() / scenes.max(1) as f64;
            for s in 0..scenes {
                centred[s * dim + d] = f64::from(templates[s * dim + d]) - avg;
            }
        }
        let (mut means, mut steps) = (Vec::new(), Vec::new());
        for i in 0..clips.len() {
            let bytes = if video { clips.video_clip(i) } else { clips.audio_clip(i) };
            let own = if video { clips.video_steps } else { clips.audio_steps };
            let (vs, dim1) = (clips.video_steps, dim.max(1));
            let row_at = |t: usize| t * own / vs.max(1);
            let rows = (0..vs).map(|t| bytes.get(row_at(t) * dim1..(row_at(t) + 1) * dim1).unwrap_or(&[]));
            let mut proj = vec![0f64; vs * scenes];
            for (row, out) in rows.zip(proj.chunks_exact_mut(scenes.max(1))) {
                for (o, tpl) in out.iter_mut().zip(centred.chunks_exact(dim.max(1))) {
                    *o = row.iter().zip(tpl).map(|(&q, &t)| f64::from(dequantize(q)) * t).sum();
                }
            }
            let mut mean = vec![0f64; scenes];
            for out in proj.chunks_exact(scenes.max(1)) {
                mean.iter_mut().zip(out).for_each(|(m, x)| *m += x / vs as f64);
            }
            for out in proj.chunks_exact_mut(scenes.max(1)) {
                out.iter_mut().zip(&mean).for_each(|(x, m)| *x -= m);
            }
            means.push(mean);
            steps.push(proj);
        }
        Projected { means, steps }
    }
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let ab: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let aa: f64 = a.iter().map(|x| x * x).sum();
    let bb: f64 = b.iter().map(|x| x * x).sum();
    ab / (aa * bb).sqrt().max(1e-12)
}

/// Top-1 and top-5 accuracy over consecutive groups of 30 pairs; `score(i, j)` compares video
/// `i` with audio `j`, higher = better match. Ties count against the true pair.
fn ranks(n: usize, score: impl Fn(usize, usize) -> f64) -> [f64; 2] {
    let (mut top1, mut top5) = (0usize, 0usize);
    for g in (0..n).step_by(GROUP) {
        for i in g..g + GROUP {
            let own = score(i, i);
            let better = (g..g + GROUP).filter(|&j| j != i && score(i, j) >= own).count();
            top1 += usize::from(better == 0);
            top5 += usize::from(better < 5);
        }
    }
    let n = n.max(1) as f64;
    [top1 as f64 / n, top5 as f64 / n]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporal_beats_mean_pool_beats_chance_on_the_defaults() {
        let d = difficulty(&SynthConfig { video_dim: 256, ..SynthConfig::default() }, 120);
        eprintln!("{d}");
        assert_eq!(d.clips, 120);
        assert!(d.temporal[0] > d.mean_pool[0] + 0.3, "{d}");
        assert!(d.mean_pool[1] > 1.2 * 5.0 / 30.0, "{d}");
    }

    #[test]
    fn without_nuisance_or_distractors_mean_pool_matches_too() {
        let cfg = SynthConfig {
            video_dim: 256,
            nuisance: 0.0,
            distractor: 0.0,
            ambient: 0.0,
            noise: 0.1,
            scenes: 24,
            ..SynthConfig::default()
        };
        let d = difficulty(&cfg, 30);
        assert!(d.mean_pool[1] > 0.8, "{d}");
        assert!(d.temporal[0] > 0.95, "{d}");
    }

    /// Prints the gauge for the default set at full size:
    /// `cargo test --release --lib data::probe -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn print_default_difficulty() {
        let start = std::time::Instant::now();
        let d = difficulty(&SynthConfig::default(), 300);
        eprintln!("{} -> {d} ({:.1?})", SynthConfig::default().describe(), start.elapsed());
    }
}
