//! LSTM and GRU recurrences over precomputed input projections, for the factored first joint
//! layer (see [`super::FactorInput`]): step t's gates are its gathered projection plus
//! `h W_hh^T`, with PyTorch's gate order and equations (LSTM: i, f, g, o; GRU: r, z, n with
//! `n = tanh(x_n + r * (W_hn h + b_hn))`), so results and gradients are those of
//! `nn.LSTM` / `nn.GRU` on the concatenated input.
//!
//! Without gradients (evaluation) a step updates its tensors in place and writes its hidden
//! state straight into the output sequence: the step's few kernels are the whole cost.

use super::ProjectedPart;
use tch::{Kind, Tensor};

/// Each pair's input map as one kernel: the parts' projections stacked into one table
/// (`[sum of N, ...]`), and per pair its row in every part; `embedding_bag` (mode sum) adds
/// a pair's rows, instead of a gather per part and an add.
pub(super) struct PairSum {
    /// `[P * parts]`: pair p's rows, one per part, offset into the stacked table.
    indices: Tensor,
    /// `[P]`: where each pair's rows start in `indices`.
    offsets: Tensor,
    pub pairs: i64,
}

impl PairSum {
    /// The stacked table (`[sum of N, ...]`) and how to sum pairs from it.
    pub fn new(parts: &[ProjectedPart]) -> Result<(Tensor, PairSum), tch::TchError> {
        let Some((first, rows)) = parts.first() else {
            return Err(tch::TchError::Kind("a factored layer needs at least one projected part".into()));
        };
        let pairs = rows.size().first().copied().unwrap_or(0);
        let clips: i64 = parts.iter().map(|(projection, _)| projection.size().first().copied().unwrap_or(0)).sum();
        if clips > pairs {
            // Fewer pairs than clips (a row of a large N-way evaluation): stacking every
            // clip's projection and reordering it by step costs O(clips) per call (312 MB
            // twice for `final` on 1,270 clips, per slice of 256 pairs); the pairs' own rows,
            // gathered and added, cost O(pairs).
            let mut sum = first.f_index_select(0, rows)?;
            for (projection, rows) in &parts[1..] {
                sum = sum.f_add(&projection.f_index_select(0, rows)?)?;
            }
            let own = Tensor::f_arange(pairs, (Kind::Int64, first.device()))?;
            return PairSum::new(&[(&sum, &own)]);
        }
        let mut start = 0;
        let mut shifted = Vec::with_capacity(parts.len());
        for (projection, rows) in parts {
            shifted.push(rows.f_add_scalar(start)?);
            start += projection.size().first().copied().unwrap_or(0);
        }
        let k = parts.len() as i64;
        let indices = Tensor::f_stack(&shifted, 1)?.f_flatten(0, -1)?;
        let offsets = Tensor::f_arange_start_step(0, pairs * k, k, (Kind::Int64, first.device()))?;
        let projections: Vec<&Tensor> = parts.iter().map(|p| p.0).collect();
        Ok((Tensor::f_cat(&projections, 0)?, PairSum { indices, offsets, pairs }))
    }

    /// `[P, C]`: each pair's sum of its rows of a `[sum of N, C]` table.
    pub fn sum(&self, table: &Tensor) -> Result<Tensor, tch::TchError> {
        let (sum, ..) =
            Tensor::f_embedding_bag(table, &self.indices, &self.offsets, false, 0, false, None::<Tensor>, false)?;
        Ok(sum)
    }
}

/// What one direction of a recurrence reads.
pub(super) struct Direction<'a> {
    /// Per step, the table of every clip's input map for this direction (`[sum of N, G]`,
    /// gates + biases folded in).
    pub steps: &'a [Tensor],
    pub pairs: &'a PairSum,
    /// Runs from the last step to the first (the backward half of a bidirectional layer).
    pub reverse: bool,
    /// `[G, H]`, the recurrent weight.
    pub w_hh: &'a Tensor,
    pub hidden: i64,
}

impl Direction<'_> {
    fn order(&self) -> impl Iterator<Item = i64> + '_ {
        let n = self.steps.len() as i64;
        (0..n).map(move |k| if self.reverse { n - 1 - k } else { k })
    }

    /// The pairs' input map at step t, a new tensor (free to update in place).
    fn input_at(&self, t: i64) -> Result<Tensor, tch::TchError> {
        self.pairs.sum(&self.steps[t as usize])
    }

    fn zeros(&self) -> Result<Tensor, tch::TchError> {
        Tensor::f_zeros([self.pairs.pairs, self.hidden], (self.w_hh.kind(), self.w_hh.device()))
    }

    /// Whether gradients are recorded (then nothing may change in place): under `no_grad`
    /// a computed value never requires them, even from a trained weight (a view would).
    fn tracked(&self) -> Result<bool, tch::TchError> {
        let input = self.steps.first().is_some_and(Tensor::requires_grad);
        Ok(input || self.w_hh.f_reshape([-1])?.f_narrow(0, 0, 1)?.f_mul_scalar(1.0)?.requires_grad())
    }
}

/// Every step's hidden state in time order (`[P, T, H]`) and the final one (`[P, H]`).
fn finish(mut outs: Vec<Tensor>, last: Tensor, reverse: bool) -> Result<(Tensor, Tensor), tch::TchError> {
    if reverse {
        outs.reverse();
    }
    Ok((Tensor::f_stack(&outs, 1)?, last))
}

/// An LSTM direction; the input map already holds both biases (`b_ih + b_hh`).
pub(super) fn lstm(d: &Direction) -> Result<(Tensor, Tensor), tch::TchError> {
    if !d.tracked()? {
        return lstm_inference(d);
    }
    let w = d.w_hh.f_transpose(0, 1)?;
    let (mut h, mut c) = (d.zeros()?, d.zeros()?);
    let mut outs = Vec::with_capacity(d.steps.len());
    for t in d.order() {
        let gates = d.input_at(t)?.f_addmm(&h, &w)?;
        let g = gates.f_chunk(4, 1)?;
        let (i, f, cell, o) = (g[0].f_sigmoid()?, g[1].f_sigmoid()?, g[2].f_tanh()?, g[3].f_sigmoid()?);
        c = f.f_mul(&c)?.f_add(&i.f_mul(&cell)?)?;
        h = o.f_mul(&c.f_tanh()?)?;
        outs.push(h.shallow_clone());
    }
    finish(outs, h, d.reverse)
}

/// [`lstm`] without gradients: in place, each hidden state written into the output.
fn lstm_inference(d: &Direction) -> Result<(Tensor, Tensor), tch::TchError> {
    let w = d.w_hh.f_transpose(0, 1)?;
    let steps = d.steps.len() as i64;
    let out = Tensor::f_empty([d.pairs.pairs, steps, d.hidden], (d.w_hh.kind(), d.w_hh.device()))?;
    let (mut h, mut c) = (d.zeros()?, d.zeros()?);
    // In-place updates return another handle to the same tensor: nothing to keep.
    for t in d.order() {
        let mut gates = d.input_at(t)?;
        let _ = gates.f_addmm_(&h, &w)?;
        let mut g = gates.f_chunk(4, 1)?;
        let _ = g[0].f_sigmoid_()?;
        let _ = g[1].f_sigmoid_()?;
        let _ = g[2].f_tanh_()?;
        let _ = g[3].f_sigmoid_()?;
        let _ = c.f_mul_(&g[1])?;
        let _ = c.f_addcmul_(&g[0], &g[2])?;
        h = out.f_select(1, t)?;
        let _ = c.f_tanh()?.f_mul_out(&h, &g[3])?;
    }
    Ok((out, h))
}

/// A GRU direction; the input map holds `b_ih` and the r and z parts of `b_hh`; `b_hn` is
/// the n part, which PyTorch adds inside the reset gate's product.
pub(super) fn gru(d: &Direction, b_hn: &Tensor) -> Result<(Tensor, Tensor), tch::TchError> {
    if !d.tracked()? {
        return gru_inference(d, b_hn);
    }
    let w = d.w_hh.f_transpose(0, 1)?;
    let mut h = d.zeros()?;
    let mut outs = Vec::with_capacity(d.steps.len());
    for t in d.order() {
        let x = d.input_at(t)?.f_chunk(3, 1)?;
        let hh = h.f_matmul(&w)?.f_chunk(3, 1)?;
        let r = x[0].f_add(&hh[0])?.f_sigmoid()?;
        let z = x[1].f_add(&hh[1])?.f_sigmoid()?;
        let n = x[2].f_add(&r.f_mul(&hh[2].f_add(b_hn)?)?)?.f_tanh()?;
        // h' = (1 - z) n + z h = n + z (h - n)
        h = n.f_add(&z.f_mul(&h.f_sub(&n)?)?)?;
        outs.push(h.shallow_clone());
    }
    finish(outs, h, d.reverse)
}

/// [`gru`] without gradients: in place, each hidden state written into the output.
fn gru_inference(d: &Direction, b_hn: &Tensor) -> Result<(Tensor, Tensor), tch::TchError> {
    let w = d.w_hh.f_transpose(0, 1)?;
    let steps = d.steps.len() as i64;
    let out = Tensor::f_empty([d.pairs.pairs, steps, d.hidden], (d.w_hh.kind(), d.w_hh.device()))?;
    let mut h = d.zeros()?;
    for t in d.order() {
        let mut x = d.input_at(t)?.f_chunk(3, 1)?;
        let mut hh = h.f_matmul(&w)?.f_chunk(3, 1)?;
        let r = x[0].f_add_(&hh[0])?.f_sigmoid_()?;
        let z = x[1].f_add_(&hh[1])?.f_sigmoid_()?;
        let _ = hh[2].f_add_(b_hn)?.f_mul_(&r)?;
        let n = x[2].f_add_(&hh[2])?.f_tanh_()?;
        let next = out.f_select(1, t)?;
        let _ = h.f_sub_out(&next, &n)?.f_mul_(&z)?.f_add_(&n)?;
        h = next;
    }
    Ok((out, h))
}
