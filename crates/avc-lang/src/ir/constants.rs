//! The order constants are evaluated in: a constant may use one written after it (`let P =
//! (K - 1) / 2` above `let K = 5`), as statements come in any order, so each is evaluated
//! after the constants it reads. Constants that read each other in a cycle are reported by
//! the cycle's names (`A -> B -> A`) and left unevaluated. The walk keeps its own stack:
//! a chain of a million constants costs no recursion.

use crate::ast::{Constant, Value, ValueKind};
use crate::source::Span;
use std::collections::HashMap;

/// A cycle among constants: their names, the first repeated at the end, and the span of the
/// reference that closes it.
pub(super) struct ConstantCycle {
    pub chain: Vec<String>,
    pub span: Span,
}

/// The indices of `constants` in an order where each comes after those it reads (the file's
/// order where it allows), without those in a cycle; and the cycles.
pub(super) fn evaluation_order(constants: &[&Constant]) -> (Vec<usize>, Vec<ConstantCycle>) {
    let index: HashMap<&str, usize> = constants.iter().enumerate().map(|(i, c)| (c.name.name.as_str(), i)).collect();
    let reads: Vec<Vec<(usize, Span)>> = constants
        .iter()
        .map(|c| {
            let mut refs = Vec::new();
            references(&c.value, &mut refs);
            refs.into_iter().filter_map(|(name, span)| Some((*index.get(name)?, span))).collect()
        })
        .collect();
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        Open,
        Done,
    }
    let mut state = vec![State::New; constants.len()];
    let mut in_cycle = vec![false; constants.len()];
    let (mut order, mut cycles) = (Vec::new(), Vec::new());
    for root in 0..constants.len() {
        if state[root] != State::New {
            continue;
        }
        // (constant, next reference to follow)
        let mut stack = vec![(root, 0usize)];
        state[root] = State::Open;
        while let Some(&mut (at, ref mut next)) = stack.last_mut() {
            let Some(&(to, span)) = reads[at].get(*next) else {
                state[at] = State::Done;
                order.push(at);
                stack.pop();
                continue;
            };
            *next += 1;
            match state[to] {
                State::New => {
                    state[to] = State::Open;
                    stack.push((to, 0));
                }
                State::Open => {
                    let from = stack.iter().position(|&(c, _)| c == to).unwrap_or(0);
                    let mut chain: Vec<String> =
                        stack[from..].iter().map(|&(c, _)| constants[c].name.name.clone()).collect();
                    chain.push(constants[to].name.name.clone());
                    stack[from..].iter().for_each(|&(c, _)| in_cycle[c] = true);
                    cycles.push(ConstantCycle { chain, span });
                }
                State::Done => {}
            }
        }
    }
    // A constant that reads one in a cycle cannot be evaluated either; it is left out
    // quietly (the cycle is the error), as are the cycle's own constants.
    let mut blocked = in_cycle;
    for &c in &order {
        if reads[c].iter().any(|&(to, _)| blocked[to]) {
            blocked[c] = true;
        }
    }
    order.retain(|&c| !blocked[c]);
    (order, cycles)
}

/// The names a value reads (inside expressions and lists), with their spans.
fn references<'v>(value: &'v Value, out: &mut Vec<(&'v str, Span)>) {
    match &value.kind {
        ValueKind::Ref(name) => out.push((name, value.span)),
        ValueKind::Arith(a) => a.operands().for_each(|v| references(v, out)),
        ValueKind::List(items) => items.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}
