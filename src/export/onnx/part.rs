//! The graphs written: the whole model on aligned pairs (pair i is video clip i and audio
//! clip i), or the towers and the joint part apart, as `avc eval` runs them.

use super::builder::Builder;
use super::ops::{self, Ctx, Weight};
use super::proto::*;
use super::{OPSET, OnnxError};
use avc_lang::ast::OutputKind;
use avc_lang::check::{Checked, FactorSite, Tower, factor_sites};
use avc_lang::ir::{Graph, NodeId, NodeKind};
use avc_lang::ops::Op;
use avc_lang::shape::{Dim, Shape};
use std::collections::{HashMap, HashSet};

/// One graph being written: the IR, the values bound so far, the factored sites.
struct Part<'a> {
    graph: &'a Graph,
    checked: &'a Checked,
    weights: &'a HashMap<String, Weight>,
    b: Builder,
    values: HashMap<NodeId, String>,
    /// Sites whose layer runs here on its towers' shares (`{node}.video_share`, ...).
    sites: Vec<&'a FactorSite>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
}

fn dims(shape: Option<&Shape>) -> Option<TensorShapeProto> {
    let dim = shape?
        .dims()
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Dim::Batch => DimValue::DimParam("B".into()),
                Dim::Fixed(n) => DimValue::DimValue(*n),
                Dim::Sym(s) => DimValue::DimParam(s.clone()),
            }),
        })
        .collect();
    Some(TensorShapeProto { dim })
}

fn info(name: &str, shape: Option<&Shape>) -> ValueInfoProto {
    let tensor_type = TensorTypeProto { elem_type: FLOAT, shape: dims(shape) };
    ValueInfoProto { name: name.into(), r#type: Some(TypeProto { tensor_type: Some(tensor_type) }) }
}

impl<'a> Part<'a> {
    fn new(graph: &'a Graph, checked: &'a Checked, weights: &'a HashMap<String, Weight>) -> Self {
        Part {
            graph,
            checked,
            weights,
            b: Builder::default(),
            values: HashMap::new(),
            sites: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
        }
    }

    fn site(&self, id: NodeId) -> Option<&'a FactorSite> {
        self.sites.iter().copied().find(|s| s.node == id)
    }

    /// A graph input named `name` with the shape of `id`, bound as `id`'s value.
    fn bind(&mut self, id: NodeId, name: &str) {
        if !self.inputs.iter().any(|i| i.name == name) {
            self.inputs.push(info(name, self.checked.shape(id)));
        }
        self.values.insert(id, name.to_string());
    }

    /// The nodes that `targets` need, in topological order, stopping at bound values and at
    /// the factored sites (which read their shares).
    fn needed(&self, targets: &[NodeId]) -> Vec<NodeId> {
        let mut seen: HashSet<NodeId> = HashSet::new();
        let mut stack: Vec<NodeId> = targets.to_vec();
        while let Some(id) = stack.pop() {
            if self.values.contains_key(&id) || !seen.insert(id) {
                continue;
            }
            if self.site(id).is_none() {
                stack.extend(self.graph.inputs_of(id));
            }
        }
        self.graph.topo().iter().copied().filter(|id| seen.contains(id)).collect()
    }

    /// Emits every node `targets` need; returns the targets' values.
    fn emit(&mut self, targets: &[NodeId]) -> Result<Vec<String>, OnnxError> {
        for id in self.needed(targets) {
            let node = self.graph.node(id);
            let NodeKind::Op(op) = &node.kind else {
                return Err(OnnxError::Split(format!("input `{}` is not bound in this graph", node.name)));
            };
            let value = match self.site(id) {
                Some(site) => self.emit_site(site, op)?,
                None => {
                    let xs: Vec<String> = self.graph.inputs_of(id).iter().map(|i| self.values[i].clone()).collect();
                    let owner = node.shares.map_or(node.name.as_str(), |o| self.graph.node(o).name.as_str());
                    let ctx = self.ctx(id, owner, op);
                    self.b.scope = node.name.clone();
                    ops::emit(op, &mut self.b, &ctx, &xs)?
                }
            };
            self.values.insert(id, value);
        }
        Ok(targets.iter().map(|t| self.values[t].clone()).collect())
    }

    fn ctx(&self, id: NodeId, owner: &'a str, op: &Op) -> Ctx<'a> {
        let graph = self.graph;
        let shape = |i: NodeId| self.checked.shape(i).cloned().unwrap_or_else(|| Shape::new(Vec::new()));
        Ctx {
            node: &graph.node(id).name,
            owner,
            op: op.name(),
            ins: graph.inputs_of(id).into_iter().map(shape).collect(),
            weights: self.weights,
        }
    }

    /// A factored layer on the sum of its towers' shares (graph inputs of the joint graph).
    fn emit_site(&mut self, site: &FactorSite, op: &Op) -> Result<String, OnnxError> {
        let node = self.graph.node(site.node);
        let owner = node.shares.map_or(node.name.as_str(), |o| self.graph.node(o).name.as_str());
        let ctx = self.ctx(site.node, owner, op);
        self.b.scope = node.name.clone();
        let mut shares = Vec::new();
        for tower in share_towers(site) {
            let name = share_name(&node.name, tower);
            if !self.inputs.iter().any(|i| i.name == name) {
                let shape = self.checked.shape(site.concat).map(|s| s.with_dim(s.rank() - 1, Dim::Fixed(site.width)));
                self.inputs.push(info(&name, shape.as_ref()));
            }
            shares.push(name);
        }
        let sum = match shares.as_slice() {
            [one] => one.clone(),
            [a, rest @ ..] => rest.iter().fold(a.clone(), |acc, s| self.b.binary("Add", &acc, s)),
            [] => return Err(ctx.refuse("a factored layer without shares")),
        };
        match op {
            Op::Linear(_) => Ok(self.b.unary("Identity", &sum)),
            Op::Lstm(o) => {
                ops::recurrent::rnn_on_projection(&o.0, avc_lang::ops::recurrent::Cell::Lstm, &mut self.b, &ctx, &sum)
            }
            Op::Gru(o) => {
                ops::recurrent::rnn_on_projection(&o.0, avc_lang::ops::recurrent::Cell::Gru, &mut self.b, &ctx, &sum)
            }
            _ => Err(ctx.refuse("only linear, lstm and gru layers are factored")),
        }
    }

    /// `tower`'s share of a factored site, from its parts' values (bound already).
    fn emit_share(&mut self, site: &FactorSite, tower: Tower) -> Result<String, OnnxError> {
        let node = self.graph.node(site.node);
        let NodeKind::Op(op) = &node.kind else { return Err(OnnxError::Split("a site is not an op".into())) };
        let owner = node.shares.map_or(node.name.as_str(), |o| self.graph.node(o).name.as_str());
        let ctx = self.ctx(site.node, owner, op);
        self.b.scope = format!("{}.{}_share", node.name, tower.label());
        let with_bias = share_towers(site).first() == Some(&tower);
        let mut sum: Option<String> = None;
        for (k, part) in site.parts.iter().filter(|p| p.tower == tower).enumerate() {
            let x = self.values[&part.input].clone();
            let bias = with_bias && k == 0;
            let share = match op {
                Op::Linear(o) => ops::layers::linear_share(o, &mut self.b, &ctx, &x, part.start, part.width, bias)?,
                Op::Lstm(o) => {
                    let cell = avc_lang::ops::recurrent::Cell::Lstm;
                    ops::recurrent::share(&o.0, cell, &mut self.b, &ctx, (&x, part.start, part.width), bias)?
                }
                Op::Gru(o) => {
                    let cell = avc_lang::ops::recurrent::Cell::Gru;
                    ops::recurrent::share(&o.0, cell, &mut self.b, &ctx, (&x, part.start, part.width), bias)?
                }
                _ => return Err(ctx.refuse("only linear, lstm and gru layers are factored")),
            };
            sum = Some(match sum {
                Some(s) => self.b.binary("Add", &s, &share),
                None => share,
            });
        }
        sum.ok_or_else(|| ctx.refuse("a share without parts"))
    }

    /// `value` as graph output `name`.
    fn output(&mut self, value: &str, name: &str, shape: Option<&Shape>) {
        self.b.rename(value, name);
        self.outputs.push(info(name, shape));
    }

    fn finish(self, name: &str, meta: &[(&str, String)]) -> ModelProto {
        let graph = GraphProto {
            node: self.b.nodes,
            name: name.into(),
            initializer: self.b.initializers,
            input: self.inputs,
            output: self.outputs,
        };
        let metadata_props =
            meta.iter().map(|(k, v)| StringStringEntryProto { key: k.to_string(), value: v.clone() }).collect();
        ModelProto {
            ir_version: 8,
            producer_name: "avc export".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            doc_string: format!("{name}, written from avc's IR"),
            graph: Some(graph),
            opset_import: vec![OperatorSetIdProto { domain: String::new(), version: OPSET }],
            metadata_props,
        }
    }
}

/// The towers holding parts of a site, video first (its first share carries the bias).
fn share_towers(site: &FactorSite) -> Vec<Tower> {
    [Tower::Video, Tower::Audio].into_iter().filter(|t| site.parts.iter().any(|p| p.tower == *t)).collect()
}

/// The graph value of a tower's share of a factored layer: `fuse.video_share`.
pub fn share_name(node: &str, tower: Tower) -> String {
    format!("{node}.{}_share", tower.label())
}

/// The name a tower value has between a tower's graph and the joint graph: the node's name,
/// or for a model input `{name}.features`.
pub fn boundary_name(graph: &Graph, id: NodeId) -> String {
    let node = graph.node(id);
    match node.kind {
        NodeKind::Input { .. } => format!("{}.features", node.name),
        NodeKind::Op(_) => node.name.clone(),
    }
}

/// The model's input nodes by stream; any stream but `video` and `audio` is refused.
fn streams(graph: &Graph) -> Result<Vec<(NodeId, &str)>, OnnxError> {
    let mut out = Vec::new();
    for &id in &graph.inputs {
        let node = graph.node(id);
        let NodeKind::Input { stream, .. } = &node.kind else { continue };
        if stream != "video" && stream != "audio" {
            return Err(OnnxError::Unsupported {
                node: node.name.clone(),
                op: "input",
                why: format!("stream `{stream}`: the graphs take `video` and `audio` only"),
            });
        }
        out.push((id, stream.as_str()));
    }
    Ok(out)
}

fn metadata(meta: &[(&str, &str)], graph: &Graph, part: &str) -> Vec<(&'static str, String)> {
    let outputs: Vec<String> = graph.outputs.iter().map(|o| format!("{}:{}", o.name, o.kind.keyword())).collect();
    let mut m: Vec<(&'static str, String)> = vec![("avc.part", part.into()), ("avc.outputs", outputs.join(","))];
    for (k, v) in meta {
        let key: &'static str = match *k {
            "avc.architecture" => "avc.architecture",
            "avc.checkpoint" => "avc.checkpoint",
            _ => continue,
        };
        m.push((key, v.to_string()));
    }
    m
}

/// The whole model on aligned pairs: inputs `video` and `audio` ([B, ...] each), an output
/// per model output (`match`), or two for embeddings (`emb.video`, `emb.audio`).
pub(super) fn whole(
    graph: &Graph,
    checked: &Checked,
    weights: &HashMap<String, Weight>,
    meta: &[(&str, &str)],
) -> Result<ModelProto, OnnxError> {
    let mut p = Part::new(graph, checked, weights);
    for (id, stream) in streams(graph)? {
        p.bind(id, stream);
    }
    for o in &graph.outputs {
        let values = p.emit(&o.from)?;
        let names = output_names(&o.name, o.kind, o.from.len(), checked, &o.from);
        for ((value, name), &id) in values.iter().zip(&names).zip(&o.from) {
            p.output(value, name, checked.shape(id));
        }
    }
    Ok(p.finish("model", &metadata(meta, graph, "whole")))
}

fn output_names(name: &str, kind: OutputKind, n: usize, checked: &Checked, from: &[NodeId]) -> Vec<String> {
    if kind == OutputKind::Embeddings {
        from.iter().map(|&id| format!("{name}.{}", checked.tower(id).label())).collect()
    } else {
        (0..n).map(|_| name.to_string()).take(1).collect()
    }
}

/// The towers and the joint part: see the module's documentation.
pub(super) fn split(
    graph: &Graph,
    checked: &Checked,
    weights: &HashMap<String, Weight>,
    meta: &[(&str, &str)],
) -> Result<Vec<ModelProto>, OnnxError> {
    let inputs = streams(graph)?;
    let sites: Vec<FactorSite> = factor_sites(graph, checked)
        .into_iter()
        .filter(|s| matches!(&graph.node(s.node).kind, NodeKind::Op(Op::Linear(_) | Op::Lstm(_) | Op::Gru(_))))
        .collect();
    if graph.outputs.is_empty() {
        return Err(OnnxError::Split("the model has no outputs".into()));
    }
    // The joint part first: what it reads from the towers is what they must write.
    let mut joint = Part::new(graph, checked, weights);
    joint.sites = sites.iter().collect();
    let batched = |id: NodeId| checked.shape(id).is_some_and(avc_lang::ops::arith::is_batched);
    let is_tower = |id: NodeId| matches!(checked.tower(id), Tower::Video | Tower::Audio) && batched(id);
    let mut joint_targets = Vec::new();
    let mut embeddings = Vec::new();
    for o in &graph.outputs {
        match o.kind {
            OutputKind::Embeddings => embeddings.push(o),
            _ => joint_targets.extend(o.from.first().copied()),
        }
    }
    // Bind every tower value a joint node (or an output) reads.
    let mut frontier: Vec<NodeId> = Vec::new();
    let mut pending: Vec<NodeId> = joint_targets.clone();
    let mut visited = HashSet::new();
    while let Some(id) = pending.pop() {
        if !visited.insert(id) {
            continue;
        }
        if is_tower(id) {
            frontier.push(id);
            continue;
        }
        if joint.site(id).is_none() {
            pending.extend(graph.inputs_of(id));
        }
    }
    frontier.sort_by_key(|id| graph.topo().iter().position(|t| t == id));
    for &id in &frontier {
        joint.bind(id, &boundary_name(graph, id));
    }
    let used_sites: Vec<&FactorSite> = sites.iter().filter(|s| visited.contains(&s.node)).collect();
    joint.sites = used_sites.clone();
    for o in &graph.outputs {
        if o.kind == OutputKind::Embeddings {
            continue;
        }
        let Some(&from) = o.from.first() else { continue };
        let value = joint.emit(&[from])?.remove(0);
        joint.output(&value, &o.name, checked.shape(from));
    }
    // An embeddings output is scored as `avc eval` scores it: the dot product of the two.
    for o in &embeddings {
        let mut named = Vec::new();
        for &id in &o.from {
            let name = format!("{}.{}", o.name, checked.tower(id).label());
            joint.inputs.push(info(&name, checked.shape(id)));
            named.push(name);
        }
        let [v, a] = named.as_slice() else {
            return Err(OnnxError::Split(format!("embeddings output `{}` has not two parts", o.name)));
        };
        joint.b.scope = o.name.clone();
        let prod = joint.b.binary("Mul", v, a);
        let score = joint.b.reduce("ReduceSum", &prod, &[-1], false);
        let mut shape = checked.shape(o.from[0]).cloned();
        if let Some(s) = shape.as_mut() {
            s.0.pop();
        }
        joint.output(&score, &o.name, shape.as_ref());
    }
    if joint.outputs.is_empty() {
        return Err(OnnxError::Split("no output reads both towers".into()));
    }
    let mut parts = Vec::new();
    for tower in [Tower::Video, Tower::Audio] {
        let mut p = Part::new(graph, checked, weights);
        for &(id, stream) in &inputs {
            if stream == tower.label() {
                p.bind(id, stream);
            }
        }
        if p.inputs.is_empty() {
            return Err(OnnxError::Split(format!("the model has no {} input", tower.label())));
        }
        let mine: Vec<NodeId> = frontier.iter().copied().filter(|&id| checked.tower(id) == tower).collect();
        let values = p.emit(&mine)?;
        for (value, &id) in values.iter().zip(&mine) {
            p.output(value, &boundary_name(graph, id), checked.shape(id));
        }
        for site in &used_sites {
            if !share_towers(site).contains(&tower) {
                continue;
            }
            let part_inputs: Vec<NodeId> = site.parts.iter().filter(|q| q.tower == tower).map(|q| q.input).collect();
            p.emit(&part_inputs)?;
            let share = p.emit_share(site, tower)?;
            let name = share_name(&graph.node(site.node).name, tower);
            let shape = checked.shape(site.concat).map(|s| s.with_dim(s.rank() - 1, Dim::Fixed(site.width)));
            p.output(&share, &name, shape.as_ref());
        }
        for o in &embeddings {
            for &id in o.from.iter().filter(|&&id| checked.tower(id) == tower) {
                let value = p.emit(&[id])?.remove(0);
                p.output(&value, &format!("{}.{}", o.name, tower.label()), checked.shape(id));
            }
        }
        let name = format!("{}_tower", tower.label());
        parts.push(p.finish(&name, &metadata(meta, graph, &name)));
    }
    parts.push(joint.finish("joint", &metadata(meta, graph, "joint")));
    Ok(parts)
}
