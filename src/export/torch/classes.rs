//! A class from the bodies of one or more instances of a block (or the model's one body):
//! the numbers that differ between instances, or that the block's source writes as one of
//! its parameters, become constructor arguments; the others stay literals, with their
//! source expression in a comment.

use super::body::{Body, Line, Seg, Slot};
use super::scopes::Scopes;
use std::collections::HashMap;

/// How one number of a class is written.
#[derive(Debug, Clone)]
enum Use {
    Literal(String),
    Param(usize),
}

/// A class settled from the bodies of its instances (in order).
pub(crate) struct Class<'b> {
    pub name: String,
    pub doc: Option<String>,
    /// Constructor parameters: name and value per instance.
    pub params: Vec<(String, Vec<String>)>,
    bodies: Vec<(String, &'b Body)>,
    /// Per number (in line order: `__init__` lines, then `forward` lines), how it is written.
    uses: Vec<Use>,
    /// Constructor parameters that `forward` reads (kept as attributes).
    kept: Vec<usize>,
}

impl<'b> Class<'b> {
    /// Settles a class over `bodies` (all of one skeleton).
    pub fn settle(name: String, doc: Option<String>, bodies: Vec<(String, &'b Body)>) -> Class<'b> {
        let first = bodies[0].1;
        let per_body: Vec<Vec<&Slot>> =
            bodies.iter().map(|(_, b)| lines(b).flat_map(|(_, l)| l.slots()).collect()).collect();
        let locals: Vec<(bool, &str)> =
            lines(first).flat_map(|(fwd, l)| l.slots().map(move |_| (fwd, l.local.as_str()))).collect();
        let count = per_body[0].len();
        let values = |k: usize| -> Vec<String> { per_body.iter().map(|slots| slots[k].num.text.clone()).collect() };
        let mut params: Vec<(String, Vec<String>)> = Vec::new();
        let mut uses: Vec<Option<Use>> = vec![None; count];
        // Numbers the block writes as one of its parameters are that parameter.
        for (k, slot) in per_body[0].iter().enumerate() {
            let Some(bp) = &slot.block_param else { continue };
            if per_body.iter().any(|s| s[k].block_param.as_ref() != Some(bp)) {
                continue;
            }
            let vals = values(k);
            match params.iter().position(|(n, _)| n == bp) {
                Some(p) if params[p].1 == vals => uses[k] = Some(Use::Param(p)),
                Some(_) => {}
                None => {
                    params.push((bp.clone(), vals));
                    uses[k] = Some(Use::Param(params.len() - 1));
                }
            }
        }
        // The rest: a literal where every instance has the same, else a parameter of its own;
        // a size read from a shape is a parameter where their values agree in every instance
        // (`nn.LayerNorm(h)` after `nn.Linear(f, h)`).
        for k in 0..count {
            if uses[k].is_some() {
                continue;
            }
            let vals = values(k);
            let slot = per_body[0][k];
            let same = vals.iter().all(|v| *v == vals[0]);
            let matching = params.iter().position(|(_, v)| *v == vals).filter(|_| slot.num.param.is_none());
            uses[k] = Some(match (matching, same) {
                (Some(p), _) => Use::Param(p),
                (None, true) => Use::Literal(vals[0].clone()),
                (None, false) => {
                    let base = format!("{}_{}", locals[k].1, slot.num.hint);
                    let mut name = base.clone();
                    let mut n = 2;
                    while params.iter().any(|(p, v)| *p == name && *v != vals) {
                        name = format!("{base}{n}");
                        n += 1;
                    }
                    match params.iter().position(|(p, _)| *p == name) {
                        Some(p) => Use::Param(p),
                        None => {
                            params.push((name, vals));
                            Use::Param(params.len() - 1)
                        }
                    }
                }
            });
        }
        let uses: Vec<Use> = uses.into_iter().map(|u| u.unwrap_or(Use::Literal(String::new()))).collect();
        // Parameters in the order the lines first use them.
        let mut order: Vec<usize> = Vec::new();
        for u in &uses {
            if let Use::Param(p) = u
                && !order.contains(p)
            {
                order.push(*p);
            }
        }
        let renumber: HashMap<usize, usize> = order.iter().enumerate().map(|(new, &old)| (old, new)).collect();
        let uses: Vec<Use> = uses
            .into_iter()
            .map(|u| match u {
                Use::Param(p) => Use::Param(renumber[&p]),
                lit => lit,
            })
            .collect();
        let params: Vec<(String, Vec<String>)> = order.iter().map(|&p| params[p].clone()).collect();
        let mut kept = Vec::new();
        for (k, (fwd, _)) in locals.iter().enumerate() {
            if let (true, Use::Param(p)) = (fwd, &uses[k])
                && !kept.contains(p)
            {
                kept.push(*p);
            }
        }
        Class { name, doc, params, bodies, uses, kept }
    }

    /// The constructor's values for each instance.
    pub fn values(&self) -> HashMap<String, Vec<String>> {
        self.bodies
            .iter()
            .enumerate()
            .map(|(i, (inst, _))| (inst.clone(), self.params.iter().map(|(_, v)| v[i].clone()).collect()))
            .collect()
    }

    /// The class's `__init__` (when it has anything to do) and `forward`.
    pub fn render(&self, out: &mut Vec<String>) {
        out.push(format!("class {}(nn.Module):", self.name));
        if let Some(doc) = &self.doc {
            out.push(format!("    \"\"\"{doc}\"\"\""));
            out.push(String::new());
        }
        let first = self.bodies[0].1;
        let mut k = 0;
        let init: Vec<String> = first.init.iter().map(|line| self.line(line, false, &mut k)).collect();
        if !init.is_empty() || !self.params.is_empty() {
            let names: Vec<&str> = self.params.iter().map(|(n, _)| n.as_str()).collect();
            let args: String = names.iter().map(|n| format!(", {n}")).collect();
            out.push(format!("    def __init__(self{args}):"));
            out.push("        super().__init__()".into());
            for &p in &self.kept {
                out.push(format!("        self.{0} = {0}", self.params[p].0));
            }
            out.extend(init.into_iter().map(|l| format!("        {l}")));
            out.push(String::new());
        }
        let inputs: String = first.inputs.iter().map(|n| format!(", {n}")).collect();
        out.push(format!("    def forward(self{inputs}):"));
        for (i, line) in first.forward.iter().enumerate() {
            let text = self.line(line, true, &mut k);
            let shape = self.shape(i);
            out.push(format!("        {text}{}", shape.map(|s| format!("  # {s}")).unwrap_or_default()));
        }
        out.push(format!("        return {}", first.result));
    }

    /// A line's text; `k` counts the numbers written so far.
    pub fn line(&self, line: &Line, forward: bool, k: &mut usize) -> String {
        let mut text = String::new();
        let mut notes: Vec<String> = Vec::new();
        for seg in &line.segs {
            match seg {
                Seg::Text(t) => text.push_str(t),
                Seg::Slot(slot) => {
                    match &self.uses[*k] {
                        Use::Param(p) if forward => text.push_str(&format!("self.{}", self.params[*p].0)),
                        Use::Param(p) => text.push_str(&self.params[*p].0),
                        Use::Literal(value) => {
                            text.push_str(value);
                            if let (Some(expr), Some(param)) = (&slot.expr, &slot.num.param) {
                                let note = format!("{param}: {expr}");
                                if !notes.contains(&note) {
                                    notes.push(note);
                                }
                            }
                        }
                    }
                    *k += 1;
                }
            }
        }
        if !notes.is_empty() {
            text.push_str(&format!("  # {}", notes.join("; ")));
        }
        text
    }

    /// Forward line `i`'s shape, per instance where they differ.
    fn shape(&self, i: usize) -> Option<String> {
        let shapes: Vec<Option<&String>> = self.bodies.iter().map(|(_, b)| b.forward[i].shape.as_ref()).collect();
        let first = shapes[0]?;
        if shapes.iter().all(|s| *s == Some(first)) {
            return Some(first.clone());
        }
        let each: Vec<String> = self
            .bodies
            .iter()
            .zip(&shapes)
            .map(|((inst, _), s)| format!("{}: {}", Scopes::local(inst), s.map_or("?", |s| s.as_str())))
            .collect();
        Some(each.join(", "))
    }
}

/// The lines of a body with whether each is a forward line, in the order numbers are counted.
fn lines(body: &Body) -> impl Iterator<Item = (bool, &Line)> {
    body.init.iter().map(|l| (false, l)).chain(body.forward.iter().map(|l| (true, l)))
}

/// The skeleton two instances must share to be one class.
pub(crate) fn skeleton(body: &Body) -> String {
    let mut key: Vec<String> = lines(body).map(|(_, l)| l.skeleton()).collect();
    key.push(body.inputs.join(","));
    key.push(body.result.clone());
    key.join("\n")
}
