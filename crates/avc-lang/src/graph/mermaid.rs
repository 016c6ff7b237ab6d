//! Mermaid `flowchart`: block instances as nested `subgraph`s, inputs as stadiums,
//! outputs as hexagons, classes by tower, edges labelled with their shapes.

use super::{Child, NodeRole, Scene, TOWERS, palette};
use crate::check::Checked;
use crate::ir::Graph;
use std::fmt::Write;

/// Text inside a quoted Mermaid label.
fn escape(text: &str) -> String {
    let mut out = String::new();
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '#' => out.push_str("#35;"),
            c => out.push(c),
        }
    }
    out
}

/// Draws the graph as a Mermaid flowchart.
pub fn to_mermaid(graph: &Graph, checked: &Checked) -> String {
    mermaid_of(&Scene::new(graph, checked))
}

pub(crate) fn mermaid_of(scene: &Scene) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "---\ntitle: \"{}\"\n---", escape(&scene.title));
    s.push_str("flowchart TB\n");
    for t in TOWERS {
        let p = palette(t);
        let _ = writeln!(s, "  classDef {} fill:{},stroke:{},color:{}", t_class(t), p.fill, p.stroke, p.text);
    }
    s.push_str("  classDef input stroke-width:3px\n");
    s.push_str("  classDef output fill:#fef3c7,stroke:#b45309,color:#78350f,stroke-width:2px\n");
    emit(scene, &scene.children(), None, 1, &mut s);
    for e in &scene.edges {
        let _ = writeln!(s, "  n{} -->|\"{}\"| n{}", e.from, escape(&e.label), e.to);
    }
    for (k, e) in scene.edges.iter().enumerate() {
        let _ = writeln!(s, "  linkStyle {k} stroke:{}", palette(e.tower).edge);
    }
    for (c, cl) in scene.clusters.iter().enumerate() {
        let p = palette(cl.tower);
        let _ = writeln!(s, "  style c{c} fill:{},stroke:{},stroke-dasharray:5 3", p.cluster, p.stroke);
    }
    s
}

fn t_class(t: crate::check::Tower) -> &'static str {
    match t {
        crate::check::Tower::Other => "other",
        t => t.label(),
    }
}

fn emit(scene: &Scene, children: &[Vec<Child>], level: Option<usize>, depth: usize, s: &mut String) {
    let pad = "  ".repeat(depth);
    for &child in &children[level.map_or(0, |c| c + 1)] {
        match child {
            Child::Cluster(c) => {
                let _ = writeln!(s, "{pad}subgraph c{c}[\"{}\"]", escape(&scene.clusters[c].name));
                emit(scene, children, Some(c), depth + 1, s);
                let _ = writeln!(s, "{pad}end");
            }
            Child::Node(i) => {
                let n = &scene.nodes[i];
                let label: Vec<String> = n.lines.iter().map(|l| escape(l)).collect();
                let label = label.join("<br/>");
                let class = t_class(n.tower);
                let _ = match n.role {
                    NodeRole::Op => writeln!(s, "{pad}n{i}[\"{label}\"]:::{class}"),
                    NodeRole::Input => writeln!(s, "{pad}n{i}([\"{label}\"]):::{class}\n{pad}class n{i} input"),
                    NodeRole::Output => writeln!(s, "{pad}n{i}{{{{\"{label}\"}}}}:::output"),
                };
            }
        }
    }
}
