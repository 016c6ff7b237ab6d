//! Pictures of a compiled model: Graphviz DOT, Mermaid, and an SVG that avc lays out and
//! draws itself (no external program).
//!
//! All three are drawn from the same [`Scene`]: one box per IR node (name, op, output
//! shape, parameter count), one marker per declared output, edges labelled with the
//! tensor shape they carry, block instances as nested clusters, and every node coloured
//! by its tower (video, audio, joint). The output is deterministic, so it can be
//! snapshotted.

mod dot;
pub mod layout;
mod mermaid;
mod svg;

pub use dot::to_dot;
pub use layout::{Layout, layout, layout_with};
pub use mermaid::to_mermaid;
pub use svg::to_svg;

use crate::check::{Checked, Tower, render_count};
use crate::ir::{Graph, NodeKind};
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// The picture formats `avc graph` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PictureFormat {
    Svg,
    Dot,
    Mermaid,
}

impl PictureFormat {
    pub const ALL: [(&'static str, PictureFormat); 3] =
        [("svg", PictureFormat::Svg), ("dot", PictureFormat::Dot), ("mermaid", PictureFormat::Mermaid)];

    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            PictureFormat::Svg => "svg",
            PictureFormat::Dot => "dot",
            PictureFormat::Mermaid => "mmd",
        }
    }

    /// The comment line `avc graph` puts first in the files it writes, so that a later
    /// drawing may replace the file without `--force` and nothing else is replaced.
    pub fn signature(self) -> &'static str {
        match self {
            PictureFormat::Svg => "<!-- drawn by avc graph -->",
            PictureFormat::Dot => "// drawn by avc graph",
            PictureFormat::Mermaid => "%% drawn by avc graph",
        }
    }

    /// The format a file name asks for by its extension (`g.svg`, `g.dot`, `g.gv`,
    /// `g.mmd`, `g.mermaid`), if any.
    pub fn from_path(path: &std::path::Path) -> Option<PictureFormat> {
        path.extension().and_then(|e| e.to_str()).and_then(|e| e.parse().ok())
    }
}

impl fmt::Display for PictureFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = Self::ALL.iter().find(|(_, p)| p == self).map_or("?", |(w, _)| w);
        f.write_str(word)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown picture format `{0}`; expected one of: svg, dot (or gv), mermaid (or mmd)")]
pub struct UnknownFormat(pub String);

impl FromStr for PictureFormat {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "svg" => Ok(PictureFormat::Svg),
            "dot" | "gv" => Ok(PictureFormat::Dot),
            "mermaid" | "mmd" => Ok(PictureFormat::Mermaid),
            _ => Err(UnknownFormat(s.to_string())),
        }
    }
}

/// The kind of file `avc graph` writes: one whose first line is a format's signature.
pub const PICTURE: crate::output::FileKind = crate::output::FileKind {
    name: "a picture",
    recognise: Some(|head| {
        let first = head.split(|&b| b == b'\n').next().unwrap_or_default();
        PictureFormat::ALL.iter().any(|(_, f)| first == f.signature().as_bytes())
    }),
};

/// Draws the graph in the given format.
pub fn render(graph: &Graph, checked: &Checked, format: PictureFormat) -> String {
    render_with(graph, checked, format, Drawing::default())
}

/// How much of the graph a picture shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drawing {
    /// Each top-level block instance as one box (`avc graph --collapse`): a Conformer of
    /// 200 nodes is a dozen boxes, its blocks' insides drawn once each in their own file.
    pub collapse: bool,
}

/// [`render`], drawn as `drawing` asks.
pub fn render_with(graph: &Graph, checked: &Checked, format: PictureFormat, drawing: Drawing) -> String {
    let mut scene = Scene::new(graph, checked);
    if drawing.collapse {
        scene = scene.collapsed();
    }
    match format {
        PictureFormat::Svg => svg::svg_of(&scene),
        PictureFormat::Dot => dot::dot_of(&scene),
        PictureFormat::Mermaid => mermaid::mermaid_of(&scene),
    }
}

/// How a box is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeRole {
    /// A model input (a data stream).
    Input,
    /// An op node.
    Op,
    /// A declared output (`graph.outputs`), drawn as its own marker node.
    Output,
}

/// One box of a picture.
#[derive(Debug, Clone)]
pub(crate) struct SceneNode {
    /// The IR node's name, or the output's name.
    pub name: String,
    /// A stable identifier: the node name, or `output:<name>` for outputs.
    pub id: String,
    pub role: NodeRole,
    pub tower: Tower,
    /// Text lines: name, op, shape, parameters (outputs: name, kind).
    pub lines: Vec<String>,
    /// The innermost block instance the node belongs to.
    pub cluster: Option<usize>,
    /// Parameters it owns (for a collapsed block: all of its nodes').
    pub params: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct SceneEdge {
    pub from: usize,
    pub to: usize,
    /// The shape of the tensor flowing along the edge.
    pub label: String,
    /// The producer's tower.
    pub tower: Tower,
}

/// A block instance: every node whose `instance` chain contains `name`.
#[derive(Debug, Clone)]
pub(crate) struct SceneCluster {
    /// The instance's full dotted name (`outer.inner`).
    pub name: String,
    pub parent: Option<usize>,
    pub tower: Tower,
}

/// Everything a picture shows, in a stable order: nodes in topological order, then the
/// outputs; clusters in order of first appearance; edges by consumer, then input slot.
#[derive(Debug, Clone)]
pub(crate) struct Scene {
    pub title: String,
    pub nodes: Vec<SceneNode>,
    pub edges: Vec<SceneEdge>,
    pub clusters: Vec<SceneCluster>,
}

impl Scene {
    pub fn new(graph: &Graph, checked: &Checked) -> Scene {
        let mut nodes = Vec::new();
        let mut clusters: Vec<SceneCluster> = Vec::new();
        let mut cluster_of: HashMap<String, usize> = HashMap::new();
        let mut scene_of = vec![usize::MAX; graph.len()];
        let mut shapes: Vec<String> = Vec::new();
        for &id in graph.topo() {
            let node = graph.node(id);
            let mut parent = None;
            for name in &node.instance {
                let c = *cluster_of.entry(name.clone()).or_insert_with(|| {
                    clusters.push(SceneCluster { name: name.clone(), parent, tower: Tower::Other });
                    clusters.len() - 1
                });
                parent = Some(c);
            }
            let shape = checked.shape(id).map_or("?".to_string(), |s| s.to_string());
            let (role, op) = match &node.kind {
                NodeKind::Input { stream, .. } if *stream != node.name => {
                    (NodeRole::Input, format!("input ({stream})"))
                }
                NodeKind::Input { .. } => (NodeRole::Input, "input".to_string()),
                NodeKind::Op(_) => (NodeRole::Op, node.op_name().to_string()),
            };
            let mut lines = vec![node.name.clone(), op];
            // The arguments that tell boxes apart (kernel, dilation, heads, out), as
            // `avc check`'s table shows them.
            if let NodeKind::Op(op) = &node.kind {
                lines.extend(wrap(&op.describe(), ARG_LINE_CHARS));
            }
            lines.push(shape.clone());
            shapes.push(shape);
            let params = checked.params.get(id.index()).copied().unwrap_or(0);
            if params != 0 {
                lines.push(format!("{} params", render_count(params)));
            }
            if let Some(owner) = node.shares {
                lines.push(format!("weights of {}", graph.node(owner).name));
            }
            scene_of[id.index()] = nodes.len();
            nodes.push(SceneNode {
                name: node.name.clone(),
                id: node.name.clone(),
                role,
                tower: checked.towers.get(id.index()).copied().unwrap_or(Tower::Other),
                lines,
                cluster: parent,
                params,
            });
        }
        let mut edges: Vec<(usize, usize, usize)> =
            graph.edges().map(|(from, to, slot)| (scene_of[to.index()], slot, scene_of[from.index()])).collect();
        edges.sort();
        let mut edges: Vec<SceneEdge> = edges
            .into_iter()
            .map(|(to, _, from)| SceneEdge { from, to, label: shapes[from].clone(), tower: nodes[from].tower })
            .collect();
        for out in &graph.outputs {
            let froms: Vec<usize> = out.from.iter().map(|id| scene_of[id.index()]).collect();
            let tower = froms.iter().fold(Tower::Other, |acc, &f| join(acc, nodes[f].tower));
            let index = nodes.len();
            nodes.push(SceneNode {
                name: out.name.clone(),
                id: format!("output:{}", out.name),
                role: NodeRole::Output,
                tower,
                lines: vec![out.name.clone(), format!("output: {}", out.kind.keyword())],
                cluster: None,
                params: 0,
            });
            for from in froms {
                edges.push(SceneEdge { from, to: index, label: shapes[from].clone(), tower: nodes[from].tower });
            }
        }
        // A cluster's tower: the join of its members' towers.
        for n in &nodes {
            let mut c = n.cluster;
            while let Some(i) = c {
                clusters[i].tower = join(clusters[i].tower, n.tower);
                c = clusters[i].parent;
            }
        }
        let file = std::path::Path::new(graph.source.name())
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or(graph.source.name())
            .to_string();
        let total = checked.total_params();
        let title = format!("{file}: {} nodes, {} params", graph.len(), render_count(total));
        Scene { title, nodes, edges, clusters }
    }

    /// The scene with each top-level block instance drawn as one box: its name, `block`,
    /// its result's shape and its parameters; edges into and out of it kept (once per pair
    /// of boxes), edges inside it dropped.
    pub fn collapsed(&self) -> Scene {
        let top = |n: &SceneNode| self.chain(n.cluster).first().copied();
        let mut nodes: Vec<SceneNode> = Vec::new();
        let mut new_of = vec![0usize; self.nodes.len()];
        let mut box_of_cluster: HashMap<usize, usize> = HashMap::new();
        let mut members: HashMap<usize, usize> = HashMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            match top(n) {
                None => {
                    new_of[i] = nodes.len();
                    nodes.push(SceneNode { cluster: None, ..n.clone() });
                }
                Some(c) => {
                    let index = *box_of_cluster.entry(c).or_insert_with(|| {
                        let name = self.clusters[c].name.clone();
                        nodes.push(SceneNode {
                            name: name.clone(),
                            id: name.clone(),
                            role: NodeRole::Op,
                            tower: self.clusters[c].tower,
                            lines: vec![name],
                            cluster: None,
                            params: 0,
                        });
                        nodes.len() - 1
                    });
                    new_of[i] = index;
                    *members.entry(index).or_default() += 1;
                    nodes[index].params += n.params;
                }
            }
        }
        let mut edges: Vec<SceneEdge> = Vec::new();
        for e in &self.edges {
            let (from, to) = (new_of[e.from], new_of[e.to]);
            if from != to && !edges.iter().any(|f| f.from == from && f.to == to) {
                edges.push(SceneEdge { from, to, ..e.clone() });
            }
        }
        for (&index, &count) in &members {
            // The shape a collapsed box gives: what its outgoing edges carry.
            let out = edges.iter().find(|e| e.from == index).map(|e| e.label.clone());
            let box_ = &mut nodes[index];
            box_.lines.push(format!("block, {count} nodes"));
            box_.lines.extend(out);
            if box_.params != 0 {
                box_.lines.push(format!("{} params", render_count(box_.params)));
            }
        }
        Scene { title: format!("{} (blocks collapsed)", self.title), nodes, edges, clusters: Vec::new() }
    }

    /// What lies directly inside each level, in order of first appearance: index 0 is the
    /// top, index `c + 1` cluster `c`. The text formats (DOT, Mermaid) write these,
    /// recursing into clusters. One pass over the nodes (each cluster is listed once, in
    /// its parent), so a picture with many block instances is not quadratic.
    pub fn children(&self) -> Vec<Vec<Child>> {
        let mut out = vec![Vec::new(); self.clusters.len() + 1];
        let mut listed = vec![false; self.clusters.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            let chain = self.chain(n.cluster);
            for (depth, &c) in chain.iter().enumerate() {
                if !std::mem::replace(&mut listed[c], true) {
                    let parent = if depth == 0 { 0 } else { chain[depth - 1] + 1 };
                    out[parent].push(Child::Cluster(c));
                }
            }
            out[chain.last().map_or(0, |&c| c + 1)].push(Child::Node(i));
        }
        out
    }

    /// The chain of clusters a node belongs to, outermost first.
    pub fn chain(&self, cluster: Option<usize>) -> Vec<usize> {
        let mut chain = Vec::new();
        let mut c = cluster;
        while let Some(i) = c {
            chain.push(i);
            c = self.clusters[i].parent;
        }
        chain.reverse();
        chain
    }
}

/// Arguments wrap at this many characters, so a box is about as wide as its shape line
/// (wide boxes push the towers' columns into each other).
const ARG_LINE_CHARS: usize = 18;

/// `text`'s words in lines of at most `width` characters (a longer word stands alone).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

/// An entry of [`Scene::children`]: an index into `nodes` or into `clusters`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Child {
    Node(usize),
    Cluster(usize),
}

/// The tower of something that reads from both `a` and `b`.
fn join(a: Tower, b: Tower) -> Tower {
    match (a, b) {
        (x, y) if x == y => x,
        (Tower::Other, x) | (x, Tower::Other) => x,
        _ => Tower::Joint,
    }
}

/// Colours of one tower: box fill, stroke, dark text, cluster background, edge.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Palette {
    pub fill: &'static str,
    pub stroke: &'static str,
    pub text: &'static str,
    pub cluster: &'static str,
    pub edge: &'static str,
}

pub(crate) fn palette(tower: Tower) -> Palette {
    match tower {
        Tower::Video => {
            Palette { fill: "#dbeafe", stroke: "#2563eb", text: "#1e3a8a", cluster: "#eff6ff", edge: "#3b82f6" }
        }
        Tower::Audio => {
            Palette { fill: "#ffedd5", stroke: "#ea580c", text: "#7c2d12", cluster: "#fff7ed", edge: "#f97316" }
        }
        Tower::Joint => {
            Palette { fill: "#ede9fe", stroke: "#7c3aed", text: "#4c1d95", cluster: "#f5f3ff", edge: "#8b5cf6" }
        }
        Tower::Other => {
            Palette { fill: "#f3f4f6", stroke: "#6b7280", text: "#374151", cluster: "#f9fafb", edge: "#9ca3af" }
        }
    }
}

/// The towers in legend order.
pub(crate) const TOWERS: [Tower; 4] = [Tower::Video, Tower::Audio, Tower::Joint, Tower::Other];
