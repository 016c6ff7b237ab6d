//! A statement with several targets, `a, b = chunk(x, axis: -1)` in the DSL and
//! `{name: [a, b], op: chunk, ...}` in YAML, becomes one node per target, each holding one
//! part (`index: 0`, `index: 1`): the IR stays one result per node, so every part is
//! shape-checked, drawn, exported and named like any other node. Only ops whose spec says
//! [`Results::Parts`] give several results; both front-ends share this expansion.

use crate::ast::{Arg, Ident, NodeDecl, Value, ValueKind};
use crate::ops::{self, Results};
use crate::source::Span;

/// Why several targets cannot take a call's results: data for either front-end's error.
#[derive(Debug, Clone, PartialEq)]
pub struct PartsError {
    pub problem: String,
    pub help: String,
    pub span: Span,
}

/// The ops that give several results, for messages.
fn multi_ops() -> String {
    let names: Vec<String> = ops::registry()
        .iter()
        .filter(|s| matches!(s.results, Results::Parts { .. }))
        .map(|s| format!("`{}`", s.name))
        .collect();
    names.join(" and ")
}

/// One node per target: `call` (the node as if it had one target) with `index: i`, and the
/// count parameter filled in or checked against the number of targets.
pub fn expand(call: NodeDecl, targets: &[Ident]) -> Result<Vec<NodeDecl>, PartsError> {
    let n = targets.len();
    let count = match ops::lookup(&call.callee.name).map(|s| s.results) {
        Some(Results::Parts { count }) => count,
        _ => {
            return Err(PartsError {
                problem: format!("`{}` gives one result, and {n} targets are named", call.callee.name),
                help: format!(
                    "several targets (`a, b = ...`) take the parts of {}; name one target for any other call",
                    multi_ops()
                ),
                span: call.callee.span,
            });
        }
    };
    if let Some(index) = call.args.iter().find(|a| a.name.name == "index") {
        return Err(PartsError {
            problem: format!("`index` is set for each of the {n} targets, and cannot be written here"),
            help: "remove `index:`; to take one part, name one target: `a = chunk(x, chunks: 2, index: 0)`".into(),
            span: index.name.span,
        });
    }
    let mut args = call.args.clone();
    match args.iter().find(|a| a.name.name == count).map(|a| &a.value) {
        None if count == "chunks" => args.push(Arg {
            name: Ident::new(count, call.callee.span),
            value: Value { kind: ValueKind::Int(n as i64), span: call.callee.span },
        }),
        Some(Value { kind: ValueKind::Int(k), span }) if *k != n as i64 => {
            return Err(count_error(&call, count, &k.to_string(), n, *span));
        }
        Some(Value { kind: ValueKind::List(items), span }) if items.len() != n => {
            return Err(count_error(&call, count, &format!("{} sizes", items.len()), n, *span));
        }
        // Absent `sizes` is reported by the op's own parameter check; a reference is
        // resolved later, where an index past its parts is an error of `index`.
        _ => {}
    }
    Ok(targets
        .iter()
        .enumerate()
        .map(|(i, target)| {
            let mut args = args.clone();
            args.push(Arg {
                name: Ident::new("index", target.span),
                value: Value { kind: ValueKind::Int(i as i64), span: target.span },
            });
            NodeDecl { name: target.clone(), args, ..call.clone() }
        })
        .collect())
}

fn count_error(call: &NodeDecl, count: &str, given: &str, n: usize, span: Span) -> PartsError {
    PartsError {
        problem: format!("`{}` is given {count}: {given}, and {n} targets are named", call.callee.name),
        help: format!("name one target per part, or leave `{count}` out (the targets' number is used)"),
        span,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(callee: &str, args: Vec<Arg>) -> NodeDecl {
        NodeDecl {
            name: Ident::new("_", Span::empty()),
            callee: Ident::new(callee, Span::empty()),
            inputs: vec![Ident::new("x", Span::empty())],
            args,
            span: Span::empty(),
            nested: None,
        }
    }

    fn int(name: &str, v: i64) -> Arg {
        Arg { name: Ident::new(name, Span::empty()), value: Value { kind: ValueKind::Int(v), span: Span::empty() } }
    }

    fn targets(names: &[&str]) -> Vec<Ident> {
        names.iter().map(|n| Ident::new(*n, Span::empty())).collect()
    }

    #[test]
    fn each_target_gets_its_part_and_the_count() {
        let nodes = expand(node("chunk", vec![int("axis", -1)]), &targets(&["a", "b", "c"])).unwrap();
        let index: Vec<_> =
            nodes.iter().map(|n| (n.name.name.as_str(), n.args.last().unwrap().value.kind.clone())).collect();
        assert_eq!(index, [("a", ValueKind::Int(0)), ("b", ValueKind::Int(1)), ("c", ValueKind::Int(2))]);
        assert!(nodes[2].args.iter().any(|a| a.name.name == "chunks" && a.value.kind == ValueKind::Int(3)));
    }

    #[test]
    fn one_result_ops_and_mismatched_counts_are_refused() {
        let e = expand(node("linear", vec![]), &targets(&["a", "b"])).unwrap_err();
        assert!(e.problem.contains("`linear` gives one result") && e.help.contains("`chunk` and `split`"), "{e:?}");
        let e = expand(node("chunk", vec![int("chunks", 3)]), &targets(&["a", "b"])).unwrap_err();
        assert!(e.problem.contains("chunks: 3, and 2 targets"), "{e:?}");
        let e = expand(node("split", vec![int("index", 1)]), &targets(&["a", "b"])).unwrap_err();
        assert!(e.problem.contains("`index` is set for each"), "{e:?}");
    }
}
