//! What can go wrong applying a trained model.

use crate::lower::LowerError;
use crate::report::{Cause, Place, Report};

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Model(#[from] LowerError),
    #[error("libtorch failed while scoring: {}", crate::lower::torch_summary(.0))]
    Torch(#[from] tch::TchError),
    #[error("the model has no output to rank by")]
    NoOutput,
    #[error("no {0} clips to score")]
    Empty(&'static str),
    #[error("stopped by Ctrl-C before the scores were complete; nothing was written")]
    Interrupted,
    /// Opening the run or loading its data failed.
    #[error(transparent)]
    Run(Box<crate::train::TrainError>),
    #[error("{run}: {source}")]
    Checkpoint {
        run: String,
        #[source]
        source: crate::report::Cause,
    },
    /// A list of ids, a flag or a data set that cannot be used (exit code 2 for flags and
    /// files, as for any usage error).
    #[error("{0}")]
    Input(String),
    #[error(
        "the videos have {video} steps per clip but the audios {audio} ({} {}), and the model's inputs share one \
         length symbol; give each input its own (e.g. `[Tv, ...]` and `[Ta, ...]`) if the streams have different \
         frame rates",
        video.abs_diff(*audio),
        if audio > video { "more" } else { "fewer" }
    )]
    Lengths { video: usize, audio: usize },
    /// Another rank of a job, or the job's collectives, failed.
    #[error(transparent)]
    Dist(#[from] crate::dist::DistError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: crate::report::Cause,
    },
}

impl From<crate::train::TrainError> for EvalError {
    fn from(e: crate::train::TrainError) -> Self {
        EvalError::Run(Box::new(e))
    }
}

impl From<crate::data::DataError> for EvalError {
    fn from(e: crate::data::DataError) -> Self {
        EvalError::Run(Box::new(e.into()))
    }
}

impl EvalError {
    /// A failed write of `path`.
    pub fn write(path: impl std::fmt::Display, source: impl Into<Cause>) -> EvalError {
        EvalError::Write { path: path.to_string(), source: source.into() }
    }
}

impl Report for EvalError {
    /// 130 for Ctrl-C, 2 for bad input files and flags and for writing, 1 for everything
    /// about the model and its data.
    fn exit_code(&self) -> u8 {
        match self {
            EvalError::Interrupted => 130,
            EvalError::Input(_) | EvalError::Write { .. } => 2,
            _ => 1,
        }
    }

    fn place(&self) -> Option<Place> {
        match self {
            EvalError::Run(e) => e.place(),
            EvalError::Checkpoint { run, .. } => Some(Place::Run(run.into())),
            EvalError::Write { path, .. } => Some(Place::Path(path.into())),
            _ => None,
        }
    }
}
