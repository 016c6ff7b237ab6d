//! Which nodes the DSL printer writes nested inside another node's statement, and the
//! expressions it writes for them.
//!
//! The DSL front-end makes an anonymous node of every nested call and operator
//! (`h = linear(relu(x), out: 64)` is `h_relu` and `h`) and records where it was written
//! ([`Nested`]). Printed nested again, the text parses back to the same nodes with the same
//! names: anonymous names depend only on the statement, the ops and their order, all of
//! which the printed expression keeps. A node is printed nested only where that is sure to
//! hold: written nested in this very statement, and used exactly once, as an input of a
//! node of that statement that comes after it. Anything else (a name that another
//! statement, an output, a `width()` or a `share:` reads; an AST built by other means)
//! gets a statement of its own, as every node did before.
//!
//! Expressions are built in one pass over the nodes in order, each taking its inputs' text
//! from the nodes before it: no recursion, so a chain of 20,000 operators (`x + 1 + 1 ...`,
//! one node per `+`) costs no stack, and the text of a left operand is extended in place,
//! not copied, so such a chain costs linear time.

use super::dsl::value;
use crate::ast::{Arg, BlockDecl, Module, Nested, NodeDecl, Value, ValueKind, format_float};
use std::collections::{HashMap, HashSet};

/// The print plan of a module: its top level, then each block, in order.
pub(super) struct Plan {
    top: ScopePlan,
    blocks: Vec<ScopePlan>,
}

impl Plan {
    pub fn new(m: &Module) -> Plan {
        let outputs = m.outputs.iter().flat_map(|o| o.from.iter().map(|i| i.name.as_str()));
        let top = ScopePlan::new(&m.nodes, outputs.collect(), None);
        let blocks = m.blocks.iter().map(ScopePlan::of_block).collect();
        Plan { top, blocks }
    }

    /// The plan of the top level (`None`) or of block `b`.
    pub fn scope(&self, block: Option<usize>) -> &ScopePlan {
        match block {
            None => &self.top,
            Some(b) => &self.blocks[b],
        }
    }

    /// Whether node `i` of the scope is printed inside another node's statement (then it is
    /// no item of its own: comments go with the statement that holds it).
    pub fn is_inlined(&self, block: Option<usize>, i: usize) -> bool {
        self.scope(block).inline_into.get(i).is_some_and(Option::is_some)
    }
}

/// How the nodes of one scope (the top level or a block) are printed.
pub(super) struct ScopePlan {
    /// Per node: the node whose expression it is printed in, if any (always a later node).
    inline_into: Vec<Option<usize>>,
    /// The node printed as the block's `return <expr>`, if any.
    pub returned: Option<usize>,
}

impl ScopePlan {
    fn of_block(b: &BlockDecl) -> ScopePlan {
        ScopePlan::new(&b.nodes, vec![b.output.name.as_str()], Some(b.output.name.as_str()))
    }

    /// `outside`: the names read from outside the nodes (outputs, a block's `return`).
    fn new(nodes: &[NodeDecl], outside: Vec<&str>, returns: Option<&str>) -> ScopePlan {
        let index = index_of(nodes);
        let n = nodes.len();
        // Per node: how often it is read (as an input, in a parameter, from outside), and
        // by which node when it is read as an input.
        let mut reads = vec![0usize; n];
        let mut reader: Vec<Option<usize>> = vec![None; n];
        for (j, node) in nodes.iter().enumerate() {
            for input in &node.inputs {
                if let Some(&k) = index.get(input.name.as_str()) {
                    reads[k] += 1;
                    reader[k] = Some(j);
                }
            }
            let mut names = Vec::new();
            for a in &node.args {
                names_in_arg(a, &mut names);
            }
            for name in names {
                // `share: vemb.proj` reads the node `vemb`.
                let base = name.split('.').next().unwrap_or(name);
                if let Some(&k) = index.get(base) {
                    reads[k] += 1;
                    reader[k] = None;
                }
            }
        }
        for name in outside {
            if let Some(&k) = index.get(name) {
                reads[k] += 1;
                reader[k] = None;
            }
        }
        let returned = returns
            .and_then(|name| index.get(name).copied())
            .filter(|&r| nodes[r].nested == Some(Nested::Return) && reads[r] == 1 && reader[r].is_none());
        // Backwards, so that a node's reader is settled before the node: `root[i]` is the node
        // whose statement node i is printed in (itself when it has its own).
        let mut inline_into = vec![None; n];
        let mut root: Vec<usize> = (0..n).collect();
        for i in (0..n).rev() {
            let Some(Nested::In(owner)) = &nodes[i].nested else { continue };
            let Some(j) = reader[i].filter(|&j| j > i && reads[i] == 1) else { continue };
            if !index.contains_key(nodes[i].name.name.as_str()) || nodes[root[j]].name.name != *owner {
                continue;
            }
            inline_into[i] = Some(j);
            root[i] = root[j];
        }
        ScopePlan { inline_into, returned }
    }

    /// The expression of every node that is printed as a statement (or as the `return`),
    /// `None` for the nodes printed inside them.
    pub fn expressions(&self, nodes: &[NodeDecl]) -> Vec<Option<String>> {
        let index = index_of(nodes);
        let mut done: Vec<Option<Expr>> = vec![None; nodes.len()];
        let mut statements = vec![None; nodes.len()];
        for (j, n) in nodes.iter().enumerate() {
            let operands = n
                .inputs
                .iter()
                .map(|input| {
                    let inner = index.get(input.name.as_str()).filter(|&&k| self.inline_into[k] == Some(j));
                    inner.and_then(|&k| done[k].take()).unwrap_or_else(|| Expr::atom(input.name.clone()))
                })
                .collect();
            let e = expression(n, operands);
            match self.inline_into[j] {
                Some(_) => done[j] = Some(e),
                None => statements[j] = Some(e.text),
            }
        }
        statements
    }
}

/// Node name -> index, leaving out a name defined twice (only an AST built by hand has
/// one): nothing is printed nested into or out of such a name.
fn index_of(nodes: &[NodeDecl]) -> HashMap<&str, usize> {
    let mut index = HashMap::new();
    let mut twice = HashSet::new();
    for (i, n) in nodes.iter().enumerate() {
        if index.insert(n.name.name.as_str(), i).is_some() {
            twice.insert(n.name.name.as_str());
        }
    }
    index.retain(|name, _| !twice.contains(name));
    index
}

/// The node names a parameter reads: `width(x)` anywhere in it, and `share:`'s node.
fn names_in_arg<'a>(a: &'a Arg, out: &mut Vec<&'a str>) {
    if a.name.name == "share"
        && let ValueKind::Str(name) | ValueKind::Ref(name) = &a.value.kind
    {
        out.push(name);
    }
    // Lists and arithmetic nest only as deep as the text's brackets (bounded by the front-ends).
    fn walk<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match &v.kind {
            ValueKind::Width(x) => out.push(&x.name),
            ValueKind::List(items) => items.iter().for_each(|i| walk(i, out)),
            ValueKind::Arith(a) => a.operands().for_each(|o| walk(o, out)),
            _ => {}
        }
    }
    walk(&a.value, out);
}

/// How tightly an expression binds, loosest first (Python's precedence, as the grammar's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    /// `a + b`, `a - b`.
    Sum,
    /// `a * b`, `a / b`.
    Product,
    /// `-a`.
    Unary,
    /// A name, a call, a slice `x[:, 0:64]`.
    Postfix,
}

/// An expression's text and how it binds.
#[derive(Debug, Clone)]
struct Expr {
    text: String,
    level: Level,
    /// An `add` of tensors only (`a + b`): the front-end reads a run of such `+` as one
    /// node, so one written as the first operand of another needs its parentheses
    /// (`(a + b) + c` is two nodes, `a + b + c` one).
    tensor_sum: bool,
}

impl Expr {
    fn atom(text: String) -> Expr {
        Expr { text, level: Level::Postfix, tensor_sum: false }
    }

    fn new(text: String, level: Level) -> Expr {
        Expr { text, level, tensor_sum: false }
    }

    /// The text, in parentheses when `parens`; the text is reused, not copied, without.
    fn wrapped(self, parens: bool) -> String {
        if parens { format!("({})", self.text) } else { self.text }
    }
}

/// The DSL form of a node: an operator (`a + b`, `1 - z`, `-x`, `x[:, 0:64]`) where it is
/// one, else a call.
enum Form {
    /// `a op b (op c ...)`: tensors on both sides (a run only for `+`).
    Infix(&'static str, Level),
    /// `x op 2` (`right:`) or `2 op x` (`left:`).
    Number {
        symbol: &'static str,
        level: Level,
        number: String,
        left: bool,
    },
    Neg,
    /// The `[...]` that follows the sliced tensor.
    Slice(String),
    Call,
}

fn form(n: &NodeDecl) -> Form {
    let (symbol, level) = match n.callee.name.as_str() {
        "add" => ("+", Level::Sum),
        "sub" => ("-", Level::Sum),
        "mul" => ("*", Level::Product),
        "div" => ("/", Level::Product),
        "neg" if n.args.is_empty() && n.inputs.len() == 1 => return Form::Neg,
        "slice" => return slice_form(n).map_or(Form::Call, Form::Slice),
        _ => return Form::Call,
    };
    match (n.args.as_slice(), n.inputs.len()) {
        ([], count) if count == 2 || (symbol == "+" && count > 2) => Form::Infix(symbol, level),
        ([arg], 1) => {
            let left = match arg.name.name.as_str() {
                "left" => true,
                "right" => false,
                _ => return Form::Call,
            };
            match literal(&arg.value) {
                Some(number) => Form::Number { symbol, level, number, left },
                None => Form::Call,
            }
        }
        _ => Form::Call,
    }
}

/// Node `n` as an expression over its inputs' expressions.
fn expression(n: &NodeDecl, operands: Vec<Expr>) -> Expr {
    match form(n) {
        Form::Infix(symbol, level) => {
            let mut it = operands.into_iter();
            let Some(first) = it.next() else { return Expr::atom(String::new()) };
            let parens = first.level < level || (symbol == "+" && first.tensor_sum);
            let mut text = first.wrapped(parens);
            for rhs in it {
                // Left-associative: an equally binding right operand keeps its parentheses.
                let parens = rhs.level <= level;
                text.push_str(&format!(" {symbol} "));
                text.push_str(&rhs.wrapped(parens));
            }
            Expr { text, level, tensor_sum: symbol == "+" }
        }
        Form::Number { symbol, level, number, left } => {
            let x = operands.into_iter().next().unwrap_or_else(|| Expr::atom(String::new()));
            let text = if left {
                let parens = x.level <= level;
                format!("{number} {symbol} {}", x.wrapped(parens))
            } else {
                let parens = x.level < level;
                let mut text = x.wrapped(parens);
                text.push_str(&format!(" {symbol} {number}"));
                text
            };
            Expr::new(text, level)
        }
        Form::Neg => {
            let x = operands.into_iter().next().unwrap_or_else(|| Expr::atom(String::new()));
            // `--x` does not parse: a negated negation keeps its parentheses.
            let parens = x.level <= Level::Unary;
            Expr::new(format!("-{}", x.wrapped(parens)), Level::Unary)
        }
        Form::Slice(index) => {
            let x = operands.into_iter().next().unwrap_or_else(|| Expr::atom(String::new()));
            let parens = x.level < Level::Postfix;
            let mut text = x.wrapped(parens);
            text.push_str(&index);
            Expr::atom(text)
        }
        Form::Call => {
            let mut parts: Vec<String> = operands.into_iter().map(|o| o.text).collect();
            parts.extend(n.args.iter().map(|a| format!("{}: {}", a.name.name, argument(a))));
            Expr::atom(format!("{}({})", n.callee.name, parts.join(", ")))
        }
    }
}

/// A node's argument; `share:` names a node, written bare in both languages (`vemb.proj`).
fn argument(a: &Arg) -> String {
    match &a.value.kind {
        ValueKind::Str(name) | ValueKind::Ref(name) if a.name.name == "share" => name.clone(),
        _ => value(&a.value),
    }
}

/// A number as a tensor operand: an integer or float literal, nothing else (a reference is
/// value arithmetic's, written in the call form: `mul(x, left: scale)`).
fn literal(v: &Value) -> Option<String> {
    match v.kind {
        ValueKind::Int(i) => Some(i.to_string()),
        ValueKind::Float(x) if x.is_finite() => Some(format_float(x)),
        _ => None,
    }
}

/// `[:, 0:64]`: a slice of a positive axis with integer bounds, as the index after the
/// sliced tensor.
fn slice_form(n: &NodeDecl) -> Option<String> {
    if n.inputs.len() != 1 {
        return None;
    }
    let (mut axis, mut start, mut end) = (None, String::new(), String::new());
    for a in &n.args {
        let text = match a.value.kind {
            ValueKind::Int(_) | ValueKind::Arith(_) | ValueKind::Ref(_) | ValueKind::Width(_) => value(&a.value),
            _ => return None,
        };
        match (a.name.name.as_str(), &a.value.kind) {
            ("axis", ValueKind::Int(k)) if *k >= 1 && *k <= 32 => axis = Some(*k as usize),
            ("start", _) => start = text,
            ("end", _) => end = text,
            _ => return None,
        }
    }
    let axis = axis?;
    let mut entries = vec![":".to_string(); axis - 1];
    entries.push(format!("{start}:{end}"));
    Some(format!("[{}]", entries.join(", ")))
}
