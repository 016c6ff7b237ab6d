//! Node-level `share: NODE`: the value is resolved in the node's scope while expanding,
//! and once the graph's nodes exist each share is pointed at the node that owns the
//! weights (following chains), checked to run the same op with the same parameters, and
//! a chain that comes back to its start is reported as a cycle. Instance-level shares
//! (`share:` on a block use) are turned into these by `ir::share` before this runs.

use super::resolve::Scope;
use super::{BuildError, Builder, NameLookup};
use crate::ast::{self, Ident, ValueKind};
use crate::diag::did_you_mean;
use crate::ir::{Node, NodeKind};
use petgraph::graph::DiGraph;

impl<'a> Builder<'a> {
    /// Resolves a `share: NODE` argument in the node's scope; a bad one is reported here.
    pub(super) fn share(&mut self, arg: &ast::Arg, node: &str, scope: &Scope) -> Option<(Ident, String)> {
        let (ValueKind::Str(target) | ValueKind::Ref(target)) = &arg.value.kind else {
            let found = format!("{} `{}`", arg.value.kind.type_name(), arg.value);
            self.errors.push(BuildError::ShareValue { found, span: arg.value.span });
            return None;
        };
        let ident = Ident::new(target, arg.value.span);
        // `v.proj`: a node inside instance `v` of this scope (checked once all exist).
        let inner = || {
            let (head, rest) = target.split_once('.')?;
            Some(format!("{}.{rest}", self.resolve_ref(head, scope)?))
        };
        match self.resolve_ref(target, scope).or_else(inner) {
            Some(full) => Some((ident, full)),
            None => {
                let known: Vec<String> =
                    scope.locals.iter().filter(|l| format!("{}{l}", scope.prefix) != node).cloned().collect();
                let suggestion = did_you_mean(target, known.iter().map(String::as_str)).map(str::to_string);
                self.errors.push(BuildError::UnknownShare { node: node.to_string(), target: ident, suggestion });
                None
            }
        }
    }

    /// Points each `share:` at the node that owns the weights (following chains), and
    /// checks that both run the same op with the same parameters.
    pub(super) fn resolve_shares(&mut self, dag: &mut DiGraph<Node, usize>, lookup: &NameLookup) {
        let mut missing = Vec::new();
        for n in &self.nodes {
            let Some((ident, target)) = &n.shares else { continue };
            let Some(node) = lookup(&n.name, &self.aliases) else { continue };
            let Some(mut owner) = lookup(target, &self.aliases) else {
                // `v.proj` names a node inside an instance, known only now; other targets
                // that are missing are broken, and already reported.
                let in_broken = self.broken.iter().any(|b| target == b || target.starts_with(&format!("{b}.")));
                if !in_broken && target.contains('.') {
                    let prefix = target.rsplit_once('.').map_or("", |(p, _)| p);
                    let inner =
                        self.nodes.iter().filter_map(|m| m.name.strip_prefix(prefix)).filter(|r| r.starts_with('.'));
                    let candidates: Vec<String> = inner.map(|r| format!("{prefix}{r}")).collect();
                    let suggestion = did_you_mean(target, candidates.iter().map(String::as_str)).map(str::to_string);
                    let error = BuildError::UnknownShare { node: n.name.clone(), target: ident.clone(), suggestion };
                    missing.push(error);
                }
                continue;
            };
            // The chain of shares, to name a cycle by its nodes when it comes back here.
            let mut chain = vec![dag[node.0].name.clone(), dag[owner.0].name.clone()];
            for _ in 0..self.nodes.len() {
                match dag[owner.0].shares {
                    Some(next) if owner != node => {
                        owner = next;
                        chain.push(dag[owner.0].name.clone());
                    }
                    _ => break,
                }
            }
            if owner == node && chain.len() > 2 {
                self.errors.push(BuildError::ShareCycle { chain, span: ident.span });
                continue;
            }
            let mismatch = |found: String| BuildError::ShareMismatch {
                node: n.name.clone(),
                op: dag[node.0].op_name().to_string(),
                target: dag[owner.0].name.clone(),
                found,
                span: ident.span,
                target_span: dag[owner.0].span,
            };
            let error = match (&dag[node.0].kind, &dag[owner.0].kind) {
                _ if owner == node => Some(mismatch("itself".into())),
                (NodeKind::Op(mine), NodeKind::Op(theirs)) if mine.name() != theirs.name() => {
                    Some(mismatch(format!("a `{}` node", theirs.name())))
                }
                (NodeKind::Op(mine), NodeKind::Op(theirs)) if mine != theirs => {
                    Some(mismatch(format!("other parameters: {} vs {}", mine.describe(), theirs.describe())))
                }
                (NodeKind::Op(_), NodeKind::Op(_)) => None,
                _ => Some(mismatch("an input".into())),
            };
            match error {
                Some(e) => self.errors.push(e),
                None => dag[node.0].shares = Some(owner),
            }
        }
        self.errors.extend(missing);
    }
}
