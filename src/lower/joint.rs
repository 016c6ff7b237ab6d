//! The joint part: the nodes that run once per (video, audio) pair, on rows gathered from
//! two encodings where the towers meet.

use super::ops::ProjectedPart;
use super::plan::{Factoring, Step, StepKind};
use super::{Encoded, LowerError, Model};
use avc_lang::ast::OutputKind;
use avc_lang::check::Tower;
use tch::Tensor;

/// Pairs the joint part runs at once in evaluation; larger calls run in slices of this many
/// (outputs do not depend on the batch there). A slice's intermediates of `final` are 7 MB
/// each and stay in the caches, where 1,024 pairs' 27 MB fall out of them and each fresh
/// buffer pays its page faults: per pair the joint part measured 15-40% faster at 128-512
/// pairs than at 1,024 (docs/performance.md).
const EVAL_SLICE: i64 = 256;

/// Two encodings and the pairs of their rows that one [`Model::score_pairs`] call scores.
#[derive(Clone, Copy)]
pub(super) struct Pairs<'a> {
    pub video: &'a Encoded,
    pub audio: &'a Encoded,
    pub video_rows: &'a Tensor,
    pub audio_rows: &'a Tensor,
}

impl Pairs<'_> {
    pub fn len(&self) -> i64 {
        self.video_rows.size().first().copied().unwrap_or(0)
    }

    /// Each pair's row in `tower`'s encoding (values of no stream travel with the video).
    fn rows(&self, tower: Tower) -> &Tensor {
        if tower == Tower::Audio { self.audio_rows } else { self.video_rows }
    }

    /// A tower value of every clip.
    fn value(&self, slot: usize, tower: Tower) -> Result<&Tensor, LowerError> {
        let enc = if tower == Tower::Audio { self.audio } else { self.video };
        enc.get(slot).ok_or(LowerError::Unchecked)
    }

    /// Each pair's own steps for a joint step that pools over time: the lengths of the
    /// streams its input counts, gathered per pair (the shorter of the two where it counts
    /// both). `None` when the step is not masked or no lengths were given.
    fn lengths(&self, step: &Step) -> Result<Option<Tensor>, tch::TchError> {
        let Some(streams) = step.mask else { return Ok(None) };
        let mut out: Option<Tensor> = None;
        for (wanted, enc, rows) in
            [(streams.video, self.video, self.video_rows), (streams.audio, self.audio, self.audio_rows)]
        {
            let Some(lengths) = enc.lengths.as_ref().filter(|_| wanted) else { continue };
            let per_pair = lengths.f_index_select(0, &rows.f_to_device(lengths.device())?)?;
            out = Some(match out {
                Some(o) => o.f_minimum(&per_pair)?,
                None => per_pair,
            });
        }
        Ok(out)
    }

    /// A tower value of every pair, for `node`.
    fn gather(&self, slot: usize, tower: Tower, node: &str) -> Result<Tensor, LowerError> {
        let torch = |error| LowerError::Torch { node: node.to_string(), error };
        super::ops::memory::index_select_in_order(self.value(slot, tower)?, 0, self.rows(tower)).map_err(torch)
    }
}

/// `n` items in `parts` contiguous runs of sizes within one: `(start, len)`.
pub(super) fn shares(n: i64, parts: i64) -> impl Iterator<Item = (i64, i64)> {
    (0..parts).scan(0, move |start, k| {
        let len = n / parts + i64::from(k < n % parts);
        let share = (*start, len);
        *start += len;
        Some(share)
    })
}

impl Model {
    /// Runs the joint part on pairs `(video_rows[p], audio_rows[p])` of two encodings.
    /// Returns what [`Model::forward`] returns.
    pub fn score_pairs(
        &self,
        video: &Encoded,
        audio: &Encoded,
        video_rows: &Tensor,
        audio_rows: &Tensor,
        train: bool,
    ) -> Result<Vec<Vec<Tensor>>, LowerError> {
        let _cast = self.autocast()?;
        if self.plans[0].factored != self.plans[1].factored {
            for enc in [video, audio] {
                if enc.train != train {
                    return Err(LowerError::ModeMismatch { encoded: enc.train, scored: train });
                }
            }
        }
        let pairs = Pairs { video, audio, video_rows, audio_rows };
        let scored = match super::concurrent::pair_workers(self, pairs.len()) {
            Some(workers) if !train => self.score_concurrently(&pairs, workers)?,
            _ => self.score_sliced(&pairs, train)?,
        };
        if self.precision() == super::Precision::Fp32 {
            return Ok(scored);
        }
        // What leaves an autocast region is fp32, for the losses and the scores' readers.
        let torch = |error| LowerError::Torch { node: "outputs".into(), error };
        scored
            .into_iter()
            .map(|tensors| tensors.into_iter().map(|t| super::precision::to_fp32(t).map_err(torch)).collect())
            .collect()
    }

    /// [`Model::score_pairs`] on this thread: in evaluation, in slices of at most
    /// [`EVAL_SLICE`] pairs.
    pub(super) fn score_sliced(&self, pairs: &Pairs, train: bool) -> Result<Vec<Vec<Tensor>>, LowerError> {
        let n = pairs.len();
        if train || n <= EVAL_SLICE {
            return self.score_slice(pairs, train);
        }
        let torch = |error| LowerError::Torch { node: "pairs".into(), error };
        // Slices of equal size (within one): no short tail below a factored layer's min_pairs.
        let count = (n + EVAL_SLICE - 1) / EVAL_SLICE;
        let mut slices = Vec::with_capacity(count as usize);
        for (start, len) in shares(n, count) {
            let video_rows = &pairs.video_rows.f_narrow(0, start, len).map_err(torch)?;
            let audio_rows = &pairs.audio_rows.f_narrow(0, start, len).map_err(torch)?;
            slices.push(self.score_slice(&Pairs { video_rows, audio_rows, ..*pairs }, train)?);
        }
        self.join_slices(slices)
    }

    /// The outputs of consecutive slices of pairs as one: per-pair tensors concatenated,
    /// per-clip embeddings (the same in every slice) once.
    pub(super) fn join_slices(&self, slices: Vec<Vec<Vec<Tensor>>>) -> Result<Vec<Vec<Tensor>>, LowerError> {
        let mut joined = Vec::with_capacity(self.outputs.len());
        for (k, o) in self.outputs.iter().enumerate() {
            let mut tensors = Vec::with_capacity(o.slots.len());
            for (i, &tower) in o.towers.iter().enumerate() {
                let per_pair = tower == Tower::Joint || o.kind != OutputKind::Embeddings;
                let parts: Vec<&Tensor> = slices.iter().map(|s| &s[k][i]).collect();
                let t = if per_pair {
                    Tensor::f_cat(&parts, 0).map_err(|error| LowerError::Torch { node: o.name.clone(), error })?
                } else {
                    parts[0].shallow_clone()
                };
                tensors.push(t);
            }
            joined.push(tensors);
        }
        Ok(joined)
    }

    /// [`Model::score_pairs`] on one batch of pairs.
    fn score_slice(&self, pairs: &Pairs, train: bool) -> Result<Vec<Vec<Tensor>>, LowerError> {
        let mut values: Vec<Option<Tensor>> = (0..self.slots).map(|_| None).collect();
        self.run_unbatched(self.plan(train), &mut values, train)?;
        for step in self.plan(train).steps.iter().filter(|s| s.tower == Tower::Joint && !s.unbatched) {
            let torch = |error| LowerError::Torch { node: step.node.clone(), error };
            let value = match &step.kind {
                StepKind::Projected { whole } => self.projected(step, whole, pairs, train)?,
                _ => {
                    for (&slot, &tower) in step.inputs.iter().zip(&step.input_towers) {
                        if tower != Tower::Joint && values[slot].is_none() {
                            values[slot] = Some(pairs.gather(slot, tower, &step.node)?);
                        }
                    }
                    let xs: Vec<&Tensor> = step.inputs.iter().filter_map(|&s| values[s].as_ref()).collect();
                    let lengths = pairs.lengths(step).map_err(torch)?;
                    self.run_layer(step, &xs, lengths.as_ref(), train).map_err(torch)?
                }
            };
            values[step.slot] = Some(value);
            for &slot in &step.frees {
                values[slot] = None;
            }
        }
        let mut outputs = Vec::new();
        for o in &self.outputs {
            let mut tensors = Vec::new();
            for (&slot, &tower) in o.slots.iter().zip(&o.towers) {
                let t = match (tower, o.kind) {
                    (Tower::Joint, _) => {
                        values[slot].as_ref().map(Tensor::shallow_clone).ok_or(LowerError::Unchecked)?
                    }
                    (_, OutputKind::Embeddings) => pairs.value(slot, tower)?.shallow_clone(),
                    _ => pairs.gather(slot, tower, &o.name)?,
                };
                tensors.push(t);
            }
            outputs.push(tensors);
        }
        Ok(outputs)
    }

    /// A factored layer on a batch of pairs: from the towers' shares; or, when the batch is too
    /// small for the factoring to pay, whole on the concatenation of the tower values.
    fn projected(
        &self,
        step: &Step,
        whole: &[(usize, Tower)],
        pairs: &Pairs,
        train: bool,
    ) -> Result<Tensor, LowerError> {
        let torch = |error| LowerError::Torch { node: step.node.clone(), error };
        let factored = self.factor_input(step).map_err(torch)?;
        if self.factoring == Factoring::Always || pairs.len() >= factored.min_pairs() {
            let mut parts: Vec<ProjectedPart> = Vec::with_capacity(step.inputs.len());
            for (&slot, &tower) in step.inputs.iter().zip(&step.input_towers) {
                parts.push((pairs.value(slot, tower)?, pairs.rows(tower)));
            }
            return factored.forward_projected(&parts, train).map_err(torch);
        }
        let mut gathered = Vec::with_capacity(whole.len());
        for &(slot, tower) in whole {
            gathered.push(pairs.gather(slot, tower, &step.node)?);
        }
        let joined = Tensor::f_cat(&gathered, -1).map_err(torch)?;
        self.layers[step.layer].forward(&[&joined], train).map_err(torch)
    }
}

impl Model {
    /// Whether evaluation scores every pair of two catalogues as a grid
    /// ([`Model::score_grid`]), without running the joint part per pair.
    pub fn scores_as_grid(&self) -> bool {
        self.grid_root().is_some()
    }

    /// The joint layer a grid starts from, and whether it reads the video first, when the
    /// joint part has the form [`Model::score_grid`] needs (the layer's matrix form itself
    /// is asked for when scoring).
    pub(super) fn grid_root(&self) -> Option<(&Step, bool)> {
        let output = self.outputs.first().filter(|o| o.kind != OutputKind::Embeddings)?;
        if output.towers.first() != Some(&Tower::Joint) {
            return None;
        }
        let steps = self.plan(false).steps.iter().filter(|s| s.tower == Tower::Joint);
        let roots: Vec<&Step> = steps.filter(|s| s.input_towers.iter().any(|&t| t != Tower::Joint)).collect();
        let [root] = roots.as_slice() else { return None };
        if root.kind != StepKind::Forward || self.layers[root.layer].pairwise_form().is_none() {
            return None;
        }
        match root.input_towers.as_slice() {
            [Tower::Video, Tower::Audio] => Some((root, true)),
            [Tower::Audio, Tower::Video] => Some((root, false)),
            _ => None,
        }
    }

    /// The first output's score for every (video, audio) pair of the given rows, as a
    /// `[videos, audios]` matrix, when the joint part allows it: one joint layer reads the
    /// towers (a video value and an audio value), it has a matrix form ([`Layer::pairwise`]:
    /// `lagged_cosine`), and every later joint node reads only joint values (a scale, an
    /// offset). Then no pair's tower values are gathered: the first layer is a few matrix
    /// products and the rest runs on its `[videos x audios, 1]` values. `None` when the
    /// joint part has another form (it runs per pair, [`Model::score_pairs`]). Evaluation
    /// only.
    ///
    /// [`Layer::pairwise`]: super::ops::Layer::pairwise
    pub fn score_grid(
        &self,
        video: &Encoded,
        audio: &Encoded,
        video_rows: &Tensor,
        audio_rows: &Tensor,
    ) -> Result<Option<Tensor>, LowerError> {
        let Some((root, video_first)) = self.grid_root() else { return Ok(None) };
        let Some(output) = self.outputs.first() else { return Ok(None) };
        let _cast = self.autocast()?;
        let steps: Vec<&Step> = self.plan(false).steps.iter().filter(|s| s.tower == Tower::Joint).collect();
        let (vslot, aslot) =
            if video_first { (root.inputs[0], root.inputs[1]) } else { (root.inputs[1], root.inputs[0]) };
        fn torch(node: &str) -> impl Fn(tch::TchError) -> LowerError + '_ {
            move |error| LowerError::Torch { node: node.to_string(), error }
        }
        let device = self.device();
        let pick = |enc: &Encoded, slot: usize, rows: &Tensor| -> Result<Tensor, tch::TchError> {
            let value = enc.get(slot).ok_or_else(|| tch::TchError::Kind("a tower value is missing".into()))?;
            value.f_index_select(0, &rows.f_to_device(value.device())?)?.f_to_device(device)
        };
        let v = pick(video, vslot, video_rows).map_err(torch(&root.node))?;
        let a = pick(audio, aslot, audio_rows).map_err(torch(&root.node))?;
        let layer = &self.layers[root.layer];
        let matrix = if video_first { layer.pairwise(&v, &a) } else { layer.pairwise(&a, &v) };
        let Some(matrix) = matrix else { return Ok(None) };
        let mut matrix = matrix.map_err(torch(&root.node))?;
        if !video_first {
            matrix = matrix.f_transpose(0, 1).map_err(torch(&root.node))?;
        }
        let (nv, na) = (v.size()[0], a.size()[0]);
        let mut values: Vec<Option<Tensor>> = (0..self.slots).map(|_| None).collect();
        values[root.slot] = Some(matrix.f_reshape([nv * na, 1]).map_err(torch(&root.node))?);
        for step in steps.iter().filter(|s| s.slot != root.slot) {
            if step.kind != StepKind::Forward {
                return Ok(None);
            }
            let xs: Vec<&Tensor> = step.inputs.iter().filter_map(|&s| values[s].as_ref()).collect();
            if xs.len() != step.inputs.len() {
                return Ok(None);
            }
            let value = self.layers[step.layer].forward(&xs, false).map_err(torch(&step.node))?;
            values[step.slot] = Some(value);
        }
        let slot = *output.slots.first().ok_or(LowerError::Unchecked)?;
        let score = values[slot].as_ref().ok_or(LowerError::Unchecked)?;
        let score = score.f_reshape([nv, na]).map_err(torch(&output.name))?;
        Ok(Some(super::precision::to_fp32(score).map_err(torch(&output.name))?))
    }
}
