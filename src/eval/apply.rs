//! Applying a trained run: its architecture copy lowered, a checkpoint's weights loaded
//! tensor by tensor, and test clips scored in both directions under both protocols.

use super::EvalError;
use super::engine::{Cost, Observer, Scorer, Stream, to_vec, tower_macs};
use super::metrics::Bootstrap;
use super::protocol::{Direction, DirectionResult, Oriented, read_direction};
use crate::data::Clips;
use crate::dist::Group;
use crate::lower::{self, Model};
use crate::run::open::OpenedRun;
use crate::run::{self, checkpoint::Checkpoint};
use crate::train::DataSource;
use avc_lang::ast::OutputKind;
use avc_lang::check::Tower;
use std::ops::Range;
use std::path::{Path, PathBuf};
use tch::{Device, Tensor};

/// A run opened for use: its compiled architecture and a checkpoint's weights in a model.
pub struct LoadedRun {
    pub dir: PathBuf,
    pub opened: OpenedRun,
    pub model: Model,
    /// `best` or `last`.
    pub checkpoint: String,
    /// The epoch the checkpoint was saved after.
    pub epoch: i64,
}

/// Opens `run`, lowers its architecture copy on `device` and loads checkpoint `which`
/// (`best` or `last`). A checkpoint whose tensors do not fit the graph is refused with every
/// difference listed.
pub fn load_run(run: &Path, which: &str, device: Device) -> Result<LoadedRun, EvalError> {
    let opened = crate::run::open::open_run(run).map_err(crate::train::TrainError::from)?;
    let model = lower::lower(&opened.compiled.graph, &opened.compiled.checked, device)?;
    let bad = |source: crate::report::Cause| EvalError::Checkpoint { run: run.display().to_string(), source };
    let dir = Checkpoint::locate(run, which).map_err(|e| bad(e.into()))?;
    let state = Checkpoint::read_state(&dir).map_err(|e| bad(e.into()))?;
    run::weights::load_exact(&model.vs, &dir.join(run::checkpoint::WEIGHTS)).map_err(|e| bad(e.into()))?;
    Ok(LoadedRun { dir: run.to_path_buf(), opened, model, checkpoint: which.to_string(), epoch: state.epoch })
}

impl LoadedRun {
    /// The test clips of `source` (or of the data the run trained on), checked against the
    /// model's inputs.
    pub fn test_clips(&self, source: Option<&DataSource>) -> Result<(Clips, String), EvalError> {
        let source = source.unwrap_or(&self.opened.data_source);
        let data = crate::data::expect::load(&self.opened.compiled, source)?;
        crate::data::expect::check(&self.opened.compiled, &data).map_err(crate::train::TrainError::from)?;
        if data.test.is_empty() {
            return Err(EvalError::Input(format!("the test split of {} has no clips", data.origin)));
        }
        Ok((data.test, data.origin))
    }

    /// A scorer for clips of `steps` steps under a memory budget.
    pub fn scorer(&self, budget: u64, steps: usize) -> Result<Scorer<'_>, EvalError> {
        Scorer::new(&self.model, budget, steps, tower_macs(&self.opened.compiled, &self.model.factored_nodes(false)))
    }
}

/// Both streams of paired clips, as the engine reads them.
pub fn streams(clips: &Clips) -> (Stream<'_>, Stream<'_>) {
    (
        Stream {
            ids: &clips.video_ids,
            data: &clips.video,
            steps: clips.video_steps,
            dim: clips.video_dim,
            lengths: &clips.lengths[0],
        },
        Stream {
            ids: &clips.audio_ids,
            data: &clips.audio,
            steps: clips.audio_steps,
            dim: clips.audio_dim,
            lengths: &clips.lengths[1],
        },
    )
}

/// The `[n, n]` score matrix of paired streams, row-major (video i, audio j), in the
/// direction of the first output: the one scoring path, used by `avc eval` and by
/// training's validation alike.
pub fn score_matrix(
    scorer: &Scorer,
    video: &Stream,
    audio: &Stream,
    obs: &mut dyn Observer,
) -> Result<Vec<f32>, EvalError> {
    let venc = scorer.encode(Tower::Video, video, obs)?;
    let aenc = scorer.encode(Tower::Audio, audio, obs)?;
    scorer.matrix(&venc, &aenc, obs)
}

/// The query rows of `n` that `rank` of `world` scores: whole blocks of the blocks one
/// process scores ([`Scorer::rows_per_block`]), near-equal contiguous runs of them in rank
/// order.
pub fn share(n: usize, rows_per_block: usize, rank: usize, world: usize) -> Range<usize> {
    let blocks = n.div_ceil(rows_per_block.max(1));
    let row = |b: usize| (b * rows_per_block).min(n);
    row(rank * blocks / world)..row((rank + 1) * blocks / world)
}

/// [`score_matrix`] with the video (query) rows divided between the ranks of `group`: each
/// rank scores its [`share`] of the rows against every audio, and rank 0 gathers the rows
/// (c10d's gather) and returns the whole matrix; the other ranks return `None`.
///
/// Every computation is one that one process makes too: a rank's rows are whole blocks of
/// one process's scoring, and its videos are encoded in the chunks one process encodes them
/// in (the chunks that hold its rows). So the scores are the same to the bit as one
/// process's with the same chunking (the same `--max-memory` and threads per process).
pub fn score_matrix_shared(
    scorer: &Scorer,
    video: &Stream,
    audio: &Stream,
    group: Option<&Group>,
    obs: &mut dyn Observer,
) -> Result<Option<Vec<f32>>, EvalError> {
    let Some(g) = group.filter(|g| g.world > 1) else {
        return score_matrix(scorer, video, audio, obs).map(Some);
    };
    let (n, m) = (video.len(), audio.len());
    let per_block = usize::try_from(scorer.rows_per_block(m as u64)).unwrap_or(usize::MAX);
    let shares: Vec<Range<usize>> = (0..g.world).map(|r| share(n, per_block, r, g.world)).collect();
    let rows = shares[g.rank].clone();
    let mut mine = Vec::with_capacity(rows.len() * m);
    if !rows.is_empty() {
        let chunk = scorer.encode_chunk(Tower::Video, video.steps).max(1);
        let span = rows.start / chunk * chunk..(rows.end.div_ceil(chunk) * chunk).min(n);
        let venc = scorer.encode(Tower::Video, &video.range(span.clone()), obs)?;
        let aenc = scorer.encode(Tower::Audio, audio, obs)?;
        let queries = (rows.start - span.start) as u64..(rows.end - span.start) as u64;
        scorer.for_blocks(&venc, &aenc, Direction::VideoToAudio, queries, obs, &mut |_, block| {
            mine.extend(to_vec(block)?);
            Ok(())
        })?;
    }
    // Gather takes one shape from every rank: the largest share, padded.
    let widest = shares.iter().map(|r| r.len() * m).max().unwrap_or(0).max(1);
    mine.resize(widest, 0.0);
    let Some(parts) = g.gather(&Tensor::f_from_slice(&mine)?, 0)? else { return Ok(None) };
    let mut out = Vec::with_capacity(n * m);
    for (rows, part) in shares.iter().zip(&parts) {
        let values = Vec::<f32>::try_from(part)?;
        out.extend_from_slice(values.get(..rows.len() * m).unwrap_or_default());
    }
    Ok(Some(out))
}

/// A square score matrix of paired test clips, read both ways.
pub struct Evaluation {
    pub video_ids: Vec<String>,
    pub audio_ids: Vec<String>,
    /// `scores[v * n + a]`, in the first output's own direction (see `kind`).
    pub scores: Vec<f32>,
    pub n: usize,
    pub kind: OutputKind,
    /// Video -> audio, then audio -> video.
    pub directions: Vec<DirectionResult>,
}

impl Evaluation {
    /// The matrix read in one direction.
    pub fn oriented(&self, direction: Direction) -> Oriented<'_> {
        Oriented { scores: &self.scores, n: self.n, direction, higher_is_better: self.kind.higher_is_better() }
    }
}

/// What scoring `clips` all against all will cost.
pub fn plan(scorer: &Scorer, clips: &Clips) -> Cost {
    let (v, a) = streams(clips);
    scorer.cost(&v, &a, (clips.len() * clips.len()) as u64)
}

/// Scores every test video against every test audio (towers once per clip, the joint part
/// per pair) and reads the matrix in both directions.
pub fn evaluate(
    scorer: &Scorer,
    clips: &Clips,
    boot: &Bootstrap,
    obs: &mut dyn Observer,
) -> Result<Evaluation, EvalError> {
    evaluate_shared(scorer, clips, boot, None, obs)?.ok_or(EvalError::NoOutput)
}

/// [`evaluate`] with the query rows divided between the ranks of `group`
/// ([`score_matrix_shared`]): the evaluation on rank 0, `None` on the others.
pub fn evaluate_shared(
    scorer: &Scorer,
    clips: &Clips,
    boot: &Bootstrap,
    group: Option<&Group>,
    obs: &mut dyn Observer,
) -> Result<Option<Evaluation>, EvalError> {
    let (v, a) = streams(clips);
    let Some(scores) = score_matrix_shared(scorer, &v, &a, group, obs)? else { return Ok(None) };
    let mut eval = Evaluation {
        video_ids: clips.video_ids.clone(),
        audio_ids: clips.audio_ids.clone(),
        scores,
        n: clips.len(),
        kind: scorer.kind(),
        directions: Vec::new(),
    };
    for d in [Direction::VideoToAudio, Direction::AudioToVideo] {
        let result = read_direction(&eval.oriented(d), boot);
        eval.directions.push(result);
    }
    Ok(Some(eval))
}
