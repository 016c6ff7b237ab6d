//! The epoch loop: batches of pairs, the optimiser step, evaluation, checkpoints.

use super::rundir::RunDir;
use super::schedule::ReduceOnPlateau;
use super::{RunReport, TrainConfig, TrainError, TrainOptions, report};
use crate::data::{Clips, Dataset};
use crate::eval::{self, Ranking};
use crate::lower::{Model, PairBatch, feed};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::io::IsTerminal;
use std::time::Instant;
use tch::{Reduction, Tensor, nn, nn::OptimizerConfig};

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, Serialize)]
pub struct EpochMetrics {
    pub epoch: i64,
    pub train_loss: f64,
    pub val_loss: f64,
    pub val: Ranking,
    pub test_loss: f64,
    pub test: Ranking,
    pub lr: f64,
    pub seconds: f64,
}

pub(super) fn run_epochs(
    model: &Model,
    data: &Dataset,
    train_idx: &[usize],
    val: &Clips,
    cfg: &TrainConfig,
    opts: &TrainOptions,
    run: &RunDir,
) -> Result<RunReport, TrainError> {
    let mut opt = nn::Adam { wd: cfg.weight_decay, ..Default::default() }.build(&model.vs, cfg.lr)?;
    let mut schedule = ReduceOnPlateau::new(cfg.schedule.factor, cfg.schedule.patience, cfg.schedule.min_lr);
    let mut lr = cfg.lr;
    let mut epochs: Vec<EpochMetrics> = Vec::new();
    let mut best: Option<(f64, usize)> = None;
    for epoch in 1..=cfg.epochs {
        let started = Instant::now();
        let train_loss = train_epoch(model, &data.train, train_idx, cfg, epoch, &mut opt, opts)?;
        if !train_loss.is_finite() {
            return Err(TrainError::Diverged { epoch, loss: train_loss, lr });
        }
        let (val_rank, val_loss) = evaluate(model, val, cfg)?;
        let (test_rank, test_loss) = evaluate(model, &data.test, cfg)?;
        let m = EpochMetrics {
            epoch,
            train_loss,
            val_loss,
            val: val_rank,
            test_loss,
            test: test_rank,
            lr,
            seconds: started.elapsed().as_secs_f64(),
        };
        run.save_weights("last.safetensors", &model.vs)?;
        // The monitored metric: validation MRR (smoother than top-1 on small sets), ties
        // broken by the lower validation loss.
        let score = val_rank.mrr - 1e-6 * val_loss;
        let improved = best.is_none_or(|(b, _)| score > b);
        if improved {
            best = Some((score, epochs.len()));
            run.save_weights("best.safetensors", &model.vs)?;
            run.write("best.json", serde_json::to_string_pretty(&m).unwrap_or_default().as_bytes())?;
        }
        run.append_line("metrics.jsonl", &serde_json::to_string(&m).unwrap_or_default())?;
        if opts.verbose {
            println!("{}", report::format_epoch_line(&m, cfg.epochs, improved));
        }
        lr = schedule.step(val_rank.mrr, lr);
        opt.set_lr(lr);
        epochs.push(m);
    }
    let (_, best_i) = best.unwrap_or((0.0, 0));
    let best_epoch = epochs.get(best_i).map_or(0, |m| m.epoch);
    let best_test = epochs.get(best_i).map(|m| m.test).unwrap_or_default();
    Ok(RunReport { dir: run.path.clone(), epochs, best_epoch, best_test })
}

fn progress_bar(len: u64, epoch: i64, epochs: i64, verbose: bool) -> ProgressBar {
    if !verbose || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} batches {per_sec} ETA {eta} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(format!("{epoch}/{epochs}"));
    bar
}

/// One pass over the training clips; returns the mean loss.
fn train_epoch(
    model: &Model,
    clips: &Clips,
    train_idx: &[usize],
    cfg: &TrainConfig,
    epoch: i64,
    opt: &mut nn::Optimizer,
    opts: &TrainOptions,
) -> Result<f64, TrainError> {
    // A random stream per (seed, epoch): batch order does not depend on what ran before.
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ epoch as u64);
    let mut order = train_idx.to_vec();
    order.shuffle(&mut rng);
    let batches: Vec<&[usize]> = order.chunks(cfg.batch_size as usize).filter(|b| b.len() >= 2).collect();
    let limit = opts.max_batches.unwrap_or(usize::MAX).min(batches.len());
    let bar = progress_bar(limit as u64, epoch, cfg.epochs, opts.verbose);
    let (mut total, mut count) = (0.0, 0usize);
    for batch in batches.into_iter().take(limit) {
        let (audio_rows, labels) = pairs(batch.len(), &mut rng);
        let loss = pair_loss(model, clips, batch, &audio_rows, &labels)?;
        opt.zero_grad();
        loss.backward();
        opt.step();
        let value = loss.f_double_value(&[])?;
        total += value;
        count += 1;
        bar.set_message(format!("loss {:.4}", total / count as f64));
        bar.inc(1);
        if !value.is_finite() {
            break;
        }
    }
    bar.finish_and_clear();
    Ok(if count == 0 { 0.0 } else { total / count as f64 })
}

/// The course's pairs for a batch of `b` clips: pair i < b is clip i with its own audio
/// (label 1); pair b + i is clip i with the audio of a random clip of the batch (label 1
/// only if the shuffle left it in place). Returns each pair's audio row and its label;
/// pair i's video row is `i % b`.
pub fn pairs(b: usize, rng: &mut ChaCha8Rng) -> (Vec<i64>, Vec<f32>) {
    let mut shuffled: Vec<i64> = (0..b as i64).collect();
    shuffled.shuffle(rng);
    let audio_rows: Vec<i64> = (0..b as i64).chain(shuffled).collect();
    let labels = audio_rows.iter().enumerate().map(|(i, &a)| f32::from(u8::from((i % b) as i64 == a))).collect();
    (audio_rows, labels)
}

/// BCE with logits of the model's first output on a batch's pairs. Each clip's towers run
/// once; the joint part runs per pair.
fn pair_loss(
    model: &Model,
    clips: &Clips,
    batch: &[usize],
    audio_rows: &[i64],
    labels: &[f32],
) -> Result<Tensor, TrainError> {
    let device = model.device();
    let b = batch.len() as i64;
    let video = feed::gather(&clips.video, clips.steps, clips.video_dim, batch, device)?;
    let audio = feed::gather(&clips.audio, clips.steps, clips.audio_dim, batch, device)?;
    let video_rows = Tensor::f_arange(2 * b, (tch::Kind::Int64, device))?.f_remainder(b)?;
    let audio_rows = Tensor::f_from_slice(audio_rows)?.f_to(device)?;
    let pairs = PairBatch { video: &video, audio: &audio, video_rows: &video_rows, audio_rows: &audio_rows };
    let out = model.forward(&pairs, true)?;
    let logit = out.first().and_then(|o| o.first()).ok_or(crate::eval::EvalError::NoOutput)?.f_flatten(0, -1)?;
    let target = Tensor::f_from_slice(labels)?.f_to(device)?;
    Ok(logit.f_binary_cross_entropy_with_logits::<Tensor>(&target, None, None, Reduction::Mean)?)
}

/// Ranks every group of a split and computes a balanced BCE loss from the same scores:
/// the true pairs against, for each video, the audio of the next clip.
pub fn evaluate(model: &Model, clips: &Clips, cfg: &TrainConfig) -> Result<(Ranking, f64), TrainError> {
    let higher_is_better = model.outputs.first().is_none_or(|o| o.kind.higher_is_better());
    let mut ranks = Vec::new();
    let (mut loss, mut terms) = (0.0, 0usize);
    for group in eval::groups(clips.len()) {
        let n = group.len();
        let scores = eval::score_group(model, clips, group, cfg.eval_chunk as usize)?;
        ranks.extend(eval::true_ranks(&scores, n, higher_is_better));
        for i in 0..n {
            loss += softplus(-scores[i * n + i] as f64);
            if n > 1 {
                loss += softplus(scores[i * n + (i + 1) % n] as f64);
                terms += 1;
            }
            terms += 1;
        }
    }
    Ok((eval::ranking(&ranks), if terms == 0 { 0.0 } else { loss / terms as f64 }))
}

/// `log(1 + e^x)`, computed without overflow.
fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}
