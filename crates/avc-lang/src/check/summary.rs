//! The summary table `avc check` prints: one row per node in topological order, computed
//! from the checker's side tables alone (no data, no tensors).

use super::{CheckError, Checked};
use crate::diag::{Align, pad, shorten};
use crate::ir::{Graph, NodeKind};

const COLUMNS: usize = 7;
/// Widest cell shown whole; longer ones (generated names, say) lose their middle.
const MAX_CELL: usize = 80;

/// Renders the table. Nodes whose shape could not be inferred show why: `error` for the
/// failing node itself, `-` for nodes after it, so the user sees where shapes went wrong.
pub fn render_table(graph: &Graph, checked: &Checked) -> String {
    let failed: Vec<&str> = checked
        .errors
        .iter()
        .filter_map(|e| match e {
            CheckError::Shape { node, .. } | CheckError::Overflow { node, .. } => Some(node.as_str()),
            _ => None,
        })
        .collect();
    let mut rows =
        vec![["node", "op", "tower", "output shape", "arguments", "params", "MACs/sample"].map(String::from)];
    for &id in graph.topo() {
        let node = graph.node(id);
        let args = match &node.kind {
            NodeKind::Input { stream, .. } if *stream != node.name => format!("stream={stream}"),
            NodeKind::Input { .. } => String::new(),
            NodeKind::Op(op) => match node.shares {
                Some(owner) => format!("{} share={}", op.describe(), graph.node(owner).name).trim().to_string(),
                None => op.describe(),
            },
        };
        let shape = match checked.shape(id) {
            Some(s) => s.to_string(),
            None if failed.contains(&node.name.as_str()) => "error (see below)".into(),
            None => "-".into(),
        };
        let params = if checked.shape(id).is_some() { group(checked.params[id.index()]) } else { "-".into() };
        let macs = match (checked.shape(id), checked.macs[id.index()]) {
            (Some(_), Some(m)) => group(m),
            (Some(_), None) => "?".into(),
            (None, _) => "-".into(),
        };
        let tower = checked.tower(id).label().to_string();
        rows.push([node.name.clone(), node.op_name().to_string(), tower, shape, args, params, macs]);
    }
    let total_macs = checked.total_macs().map_or("?".to_string(), group);
    let blank = String::new;
    rows.push(["total".into(), blank(), blank(), blank(), blank(), group(checked.total_params()), total_macs]);
    let mut out = layout(&rows);
    // With several outputs (or a loss weight set), each line says what the output is for:
    // the first ranks in evaluation; each trains with its loss and weight, or not at all.
    let cfg = crate::settings::TrainConfig::resolve(&graph.train, &[]).ok();
    let roles = graph.outputs.len() > 1 || cfg.as_ref().is_some_and(|c| !c.loss_weights.is_empty());
    for (k, o) in graph.outputs.iter().enumerate() {
        let from: Vec<String> = o.from.iter().map(|&id| graph.node(id).name.clone()).collect();
        out.push_str(&format!("output `{}`: {} from {}", o.name, o.kind.keyword(), from.join(", ")));
        if let (true, Some(cfg)) = (roles, &cfg) {
            let weight = cfg.loss_weight(&o.name);
            let loss = cfg.loss.for_output(o.kind).name();
            let trains = match weight {
                0.0 => "not trained (loss weight 0)".to_string(),
                1.0 => format!("trains with {loss}"),
                w => format!("trains with {loss} x {w}"),
            };
            out.push_str(&format!("; {trains}{}", if k == 0 { "; ranks in evaluation" } else { "" }));
        }
        out.push('\n');
    }
    out.push_str(&super::factor::notes(graph, checked));
    out
}

/// Aligns columns: text left, numbers right; a rule under the header and above the total.
/// A cell longer than [`MAX_CELL`] characters is shortened in its middle.
fn layout(rows: &[[String; COLUMNS]]) -> String {
    let rows: Vec<[String; COLUMNS]> =
        rows.iter().map(|r| r.clone().map(|cell| shorten(&cell, MAX_CELL).into_owned())).collect();
    let widths: Vec<usize> =
        (0..COLUMNS).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let rule: String = widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  ");
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        if i == rows.len() - 1 {
            out.push_str(&rule);
            out.push('\n');
        }
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, text)| pad(text, widths[c], if c >= COLUMNS - 2 { Align::Right } else { Align::Left }))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
        if i == 0 {
            out.push_str(&rule);
            out.push('\n');
        }
    }
    out
}

/// `1234567` -> `1,234,567`.
pub fn group(n: i64) -> String {
    let digits = n.abs().to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 { format!("-{out}") } else { out }
}
