//! Names and values: the scope a declaration is expanded in (the top level or one block
//! instance), references resolved into global node names, constants and block parameters
//! substituted into values, and the model's outputs resolved once every node exists.
//! Separate from `expand` because every pass that reads a name (expansion, `share:`,
//! outputs) resolves it here, the same way.

use super::{BuildError, Builder, NameLookup, reported};
use crate::ast::{self, Ident, OutputKind, Value, ValueKind};
use crate::diag::did_you_mean;
use crate::ir::Output;
use crate::ir::arith::{self, ArithError};
use crate::source::Span;
use std::collections::HashMap;

/// The scope a node declaration is expanded in: the top level or one block instance.
pub(super) struct Scope<'a> {
    /// Prefix for names defined here (`""` at the top level, `v1.` in instance `v1`).
    pub(super) prefix: String,
    /// Block inputs: local name -> the outer name it is bound to.
    pub(super) bound_inputs: HashMap<String, String>,
    /// Values of block parameters and constants visible here.
    pub(super) values: HashMap<String, Value>,
    /// Names defined in this scope (local, unprefixed).
    pub(super) locals: Locals,
    pub(super) instance: Vec<String>,
    /// The chain of blocks being expanded, for recursion errors.
    pub(super) chain: Vec<&'a str>,
}

/// The names defined in one scope, in declaration order (for messages), with a set for
/// lookups: resolving every reference stays linear in the size of the model.
pub(super) struct Locals {
    names: Vec<String>,
    set: std::collections::HashSet<String>,
}

impl FromIterator<String> for Locals {
    fn from_iter<I: IntoIterator<Item = String>>(iter: I) -> Self {
        let names: Vec<String> = iter.into_iter().collect();
        Locals { set: names.iter().cloned().collect(), names }
    }
}

impl Locals {
    fn contains(&self, name: &str) -> bool {
        self.set.contains(name)
    }

    pub(super) fn iter(&self) -> std::slice::Iter<'_, String> {
        self.names.iter()
    }
}

impl<'a> Builder<'a> {
    /// Substitutes references in a value (recursively in lists and expressions), resolves
    /// the names that `width(x)` reads in `scope` (constants have none) and folds
    /// expressions that read no width into integers.
    pub(super) fn resolve_value(&mut self, v: &Value, values: &HashMap<String, Value>, scope: Option<&Scope>) -> Value {
        match &v.kind {
            ValueKind::Arith(a) => {
                let first = self.resolve_value(&a.first, values, scope);
                let steps = a
                    .steps
                    .iter()
                    .map(|s| ast::ArithStep {
                        op: s.op,
                        op_span: s.op_span,
                        rhs: self.resolve_value(&s.rhs, values, scope),
                    })
                    .collect();
                let folded = ast::Arith { first, steps };
                let value = Value { kind: ValueKind::Arith(Box::new(folded)), span: v.span };
                if value.reads_width() {
                    return value; // evaluated once the shapes are known
                }
                match arith::evaluate(&value, &|_| Ok(None)) {
                    Ok(Some(n)) => n,
                    Ok(None) => reported(v.span),
                    Err(error) => {
                        self.errors.push(BuildError::Arith { node: None, error });
                        reported(v.span)
                    }
                }
            }
            ValueKind::Width(name) => {
                let Some(scope) = scope else {
                    let error = ArithError::WidthInConstant { name: name.clone() };
                    self.errors.push(BuildError::Arith { node: None, error });
                    return reported(v.span);
                };
                match self.resolve_ref(&name.name, scope) {
                    Some(full) => Value { kind: ValueKind::Width(Ident::new(full, name.span)), span: v.span },
                    None => {
                        let mut known: Vec<String> = scope.bound_inputs.keys().cloned().collect();
                        known.extend(scope.locals.iter().cloned());
                        known.sort();
                        let error = ArithError::UnknownWidthOf { name: name.clone(), known };
                        self.errors.push(BuildError::Arith { node: None, error });
                        reported(v.span)
                    }
                }
            }
            ValueKind::Ref(name) => match values.get(name) {
                Some(found) => Value { kind: found.kind.clone(), span: v.span },
                None => {
                    let mut known: Vec<String> = values.keys().cloned().collect();
                    known.sort();
                    let (name, span) = (name.clone(), v.span);
                    self.errors.push(BuildError::UnknownValueRef { name, span, known, choice_of: None });
                    v.clone()
                }
            },
            ValueKind::List(items) => {
                let items = items.iter().map(|i| self.resolve_value(i, values, scope)).collect();
                Value { kind: ValueKind::List(items), span: v.span }
            }
            _ => v.clone(),
        }
    }

    /// Resolves a reference written in `scope` into a global node name.
    pub(super) fn resolve_ref(&self, name: &str, scope: &Scope) -> Option<String> {
        if let Some(outer) = scope.bound_inputs.get(name) {
            return Some(outer.clone());
        }
        scope.locals.contains(name).then(|| format!("{}{name}", scope.prefix))
    }

    pub(super) fn resolve_outputs(&mut self, lookup: &NameLookup) -> Vec<Output> {
        if self.module.outputs.is_empty() {
            self.errors.push(BuildError::NoOutputs { span: Span::new(0, 0) });
        }
        let mut outputs = Vec::new();
        let known: Vec<String> =
            self.nodes.iter().map(|n| n.name.clone()).chain(self.aliases.keys().cloned()).collect();
        for o in &self.module.outputs {
            let expected = if o.kind == OutputKind::Embeddings { 2 } else { 1 };
            if o.from.len() != expected {
                self.errors.push(BuildError::OutputArity {
                    output: o.name.name.clone(),
                    kind: o.kind,
                    expected,
                    found: o.from.len(),
                    span: o.span,
                });
            }
            let mut from = Vec::new();
            for r in &o.from {
                match lookup(&r.name, &self.aliases) {
                    Some(id) => from.push(id),
                    None if self.broken.contains(&r.name) => {}
                    None => {
                        let suggestion = did_you_mean(&r.name, known.iter().map(String::as_str)).map(str::to_string);
                        self.errors.push(BuildError::UnknownRef {
                            node: o.name.name.clone(),
                            name: r.clone(),
                            suggestion,
                            known: self.module.nodes.iter().map(|n| n.name.name.clone()).collect(),
                            value: false,
                        });
                    }
                }
            }
            outputs.push(Output { name: o.name.name.clone(), kind: o.kind, from, span: o.span });
        }
        outputs
    }
}
