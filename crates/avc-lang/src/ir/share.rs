//! `share: INSTANCE` on a block use: every node of the new instance applies the layer of
//! its counterpart in INSTANCE (`aemb.proj` that of `vemb.proj`), so the two uses of the
//! block are one module called twice. The pairs become ordinary node-level shares, which
//! `build` then resolves and checks like any other; here the instance as a whole is
//! checked, so one mistake gives one error, not one per inner node.

use super::NodeKind;
use super::build::{BuildError, FlatNode};
use crate::ast::Ident;
use crate::source::Span;
use std::collections::{HashMap, HashSet};

/// One `share:` on a block use, as written.
pub(super) struct InstanceShare {
    /// The sharing instance (`aemb`) and its block.
    pub node: String,
    pub block: String,
    /// The `share:` value and the instance it names, resolved in the use's scope.
    pub target: (Ident, String),
}

/// A block instance that expanded: its block and where it was written.
pub(super) struct Instance {
    pub block: String,
    pub span: Span,
}

/// Turns each instance share into node shares, or reports why it cannot be.
pub(super) fn share_instances(
    nodes: &mut [FlatNode],
    instances: &HashMap<String, Instance>,
    requests: &[InstanceShare],
    broken: &HashSet<String>,
    errors: &mut Vec<BuildError>,
) {
    if requests.is_empty() {
        return;
    }
    let index: HashMap<String, usize> = nodes.iter().enumerate().map(|(i, n)| (n.name.clone(), i)).collect();
    for request in requests {
        let (ident, target) = &request.target;
        let not_instance = |found: String| BuildError::ShareNotInstance {
            node: request.node.clone(),
            block: request.block.clone(),
            target: target.clone(),
            found,
            span: ident.span,
        };
        let Some(instance) = instances.get(target) else {
            match index.get(target.as_str()) {
                Some(&i) => errors.push(not_instance(describe(&nodes[i]))),
                // A broken instance is reported already; a name nothing defines is reported too.
                None if broken.contains(target) || broken.contains(&request.node) => {}
                None => errors.push(BuildError::UnknownShare {
                    node: request.node.clone(),
                    target: ident.clone(),
                    suggestion: None,
                }),
            }
            continue;
        };
        if *target == request.node {
            errors.push(not_instance("itself".into()));
            continue;
        }
        if instance.block != request.block {
            errors.push(not_instance(format!("an instance of block `{}`", instance.block)));
            continue;
        }
        let prefix = format!("{}.", request.node);
        let pairs: Vec<(usize, usize)> = nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| {
                let inner = n.name.strip_prefix(&prefix)?;
                Some((i, *index.get(&format!("{target}.{inner}"))?))
            })
            .collect();
        match first_difference(nodes, &pairs, &prefix) {
            Some((inner, mine, theirs)) => errors.push(BuildError::ShareInstanceMismatch {
                node: request.node.clone(),
                target: target.clone(),
                inner,
                mine,
                theirs,
                span: ident.span,
                target_span: instance.span,
            }),
            None => {
                for (mine, theirs) in pairs {
                    if matches!(nodes[mine].kind, NodeKind::Op(_)) {
                        let counterpart = nodes[theirs].name.clone();
                        nodes[mine].shares = Some((ident.clone(), counterpart));
                    }
                }
            }
        }
    }
}

/// "a `linear` node", "an input".
fn describe(n: &FlatNode) -> String {
    match &n.kind {
        NodeKind::Op(op) => format!("a `{}` node", op.name()),
        NodeKind::Input { .. } => "an input".into(),
    }
}

/// The first inner node whose op differs between the two instances (its name inside the
/// instance, and both ops' descriptions). Nodes still waiting for a width are skipped:
/// their own error is reported.
fn first_difference(nodes: &[FlatNode], pairs: &[(usize, usize)], prefix: &str) -> Option<(String, String, String)> {
    pairs.iter().find_map(|&(mine, theirs)| match (&nodes[mine].kind, &nodes[theirs].kind) {
        (NodeKind::Op(a), NodeKind::Op(b)) if a != b => {
            let inner = nodes[mine].name.strip_prefix(prefix).unwrap_or_default().to_string();
            Some((inner, format!("{} {}", a.name(), a.describe()), format!("{} {}", b.name(), b.describe())))
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use crate::front;
    use crate::source::SourceFile;

    const TEXT: &str = "
input video: [T, 6]
input audio: [T, 6]
block tower(x) {
    proj = linear(x, out: 4)
    act = relu(proj)
    return act
}
block pair(x) {
    first = tower(x)
    second = tower(first, share: first)
    return second
}
v = pair(video)
a = pair(audio, share: v)
head = linear(a, out: 4, share: v.first.proj)
output o: embeddings(v, head)
";

    fn owner(g: &crate::ir::Graph, name: &str) -> Option<String> {
        let node = g.node(g.find(name).unwrap_or_else(|| panic!("no {name}")));
        node.shares.map(|o| g.node(o).name.clone())
    }

    /// Instances nest: `a` shares `v`, whose `second` shares its own `first`; a chain ends at
    /// the node that owns the weights. A dotted name reaches into an instance.
    #[test]
    fn instance_shares_nest_and_dotted_names_reach_inside() {
        let module = front::parse(&SourceFile::new("s.avc", TEXT)).expect("parses");
        let g = crate::ir::build(&module).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(owner(&g, "v.first.proj"), None, "the owner");
        assert_eq!(owner(&g, "v.second.proj").as_deref(), Some("v.first.proj"));
        assert_eq!(owner(&g, "a.first.proj").as_deref(), Some("v.first.proj"));
        assert_eq!(owner(&g, "a.second.proj").as_deref(), Some("v.first.proj"), "chains are followed");
        assert_eq!(owner(&g, "a.first.act").as_deref(), Some("v.first.act"));
        assert_eq!(owner(&g, "head").as_deref(), Some("v.first.proj"));
    }
}
