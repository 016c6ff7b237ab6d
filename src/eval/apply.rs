//! Applying a trained run: its architecture copy lowered, a checkpoint's weights loaded
//! tensor by tensor, and test clips scored in both directions under both protocols.

use super::EvalError;
use super::engine::{Cost, Observer, Scorer, Stream, tower_macs};
use super::metrics::Bootstrap;
use super::protocol::{Direction, DirectionResult, Oriented, read_direction};
use crate::data::Clips;
use crate::lower::{self, Model};
use crate::run::open::OpenedRun;
use crate::run::{self, checkpoint::Checkpoint};
use crate::train::DataSource;
use avc_lang::ast::OutputKind;
use avc_lang::check::Tower;
use std::path::{Path, PathBuf};
use tch::Device;

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
    let (v, a) = streams(clips);
    let scores = score_matrix(scorer, &v, &a, obs)?;
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
    Ok(eval)
}
