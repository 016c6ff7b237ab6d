//! Losses, chosen by what an output returns: BCE on a `logit` (with optional label
//! smoothing), the course's contrastive loss on a `distance`, InfoNCE over in-batch
//! negatives on `embeddings` (or a triplet loss with mined negatives). `train.loss` may name
//! one explicitly; a loss that does not fit the output's kind is refused, with
//! both places shown, before any data is loaded.

use tch::{Kind, Reduction, Tensor};

pub use avc_lang::settings::loss::{Directions, LossKind, LossSettings, MAX_LOGIT_SCALE, Mining, check};

/// The training loss of one output on a batch. `outputs` are the output's tensors as
/// [`crate::lower::Model::forward`] returns them: per pair for scores, per clip for
/// embeddings. `labels` marks the matched pairs (1) among the batch's pairs.
pub fn batch_loss(
    loss: LossKind,
    settings: &LossSettings,
    outputs: &[Tensor],
    labels: &Tensor,
) -> Result<Tensor, tch::TchError> {
    batch_loss_scaled(loss, settings, None, outputs, labels)
}

/// [`batch_loss`] with InfoNCE's similarities multiplied by `exp(log_scale)` instead of
/// divided by the fixed temperature, where the temperature is learned (CLIP's
/// parametrisation: `log_scale = ln(1 / temperature)`, a scalar trained with the weights).
pub fn batch_loss_scaled(
    loss: LossKind,
    settings: &LossSettings,
    log_scale: Option<&Tensor>,
    outputs: &[Tensor],
    labels: &Tensor,
) -> Result<Tensor, tch::TchError> {
    let first = outputs.first().ok_or_else(|| tch::TchError::Kind("an output without tensors".into()))?;
    match loss {
        LossKind::Bce => {
            let smoothing = settings.label_smoothing;
            let targets = labels.f_mul_scalar(1.0 - smoothing)?.f_add_scalar(smoothing / 2.0)?;
            first.f_flatten(0, -1)?.f_binary_cross_entropy_with_logits::<Tensor>(&targets, None, None, Reduction::Mean)
        }
        LossKind::Contrastive => {
            let d = first.f_flatten(0, -1)?;
            let pull = d.f_square()?.f_mul(labels)?;
            let push = d.f_neg()?.f_add_scalar(settings.margin)?.f_clamp_min(0.0)?.f_square()?;
            let push = push.f_mul(&labels.f_neg()?.f_add_scalar(1.0)?)?;
            pull.f_add(&push)?.f_mean(Kind::Float)
        }
        LossKind::InfoNce => {
            let [video, audio] = outputs else {
                return Err(tch::TchError::Kind("infonce needs a video and an audio embedding".into()));
            };
            let cosines = cosine_matrix(video, audio)?;
            let logits = match log_scale {
                Some(s) => cosines.f_mul(&s.f_exp()?)?,
                None => cosines.f_div_scalar(settings.temperature)?,
            };
            let n = logits.size()[0];
            let target = Tensor::f_arange(n, (Kind::Int64, logits.device()))?;
            let ce = |l: &Tensor| l.f_cross_entropy_loss::<Tensor>(&target, None, Reduction::Mean, -100, 0.0);
            match settings.directions {
                Directions::V2a => ce(&logits),
                Directions::A2v => ce(&logits.f_transpose(0, 1)?),
                Directions::Both => ce(&logits)?.f_add(&ce(&logits.f_transpose(0, 1)?)?)?.f_div_scalar(2.0),
            }
        }
        LossKind::Triplet => {
            let [video, audio] = outputs else {
                return Err(tch::TchError::Kind("triplet needs a video and an audio embedding".into()));
            };
            let distances = cosine_matrix(video, audio)?.f_neg()?.f_add_scalar(1.0)?;
            let rows = triplet(&distances, settings)?;
            let cols = triplet(&distances.f_transpose(0, 1)?, settings)?;
            rows.f_add(&cols)?.f_div_scalar(2.0)
        }
    }
}

/// The triplet loss of each row's anchor: its positive is the diagonal's distance, its
/// negative one of the row's others, mined as `settings.mining` says; the mean over rows of
/// `max(0, positive - negative + margin)`. The mining picks an index and takes no gradient
/// of its own: the loss's gradient flows through the chosen distances, as in PyTorch's
/// usual `TripletMarginLoss` on mined triplets.
fn triplet(distances: &Tensor, settings: &LossSettings) -> Result<Tensor, tch::TchError> {
    let n = distances.size()[0];
    let device = distances.device();
    if n < 2 {
        // No negative in the batch: nothing to push apart (as `group_loss` counts it).
        return distances.f_sum(Kind::Float)?.f_mul_scalar(0.0);
    }
    let margin = settings.triplet_margin;
    let positive = distances.f_diagonal(0, 0, 1)?.f_unsqueeze(1)?; // [n, 1]
    let others = Tensor::f_eye(n, (Kind::Bool, device))?.f_logical_not()?;
    let plain = distances.f_detach()?;
    let inf = f64::INFINITY;
    // The hardest: the closest other candidate.
    let hardest = plain.f_masked_fill(&others.f_logical_not()?, inf)?.f_argmin(1, true)?;
    let chosen = match settings.mining {
        Mining::Hardest => hardest,
        Mining::SemiHard => {
            let pos = positive.f_detach()?;
            let semi = others
                .f_logical_and(&plain.f_gt_tensor(&pos)?)?
                .f_logical_and(&plain.f_lt_tensor(&pos.f_add_scalar(margin)?)?)?;
            let closest_semi = plain.f_masked_fill(&semi.f_logical_not()?, inf)?.f_argmin(1, true)?;
            let farthest = plain.f_masked_fill(&others.f_logical_not()?, -inf)?.f_argmax(1, true)?;
            let has_semi = semi.f_any_dim(1, true)?;
            closest_semi.f_where_self(&has_semi, &farthest)?
        }
    };
    let negative = distances.f_gather(1, &chosen, false)?;
    positive.f_sub(&negative)?.f_add_scalar(margin)?.f_clamp_min(0.0)?.f_mean(Kind::Float)
}

/// `[Nv, D] x [Na, D] -> [Nv, Na]` cosine similarities.
pub fn cosine_matrix(video: &Tensor, audio: &Tensor) -> Result<Tensor, tch::TchError> {
    let unit = |t: &Tensor| -> Result<Tensor, tch::TchError> {
        let t = t.f_flatten(1, -1)?;
        t.f_div(&t.f_norm_scalaropt_dim(2, [1], true)?.f_clamp_min(1e-8)?)
    };
    unit(video)?.f_matmul(&unit(audio)?.f_transpose(0, 1)?)
}

/// The same loss computed from an evaluation group's `n x n` score matrix (row = video,
/// column = audio, the truth on the diagonal), so validation and test losses mean what
/// the training loss means (a learned temperature: pass its current value in `settings`).
/// BCE and contrastive take the true pairs against, for each
/// video, the audio of the next clip (balanced, as in training); InfoNCE takes the whole
/// matrix as one batch. Returns (sum, terms) so groups can be pooled.
pub fn group_loss(loss: LossKind, settings: &LossSettings, scores: &[f32], n: usize) -> (f64, usize) {
    let at = |i: usize, j: usize| scores[i * n + j] as f64;
    let (mut sum, mut terms) = (0.0, 0);
    match loss {
        LossKind::Bce | LossKind::Contrastive => {
            let m = settings.margin;
            let smooth = settings.label_smoothing / 2.0;
            // (cost of a matched pair, cost of a mismatched one) from the pair's score; with
            // label smoothing the target is 1 - s/2 or s/2 instead of 1 or 0.
            let cost = |s: f64, matched: bool| match (loss, matched) {
                (LossKind::Bce, true) => (1.0 - smooth) * softplus(-s) + smooth * softplus(s),
                (LossKind::Bce, false) => (1.0 - smooth) * softplus(s) + smooth * softplus(-s),
                (_, true) => s * s,
                (_, false) => (m - s).max(0.0).powi(2),
            };
            for i in 0..n {
                sum += cost(at(i, i), true);
                terms += 1;
                if n > 1 {
                    sum += cost(at(i, (i + 1) % n), false);
                    terms += 1;
                }
            }
        }
        LossKind::InfoNce => {
            let t = settings.temperature;
            for i in 0..n {
                let row: Vec<f64> = (0..n).map(|j| at(i, j) / t).collect();
                let col: Vec<f64> = (0..n).map(|j| at(j, i) / t).collect();
                let (v2a, a2v) = (log_sum_exp(&row) - row[i], log_sum_exp(&col) - col[i]);
                sum += match settings.directions {
                    Directions::V2a => v2a,
                    Directions::A2v => a2v,
                    Directions::Both => (v2a + a2v) / 2.0,
                };
                terms += 1;
            }
        }
        LossKind::Triplet => {
            // Cosine distances, as in training; each row and each column an anchor.
            let d = |i: usize, j: usize| 1.0 - at(i, j);
            for i in 0..n {
                let row: Vec<f64> = (0..n).map(|j| d(i, j)).collect();
                let col: Vec<f64> = (0..n).map(|j| d(j, i)).collect();
                sum += (triplet_term(&row, i, settings) + triplet_term(&col, i, settings)) / 2.0;
                terms += 1;
            }
        }
    }
    (sum, terms)
}

/// One anchor's triplet loss from its distances to every candidate (`own` is its positive),
/// mined as in training.
fn triplet_term(distances: &[f64], own: usize, settings: &LossSettings) -> f64 {
    let positive = distances[own];
    let margin = settings.triplet_margin;
    let others = || distances.iter().enumerate().filter(move |&(j, _)| j != own).map(|(_, &d)| d);
    let hardest = others().fold(f64::INFINITY, f64::min);
    let negative = match settings.mining {
        Mining::Hardest => hardest,
        Mining::SemiHard => {
            let semi = others().filter(|&d| d > positive && d < positive + margin).fold(f64::INFINITY, f64::min);
            if semi.is_finite() { semi } else { others().fold(f64::NEG_INFINITY, f64::max) }
        }
    };
    if negative.is_finite() { (positive - negative + margin).max(0.0) } else { 0.0 }
}

fn log_sum_exp(xs: &[f64]) -> f64 {
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    max + xs.iter().map(|x| (x - max).exp()).sum::<f64>().ln()
}

/// `log(1 + e^x)`, computed without overflow.
fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(xs: &[f32]) -> Tensor {
        Tensor::from_slice(xs)
    }

    #[test]
    fn contrastive_pulls_matches_and_pushes_mismatches_within_the_margin() {
        let s = LossSettings::default();
        // A match at distance 0.5 costs 0.25; a mismatch at 0.25 costs (1 - 0.25)² and one
        // beyond the margin costs nothing.
        let loss = batch_loss(LossKind::Contrastive, &s, &[t(&[0.5, 0.25, 3.0])], &t(&[1.0, 0.0, 0.0])).unwrap();
        let expected = (0.25 + 0.5625 + 0.0) / 3.0;
        assert!((loss.double_value(&[]) - expected).abs() < 1e-6);
    }

    #[test]
    fn infonce_is_low_when_each_clip_matches_itself_and_symmetric() {
        let s = LossSettings::default();
        let eye = Tensor::eye(4, (Kind::Float, tch::Device::Cpu));
        let good = batch_loss(LossKind::InfoNce, &s, &[eye.shallow_clone(), eye.shallow_clone()], &t(&[])).unwrap();
        let flipped = eye.flip([0]);
        let bad = batch_loss(LossKind::InfoNce, &s, &[eye.shallow_clone(), flipped], &t(&[])).unwrap();
        assert!(good.double_value(&[]) < 1e-3, "{}", good.double_value(&[]));
        assert!(bad.double_value(&[]) > 5.0);
        // The group loss over the same similarities agrees with the batch loss.
        let scores: Vec<f32> = Vec::try_from(cosine_matrix(&eye, &eye.flip([0])).unwrap().flatten(0, -1)).unwrap();
        let (sum, n) = group_loss(LossKind::InfoNce, &s, &scores, 4);
        assert!((sum / n as f64 - bad.double_value(&[])).abs() < 1e-4);
    }

    #[test]
    fn group_losses_agree_with_batch_losses_on_the_same_pairs() {
        let s = LossSettings::default();
        // Two clips: the true pairs (0,0), (1,1) and the next-clip pairs (0,1), (1,0).
        let scores = [0.3f32, 1.7, -0.4, 0.9];
        let pairs = t(&[0.3, 1.7, 0.9, -0.4]);
        let labels = t(&[1.0, 0.0, 1.0, 0.0]);
        for loss in [LossKind::Bce, LossKind::Contrastive] {
            let (sum, n) = group_loss(loss, &s, &scores, 2);
            let batch = batch_loss(loss, &s, &[pairs.shallow_clone()], &labels).unwrap().double_value(&[]);
            assert!((sum / n as f64 - batch).abs() < 1e-5, "{loss:?}");
        }
    }
}
