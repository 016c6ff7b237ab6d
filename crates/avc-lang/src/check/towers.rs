//! Tower analysis: which data streams each node depends on. A node that depends only on
//! the video (or only on the audio) belongs to that modality's tower and can be computed
//! once per clip; only joint nodes must run once per (video, audio) pair. Evaluation and
//! training use this to avoid recomputing towers for every pair.

use crate::ir::{Graph, NodeKind};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tower {
    /// Depends on the video stream only.
    Video,
    /// Depends on the audio stream only.
    Audio,
    /// Depends on both: computed per pair.
    Joint,
    /// Depends on no stream (or on a stream that is neither video nor audio).
    Other,
}

impl Tower {
    fn of_stream(stream: &str) -> Tower {
        match stream {
            "video" => Tower::Video,
            "audio" => Tower::Audio,
            _ => Tower::Other,
        }
    }

    /// The tower of a node reading inputs from `a` and `b`.
    fn join(a: Tower, b: Tower) -> Tower {
        match (a, b) {
            (x, y) if x == y => x,
            (Tower::Other, x) | (x, Tower::Other) => x,
            _ => Tower::Joint,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Tower::Video => "video",
            Tower::Audio => "audio",
            Tower::Joint => "joint",
            Tower::Other => "-",
        }
    }
}

/// The tower of every node, indexed by node id. A node of no stream (a learned tensor,
/// `param`, and arithmetic on learned tensors only) belongs to the tower of the nodes that
/// read it when they agree (a `param` read only by the video tower is the video tower's);
/// read from several towers it stays `Other`, and the lowering computes it wherever it is
/// read.
pub fn towers(graph: &Graph) -> Vec<Tower> {
    let mut out = streams(graph);
    let mut readers: Vec<Vec<usize>> = vec![Vec::new(); graph.len()];
    for &id in graph.topo() {
        for i in graph.inputs_of(id) {
            readers[i.index()].push(id.index());
        }
    }
    for &id in graph.topo().iter().rev() {
        let k = id.index();
        if out[k] != Tower::Other || matches!(graph.node(id).kind, NodeKind::Input { .. }) {
            continue;
        }
        let mut of_readers = readers[k].iter().map(|&r| out[r]);
        if let Some(first) = of_readers.next()
            && of_readers.all(|t| t == first)
        {
            out[k] = first;
        }
    }
    out
}

/// The tower of every node from the streams it reads.
fn streams(graph: &Graph) -> Vec<Tower> {
    let mut out = vec![Tower::Other; graph.len()];
    for &id in graph.topo() {
        out[id.index()] = match &graph.node(id).kind {
            NodeKind::Input { stream, .. } => Tower::of_stream(stream),
            NodeKind::Op(_) => graph.inputs_of(id).iter().fold(Tower::Other, |acc, i| Tower::join(acc, out[i.index()])),
        };
    }
    out
}
