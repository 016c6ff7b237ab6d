//! A canonical text of a checked graph: every node (name, typed op with all parameters,
//! inferred shape, parameter count), every edge with its slot, the outputs and the train
//! settings. Two graphs are the same model exactly when their fingerprints are equal; a
//! line diff shows where they differ. Used to test that both front-ends and `avc fmt`
//! agree.

use super::Checked;
use crate::ir::{Graph, NodeKind};
use std::fmt::Write;

pub fn fingerprint(graph: &Graph, checked: &Checked) -> String {
    let mut out = String::new();
    for &id in graph.topo() {
        let node = graph.node(id);
        let op = match &node.kind {
            NodeKind::Input { stream, shape } => format!("input stream={stream} shape={shape}"),
            NodeKind::Op(op) => format!("{op:?}"),
        };
        let shape = checked.shape(id).map_or("?".to_string(), |s| s.to_string());
        let inputs: Vec<&str> = graph.inputs_of(id).iter().map(|&i| graph.node(i).name.as_str()).collect();
        let _ = writeln!(
            out,
            "node {} = {op} <- [{}] : {shape} params={}",
            node.name,
            inputs.join(", "),
            checked.params[id.index()]
        );
    }
    for o in &graph.outputs {
        let from: Vec<&str> = o.from.iter().map(|&i| graph.node(i).name.as_str()).collect();
        let _ = writeln!(out, "output {} {} <- [{}]", o.name, o.kind.keyword(), from.join(", "));
    }
    for s in &graph.train {
        let _ = writeln!(out, "train {} = {} ({})", s.key.name, s.value, s.value.kind.type_name());
    }
    out
}
