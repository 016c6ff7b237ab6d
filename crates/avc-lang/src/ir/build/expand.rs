//! Expansion: each node declaration becomes flat nodes. An op node has its arguments
//! type-checked against the op registry (or kept aside while they read a width); a block
//! use binds the block's parameters and inputs and expands the block's nodes in a new
//! scope under the instance's name, with recursion and depth checked. Separate because
//! it is the builder's one recursive walk; everything it reads comes from `resolve`.

use super::resolve::Scope;
use super::{BuildError, Builder, Deferred, FlatNode, MAX_BLOCK_DEPTH, MAX_NODES, placeholder_kind};
use crate::ast::{BlockDecl, Ident, NodeDecl, ParamType, Value, ValueKind};
use crate::diag::did_you_mean;
use crate::ir::NodeKind;
use crate::ir::share::{Instance, InstanceShare};
use crate::ops::{self, ArgError, ArgReader, Arity, ParamKind, ParamSpec, ResolvedArg};
use crate::source::Span;
use std::collections::HashMap;

impl<'a> Builder<'a> {
    pub(super) fn expand(&mut self, decl: &'a NodeDecl, scope: &Scope<'a>) {
        if scope.chain.is_empty() {
            self.top_decl = decl.callee.span;
        }
        if self.nodes.len() >= MAX_NODES {
            if !self.errors.iter().any(|e| matches!(e, BuildError::TooManyNodes { .. })) {
                self.errors.push(BuildError::TooManyNodes { limit: MAX_NODES, span: self.top_decl });
            }
            return;
        }
        let full_name = format!("{}{}", scope.prefix, decl.name.name);
        let mut inputs = Vec::new();
        for r in &decl.inputs {
            match self.resolve_ref(&r.name, scope) {
                Some(name) => inputs.push((name, r.span)),
                None => {
                    let mut known: Vec<String> = scope.bound_inputs.keys().cloned().collect();
                    known.extend(scope.locals.iter().filter(|l| **l != decl.name.name).cloned());
                    let suggestion = did_you_mean(&r.name, known.iter().map(String::as_str)).map(str::to_string);
                    self.errors.push(BuildError::UnknownRef {
                        node: full_name.clone(),
                        name: r.clone(),
                        suggestion,
                        known,
                        value: scope.values.contains_key(&r.name),
                    });
                }
            }
        }
        // `share` names a node, not a value: it is taken before constants are substituted,
        // so `share: vfc` reads the same in YAML (a string) and in the DSL (a name).
        let shares = decl.args.iter().find(|a| a.name.name == "share").and_then(|a| self.share(a, &full_name, scope));
        let errors_before = self.errors.len();
        let args: Vec<ResolvedArg> = decl
            .args
            .iter()
            .filter(|a| a.name.name != "share")
            .map(|a| ResolvedArg {
                name: a.name.clone(),
                value: self.resolve_value(&a.value, &scope.values, Some(scope)),
            })
            .collect();
        // An expression's error names the node it is in (in a block: which instance); an
        // unquoted choice (`output: last`) says how to write it.
        // A block defined in the file shadows a built-in op of the same name, so a file written
        // before that op existed keeps its meaning.
        let block = self.blocks.get(decl.callee.name.as_str()).copied();
        let spec = if block.is_some() { None } else { ops::lookup(&decl.callee.name) };
        for e in &mut self.errors[errors_before..] {
            match e {
                BuildError::Arith { node: node @ None, .. } => *node = Some(full_name.clone()),
                BuildError::UnknownValueRef { span, choice_of, .. } => {
                    let param = decl.args.iter().find(|a| a.value.span == *span).map(|a| a.name.name.as_str());
                    if let Some(ParamSpec {
                        name: param,
                        kind: ParamKind::Choice(choices) | ParamKind::IntOrChoice(choices),
                        ..
                    }) = param.and_then(|p| spec.and_then(|s| s.param(p)))
                    {
                        *choice_of = Some((param.to_string(), choices));
                    }
                }
                _ => {}
            }
        }
        if let Some(block) = block {
            if let Some(target) = shares {
                let block = decl.callee.name.clone();
                self.instance_shares.push(InstanceShare { node: full_name.clone(), block, target });
            }
            self.expand_block(block, full_name, inputs, &args, decl, scope);
        } else if let Some(spec) = spec {
            self.add_op(spec, full_name, inputs, &args, decl, scope, shares);
        } else {
            let mut candidates = ops::names();
            candidates.extend(self.blocks.keys().copied());
            // A PyTorch name the user knows is answered with the avc form, before any guess.
            let help = super::pytorch::hint(&decl.callee.name)
                .or_else(|| did_you_mean(&decl.callee.name, candidates).map(|s| format!("did you mean `{s}`?")));
            self.errors.push(BuildError::UnknownCallee { name: decl.callee.clone(), help });
            self.broken.insert(full_name);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn add_op(
        &mut self,
        spec: &'static ops::OpSpec,
        name: String,
        inputs: Vec<(String, Span)>,
        args: &[ResolvedArg],
        decl: &NodeDecl,
        scope: &Scope,
        shares: Option<(Ident, String)>,
    ) {
        if !spec.arity.accepts(decl.inputs.len()) {
            self.errors.push(BuildError::Arity {
                node: name.clone(),
                op: spec.name.to_string(),
                expected: spec.arity,
                found: decl.inputs.len(),
                span: decl.span,
            });
        }
        if args.iter().any(|a| a.value.reads_width()) {
            self.nodes.push(FlatNode {
                name,
                kind: placeholder_kind(),
                shares,
                inputs,
                span: decl.name.span,
                instance: scope.instance.clone(),
                deferred: Some(Deferred { spec, args: args.to_vec() }),
            });
            return;
        }
        match ArgReader::new(spec, args, decl.name.span).parse() {
            Ok(op) => self.nodes.push(FlatNode {
                name,
                kind: NodeKind::Op(op),
                shares,
                inputs,
                span: decl.name.span,
                instance: scope.instance.clone(),
                deferred: None,
            }),
            Err(errors) => {
                let reported = errors.into_iter().filter(|e| *e != ArgError::Unresolved);
                self.errors.extend(reported.map(|error| BuildError::Arg { node: name.clone(), error }));
                self.broken.insert(name);
            }
        }
    }

    fn expand_block(
        &mut self,
        block: &'a BlockDecl,
        name: String,
        inputs: Vec<(String, Span)>,
        args: &[ResolvedArg],
        decl: &NodeDecl,
        scope: &Scope<'a>,
    ) {
        let block_name = block.name.name.as_str();
        if scope.chain.contains(&block_name) || scope.chain.len() >= MAX_BLOCK_DEPTH {
            let mut chain: Vec<String> = scope.chain.iter().map(|s| s.to_string()).collect();
            chain.push(block_name.to_string());
            let span = decl.callee.span;
            self.errors.push(match scope.chain.contains(&block_name) {
                true => BuildError::Recursion { chain, span },
                false => BuildError::TooDeep { chain, span },
            });
            self.broken.insert(name);
            return;
        }
        if block.inputs.len() != decl.inputs.len() {
            self.errors.push(BuildError::Arity {
                node: name.clone(),
                op: format!("block {block_name}"),
                expected: Arity::Exactly(block.inputs.len()),
                found: decl.inputs.len(),
                span: decl.span,
            });
            self.broken.insert(name);
            return;
        }
        let errors_before = self.errors.len();
        let values = self.bind_block_params(block, args, decl);
        if self.errors.len() > errors_before {
            // Expanding with bad arguments would only repeat the same mistake inside.
            self.broken.insert(name);
            return;
        }
        let mut instance = scope.instance.clone();
        instance.push(name.clone());
        let mut chain = scope.chain.clone();
        chain.push(block_name);
        let inner = Scope {
            prefix: format!("{name}."),
            bound_inputs: block.inputs.iter().map(|i| i.name.clone()).zip(inputs.into_iter().map(|(n, _)| n)).collect(),
            values,
            locals: block.nodes.iter().map(|n| n.name.name.clone()).collect(),
            instance,
            chain,
        };
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for n in &block.nodes {
            if let Some(first) = seen.insert(&n.name.name, n.name.span) {
                if scope.chain.is_empty() {
                    self.errors.push(BuildError::Duplicate { name: n.name.name.clone(), span: n.name.span, first });
                }
                continue;
            }
            self.expand(n, &inner);
        }
        let result = self.resolve_ref(&block.output.name, &inner).unwrap_or_default();
        self.instances.insert(name.clone(), Instance { block: block_name.to_string(), span: decl.name.span });
        self.aliases.insert(name, result);
    }

    /// Type-checks a block use's arguments against the block's parameters.
    fn bind_block_params(
        &mut self,
        block: &BlockDecl,
        args: &[ResolvedArg],
        decl: &NodeDecl,
    ) -> HashMap<String, Value> {
        let block_name = &block.name.name;
        let mut values = self.constants.clone();
        for arg in args {
            if !block.params.iter().any(|p| p.name.name == arg.name.name) {
                self.errors.push(BuildError::BlockParamUnknown {
                    block: block_name.clone(),
                    param: arg.name.clone(),
                    allowed: block.params.iter().map(|p| p.name.name.clone()).collect(),
                });
            }
        }
        for p in &block.params {
            let given = args.iter().find(|a| a.name.name == p.name.name).map(|a| a.value.clone());
            let Some(value) = given.or_else(|| p.default.clone()) else {
                self.errors.push(BuildError::BlockParamMissing {
                    block: block_name.clone(),
                    param: p.name.name.clone(),
                    span: decl.span,
                });
                continue;
            };
            let fits = matches!(
                (p.ty, &value.kind),
                (ParamType::Int, ValueKind::Int(_))
                    | (ParamType::Float, ValueKind::Float(_) | ValueKind::Int(_))
                    // Expressions left are those that read a width: integers once evaluated.
                    | (ParamType::Int | ParamType::Float, ValueKind::Arith(_) | ValueKind::Width(_))
                    | (ParamType::Bool, ValueKind::Bool(_))
                    | (ParamType::Str, ValueKind::Str(_))
                    // An unresolved reference was already reported.
                    | (_, ValueKind::Ref(_))
            );
            if !fits {
                self.errors.push(BuildError::BlockParamType {
                    block: block_name.clone(),
                    param: p.name.name.clone(),
                    expected: p.ty.keyword(),
                    found: format!("{} `{value}`", value.kind.type_name()),
                    span: value.span,
                });
            }
            values.insert(p.name.name.clone(), value);
        }
        values
    }
}
