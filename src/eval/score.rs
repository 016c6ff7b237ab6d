//! Scoring every (video, audio) pair of a group with a lowered model.

use super::EvalError;
use crate::data::Clips;
use crate::lower::{self, Model, PairBatch, feed};
use avc_lang::ast::OutputKind;
use std::ops::Range;
use tch::{Device, Kind, Tensor};

/// Scores of a group as a row-major `n x n` matrix: row i is video i, column j audio j,
/// in the direction of the model's first output (see [`OutputKind::higher_is_better`]).
/// Pair models run on chunks of at most `chunk` pairs; embedding models encode each clip
/// once and compare by cosine similarity. Either way each tower runs once per clip.
pub fn score_group(model: &Model, clips: &Clips, group: Range<usize>, chunk: usize) -> Result<Vec<f32>, EvalError> {
    let _guard = tch::no_grad_guard();
    let kind = model.outputs.first().ok_or(EvalError::NoOutput)?.kind;
    let rows: Vec<usize> = group.collect();
    let n = rows.len();
    let device = model.device();
    let video = feed::gather(&clips.video, clips.steps, clips.video_dim, &rows, device)?;
    let audio = feed::gather(&clips.audio, clips.steps, clips.audio_dim, &rows, device)?;
    if kind == OutputKind::Embeddings {
        let rows = lower::aligned_rows(n, device)?;
        let batch = PairBatch { video: &video, audio: &audio, video_rows: &rows, audio_rows: &rows };
        let out = model.forward(&batch, false)?;
        let (v, a) = match out.first().map(Vec::as_slice) {
            Some([v, a]) => (v.f_flatten(1, -1)?, a.f_flatten(1, -1)?),
            _ => return Err(EvalError::NoOutput),
        };
        let v = v.f_div(&v.f_norm_scalaropt_dim(2, [1], true)?.f_clamp_min(1e-8)?)?;
        let a = a.f_div(&a.f_norm_scalaropt_dim(2, [1], true)?.f_clamp_min(1e-8)?)?;
        return to_vec(&v.f_matmul(&a.f_transpose(0, 1)?)?);
    }
    let pairs: Vec<(i64, i64)> = (0..n as i64).flat_map(|i| (0..n as i64).map(move |j| (i, j))).collect();
    let mut scores = Vec::with_capacity(n * n);
    for part in pairs.chunks(chunk.max(1)) {
        let vi = Tensor::f_from_slice(&part.iter().map(|p| p.0).collect::<Vec<_>>())?.f_to(device)?;
        let ai = Tensor::f_from_slice(&part.iter().map(|p| p.1).collect::<Vec<_>>())?.f_to(device)?;
        let batch = PairBatch { video: &video, audio: &audio, video_rows: &vi, audio_rows: &ai };
        let out = model.forward(&batch, false)?;
        let score = out.first().and_then(|o| o.first()).ok_or(EvalError::NoOutput)?;
        scores.extend(to_vec(&score.f_flatten(0, -1)?)?);
    }
    Ok(scores)
}

fn to_vec(t: &Tensor) -> Result<Vec<f32>, EvalError> {
    let t = t.f_to_kind(Kind::Float)?.f_to_device(Device::Cpu)?.f_flatten(0, -1)?;
    Ok(Vec::<f32>::try_from(&t)?)
}
