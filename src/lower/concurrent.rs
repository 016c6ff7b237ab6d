//! Scoring the pairs of one call on several threads at once, each running its kernels on
//! one core.
//!
//! The joint part of a model like `final` is mostly small kernels (an LSTM step on a
//! batch of pairs is a `[P, 64] x [64, 256]` product), which libtorch's intra-op threads
//! barely speed up: oneDNN's LSTM took 88 µs a pair on one thread and 72 µs on two
//! (120 pairs, this project's 2-core machine). Scoring half the pairs on each of two
//! threads with one intra-op thread each uses both cores fully: a 30 x 30 evaluation of
//! `final` went from 221 to 166 ms (docs/performance.md).
//!
//! libgomp hung when one thread ran an OpenMP team (libtorch with more than one intra-op
//! thread) while another thread ran libtorch kernels (seen with training's prefetch
//! threads and an earlier version of this); so while the workers run, every thread,
//! the caller included, has one intra-op thread, and no team exists. The caller's count
//! is restored when they are done. Only in evaluation (nothing is written to a shared
//! tensor: no running statistics, no dropout, no in-place update of an input) and without
//! gradients, on the CPU.

use super::joint::{Pairs, shares};
use super::{LowerError, Model};
use tch::{Device, Kind, Tensor};

/// Fewer pairs than this per thread are not worth a thread.
const MIN_PAIRS_PER_WORKER: i64 = 32;

/// How many threads to score `pairs` pairs on: the intra-op thread count, fewer for few
/// pairs; `None` for one (or on a GPU, or while gradients are recorded).
///
/// Only pairs: encoding the clips of a tower on two threads of one intra-op thread each was
/// no faster than on two intra-op threads (1,024 video clips of `final`: 317-393 ms against
/// 341-373 ms; 30 clips: 10 ms slower), its kernels being large enough to share.
pub(super) fn pair_workers(model: &Model, pairs: i64) -> Option<i64> {
    if model.device() != Device::Cpu {
        return None;
    }
    let workers = i64::from(tch::get_num_threads()).min(pairs / MIN_PAIRS_PER_WORKER);
    (workers >= 2 && !grad_enabled()).then_some(workers)
}

/// Whether libtorch records gradients on this thread (a computed value then requires them).
fn grad_enabled() -> bool {
    let probe = Tensor::zeros([1], (Kind::Float, Device::Cpu)).set_requires_grad(true);
    probe.f_mul_scalar(1.0).is_ok_and(|t| t.requires_grad())
}

/// What the workers read, shared between them: the model, the encodings, the pairs' rows.
struct ReadOnly<T>(T);

// SAFETY: the workers only read the model's weights, the encodings and the pairs' rows:
// evaluation updates no running statistics, draws no dropout mask, and no layer has
// interior mutability or updates an input in place (the split recurrence updates only
// tensors it created). libtorch tensors may be read from several threads at once; each
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
            model.score_sliced(&Pairs { video_rows, audio_rows, ..**pairs }, false)
        });
        self.join_slices(scored.into_iter().collect::<Result<_, _>>()?)
    }
}
