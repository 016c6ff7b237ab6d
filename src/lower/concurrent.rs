//! Scoring the pairs of one call, or encoding the clips of one call, on several threads at
//! once, each running its kernels on one core.
//!
//! The joint part of a model like `final` is mostly small kernels (an LSTM step on a
//! batch of pairs is a `[P, 64] x [64, 256]` product), which libtorch's intra-op threads
//! barely speed up: oneDNN's LSTM took 88 µs a pair on one thread and 72 µs on two
//! (120 pairs, this project's 2-core machine). Scoring half the pairs on each of two
//! threads with one intra-op thread each uses both cores fully: a 30 x 30 evaluation of
//! `final` went from 221 to 166 ms (docs/performance.md). Towers with recurrent layers are
//! the same: 1,024 video clips of `two_tower` (a bidirectional GRU) took 439 ms on two
//! intra-op threads and 279 ms as two workers of 512 clips; its audio tower 364 -> 192 ms,
//! `final`'s towers 310 -> 234 and 197 -> 147 ms.
//!
//! libgomp hung when one thread ran an OpenMP team (libtorch with more than one intra-op
//! thread) while another thread ran libtorch kernels (seen with training's prefetch
//! threads and an earlier version of this); so while the workers run, every thread,
//! the caller included, has one intra-op thread, and no team exists. The caller's count
//! is restored when they are done. Only in evaluation (nothing is written to a shared
//! tensor: no running statistics, no dropout, no in-place update of an input) and without
//! gradients, on the CPU.

use super::joint::{Pairs, shares};
use super::{ENCODE_SLICE, Encoded, LowerError, Model, encode_slices_of};
use avc_lang::check::Tower;
use tch::{Device, Kind, Tensor};

/// Fewer pairs than this per thread are not worth a thread.
const MIN_PAIRS_PER_WORKER: i64 = 32;

/// How many threads to score `pairs` pairs on: the intra-op thread count, fewer for few
/// pairs; `None` for one (or on a GPU, or while gradients are recorded).
pub(super) fn pair_workers(model: &Model, pairs: i64) -> Option<i64> {
    workers(model, pairs / MIN_PAIRS_PER_WORKER)
}

/// How many threads to encode `clips` clips on: one slice of [`ENCODE_SLICE`] clips at
/// least per thread; `None` for one, as [`pair_workers`].
pub(super) fn encode_workers(model: &Model, clips: i64) -> Option<i64> {
    workers(model, encode_slices_of(clips))
}

/// The intra-op thread count, at most `most`, when that is 2 or more on the CPU and
/// gradients are not recorded.
fn workers(model: &Model, most: i64) -> Option<i64> {
    if model.device() != Device::Cpu {
        return None;
    }
    let workers = i64::from(tch::get_num_threads()).min(most);
    (workers >= 2 && !grad_enabled()).then_some(workers)
}

/// Whether libtorch records gradients on this thread (a computed value then requires them).
fn grad_enabled() -> bool {
    let probe = Tensor::zeros([1], (Kind::Float, Device::Cpu)).set_requires_grad(true);
    probe.f_mul_scalar(1.0).is_ok_and(|t| t.requires_grad())
}

/// What the workers read, shared between them: the model, the clips or the encodings and
/// the pairs' rows.
struct ReadOnly<T>(T);

// SAFETY: the workers only read the model's weights, the clips, the encodings and the
// pairs' rows: evaluation updates no running statistics, draws no dropout mask, and no
// layer has interior mutability or updates an input in place (the split recurrence updates
// only tensors it created). libtorch tensors may be read from several threads at once; each
// worker creates its own tensors. The threads are scoped, so the references outlive them.
unsafe impl<T> Sync for ReadOnly<T> {}

impl<T> ReadOnly<T> {
    /// Through a method, so closures capture the wrapper and not its fields.
    fn get(&self) -> &T {
        &self.0
    }
}

/// `job(k)` for every `k < workers`, each on a thread of its own with one intra-op thread
/// while this thread waits with one too; the results in order. A job's panic is resumed here.
fn on_workers<R: Send>(workers: i64, job: impl Fn(usize) -> R + Sync) -> Vec<R> {
    let threads = tch::get_num_threads();
    tch::set_num_threads(1);
    let results: Vec<_> = std::thread::scope(|scope| {
        let job = &job;
        let handles: Vec<_> = (0..workers as usize)
            .map(|k| {
                scope.spawn(move || {
                    tch::set_num_threads(1);
                    let _no_grad = tch::no_grad_guard();
                    job(k)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    tch::set_num_threads(threads);
    results.into_iter().map(|r| r.unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
}

impl Model {
    /// [`Model::score_pairs`] in evaluation on `workers` threads, each scoring a
    /// contiguous share of the pairs; the outputs joined in order.
    pub(super) fn score_concurrently(&self, pairs: &Pairs, workers: i64) -> Result<Vec<Vec<Tensor>>, LowerError> {
        let torch = |error| LowerError::Torch { node: "pairs".into(), error };
        let mut rows = Vec::with_capacity(workers as usize);
        for (start, len) in shares(pairs.len(), workers) {
            let video_rows = pairs.video_rows.f_narrow(0, start, len).map_err(torch)?;
            rows.push((video_rows, pairs.audio_rows.f_narrow(0, start, len).map_err(torch)?));
        }
        let shared = ReadOnly((self, pairs, rows));
        let scored = on_workers(workers, |k| {
            let (model, pairs, rows) = shared.get();
            let (video_rows, audio_rows) = &rows[k];
            // Autocast is per thread: each worker enters the model's region itself.
            let _cast = model.autocast()?;
            model.score_sliced(&Pairs { video_rows, audio_rows, ..**pairs }, false)
        });
        self.join_slices(scored.into_iter().collect::<Result<_, _>>()?)
    }

    /// Evaluation's encodings of `clips` on `workers` threads, each encoding a contiguous
    /// run of whole slices; every slice's encoding, in order (the same slices as on one
    /// thread).
    pub(super) fn encode_concurrently(
        &self,
        tower: Tower,
        clips: &Tensor,
        lengths: Option<&Tensor>,
        levels: Option<&[f32; 256]>,
        workers: i64,
    ) -> Result<Vec<Encoded>, LowerError> {
        let torch = |error| LowerError::Torch { node: format!("{} clips", tower.label()), error };
        let n = clips.size().first().copied().unwrap_or(0);
        let slices = encode_slices_of(n);
        let mut runs = Vec::with_capacity(workers as usize);
        for (first, count) in shares(slices, workers) {
            let start = first * ENCODE_SLICE;
            let len = (count * ENCODE_SLICE).min(n - start);
            let run_lengths = lengths.map(|l| l.f_narrow(0, start, len)).transpose().map_err(torch)?;
            runs.push((clips.f_narrow(0, start, len).map_err(torch)?, run_lengths));
        }
        let shared = ReadOnly((self, runs));
        let encoded = on_workers(workers, |k| {
            let (model, runs) = shared.get();
            let _cast = model.autocast()?;
            model.encode_slices(tower, &runs[k].0, runs[k].1.as_ref(), levels)
        });
        let mut parts = Vec::with_capacity(slices as usize);
        for run in encoded {
            parts.extend(run?);
        }
        Ok(parts)
    }
}
