//! The block instances of a graph as the classes' scopes: which block each instance is,
//! what it is bound to, which items (nodes and child instances) each scope runs and in
//! which order, and the Python name of every value inside a scope.

use super::TorchError;
use super::names;
use avc_lang::ast::{BlockDecl, Module, NodeDecl};
use avc_lang::ir::{Graph, NodeId, NodeKind};
use std::collections::{BTreeMap, HashMap};

/// One block instance.
pub(crate) struct Instance<'a> {
    pub block: &'a BlockDecl,
    /// Its declaration in the parent's body (or the file's nodes).
    pub decl: &'a NodeDecl,
    /// The enclosing instance; `None` at the top level.
    pub parent: Option<String>,
}

/// A scope: the model (`None`) or an instance (its full name).
pub(crate) type ScopeName = Option<String>;

/// A thing a scope runs: one of its own nodes or a child instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Item {
    Node(NodeId),
    Instance(String),
}

pub(crate) struct Scopes<'a> {
    pub graph: &'a Graph,
    pub module: &'a Module,
    pub blocks: HashMap<&'a str, &'a BlockDecl>,
    pub instances: BTreeMap<String, Instance<'a>>,
    /// Position of each node in the graph's topological order.
    position: Vec<usize>,
}

impl<'a> Scopes<'a> {
    pub fn new(graph: &'a Graph, module: &'a Module) -> Scopes<'a> {
        let blocks: HashMap<&str, &BlockDecl> = module.blocks.iter().map(|b| (b.name.name.as_str(), b)).collect();
        let mut instances = BTreeMap::new();
        collect(&blocks, "", &module.nodes, None, &mut instances);
        let mut position = vec![0; graph.len()];
        for (k, id) in graph.topo().iter().enumerate() {
            position[id.index()] = k;
        }
        Scopes { graph, module, blocks, instances, position }
    }

    /// How many instances enclose the scope's own nodes.
    pub fn depth(scope: &ScopeName) -> usize {
        scope.as_ref().map_or(0, |s| s.matches('.').count() + 1)
    }

    /// The scope a node is directly in.
    pub fn scope_of(&self, id: NodeId) -> ScopeName {
        self.graph.node(id).instance.last().cloned()
    }

    /// The item of `scope` that holds `id` (itself, or the child instance it is inside);
    /// `None` when it is outside the scope.
    pub fn item_of(&self, scope: &ScopeName, id: NodeId) -> Option<Item> {
        let chain = &self.graph.node(id).instance;
        let d = Self::depth(scope);
        if d > 0 && chain.get(d - 1) != scope.as_ref() {
            return None;
        }
        match chain.get(d) {
            None => Some(Item::Node(id)),
            Some(child) => Some(Item::Instance(child.clone())),
        }
    }

    /// A name as written in `scope` (a block input, a node or an instance of it), as the node
    /// that holds its value.
    pub fn resolve(&self, scope: &ScopeName, name: &str) -> Option<NodeId> {
        let full = match scope {
            None => name.to_string(),
            Some(s) => {
                let inst = self.instances.get(s)?;
                if let Some(i) = inst.block.inputs.iter().position(|x| x.name == name) {
                    return self.binding(s, i);
                }
                format!("{s}.{name}")
            }
        };
        if self.instances.contains_key(&full) { self.result(&full) } else { self.graph.find(&full) }
    }

    /// The node holding an instance's result.
    pub fn result(&self, inst: &str) -> Option<NodeId> {
        let block = self.instances.get(inst)?.block;
        self.resolve(&Some(inst.to_string()), &block.output.name)
    }

    /// The node bound to an instance's input `i`.
    pub fn binding(&self, inst: &str, i: usize) -> Option<NodeId> {
        let instance = self.instances.get(inst)?;
        let name = &instance.decl.inputs.get(i)?.name;
        self.resolve(&instance.parent, name)
    }

    /// The local name of an instance or a node in its scope (`rnn` of `vrnn.rnn`).
    pub fn local(full: &str) -> &str {
        full.rsplit('.').next().unwrap_or(full)
    }

    /// The items a scope runs, in an order where each comes after what it reads (the
    /// graph's order where that allows).
    pub fn items(&self, scope: &ScopeName) -> Vec<Item> {
        let mut first: BTreeMap<Item, usize> = BTreeMap::new();
        for &id in self.graph.topo() {
            if let NodeKind::Input { .. } = self.graph.node(id).kind {
                continue;
            }
            if let Some(item) = self.item_of(scope, id) {
                let pos = self.position[id.index()];
                first.entry(item).and_modify(|p| *p = (*p).min(pos)).or_insert(pos);
            }
        }
        let deps: BTreeMap<Item, Vec<Item>> = first.keys().map(|item| (item.clone(), self.deps(scope, item))).collect();
        let mut done: Vec<Item> = Vec::new();
        let mut left: Vec<(usize, Item)> = first.into_iter().map(|(item, p)| (p, item)).collect();
        left.sort();
        while !left.is_empty() {
            let ready = left.iter().position(|(_, item)| deps[item].iter().all(|d| done.contains(d) || d == item));
            // A cycle between items cannot come from a checked graph; take the earliest.
            let k = ready.unwrap_or(0);
            done.push(left.remove(k).1);
        }
        done
    }

    /// The nodes of an item (a child instance's whole subtree).
    pub fn nodes_of(&self, item: &Item) -> Vec<NodeId> {
        match item {
            Item::Node(id) => vec![*id],
            Item::Instance(name) => {
                self.graph.topo().iter().copied().filter(|&id| self.graph.node(id).instance.contains(name)).collect()
            }
        }
    }

    /// The items of `scope` an item reads.
    pub fn deps(&self, scope: &ScopeName, item: &Item) -> Vec<Item> {
        let mut out = Vec::new();
        for id in self.nodes_of(item) {
            for input in self.graph.inputs_of(id) {
                if let Some(dep) = self.item_of(scope, input)
                    && !matches!(self.graph.node(input).kind, NodeKind::Input { .. })
                    && dep != *item
                    && !out.contains(&dep)
                {
                    out.push(dep);
                }
            }
        }
        out
    }

    /// The Python value of node `id` read inside `scope`: a node of the scope, a child
    /// instance's result, or one of the scope's inputs.
    pub fn value(&self, scope: &ScopeName, id: NodeId, vars: &names::Vars) -> Result<String, TorchError> {
        let node = self.graph.node(id);
        match self.item_of(scope, id) {
            Some(Item::Node(_)) if matches!(node.kind, NodeKind::Input { .. }) => Ok(vars.input(&node.name)),
            Some(Item::Node(id)) => Ok(vars.node(id)),
            Some(Item::Instance(child)) if self.result(&child) == Some(id) => Ok(vars.instance(&child)),
            Some(Item::Instance(child)) => Err(TorchError::unsupported(
                &node.name,
                node.op_name(),
                format!("it is read from outside its block instance `{child}`, which returns another node"),
            )),
            None => {
                let inst = scope.as_deref().and_then(|s| self.instances.get(s).map(|i| (s, i)));
                let found = inst.and_then(|(s, i)| {
                    (0..i.block.inputs.len()).find(|&k| self.binding(s, k) == Some(id)).map(|k| &i.block.inputs[k].name)
                });
                found.map(|n| vars.input(n)).ok_or_else(|| {
                    TorchError::unsupported(
                        &node.name,
                        node.op_name(),
                        "it is read inside a block instance that does not take it as an input",
                    )
                })
            }
        }
    }

    /// When every node of instance `inst` applies the layer of the same node of another
    /// instance (`share:` on a block use), that instance.
    pub fn shared_instance(&self, inst: &str) -> Option<String> {
        let nodes = self.nodes_of(&Item::Instance(inst.to_string()));
        let mut owner: Option<String> = None;
        for id in &nodes {
            let node = self.graph.node(*id);
            let target = self.graph.node(node.shares?).name.clone();
            let suffix = node.name.strip_prefix(inst)?;
            let candidate = target.strip_suffix(suffix)?.to_string();
            match &owner {
                Some(o) if *o != candidate => return None,
                _ => owner = Some(candidate),
            }
        }
        owner.filter(|o| self.instances.contains_key(o))
    }

    /// The declaration of a node of `scope` in its block's body (or the file's nodes).
    pub fn decl(&self, scope: &ScopeName, local: &str) -> Option<&'a NodeDecl> {
        let nodes = match scope {
            None => &self.module.nodes,
            Some(s) => &self.instances.get(s)?.block.nodes,
        };
        nodes.iter().find(|d| d.name.name == local)
    }

    /// The source text of a span.
    pub fn text(&self, span: avc_lang::source::Span) -> &str {
        self.graph.source.text().get(span.start..span.end).unwrap_or("")
    }
}

/// Every block instance under `prefix`, by full name.
fn collect<'a>(
    blocks: &HashMap<&'a str, &'a BlockDecl>,
    prefix: &str,
    nodes: &'a [NodeDecl],
    parent: Option<String>,
    out: &mut BTreeMap<String, Instance<'a>>,
) {
    for decl in nodes {
        let Some(&block) = blocks.get(decl.callee.name.as_str()) else { continue };
        let full = format!("{prefix}{}", decl.name.name);
        if out.contains_key(&full) {
            continue;
        }
        out.insert(full.clone(), Instance { block, decl, parent: parent.clone() });
        collect(blocks, &format!("{full}."), &block.nodes, Some(full), out);
    }
}
