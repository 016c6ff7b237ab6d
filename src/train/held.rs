//! Evaluating held-out clips (validation and test) at the end of an epoch: every 30-clip
//! group ranked by the first output, and that output's loss from the same scores.
//!
//! In a data-parallel job the groups are dealt out to the ranks (group `i` to rank
//! `i % world`), so each rank scores about 1/N of the groups. Each rank writes its groups'
//! true ranks and loss terms into their own slots of one vector of zeros, and one all-reduce
//! gives every rank the whole: a sum of one value and zeros is exact, and the loss is then
//! summed in group order, so combining adds nothing to what one process computes (each
//! group's scores are its rank's, whose thread count may round them differently).

use super::{TrainConfig, TrainError, loss};
use crate::data::crop::Pass;
use crate::data::{Clips, Split};
use crate::dist::{DistError, Group};
use crate::eval::engine::{Scorer, Silent};
use crate::eval::{self, Ranking, apply};
use crate::lower::Model;
use tch::Tensor;

/// The clips a validation pass reads: a split's chosen rows, gathered one 30-clip group at
/// a time (so a streamed validation set is never whole in memory), or clips in memory.
#[derive(Clone, Copy)]
pub enum Held<'a> {
    Rows(&'a Split, &'a [usize]),
    Clips(&'a Clips),
}

impl Held<'_> {
    fn len(&self) -> usize {
        match self {
            Held::Rows(_, rows) => rows.len(),
            Held::Clips(c) => c.len(),
        }
    }
}

/// Ranks every group of held-out clips by the first output and computes that output's loss
/// from the same scores (see [`loss::group_loss`]). Scoring goes through
/// [`eval::engine::Scorer`], as `avc eval` does, with `eval_chunk` pairs a chunk.
pub fn evaluate(model: &Model, held: Held, cfg: &TrainConfig) -> Result<(Ranking, f64), TrainError> {
    evaluate_in(model, held, cfg, None)
}

/// [`evaluate`], with the groups divided between the ranks of `group` when there is one.
/// Every rank must call it with the same model and clips; every rank gets the result.
pub fn evaluate_in(
    model: &Model,
    held: Held,
    cfg: &TrainConfig,
    group: Option<&Group>,
) -> Result<(Ranking, f64), TrainError> {
    let kind = model.outputs.first().ok_or(crate::eval::EvalError::NoOutput)?.kind;
    let loss_kind = cfg.loss.for_output(kind);
    let (rank, world) = group.map_or((0, 1), |g| (g.rank, g.world));
    let groups = eval::groups(held.len());
    let mut slots = Slots::new(held.len(), groups.len());
    for (g, range) in groups.iter().enumerate().filter(|(g, _)| g % world == rank) {
        let n = range.len();
        let gathered;
        let (clips, rows) = match held {
            Held::Rows(split, rows) => {
                gathered = split.gather(&rows[range.clone()], Pass::Eval)?;
                (&gathered, 0..n)
            }
            Held::Clips(clips) => (clips, range.clone()),
        };
        let scorer = Scorer::with_pair_chunk(model, clips.video_steps.max(clips.audio_steps), cfg.eval_chunk as u64)?;
        let (video, audio) = apply::streams(clips);
        let scores = apply::score_matrix(&scorer, &video.range(rows.clone()), &audio.range(rows), &mut Silent)?;
        let ranks = eval::true_ranks(&scores, n, kind.higher_is_better());
        let (sum, count) = loss::group_loss(loss_kind, &cfg.loss, &scores, n);
        slots.fill(g, range.start, &ranks, sum, count);
    }
    if let Some(g) = group {
        slots.all_reduce(g)?;
    }
    Ok(slots.result())
}

/// Every clip's true rank, then each group's loss sum and term count, as `f64`s: integers
/// this small and the sums are exact in them.
struct Slots {
    clips: usize,
    values: Vec<f64>,
}

impl Slots {
    fn new(clips: usize, groups: usize) -> Slots {
        Slots { clips, values: vec![0.0; clips + 2 * groups] }
    }

    fn fill(&mut self, group: usize, first: usize, ranks: &[usize], loss: f64, terms: usize) {
        for (slot, &r) in self.values[first..first + ranks.len()].iter_mut().zip(ranks) {
            *slot = r as f64;
        }
        self.values[self.clips + 2 * group] = loss;
        self.values[self.clips + 2 * group + 1] = terms as f64;
    }

    fn all_reduce(&mut self, group: &Group) -> Result<(), DistError> {
        let what = "sharing the evaluation's scores";
        let torch = |e: tch::TchError| DistError { what: what.into(), message: crate::lower::torch_summary(&e) };
        let t = Tensor::f_from_slice(&self.values).map_err(torch)?;
        group.all_reduce(&[&t], false)?;
        self.values = Vec::<f64>::try_from(&t).map_err(torch)?;
        Ok(())
    }

    /// The ranking and the mean loss, summed in group order as one process sums them.
    fn result(&self) -> (Ranking, f64) {
        let ranks: Vec<usize> = self.values[..self.clips].iter().map(|&r| r as usize).collect();
        let (mut loss, mut terms) = (0.0, 0usize);
        for pair in self.values[self.clips..].chunks(2) {
            loss += pair[0];
            terms += pair[1] as usize;
        }
        (eval::ranking(&ranks), if terms == 0 { 0.0 } else { loss / terms as f64 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slots filled by two "ranks" and summed give what one process's slots give.
    #[test]
    fn slots_summed_over_ranks_are_one_processs() {
        let groups = [(0usize, vec![1usize, 3, 2], 0.25f64, 3usize), (3, vec![2, 1], 0.5, 2), (5, vec![1], 0.125, 1)];
        let mut whole = Slots::new(6, 3);
        let mut parts = [Slots::new(6, 3), Slots::new(6, 3)];
        for (g, (first, ranks, loss, terms)) in groups.iter().enumerate() {
            whole.fill(g, *first, ranks, *loss, *terms);
            parts[g % 2].fill(g, *first, ranks, *loss, *terms);
        }
        let summed: Vec<f64> = parts[0].values.iter().zip(&parts[1].values).map(|(a, b)| a + b).collect();
        assert_eq!(summed, whole.values);
        let (ranking, loss) = whole.result();
        assert_eq!(loss, 0.875 / 6.0);
        assert_eq!(ranking, eval::ranking(&[1, 3, 2, 2, 1, 1]));
    }
}
