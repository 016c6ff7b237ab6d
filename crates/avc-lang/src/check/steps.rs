//! Which streams' steps a value's time axis counts. A batch of clips of different lengths
//! is padded at each clip's end; a pooling over time (`mean`, `max`, `sum`, `softmax`,
//! `attention`) must then leave each clip's padded steps out, which needs to know whose
//! lengths apply to the axis it pools. Inputs count their stream's steps; an op whose
//! [`Steps`] keeps them passes that on when its output has the same length as the input;
//! anything else (a reduction, a reshape, `flip`, a strided window) ends it, and a pooling
//! of such a value is not masked.

use super::Checked;
use crate::ir::{Graph, NodeKind};
use crate::ops::Steps;
use crate::shape::Shape;

/// The streams whose steps a value's axis 1 counts: none, the video's, the audio's, or
/// both (per-step values of both streams joined, which the shorter clip bounds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StepStreams {
    pub video: bool,
    pub audio: bool,
}

impl StepStreams {
    pub fn any(self) -> bool {
        self.video || self.audio
    }

    fn union(self, other: StepStreams) -> StepStreams {
        StepStreams { video: self.video || other.video, audio: self.audio || other.audio }
    }
}

/// Per node (by index), the streams whose steps its axis 1 counts.
pub fn step_streams(graph: &Graph, checked: &Checked) -> Vec<StepStreams> {
    let mut out = vec![StepStreams::default(); graph.len()];
    for &id in graph.topo() {
        let Some(shape) = checked.shape(id).filter(|s| is_sequence(s)) else { continue };
        out[id.index()] = match &graph.node(id).kind {
            NodeKind::Input { stream, .. } => StepStreams { video: stream == "video", audio: stream == "audio" },
            NodeKind::Op(op) => {
                let inputs = graph.inputs_of(id);
                let kept: Vec<usize> = match op.steps() {
                    Steps::Kept => (0..inputs.len()).collect(),
                    Steps::KeptFrom(k) => vec![k],
                    Steps::Other => Vec::new(),
                };
                // Every sequence input of the output's length must count known steps; inputs
                // of another length (a broadcast `[B, 1, F]`) or without a batch do not take part.
                let mut streams = StepStreams::default();
                let mut known = !kept.is_empty();
                for k in kept {
                    let Some(&input) = inputs.get(k) else { continue };
                    let same_length =
                        checked.shape(input).is_some_and(|s| is_sequence(s) && s.dims().get(1) == shape.dims().get(1));
                    if same_length {
                        let of = out[input.index()];
                        known &= of.any();
                        streams = streams.union(of);
                    }
                }
                if known { streams } else { StepStreams::default() }
            }
        };
    }
    out
}

/// A batched value with a time axis: `[B, T, ...]`.
fn is_sequence(shape: &Shape) -> bool {
    shape.rank() >= 3 && crate::ops::arith::is_batched(shape)
}
