//! The top level, read before any node is expanded: constants (evaluated in dependency
//! order), block declarations, model inputs and their dimensions, and the uniqueness of
//! top-level names. Separate from `expand` because these are read once, in no scope,
//! and everything expanded afterwards refers to them.

use super::{BuildError, Builder, FlatNode, MAX_DIM, reported};
use crate::ast::{self, DimExpr, Value, ValueKind};
use crate::ir::NodeKind;
use crate::shape::{Dim, Shape};
use crate::source::Span;
use std::collections::HashMap;

impl<'a> Builder<'a> {
    /// Evaluates the constants, each after those it reads (module `constants`); one in a
    /// cycle, or reading one, is reported once and stands for an error already reported.
    pub(super) fn collect_constants(&mut self) -> HashMap<String, Value> {
        let mut first_span: HashMap<&str, Span> = HashMap::new();
        let mut unique = Vec::new();
        for c in &self.module.constants {
            if let Some(first) = first_span.get(c.name.name.as_str()) {
                self.errors.push(BuildError::Duplicate { name: c.name.name.clone(), span: c.name.span, first: *first });
                continue;
            }
            first_span.insert(&c.name.name, c.name.span);
            unique.push(c);
        }
        let (order, cycles) = crate::ir::constants::evaluation_order(&unique);
        let mut values: HashMap<String, Value> =
            unique.iter().map(|c| (c.name.name.clone(), reported(c.value.span))).collect();
        for cycle in cycles {
            self.errors.push(BuildError::ConstantCycle { chain: cycle.chain, span: cycle.span });
        }
        for i in order {
            let c = unique[i];
            let resolved = self.resolve_value(&c.value, &values, None);
            values.insert(c.name.name.clone(), resolved);
        }
        values
    }

    pub(super) fn collect_blocks(&mut self) {
        for block in &self.module.blocks {
            if let Some(first) = self.blocks.get(block.name.name.as_str()) {
                self.errors.push(BuildError::Duplicate {
                    name: block.name.name.clone(),
                    span: block.name.span,
                    first: first.name.span,
                });
                continue;
            }
            let locals: Vec<&str> = block
                .inputs
                .iter()
                .map(|i| i.name.as_str())
                .chain(block.nodes.iter().map(|n| n.name.name.as_str()))
                .collect();
            if !locals.contains(&block.output.name.as_str()) {
                self.errors
                    .push(BuildError::BlockOutput { block: block.name.name.clone(), output: block.output.clone() });
            }
            self.blocks.insert(&block.name.name, block);
        }
    }

    pub(super) fn add_inputs(&mut self, constants: &HashMap<String, Value>) {
        if self.module.inputs.is_empty() {
            self.errors.push(BuildError::NoInputs { span: Span::new(0, 0) });
        }
        for input in &self.module.inputs {
            let mut dims = vec![Dim::Batch];
            for d in &input.shape {
                dims.push(self.dim(input, d, constants));
            }
            let stream = input.stream.as_ref().unwrap_or(&input.name).name.clone();
            self.nodes.push(FlatNode {
                deferred: None,
                shares: None,
                name: input.name.name.clone(),
                kind: NodeKind::Input { stream, shape: Shape::new(dims) },
                inputs: Vec::new(),
                span: input.name.span,
                instance: Vec::new(),
            });
        }
    }

    fn dim(&mut self, input: &ast::InputDecl, d: &DimExpr, constants: &HashMap<String, Value>) -> Dim {
        let bad = |found: String, span| BuildError::BadDim { input: input.name.name.clone(), found, span };
        match d {
            DimExpr::Fixed(n, span) if (1..=MAX_DIM).contains(n) => Dim::Fixed(*n),
            DimExpr::Fixed(n, span) => {
                self.errors.push(bad(n.to_string(), *span));
                Dim::Fixed(1)
            }
            DimExpr::Symbol(sym) => match constants.get(&sym.name).map(|v| &v.kind) {
                Some(ValueKind::Int(n)) if (1..=MAX_DIM).contains(n) => Dim::Fixed(*n),
                Some(other) => {
                    self.errors.push(bad(
                        format!("`{}` = {}", sym.name, Value { kind: other.clone(), span: sym.span }),
                        sym.span,
                    ));
                    Dim::Fixed(1)
                }
                None => Dim::Sym(sym.name.clone()),
            },
        }
    }

    pub(super) fn check_unique_top_level(&mut self) {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let names = self
            .module
            .inputs
            .iter()
            .map(|i| &i.name)
            .chain(self.module.nodes.iter().map(|n| &n.name))
            .chain(self.module.outputs.iter().map(|o| &o.name));
        for name in names {
            if let Some(first) = seen.get(name.name.as_str()) {
                self.errors.push(BuildError::Duplicate { name: name.name.clone(), span: name.span, first: *first });
            } else {
                seen.insert(&name.name, name.span);
            }
        }
    }
}
