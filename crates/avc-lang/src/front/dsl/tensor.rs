//! Tensor expressions in the DSL: `z * hv + (1 - z) * ha`, `-x`, `0.5 * x`, `x[:, 0:64]`,
//! lowered to nodes of the arithmetic ops (`add`, `sub`, `mul`, `div`, `neg`) and `slice`.
//!
//! Every operator is a node: the outermost one takes the statement's name, inner ones are
//! anonymous (`h_mul`, `h_sub`, ...) and come before the node that reads them. A run of
//! `+` between tensors stays one n-ary `add` node, as before tensor arithmetic. A number
//! operand becomes the node's `left:` or `right:` parameter (`1 - z` is `sub(z, left: 1)`),
//! so YAML writes the same nodes. Chains (`a - b - c`, `x[..][..]`) are folded in a loop, not
//! by recursion: only parentheses and calls nest, and the nesting guard bounds those.

use super::{Lowerer, Scope, Tree, parts, span_of, token_span};
use crate::ast::{Arg, ArithOp, Ident, Nested, NodeDecl, Value, ValueKind};
use crate::front::dsl::error::DslError;
use crate::front::dsl::syntax::Rule;
use crate::source::Span;

/// What a piece of a tensor expression is once lowered.
#[derive(Debug, Clone)]
pub(super) enum Operand {
    /// A node or input, by name.
    Node(Ident),
    /// A number: only an operand of an operator, never a node.
    Number(Value),
}

/// Where a lowered piece goes: the statement's own name (and span), or an anonymous node
/// named after `owner`.
#[derive(Clone)]
pub(super) struct Target<'a> {
    pub named: Option<(Ident, Span)>,
    pub owner: &'a str,
}

impl Target<'_> {
    fn anonymous(&self) -> Self {
        Target { named: None, owner: self.owner }
    }

    /// Where a node made for this target was written: inside the owner's statement when
    /// it is anonymous, nowhere special when it is the statement's own node.
    fn nested(&self) -> Option<Nested> {
        self.named.is_none().then(|| Nested::In(self.owner.to_string()))
    }
}

/// The op of each operator.
fn op_name(op: ArithOp) -> &'static str {
    match op {
        ArithOp::Add => "add",
        ArithOp::Sub => "sub",
        ArithOp::Mul => "mul",
        ArithOp::Div => "div",
    }
}

fn operator(rule: Rule) -> Option<ArithOp> {
    Some(match rule {
        Rule::plus => ArithOp::Add,
        Rule::minus => ArithOp::Sub,
        Rule::times => ArithOp::Mul,
        Rule::divide => ArithOp::Div,
        _ => return None,
    })
}

impl Lowerer {
    /// Lowers a tensor expression (`expr` or any of its levels). With a named target, the
    /// node it makes has that name; a lone name or number makes no node and is returned.
    pub(super) fn tensor(&mut self, pair: Tree, target: &Target, scope: &mut Scope) -> Option<Operand> {
        match pair.as_rule() {
            Rule::expr | Rule::product_t => self.chain(pair, target, scope),
            Rule::unary_t => self.unary(pair, target, scope),
            Rule::postfix_t => self.postfix(pair, target, scope),
            Rule::group => self.tensor(parts(pair).next()?, target, scope),
            Rule::call => {
                let callee = parts(pair.clone()).next()?;
                let (name, span) = match &target.named {
                    Some((name, span)) => (name.clone(), *span),
                    None => {
                        let base = format!("{}_{}", target.owner, callee.as_str());
                        (Ident::new(scope.fresh(&base), span_of(&callee)), span_of(&pair))
                    }
                };
                self.call(name.clone(), pair, span, target.owner, target.nested(), scope);
                Some(Operand::Node(name))
            }
            Rule::ident => Some(Operand::Node(super::ident(&pair))),
            Rule::number => self.number(pair),
            _ => None,
        }
    }

    /// `a op b op c ...` folded from the left; consecutive `+` between tensors make one
    /// `add` node. Only the last node made takes the target's name.
    fn chain(&mut self, pair: Tree, target: &Target, scope: &mut Scope) -> Option<Operand> {
        let items: Vec<Tree> = pair.into_inner().collect();
        if items.len() == 1 {
            return self.tensor(items.into_iter().next()?, target, scope);
        }
        let anon = target.anonymous();
        let mut it = items.into_iter();
        let first = it.next()?;
        let start = span_of(&first).start;
        let mut acc = self.tensor(first, &anon, scope);
        let mut failed = acc.is_none();
        let mut steps = Vec::new();
        while let (Some(op), Some(rhs)) = (it.next(), it.next()) {
            let end = span_of(&rhs).end;
            let rhs = self.tensor(rhs, &anon, scope);
            failed |= rhs.is_none();
            steps.push((operator(op.as_rule())?, span_of(&op), rhs, end));
        }
        if failed {
            return None;
        }
        // `sum`: tensors added so far that are not a node yet, and the first `+`'s span.
        let mut sum: Vec<Ident> = Vec::new();
        let mut plus = Span::empty();
        let count = steps.len();
        for (k, (op, op_span, rhs, end)) in steps.into_iter().enumerate() {
            let (lhs, rhs) = (acc.take()?, rhs?);
            let last = k + 1 == count;
            let here = if last { target.clone() } else { anon.clone() };
            let span = Span::new(start, end);
            match (op, &lhs, &rhs) {
                (ArithOp::Add, Operand::Node(a), Operand::Node(b)) => {
                    if sum.is_empty() {
                        sum.push(a.clone());
                        plus = op_span;
                    }
                    sum.push(b.clone());
                    acc = if last {
                        Some(self.sum(std::mem::take(&mut sum), plus, span, &here, scope))
                    } else {
                        Some(lhs)
                    };
                }
                _ => {
                    let lhs = if sum.is_empty() {
                        lhs
                    } else {
                        self.sum(std::mem::take(&mut sum), plus, Span::new(start, op_span.start), &anon, scope)
                    };
                    acc = Some(self.binary(op, op_span, lhs, rhs, span, &here, scope)?);
                }
            }
        }
        acc
    }

    /// One `add` node over tensors.
    fn sum(&mut self, inputs: Vec<Ident>, plus: Span, span: Span, target: &Target, scope: &mut Scope) -> Operand {
        let callee = Ident::new("add", plus);
        Operand::Node(self.make(callee, inputs, Vec::new(), span, target, scope))
    }

    /// `lhs op rhs` as a node; a number operand becomes `left:` or `right:`.
    #[allow(clippy::too_many_arguments)]
    fn binary(
        &mut self,
        op: ArithOp,
        op_span: Span,
        lhs: Operand,
        rhs: Operand,
        span: Span,
        target: &Target,
        scope: &mut Scope,
    ) -> Option<Operand> {
        let scalar = |side: &str, v: Value| Arg { name: Ident::new(side, v.span), value: v };
        let (inputs, args) = match (lhs, rhs) {
            (Operand::Node(a), Operand::Node(b)) => (vec![a, b], Vec::new()),
            (Operand::Node(a), Operand::Number(v)) => (vec![a], vec![scalar("right", v)]),
            (Operand::Number(v), Operand::Node(b)) => (vec![b], vec![scalar("left", v)]),
            (Operand::Number(a), Operand::Number(b)) => {
                self.error(DslError::Tensor {
                    problem: format!("`{a} {} {b}` has no tensor operand", op.symbol()),
                    help: "tensor arithmetic needs a node or input on one side at least; arithmetic on numbers \
                           alone is value arithmetic, written in a parameter (`out: 2 * H`) or a constant \
                           (`let H2 = 2 * H`)"
                        .into(),
                    span,
                });
                return None;
            }
        };
        let callee = Ident::new(op_name(op), op_span);
        Some(Operand::Node(self.make(callee, inputs, args, span, target, scope)))
    }

    /// Pushes a node: the target's name, or a fresh `<owner>_<op>`.
    fn make(
        &mut self,
        callee: Ident,
        inputs: Vec<Ident>,
        args: Vec<Arg>,
        span: Span,
        target: &Target,
        scope: &mut Scope,
    ) -> Ident {
        let (name, span) = match &target.named {
            Some((name, statement)) => (name.clone(), *statement),
            None => (Ident::new(scope.fresh(&format!("{}_{}", target.owner, callee.name)), callee.span), span),
        };
        scope.nodes.push(NodeDecl { name: name.clone(), callee, inputs, args, span, nested: target.nested() });
        name
    }

    /// `-x`: a `neg` node, or a negative number.
    fn unary(&mut self, pair: Tree, target: &Target, scope: &mut Scope) -> Option<Operand> {
        let span = span_of(&pair);
        let minuses: Vec<Span> =
            pair.clone().into_inner().filter(|p| p.as_rule() == Rule::minus).map(|p| span_of(&p)).collect();
        let operand = pair.into_inner().find(|p| p.as_rule() == Rule::postfix_t)?;
        let Some(&minus) = minuses.first() else { return self.tensor(operand, target, scope) };
        if minuses.len() > 1 {
            self.error(DslError::Tensor {
                problem: "more than one unary `-` in a row".into(),
                help: "write one `-` (`--x` is `x`); parenthesise to negate twice: `-(-x)`".into(),
                span: Span::new(minus.start, minuses[minuses.len() - 1].end),
            });
            return None;
        }
        match self.tensor(operand, &target.anonymous(), scope)? {
            Operand::Number(v) => {
                let kind = match v.kind {
                    ValueKind::Int(i) => ValueKind::Int(i.checked_neg()?),
                    ValueKind::Float(x) => ValueKind::Float(-x),
                    other => other,
                };
                Some(Operand::Number(Value { kind, span }))
            }
            Operand::Node(x) => {
                let callee = Ident::new("neg", minus);
                Some(Operand::Node(self.make(callee, vec![x], Vec::new(), span, target, scope)))
            }
        }
    }

    /// A number operand.
    fn number(&mut self, pair: Tree) -> Option<Operand> {
        let span = span_of(&pair);
        let inner = pair.into_inner().next()?;
        let text = inner.as_str();
        let kind = match inner.as_rule() {
            Rule::int => match text.parse::<i64>() {
                Ok(n) => ValueKind::Int(n),
                Err(_) => {
                    self.error(DslError::IntOutOfRange { text: text.into(), span });
                    return None;
                }
            },
            _ => match text.parse::<f64>() {
                Ok(x) if x.is_finite() => ValueKind::Float(x),
                _ => {
                    self.error(DslError::FloatOutOfRange { text: text.into(), span });
                    return None;
                }
            },
        };
        Some(Operand::Number(Value { kind, span }))
    }

    /// `x[...][...]`: one `slice` or `select` node per indexed axis; the last takes the name.
    fn postfix(&mut self, pair: Tree, target: &Target, scope: &mut Scope) -> Option<Operand> {
        let mut it = pair.into_inner();
        let base = it.next()?;
        let indexes: Vec<Tree> = it.collect();
        if indexes.is_empty() {
            return self.tensor(base, target, scope);
        }
        let base_span = span_of(&base);
        let mut slices = Vec::new();
        for index in &indexes {
            slices.extend(self.index(index.clone())?);
        }
        let x = match self.tensor(base, &target.anonymous(), scope)? {
            Operand::Node(x) => x,
            Operand::Number(v) => {
                self.error(DslError::Tensor {
                    problem: format!("the number `{v}` cannot be sliced"),
                    help: "slice a node or input: `x[:, 0:64]`".into(),
                    span: v.span,
                });
                return None;
            }
        };
        if slices.is_empty() {
            let span = indexes.last().map_or(base_span, span_of);
            self.error(DslError::Tensor {
                problem: "this index slices nothing: every entry is `:`".into(),
                help: "`:` keeps a whole axis; use the node itself, or give a range (`x[:, 0:64]`)".into(),
                span: Span::new(indexes[0].as_span().start(), span.end),
            });
            return None;
        }
        let count = slices.len();
        let mut acc = x;
        for (k, (op, args, bracket, end)) in slices.into_iter().enumerate() {
            let here = if k + 1 == count { target.clone() } else { target.anonymous() };
            let callee = Ident::new(op, bracket);
            acc = self.make(callee, vec![acc], args, Span::new(base_span.start, end), &here, scope);
        }
        Some(Operand::Node(acc))
    }

    /// One `[...]`: the op (`slice` for a range, `select` for one position) and arguments of
    /// each entry that is not `:`, with the entry's span and the end of the index, from the
    /// last axis to the first. Entry k is axis k + 1: the batch is not written.
    fn index(&mut self, index: Tree) -> Option<Vec<Indexing>> {
        let end = span_of(&index).end;
        let mut out = Vec::new();
        let mut ok = true;
        for (k, item) in index.into_inner().filter(|p| p.as_rule() == Rule::index_item).enumerate() {
            let span = span_of(&item);
            let Some(inner) = item.into_inner().next() else { continue };
            if inner.as_rule() == Rule::arith {
                // `x[:, 0]`: one position, the axis dropped (Python's and PyTorch's meaning).
                let index = self.arith_value(inner);
                ok &= index.is_some();
                if let Some(index) = index {
                    let axis = Value { kind: ValueKind::Int(k as i64 + 1), span };
                    let args = vec![
                        Arg { name: Ident::new("axis", span), value: axis },
                        Arg { name: Ident::new("index", index.span), value: index },
                    ];
                    out.push(("select", args, span, end));
                }
                continue;
            }
            // Bounds between the colons: start, end, step (each optional).
            let mut bounds: [Option<Value>; 3] = [None, None, None];
            let mut slot = 0;
            for part in inner.into_inner() {
                match part.as_rule() {
                    Rule::colon => slot += 1,
                    Rule::arith => {
                        let v = self.arith_value(part);
                        ok &= v.is_some();
                        if let Some(b) = bounds.get_mut(slot) {
                            *b = v;
                        }
                    }
                    _ => {}
                }
            }
            let [start, stop, step] = bounds;
            if let Some(step) = step
                && step.kind != ValueKind::Int(1)
            {
                self.error(DslError::Tensor {
                    problem: format!("a slice step (`{step}`) is not supported"),
                    help: "slices take every element from start to end: `x[:, 0:64]`; pool with `maxpool1d` or \
                           `avgpool1d` (`stride:`) to take every n-th step"
                        .into(),
                    span: step.span,
                });
                ok = false;
                continue;
            }
            if start.is_none() && stop.is_none() {
                continue; // `:`, the whole axis
            }
            let axis = Value { kind: ValueKind::Int(k as i64 + 1), span };
            let mut args = vec![Arg { name: Ident::new("axis", span), value: axis }];
            args.extend(start.map(|v| Arg { name: Ident::new("start", v.span), value: v }));
            args.extend(stop.map(|v| Arg { name: Ident::new("end", v.span), value: v }));
            out.push(("slice", args, span, end));
        }
        // A `select` drops its axis: taking the entries from the last axis to the first
        // keeps every entry's axis number that of the tensor as written.
        out.reverse();
        ok.then_some(out)
    }
}

/// One entry of an index as a node: its op (`slice` or `select`), arguments, the entry's
/// span and the end of the index.
type Indexing = (&'static str, Vec<Arg>, Span, usize);

/// Where an anonymous node's name points for a whole expression (a block's `return`): its
/// first operator, `[`, or call's name.
pub(super) fn anchor(expr: &Tree) -> Span {
    for rule in [Rule::plus, Rule::minus, Rule::times, Rule::divide] {
        if let Some(span) = token_span(expr, rule) {
            return span;
        }
    }
    let inner: Vec<Tree> = expr.clone().into_inner().collect();
    match inner.as_slice() {
        [only] => match only.as_rule() {
            Rule::call => parts(only.clone()).next().map_or_else(|| span_of(only), |c| span_of(&c)),
            Rule::ident | Rule::number => span_of(only),
            _ => anchor(only),
        },
        [_, index, ..] if index.as_rule() == Rule::index => span_of(index),
        _ => span_of(expr),
    }
}

/// The name an expression is, when it is only a name (possibly in parentheses).
pub(super) fn lone_name(expr: &Tree) -> Option<Ident> {
    let mut pair = expr.clone();
    loop {
        let inner: Vec<Tree> = parts(pair.clone()).collect();
        match inner.as_slice() {
            [only] if only.as_rule() == Rule::ident => return Some(super::ident(only)),
            [only] if pair.as_rule() != Rule::unary_t || token_span(&pair, Rule::minus).is_none() => {
                pair = only.clone()
            }
            _ => return None,
        }
        if matches!(pair.as_rule(), Rule::call | Rule::number) {
            return None;
        }
    }
}
