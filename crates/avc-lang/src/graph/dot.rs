//! Graphviz DOT: one `subgraph cluster_<instance>` per block instance (nested as the
//! instances are), boxes filled by tower, edges labelled with their shapes.

use super::{Child, NodeRole, Scene, palette};
use crate::check::Checked;
use crate::ir::Graph;
use std::fmt::Write;

/// A quoted DOT string; line breaks become `\n`.
fn quote(text: &str) -> String {
    let mut out = String::from("\"");
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Draws the graph as a Graphviz `digraph`.
pub fn to_dot(graph: &Graph, checked: &Checked) -> String {
    dot_of(&Scene::new(graph, checked))
}

pub(crate) fn dot_of(scene: &Scene) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "digraph avc {{");
    let _ = writeln!(
        s,
        "  graph [label={}, labelloc=t, fontname=\"monospace\", rankdir=TB, nodesep=0.3, ranksep=0.35];",
        quote(&scene.title)
    );
    s.push_str("  node [shape=box, style=\"rounded,filled\", fontname=\"monospace\", fontsize=10];\n");
    s.push_str("  edge [fontname=\"monospace\", fontsize=9, fontcolor=\"#374151\"];\n");
    let towers: Vec<String> =
        super::TOWERS[..3].iter().map(|&t| format!("{} {}", t.label(), palette(t).fill)).collect();
    let _ = writeln!(s, "  // towers: {}; inputs bold, outputs double octagons", towers.join(", "));
    emit(scene, &scene.children(), None, 1, &mut s);
    let inputs: Vec<String> = scene.nodes.iter().filter(|n| n.role == NodeRole::Input).map(|n| quote(&n.id)).collect();
    if !inputs.is_empty() {
        let _ = writeln!(s, "  {{ rank=source; {}; }}", inputs.join("; "));
    }
    let outputs: Vec<String> =
        scene.nodes.iter().filter(|n| n.role == NodeRole::Output).map(|n| quote(&n.id)).collect();
    if !outputs.is_empty() {
        let _ = writeln!(s, "  {{ rank=sink; {}; }}", outputs.join("; "));
    }
    for e in &scene.edges {
        let _ = writeln!(
            s,
            "  {} -> {} [label={}, color={}];",
            quote(&scene.nodes[e.from].id),
            quote(&scene.nodes[e.to].id),
            quote(&format!(" {}", e.label)),
            quote(palette(e.tower).edge)
        );
    }
    s.push_str("}\n");
    s
}

/// Emits the nodes and clusters directly inside `level`, in order of first appearance.
fn emit(scene: &Scene, children: &[Vec<Child>], level: Option<usize>, depth: usize, s: &mut String) {
    let pad = "  ".repeat(depth);
    for &child in &children[level.map_or(0, |c| c + 1)] {
        match child {
            Child::Cluster(c) => {
                let cl = &scene.clusters[c];
                let p = palette(cl.tower);
                let _ = writeln!(s, "{pad}subgraph {} {{", quote(&format!("cluster_{}", cl.name)));
                let _ = writeln!(
                    s,
                    "{pad}  label={}; style=\"rounded,dashed,filled\"; fillcolor={}; color={}; fontcolor={};",
                    quote(&cl.name),
                    quote(p.cluster),
                    quote(p.stroke),
                    quote(p.text)
                );
                emit(scene, children, Some(c), depth + 1, s);
                let _ = writeln!(s, "{pad}}}");
            }
            Child::Node(i) => {
                let n = &scene.nodes[i];
                let p = palette(n.tower);
                let shape = match n.role {
                    NodeRole::Op => String::new(),
                    NodeRole::Input => ", style=\"rounded,filled,bold\", penwidth=2.5".into(),
                    NodeRole::Output => {
                        ", shape=doubleoctagon, style=filled, fillcolor=\"#fef3c7\", color=\"#b45309\"".into()
                    }
                };
                let colours = match n.role {
                    NodeRole::Output => String::new(),
                    _ => format!(", fillcolor={}, color={}", quote(p.fill), quote(p.stroke)),
                };
                let _ = writeln!(s, "{pad}{} [label={}{colours}{shape}];", quote(&n.id), quote(&n.lines.join("\n")));
            }
        }
    }
}
