//! A layered (Sugiyama-style) layout of the model graph, with nested clusters for block
//! instances, computed in pure Rust so that `avc graph` needs no external program.
//!
//! 1. Layers: every node sits one layer below its deepest input (longest path from the
//!    inputs); outputs sit below what they read. Each layer is followed by a rank for edge
//!    labels, so every edge gets its own label box, placed just above its consumer; an
//!    edge that skips layers runs through a dummy item on every rank in between.
//! 2. Order within ranks: barycenter sweeps (down, then up), keeping the ordering with the
//!    fewest crossings. The sort key is hierarchical: at each cluster level an item is
//!    ordered by its tower first (video, then joint, then audio: the video tower lies on
//!    the left, the audio tower on the right), then by the barycenter of its cluster (one
//!    key per cluster, so a cluster's items stay contiguous and sibling clusters never
//!    swap between ranks), then by its own barycenter.
//! 3. x coordinates, innermost cluster first: the entities of one level (its own items and
//!    its child clusters, each a rigid box) are packed left to right under the per-rank
//!    order constraints, then moved towards the median of the entities they connect to
//!    (alternating sweeps, never breaking a constraint; up to 200 of them, fewer on a level
//!    of more than 5,000 entities). A cluster's box is its content plus padding and a
//!    label line. The towers keep to their columns on every rank, not only where they
//!    meet: a barrier between them that no video box may pass rightwards and no audio box
//!    leftwards (a block holding boxes of both straddles it).
//!
//! Every step is linear in the items (times the nesting depth, up to a log factor for
//! sorting), so `avc graph` of a 100,000-node model finishes; benches/scale.rs measures it.
//! 4. y coordinates: rank by rank, with room between ranks for the borders and labels of
//!    the clusters that open or close there.
//!
//! Text sizes are estimated from character counts for a monospace font: boxes are sized
//! so that their text fits.

use super::{Drawing, NodeRole, Scene};
use crate::check::{Checked, Tower};
use crate::ir::Graph;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, HashSet};

/// Node text size in px (monospace).
pub const FONT_SIZE: f64 = 12.0;
/// Advance of one character at [`FONT_SIZE`] (monospace fonts advance 0.6 em).
pub const CHAR_W: f64 = 7.2;
/// Edge label text size in px.
pub const LABEL_FONT_SIZE: f64 = 11.0;
/// Advance of one character at [`LABEL_FONT_SIZE`].
pub const LABEL_CHAR_W: f64 = 6.6;
/// Distance between text lines in a node box.
pub const LINE_H: f64 = 15.0;
/// Height of an edge label box.
pub const LABEL_H: f64 = 16.0;
/// Vertical space a cluster's border and label take above its first rank.
pub const CLUSTER_OPEN: f64 = 26.0;
/// Vertical space a cluster's border takes below its last rank.
pub const CLUSTER_CLOSE: f64 = 10.0;
/// Horizontal padding inside a cluster's border.
pub const CLUSTER_PAD: f64 = 12.0;

const PAD_X: f64 = 12.0;
const PAD_Y: f64 = 8.0;
const LABEL_PAD_X: f64 = 6.0;
const GAP_NODE: f64 = 24.0;
const GAP_VIRTUAL: f64 = 12.0;
const GAP_TOWER: f64 = 64.0;
const RANK_GAP: f64 = 12.0;
const PORT_GAP: f64 = 16.0;
const SWEEPS: usize = 12;
const PLACEMENT_ROUNDS: usize = 200;
/// Entity moves one level's placement may make: a level of more than 5,000 entities gets
/// fewer rounds (at least [`MIN_PLACEMENT_ROUNDS`]), so a huge graph is laid out in time
/// linear in its size, less tidily aligned.
const PLACEMENT_BUDGET: usize = 1_000_000;
const MIN_PLACEMENT_ROUNDS: usize = 8;

/// An axis-aligned rectangle; `y` grows downwards.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl Rect {
    pub fn right(&self) -> f64 {
        self.x + self.w
    }

    pub fn bottom(&self) -> f64 {
        self.y + self.h
    }

    pub fn center_x(&self) -> f64 {
        self.x + self.w / 2.0
    }

    /// Whether the two rectangles share any area (touching edges do not count).
    pub fn overlaps(&self, other: &Rect) -> bool {
        self.x < other.right() && other.x < self.right() && self.y < other.bottom() && other.y < self.bottom()
    }

    /// Whether `other` lies inside this rectangle (edges may touch).
    pub fn contains(&self, other: &Rect) -> bool {
        self.x <= other.x && other.right() <= self.right() && self.y <= other.y && other.bottom() <= self.bottom()
    }
}

/// A node's box.
#[derive(Debug, Clone)]
pub struct PlacedNode {
    /// The IR node's name, or the output's name.
    pub name: String,
    /// Unique: the node's name, or `output:<name>` for an output.
    pub id: String,
    pub role: NodeRole,
    pub tower: Tower,
    /// The text lines, top to bottom: name, op, shape, parameters (outputs: name, kind).
    pub lines: Vec<String>,
    pub rect: Rect,
}

/// A block instance's frame.
#[derive(Debug, Clone)]
pub struct PlacedCluster {
    /// The instance's full dotted name, shown as its label.
    pub name: String,
    pub tower: Tower,
    /// 0 for a top-level instance, 1 for one inside it, ...
    pub depth: usize,
    pub rect: Rect,
    /// Indices into [`Layout::nodes`] of every node inside (nested ones included).
    pub members: Vec<usize>,
}

/// An edge: a path from the producer's bottom to the consumer's top.
#[derive(Debug, Clone)]
pub struct PlacedEdge {
    /// Indices into [`Layout::nodes`].
    pub from: usize,
    pub to: usize,
    /// The producer's tower.
    pub tower: Tower,
    /// The tensor shape the edge carries.
    pub label: String,
    pub label_rect: Rect,
    /// Way points, top to bottom. Between consecutive points with the same x the path is a
    /// vertical line; elsewhere it is a vertical S-curve.
    pub points: Vec<(f64, f64)>,
}

/// A laid-out picture; coordinates start at (0, 0).
#[derive(Debug, Clone)]
pub struct Layout {
    pub width: f64,
    pub height: f64,
    pub nodes: Vec<PlacedNode>,
    /// Outer clusters before the clusters nested in them.
    pub clusters: Vec<PlacedCluster>,
    pub edges: Vec<PlacedEdge>,
}

/// Lays out the picture of a checked graph.
pub fn layout(graph: &Graph, checked: &Checked) -> Layout {
    layout_with(graph, checked, Drawing::default())
}

/// [`layout`], drawn as `drawing` asks (`--collapse`: one box per top-level block instance).
pub fn layout_with(graph: &Graph, checked: &Checked, drawing: Drawing) -> Layout {
    let scene = Scene::new(graph, checked);
    if drawing.collapse { layout_scene(&scene.collapsed()) } else { layout_scene(&scene) }
}

/// The width of `text` at [`FONT_SIZE`].
pub fn text_width(text: &str) -> f64 {
    text.chars().count() as f64 * CHAR_W
}

/// The width of `text` at [`LABEL_FONT_SIZE`].
pub fn label_text_width(text: &str) -> f64 {
    text.chars().count() as f64 * LABEL_CHAR_W
}

/// The size of a node's box.
pub fn node_size(role: NodeRole, lines: &[String]) -> (f64, f64) {
    let text = lines.iter().map(|l| text_width(l)).fold(0.0, f64::max);
    let h = lines.len() as f64 * LINE_H + 2.0 * PAD_Y;
    // Stadium-shaped boxes (inputs, outputs) lose room to their round ends.
    let round = if role == NodeRole::Op { 0.0 } else { h / 3.0 };
    (text + 2.0 * PAD_X + round, h)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Node(usize),
    /// A point of an edge (by index) on a rank it passes.
    Dummy(usize),
    /// The label of an edge.
    Label(usize),
    /// Keeps a cluster's frame present on a rank where it has nothing else.
    Filler,
}

#[derive(Debug, Clone)]
struct Item {
    kind: Kind,
    rank: usize,
    w: f64,
    h: f64,
    cluster: Option<usize>,
    tower: Tower,
    /// The clusters the item is in, outermost first.
    chain: Vec<usize>,
}

impl Item {
    fn is_virtual(&self) -> bool {
        !matches!(self.kind, Kind::Node(_))
    }

    /// The edge a dummy or label belongs to.
    fn edge(&self) -> Option<usize> {
        match self.kind {
            Kind::Dummy(e) | Kind::Label(e) => Some(e),
            Kind::Node(_) | Kind::Filler => None,
        }
    }
}

/// Video left, audio right, everything else between.
fn tower_key(t: Tower) -> u8 {
    match t {
        Tower::Video => 0,
        Tower::Joint | Tower::Other => 1,
        Tower::Audio => 2,
    }
}

fn apart(a: Tower, b: Tower) -> bool {
    matches!((a, b), (Tower::Video, Tower::Audio) | (Tower::Audio, Tower::Video))
}

/// How far right an entity's video boxes reach and where its audio boxes start, relative
/// to its left; `None` where it has none.
type Extent = (Option<f64>, Option<f64>);

/// Which tower constraints a level's placement keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Towers {
    /// Every entity with boxes of a tower keeps to its side.
    All,
    /// Only entities of one tower do.
    Pure,
    /// None does: per-rank order only.
    Off,
}

/// Predecessors and successors of each of `m` placed things under the constraints
/// `(a, b, s)` (`x[a] + s <= x[b]`), a topological order of them (smallest index first,
/// for stability), and whether that order is complete (the constraints have no cycle).
type Order = (Vec<Vec<(usize, f64)>>, Vec<Vec<(usize, f64)>>, Vec<usize>, bool);

fn constraint_order(m: usize, cons: &[(usize, usize, f64)]) -> Order {
    let mut preds: Vec<Vec<(usize, f64)>> = vec![Vec::new(); m];
    let mut succs: Vec<Vec<(usize, f64)>> = vec![Vec::new(); m];
    for &(a, b, s) in cons {
        succs[a].push((b, s));
        preds[b].push((a, s));
    }
    let mut indeg: Vec<usize> = preds.iter().map(Vec::len).collect();
    let mut heap: BinaryHeap<std::cmp::Reverse<usize>> =
        (0..m).filter(|&k| indeg[k] == 0).map(std::cmp::Reverse).collect();
    let mut topo = Vec::with_capacity(m);
    let mut done = vec![false; m];
    while let Some(std::cmp::Reverse(k)) = heap.pop() {
        topo.push(k);
        done[k] = true;
        for &(s, _) in &succs[k] {
            indeg[s] -= 1;
            if indeg[s] == 0 {
                heap.push(std::cmp::Reverse(s));
            }
        }
    }
    let complete = topo.len() == m;
    // Never loop or panic on a cycle: the rest go last.
    topo.extend((0..m).filter(|&k| !done[k]));
    (preds, succs, topo, complete)
}

/// One level of an item's sort key: (tower, barycenter, unique tag of the cluster or item).
type KeyPart = (u8, f64, usize);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Ent {
    Item(usize),
    Cluster(usize),
}

struct Builder<'a> {
    scene: &'a Scene,
    items: Vec<Item>,
    /// Item of each scene node.
    node_item: Vec<usize>,
    /// Items of each edge between its endpoints, top to bottom.
    edge_items: Vec<Vec<usize>>,
    up: Vec<Vec<usize>>,
    down: Vec<Vec<usize>>,
    ranks: Vec<Vec<usize>>,
    /// Position of each item in its rank.
    pos: Vec<usize>,
    /// x of an item's centre relative to the left of its innermost cluster's frame.
    rel_x: Vec<f64>,
    /// x of a cluster frame's left relative to its parent's frame (or the origin).
    rel_left: Vec<f64>,
    cluster_w: Vec<f64>,
    /// [`Extent`] of each cluster's frame, set when its content is placed.
    cluster_ext: Vec<Extent>,
}

fn total(a: f64, b: f64) -> Ordering {
    a.total_cmp(&b)
}

impl<'a> Builder<'a> {
    fn new(scene: &'a Scene) -> Self {
        let n = scene.nodes.len();
        let mut incoming: Vec<Vec<usize>> = vec![Vec::new(); n];
        for e in &scene.edges {
            incoming[e.to].push(e.from);
        }
        // Scene nodes are in topological order.
        let mut layer = vec![0usize; n];
        for v in 0..n {
            layer[v] = incoming[v].iter().map(|&u| layer[u] + 1).max().unwrap_or(0);
        }
        let mut b = Builder {
            scene,
            items: Vec::new(),
            node_item: Vec::new(),
            edge_items: Vec::new(),
            up: Vec::new(),
            down: Vec::new(),
            ranks: Vec::new(),
            pos: Vec::new(),
            rel_x: Vec::new(),
            rel_left: vec![0.0; scene.clusters.len()],
            cluster_w: vec![0.0; scene.clusters.len()],
            cluster_ext: vec![(None, None); scene.clusters.len()],
        };
        for (i, node) in scene.nodes.iter().enumerate() {
            let (w, h) = node_size(node.role, &node.lines);
            let item = b.push(Kind::Node(i), 2 * layer[i], w, h, node.cluster, node.tower);
            b.node_item.push(item);
        }
        for (e, edge) in scene.edges.iter().enumerate() {
            let (ru, rv) = (2 * layer[edge.from], 2 * layer[edge.to]);
            let cu = scene.chain(scene.nodes[edge.from].cluster);
            let cv = scene.chain(scene.nodes[edge.to].cluster);
            let common = cu.iter().zip(&cv).take_while(|(a, b)| a == b).count();
            let cluster = common.checked_sub(1).map(|i| cu[i]);
            let mut chain = vec![b.node_item[edge.from]];
            let mut inner = Vec::new();
            // A long edge's dummies are as wide as its label, so that it runs straight
            // down a column that has room for the label at its foot.
            let w = label_text_width(&edge.label) + 2.0 * LABEL_PAD_X;
            for r in ru + 1..rv {
                let item = if r + 1 == rv {
                    b.push(Kind::Label(e), r, w, LABEL_H, cluster, edge.tower)
                } else {
                    b.push(Kind::Dummy(e), r, w, 0.0, cluster, edge.tower)
                };
                chain.push(item);
                inner.push(item);
            }
            chain.push(b.node_item[edge.to]);
            for pair in chain.windows(2) {
                b.down[pair[0]].push(pair[1]);
                b.up[pair[1]].push(pair[0]);
            }
            b.edge_items.push(inner);
        }
        b.add_fillers();
        b
    }

    fn push(&mut self, kind: Kind, rank: usize, w: f64, h: f64, cluster: Option<usize>, tower: Tower) -> usize {
        let chain = self.scene.chain(cluster);
        self.items.push(Item { kind, rank, w, h, cluster, tower, chain });
        self.up.push(Vec::new());
        self.down.push(Vec::new());
        self.rel_x.push(0.0);
        let i = self.items.len() - 1;
        if self.ranks.len() <= rank {
            self.ranks.resize(rank + 1, Vec::new());
        }
        self.ranks[rank].push(i);
        i
    }

    /// The first and last rank of each cluster.
    fn cluster_ranges(&self) -> Vec<(usize, usize)> {
        let mut range = vec![(usize::MAX, 0); self.scene.clusters.len()];
        for item in &self.items {
            for &c in &item.chain {
                range[c] = (range[c].0.min(item.rank), range[c].1.max(item.rank));
            }
        }
        range
    }

    /// Gives every cluster an item on each rank of its range, innermost clusters first.
    fn add_fillers(&mut self) {
        let range = self.cluster_ranges();
        // (cluster, rank) pairs that already have an item.
        let mut present: HashSet<(usize, usize)> =
            self.items.iter().flat_map(|it| it.chain.iter().map(move |&c| (c, it.rank))).collect();
        for c in (0..self.scene.clusters.len()).rev() {
            let (lo, hi) = range[c];
            for r in lo..=hi.max(lo) {
                if r >= self.ranks.len() || present.contains(&(c, r)) {
                    continue;
                }
                let tower = self.scene.clusters[c].tower;
                let item = self.push(Kind::Filler, r, 0.0, 0.0, Some(c), tower);
                present.extend(self.items[item].chain.iter().map(|&d| (d, r)));
            }
        }
    }

    // ---------------------------------------------------------------- ordering

    fn update_pos(&mut self) {
        self.pos = vec![0; self.items.len()];
        for rank in &self.ranks {
            for (p, &i) in rank.iter().enumerate() {
                self.pos[i] = p;
            }
        }
    }

    /// Sorts one rank by the hierarchical key; `bary` is each item's own key, `ckey` each
    /// cluster's.
    fn sort_rank(&mut self, r: usize, bary: &[f64], ckey: &dyn Fn(usize) -> f64) {
        let nc = self.scene.clusters.len();
        let items = &self.items;
        let scene = self.scene;
        let key = |i: usize| -> Vec<KeyPart> {
            let it = &items[i];
            let mut k: Vec<KeyPart> =
                it.chain.iter().map(|&c| (tower_key(scene.clusters[c].tower), ckey(c), c)).collect();
            k.push((tower_key(it.tower), bary[i], nc + i));
            k
        };
        let mut keyed: Vec<(Vec<KeyPart>, usize)> = self.ranks[r].iter().map(|&i| (key(i), i)).collect();
        keyed.sort_by(|(a, _), (b, _)| {
            for (x, y) in a.iter().zip(b) {
                let o = x.0.cmp(&y.0).then(total(x.1, y.1)).then(x.2.cmp(&y.2));
                if o != Ordering::Equal {
                    return o;
                }
            }
            a.len().cmp(&b.len())
        });
        self.ranks[r] = keyed.into_iter().map(|(_, i)| i).collect();
    }

    /// Cluster keys from the given item keys, over all items.
    fn cluster_keys(&self, bary: &[f64]) -> Vec<f64> {
        let nc = self.scene.clusters.len();
        let mut sum = vec![0.0; nc];
        let mut count = vec![0usize; nc];
        for (i, item) in self.items.iter().enumerate() {
            if item.kind == Kind::Filler {
                continue;
            }
            for &c in &item.chain {
                sum[c] += bary[i];
                count[c] += 1;
            }
        }
        (0..nc).map(|c| if count[c] == 0 { 0.0 } else { sum[c] / count[c] as f64 }).collect()
    }

    /// Cluster keys over the items of rank `r` only: the clusters on that rank.
    fn rank_cluster_keys(&self, r: usize, bary: &[f64]) -> HashMap<usize, f64> {
        let mut acc: HashMap<usize, (f64, usize)> = HashMap::new();
        for &i in &self.ranks[r] {
            let item = &self.items[i];
            for &c in &item.chain {
                let entry = acc.entry(c).or_insert((0.0, 0));
                if item.kind != Kind::Filler {
                    *entry = (entry.0 + bary[i], entry.1 + 1);
                }
            }
        }
        acc.into_iter().map(|(c, (sum, n))| (c, if n == 0 { 0.0 } else { sum / n as f64 })).collect()
    }

    /// One barycenter pass over rank `r` using its neighbours above (`up`) or below. Only
    /// the rank's own items are visited, so a pass over all ranks is linear in the items.
    fn sweep_rank(&mut self, r: usize, use_up: bool, bary: &mut [f64]) {
        for &i in &self.ranks[r] {
            let next = if use_up { &self.up[i] } else { &self.down[i] };
            bary[i] = if next.is_empty() {
                self.pos[i] as f64
            } else {
                next.iter().map(|&j| self.pos[j] as f64).sum::<f64>() / next.len() as f64
            };
        }
        let ckey = self.rank_cluster_keys(r, bary);
        self.sort_rank(r, bary, &|c| ckey.get(&c).copied().unwrap_or(0.0));
        for (p, &i) in self.ranks[r].iter().enumerate() {
            self.pos[i] = p;
        }
    }

    /// Re-sorts every rank with one key per cluster for all ranks, so that sibling
    /// clusters are in the same order wherever they meet.
    fn make_consistent(&mut self) {
        // Positions centred per rank, so that ranks of different lengths compare.
        let mut bary = vec![0.0; self.items.len()];
        for rank in &self.ranks {
            let mid = (rank.len() as f64 - 1.0) / 2.0;
            for (p, &i) in rank.iter().enumerate() {
                bary[i] = p as f64 - mid;
            }
        }
        let ckey = self.cluster_keys(&bary);
        for r in 0..self.ranks.len() {
            self.sort_rank(r, &bary, &|c| ckey[c]);
        }
        self.update_pos();
    }

    /// Edge crossings between consecutive ranks, counted as inversions with a Fenwick tree
    /// (Barth, Jünger and Mutzel's method): O(E log V) rather than comparing every pair.
    fn crossings(&self) -> usize {
        let mut total = 0;
        let mut tree: Vec<usize> = Vec::new();
        for rank in &self.ranks {
            let mut segs: Vec<(usize, usize)> = Vec::new();
            for &i in rank {
                for &j in &self.down[i] {
                    segs.push((self.pos[i], self.pos[j]));
                }
            }
            // Sorted by upper end (then lower end), a pair crosses when the later segment's
            // lower end lies strictly left of the earlier one's.
            segs.sort_unstable();
            let width = segs.iter().map(|s| s.1 + 1).max().unwrap_or(0);
            tree.clear();
            tree.resize(width + 1, 0);
            for (seen, &(_, low)) in segs.iter().enumerate() {
                // Segments already seen whose lower end is at most `low` do not cross it.
                let mut not_crossing = 0;
                let mut k = low + 1;
                while k > 0 {
                    not_crossing += tree[k];
                    k &= k - 1;
                }
                total += seen - not_crossing;
                let mut k = low + 1;
                while k <= width {
                    tree[k] += 1;
                    k += k & k.wrapping_neg();
                }
            }
        }
        total
    }

    fn order(&mut self) {
        // Start from creation order within each tower.
        let initial: Vec<f64> = (0..self.items.len()).map(|i| i as f64).collect();
        let ckey = self.cluster_keys(&initial);
        for r in 0..self.ranks.len() {
            self.sort_rank(r, &initial, &|c| ckey[c]);
        }
        self.update_pos();
        self.make_consistent();
        let mut best = (self.crossings(), self.ranks.clone());
        let mut bary = vec![0.0; self.items.len()];
        for _ in 0..SWEEPS {
            for r in 1..self.ranks.len() {
                self.sweep_rank(r, true, &mut bary);
            }
            for r in (0..self.ranks.len().saturating_sub(1)).rev() {
                self.sweep_rank(r, false, &mut bary);
            }
            self.make_consistent();
            let c = self.crossings();
            if c < best.0 {
                best = (c, self.ranks.clone());
            }
        }
        self.ranks = best.1;
        self.update_pos();
    }

    // ---------------------------------------------------------------- x placement

    /// The entity an item belongs to at the level of `container` (`None`: the top), or
    /// `None` when the item is not inside the container.
    fn entity(&self, i: usize, container: Option<usize>) -> Option<Ent> {
        let chain = &self.items[i].chain;
        let depth = match container {
            None => 0,
            Some(c) => chain.iter().position(|&x| x == c)? + 1,
        };
        Some(chain.get(depth).map_or(Ent::Item(i), |&c| Ent::Cluster(c)))
    }

    /// x of an item's centre relative to the left of cluster `c`'s frame (which holds it).
    fn offset_in(&self, i: usize, c: usize) -> f64 {
        let chain = &self.items[i].chain;
        let k = chain.iter().position(|&x| x == c).unwrap_or(0);
        chain[k + 1..].iter().map(|&d| self.rel_left[d]).sum::<f64>() + self.rel_x[i]
    }

    fn ent_offset(&self, i: usize, e: Ent) -> f64 {
        match e {
            Ent::Item(_) => self.items[i].w / 2.0,
            Ent::Cluster(c) => self.offset_in(i, c),
        }
    }

    /// Places the entities of one level and returns the width of its content; writes
    /// `rel_x` of its own items and `rel_left` of its child clusters, shifted by `shift`
    /// (a function of the content width).
    ///
    /// `members` are the items inside the container in rank order (and in order within a
    /// rank): only they are visited, so placing every level is linear in the items times
    /// the nesting depth.
    fn place_level(&mut self, container: Option<usize>, members: &[usize], shift: impl FnOnce(f64) -> f64) -> f64 {
        let mut ents: Vec<Ent> = Vec::new();
        let mut index: HashMap<Ent, usize> = HashMap::new();
        let mut index_of = |e: Ent, ents: &mut Vec<Ent>| {
            *index.entry(e).or_insert_with(|| {
                ents.push(e);
                ents.len() - 1
            })
        };
        // Order constraints: consecutive entities on a rank, with their minimum distance.
        let mut cons: Vec<(usize, usize)> = Vec::new();
        let mut seen: HashSet<(usize, usize)> = HashSet::new();
        let mut prev: Option<(usize, usize)> = None;
        for &i in members {
            let Some(e) = self.entity(i, container) else { continue };
            let k = index_of(e, &mut ents);
            let rank = self.items[i].rank;
            if let Some((p, r)) = prev
                && r == rank
                && p != k
                && seen.insert((p, k))
            {
                cons.push((p, k));
            }
            prev = Some((k, rank));
        }
        let n = ents.len();
        let width = |e: Ent| match e {
            Ent::Item(i) => self.items[i].w,
            Ent::Cluster(c) => self.cluster_w[c],
        };
        let tower = |e: Ent| match e {
            Ent::Item(i) => self.items[i].tower,
            Ent::Cluster(c) => self.scene.clusters[c].tower,
        };
        let is_virtual = |e: Ent| matches!(e, Ent::Item(i) if self.items[i].is_virtual());
        let mut w: Vec<f64> = ents.iter().map(|&e| width(e)).collect();
        let sep = |a: usize, b: usize| {
            let gap = if apart(tower(ents[a]), tower(ents[b])) {
                GAP_TOWER
            } else if is_virtual(ents[a]) || is_virtual(ents[b]) {
                GAP_VIRTUAL
            } else {
                GAP_NODE
            };
            w[a] + gap
        };
        let cons: Vec<(usize, usize, f64)> = cons.iter().map(|&(a, b)| (a, b, sep(a, b))).collect();
        // The towers' columns. Per-rank order keeps a video entity left of an audio one on
        // the same rank, not on different ranks: the audio tower's last nodes could drift
        // left under wide boxes of the video tower higher up. Where a level holds boxes of
        // both towers, a zero-width barrier (index `n`) stands between them: every video
        // box ends GAP_TOWER / 2 left of it, every audio box starts GAP_TOWER / 2 right of
        // it. An entity with boxes of both towers (a block reading both streams) is pinned
        // to the barrier by the middle of its own gap between them.
        let ext: Vec<Extent> = ents.iter().map(|&e| self.tower_extent(e)).collect();
        let has_video = ext.iter().any(|e| e.0.is_some());
        let has_audio = ext.iter().any(|e| e.1.is_some());
        let barrier = has_video && has_audio;
        if barrier {
            w.push(0.0);
        }
        // Entities, and the barrier if any.
        let m = w.len();
        let pure = |k: usize| matches!(tower(ents[k]), Tower::Video | Tower::Audio);
        // Each entity is placed as `x[rep] + off`: pinned entities move with the barrier.
        // Tried in turn: every tower constraint; only those of single-tower entities (which
        // per-rank order, video, joint, audio, never contradicts); none.
        let mut placed = None;
        for mode in [Towers::All, Towers::Pure, Towers::Off] {
            if mode != Towers::Off && !barrier {
                continue;
            }
            let mut rep: Vec<usize> = (0..m).collect();
            let mut off = vec![0.0; m];
            let mut all: Vec<(usize, usize, f64)> = Vec::with_capacity(cons.len() + n);
            let half = GAP_TOWER / 2.0;
            for (k, &(video, audio)) in ext.iter().enumerate() {
                let wanted = mode == Towers::All || (mode == Towers::Pure && pure(k));
                match (video, audio) {
                    _ if !wanted => {}
                    (Some(v), Some(a)) => (rep[k], off[k]) = (n, -((v + a) / 2.0).round()),
                    (Some(v), None) => all.push((k, n, v + half)),
                    (None, Some(a)) => all.push((n, k, half - a)),
                    (None, None) => {}
                }
            }
            let mut feasible = true;
            for &(a, b, s) in &cons {
                let (ra, rb, s) = (rep[a], rep[b], s + off[a] - off[b]);
                if ra != rb {
                    all.push((ra, rb, s));
                } else if s > 1e-6 {
                    feasible = false;
                }
            }
            let (preds, succs, topo, complete) = constraint_order(m, &all);
            if (feasible && complete) || mode == Towers::Off {
                placed = Some((rep, off, preds, succs, topo));
                break;
            }
        }
        let (rep, off, preds, succs, topo) = placed.unwrap_or_default();
        let rank_of: Vec<usize> = {
            let mut r = vec![0; m];
            for (p, &k) in topo.iter().enumerate() {
                r[k] = p;
            }
            r
        };
        // Leftmost packing, centres on one line where nothing is in the way.
        let mut x = vec![0.0f64; m];
        for &k in &topo {
            x[k] = preds[k]
                .iter()
                .filter(|(p, _)| rank_of[*p] < rank_of[k])
                .map(|&(p, s)| x[p] + s)
                .fold(-w[k] / 2.0, f64::max);
        }
        // Alignment pulls: every link between items of different entities (between what
        // is placed: a pinned entity pulls the barrier).
        let mut pulls: Vec<Vec<(usize, f64, f64)>> = vec![Vec::new(); m];
        let mut by_index = members.to_vec();
        by_index.sort_unstable();
        for a in by_index {
            let Some(ea) = self.entity(a, container) else { continue };
            for &b in &self.down[a] {
                let Some(eb) = self.entity(b, container) else { continue };
                if ea == eb {
                    continue;
                }
                let (ka, kb) = (index_of(ea, &mut ents), index_of(eb, &mut ents));
                let (oa, ob) = (self.ent_offset(a, ea) + off[ka], self.ent_offset(b, eb) + off[kb]);
                let (ka, kb) = (rep[ka], rep[kb]);
                if ka == kb {
                    continue;
                }
                // x[ka] + oa should equal x[kb] + ob.
                let weight = self.link_weight(a, b);
                pulls[ka].push((kb, ob - oa, weight));
                pulls[kb].push((ka, oa - ob, weight));
            }
        }
        let mut want: Vec<(f64, f64)> = Vec::new();
        let rounds = PLACEMENT_ROUNDS.min(PLACEMENT_BUDGET / n.max(1)).max(MIN_PLACEMENT_ROUNDS);
        for round in 0..rounds {
            let order: Vec<usize> = if round % 2 == 0 { topo.clone() } else { topo.iter().rev().copied().collect() };
            let mut moved = false;
            for k in order {
                let free = barrier && k == n && pulls[k].is_empty();
                if pulls[k].is_empty() && !free {
                    continue;
                }
                want.clear();
                want.extend(pulls[k].iter().map(|&(o, d, w)| (x[o] + d, w)));
                let lo = preds[k]
                    .iter()
                    .filter(|(p, _)| rank_of[*p] < rank_of[k])
                    .map(|&(p, s)| x[p] + s)
                    .fold(f64::NEG_INFINITY, f64::max);
                let hi = succs[k]
                    .iter()
                    .filter(|(s, _)| rank_of[*s] > rank_of[k])
                    .map(|&(s, d)| x[s] - d)
                    .fold(f64::INFINITY, f64::min);
                // A barrier that pins nothing keeps to the middle of its room, so that
                // either tower may close in on it.
                let desired = if !free {
                    weighted_median(&mut want)
                } else if lo.is_finite() && hi.is_finite() {
                    ((lo + hi) / 2.0).round()
                } else {
                    x[k]
                };
                let next = if lo > hi { lo } else { desired.clamp(lo, hi) };
                moved |= next != x[k];
                x[k] = next;
            }
            // A round that moved nothing is a fixed point: later rounds would not either.
            if !moved {
                break;
            }
        }
        // Whole pixels keep the picture crisp and the output stable.
        for v in &mut x {
            *v = v.round();
        }
        let x: Vec<f64> = (0..n).map(|k| x[rep[k]] + off[k]).collect();
        let min = x.iter().copied().fold(f64::INFINITY, f64::min);
        let max = (0..n).map(|k| x[k] + w[k]).fold(f64::NEG_INFINITY, f64::max);
        let content = if n == 0 { 0.0 } else { max - min };
        let s = shift(content);
        for (k, &e) in ents.iter().enumerate() {
            match e {
                Ent::Item(i) => self.rel_x[i] = s + x[k] - min + self.items[i].w / 2.0,
                Ent::Cluster(c) => self.rel_left[c] = s + x[k] - min,
            }
        }
        if let Some(c) = container {
            let left = |k: usize| s + x[k] - min;
            let video = (0..n).filter_map(|k| ext[k].0.map(|v| left(k) + v)).reduce(f64::max);
            let audio = (0..n).filter_map(|k| ext[k].1.map(|a| left(k) + a)).reduce(f64::min);
            // Towers that overlap inside the frame (never when placed as asked) leave it
            // out of the tower constraints of the level above.
            self.cluster_ext[c] = match (video, audio) {
                (Some(v), Some(a)) if v >= a => (None, None),
                extent => extent,
            };
        }
        content
    }

    /// Where an entity's video boxes end and its audio boxes start, relative to its left.
    /// Edges' points and labels belong to no tower's column.
    fn tower_extent(&self, e: Ent) -> Extent {
        let (tower, w) = match e {
            Ent::Item(i) if self.items[i].is_virtual() => return (None, None),
            Ent::Item(i) => (self.items[i].tower, self.items[i].w),
            Ent::Cluster(c) => (self.scene.clusters[c].tower, self.cluster_w[c]),
        };
        match (tower, e) {
            (Tower::Video, _) => (Some(w), None),
            (Tower::Audio, _) => (None, Some(0.0)),
            (_, Ent::Cluster(c)) => self.cluster_ext[c],
            (_, Ent::Item(_)) => (None, None),
        }
    }

    /// How strongly a link pulls its ends into line: hardest along a long edge (so it
    /// runs straight), then a node with the edge into its direct successor (so chains
    /// run straight and skip edges go round them), least a node with a long edge.
    fn link_weight(&self, a: usize, b: usize) -> f64 {
        let (ia, ib) = (&self.items[a], &self.items[b]);
        if ia.is_virtual() && ib.is_virtual() {
            return 8.0;
        }
        match ia.edge().or(ib.edge()) {
            Some(e) if self.edge_items[e].len() <= 1 => 2.0,
            _ => 1.0,
        }
    }

    fn place_x(&mut self) -> f64 {
        // The items of each cluster (nested ones included) and of the whole picture, in
        // rank order.
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); self.scene.clusters.len()];
        let mut all = Vec::with_capacity(self.items.len());
        for rank in &self.ranks {
            for &i in rank {
                all.push(i);
                for &c in &self.items[i].chain {
                    members[c].push(i);
                }
            }
        }
        // Children are created after their parents: reverse order is innermost first.
        for c in (0..self.scene.clusters.len()).rev() {
            let label = text_width(&self.scene.clusters[c].name) + 2.0 * CLUSTER_PAD;
            let mut frame = 0.0;
            let inside = std::mem::take(&mut members[c]);
            self.place_level(Some(c), &inside, |content| {
                frame = (content + 2.0 * CLUSTER_PAD).max(label);
                CLUSTER_PAD + (frame - 2.0 * CLUSTER_PAD - content) / 2.0
            });
            self.cluster_w[c] = frame;
        }
        self.place_level(None, &all, |_| 0.0)
    }

    /// Absolute x of every cluster frame's left.
    fn cluster_left(&self) -> Vec<f64> {
        let mut left = vec![0.0; self.scene.clusters.len()];
        for c in 0..self.scene.clusters.len() {
            let parent = self.scene.clusters[c].parent.map_or(0.0, |p| left[p]);
            left[c] = parent + self.rel_left[c];
        }
        left
    }

    // ---------------------------------------------------------------- result

    fn finish(mut self) -> Layout {
        self.order();
        let width = self.place_x();
        let left = self.cluster_left();
        let abs_x: Vec<f64> =
            (0..self.items.len()).map(|i| self.items[i].cluster.map_or(0.0, |c| left[c]) + self.rel_x[i]).collect();

        // Vertical: rank heights, and room for the cluster frames opening and closing.
        let nr = self.ranks.len();
        let rank_h: Vec<f64> = (0..nr)
            .map(|r| {
                let h = self.ranks[r].iter().map(|&i| self.items[i].h).fold(0.0, f64::max);
                if r % 2 == 1 { h.max(LABEL_H) } else { h }
            })
            .collect();
        let nc = self.scene.clusters.len();
        let range = self.cluster_ranges();
        let (mut open, mut close) = (vec![1usize; nc], vec![1usize; nc]);
        for c in (0..nc).rev() {
            if let Some(p) = self.scene.clusters[c].parent {
                if range[c].0 == range[p].0 {
                    open[p] = open[p].max(open[c] + 1);
                }
                if range[c].1 == range[p].1 {
                    close[p] = close[p].max(close[c] + 1);
                }
            }
        }
        // Room for the frames opening above and closing below each rank.
        let (mut opens_at, mut closes_at) = (vec![0.0f64; nr], vec![0.0f64; nr]);
        for c in 0..nc {
            let (first, last) = range[c];
            if let Some(o) = opens_at.get_mut(first) {
                *o = o.max(open[c] as f64 * CLUSTER_OPEN);
            }
            if let Some(o) = closes_at.get_mut(last) {
                *o = o.max(close[c] as f64 * CLUSTER_CLOSE);
            }
        }
        let opening = |r: usize| opens_at[r];
        let closing = |r: usize| closes_at[r];
        let mut top = vec![0.0; nr];
        let mut y = 0.0;
        for r in 0..nr {
            y += if r == 0 { opening(0) } else { RANK_GAP + closing(r - 1) + opening(r) };
            top[r] = y;
            y += rank_h[r];
        }
        let height = y + nr.checked_sub(1).map_or(0.0, closing);

        let mut nodes: Vec<PlacedNode> = self
            .scene
            .nodes
            .iter()
            .enumerate()
            .map(|(n, node)| {
                let i = self.node_item[n];
                let it = &self.items[i];
                let rect = Rect {
                    x: abs_x[i] - it.w / 2.0,
                    y: top[it.rank] + (rank_h[it.rank] - it.h) / 2.0,
                    w: it.w,
                    h: it.h,
                };
                PlacedNode {
                    name: node.name.clone(),
                    id: node.id.clone(),
                    role: node.role,
                    tower: node.tower,
                    lines: node.lines.clone(),
                    rect,
                }
            })
            .collect();
        for n in &mut nodes {
            n.rect.y = n.rect.y.round();
        }

        let mut members: Vec<Vec<usize>> = vec![Vec::new(); nc];
        for n in 0..nodes.len() {
            for &c in &self.items[self.node_item[n]].chain {
                members[c].push(n);
            }
        }
        let clusters = (0..nc)
            .zip(members)
            .map(|(c, members)| {
                let (lo, hi) = range[c];
                let y0 = top[lo] - open[c] as f64 * CLUSTER_OPEN + 4.0;
                let y1 = top[hi] + rank_h[hi] + close[c] as f64 * CLUSTER_CLOSE - 4.0;
                let depth = self.scene.chain(Some(c)).len() - 1;
                PlacedCluster {
                    name: self.scene.clusters[c].name.clone(),
                    tower: self.scene.clusters[c].tower,
                    depth,
                    rect: Rect { x: left[c], y: y0, w: self.cluster_w[c], h: y1 - y0 },
                    members,
                }
            })
            .collect();

        // Ports: edges leave a box's bottom and enter its top spread out in the order of
        // the side they come from.
        let ne = self.scene.edges.len();
        let mut exit_x = vec![0.0; ne];
        let mut entry_x = vec![0.0; ne];
        let (mut edges_out, mut edges_in) = (vec![Vec::new(); nodes.len()], vec![Vec::new(); nodes.len()]);
        for (e, edge) in self.scene.edges.iter().enumerate() {
            edges_out[edge.from].push(e);
            edges_in[edge.to].push(e);
        }
        for (n, node) in nodes.iter().enumerate() {
            // Each edge meets the box where it comes from, inside the flat part of the
            // side, at least PORT_GAP from its neighbours.
            let spread = |mut list: Vec<(f64, usize)>, out: &mut Vec<f64>| {
                list.sort_by(|a, b| total(a.0, b.0).then(a.1.cmp(&b.1)));
                let inset = if node.role == NodeRole::Op { PAD_X } else { node.rect.h / 2.0 };
                let (mut lo, mut hi) = (node.rect.x + inset, node.rect.right() - inset);
                if lo > hi {
                    (lo, hi) = (node.rect.center_x(), node.rect.center_x());
                }
                let k = list.len();
                let step = if k > 1 { PORT_GAP.min((hi - lo) / (k - 1) as f64) } else { 0.0 };
                let mut p: Vec<f64> = list.iter().map(|&(x, _)| x.clamp(lo, hi)).collect();
                for j in 1..k {
                    p[j] = p[j].max(p[j - 1] + step);
                }
                for j in (0..k).rev() {
                    let bound = if j + 1 == k { hi } else { p[j + 1] - step };
                    p[j] = p[j].min(bound);
                }
                for ((_, e), x) in list.into_iter().zip(p) {
                    out[e] = x;
                }
            };
            let outs = edges_out[n].iter().map(|&e| (abs_x[self.edge_items[e][0]], e)).collect();
            spread(outs, &mut exit_x);
            let ins = edges_in[n]
                .iter()
                .map(|&e| (abs_x[*self.edge_items[e].last().unwrap_or(&self.node_item[n])], e))
                .collect();
            spread(ins, &mut entry_x);
        }
        let edges = (0..ne)
            .map(|e| {
                let edge = &self.scene.edges[e];
                // Boxes lower than their rank get a straight stub to the rank's edge, so
                // curves stay between ranks.
                let (from, to) = (&nodes[edge.from].rect, &nodes[edge.to].rect);
                let (rf, rt) = (self.items[self.node_item[edge.from]].rank, self.items[self.node_item[edge.to]].rank);
                let mut points = vec![(exit_x[e], from.bottom())];
                if top[rf] + rank_h[rf] > from.bottom() + 0.5 {
                    points.push((exit_x[e], top[rf] + rank_h[rf]));
                }
                let mut label_rect = Rect { x: 0.0, y: 0.0, w: 0.0, h: 0.0 };
                for &i in &self.edge_items[e] {
                    let it = &self.items[i];
                    let x = abs_x[i];
                    if it.kind == Kind::Label(e) {
                        let y = (top[it.rank] + (rank_h[it.rank] - LABEL_H) / 2.0).round();
                        label_rect = Rect { x: x - it.w / 2.0, y, w: it.w, h: LABEL_H };
                    }
                    points.push((x, top[it.rank]));
                    points.push((x, top[it.rank] + rank_h[it.rank]));
                }
                if top[rt] < to.y - 0.5 {
                    points.push((entry_x[e], top[rt]));
                }
                points.push((entry_x[e], to.y));
                PlacedEdge {
                    from: edge.from,
                    to: edge.to,
                    tower: edge.tower,
                    label: edge.label.clone(),
                    label_rect,
                    points,
                }
            })
            .collect();
        Layout { width, height, nodes, clusters, edges }
    }
}

/// The point that minimises the weighted distance to the given (point, weight) pairs;
/// the middle of the two central points when the weights balance.
fn weighted_median(want: &mut [(f64, f64)]) -> f64 {
    want.sort_by(|a, b| total(a.0, b.0));
    let half = want.iter().map(|w| w.1).sum::<f64>() / 2.0;
    let mut acc = 0.0;
    for (k, &(x, w)) in want.iter().enumerate() {
        acc += w;
        if (acc - half).abs() < 1e-9 {
            return want.get(k + 1).map_or(x, |next| (x + next.0) / 2.0);
        }
        if acc > half {
            return x;
        }
    }
    want.last().map_or(0.0, |w| w.0)
}

pub(crate) fn layout_scene(scene: &Scene) -> Layout {
    Builder::new(scene).finish()
}
