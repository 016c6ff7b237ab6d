//! The lines one scope (the model, or one block instance) writes: its `__init__` lines
//! (a module per node that owns weights, a class per child instance) and its `forward`
//! lines, one per item, with the numbers left open until the scope's class is settled.

use super::TorchError;
use super::helpers::Helper;
use super::names::{self, Vars};
use super::ops::{self, NodeView};
use super::scopes::{Item, ScopeName, Scopes};
use super::template::{Num, Piece, Template};
use avc_lang::ast::ValueKind;
use avc_lang::check::Checked;
use avc_lang::ir::{NodeId, NodeKind};
use avc_lang::ops::Op;
use std::collections::{BTreeSet, HashMap};

/// A number of a line, with what the source says about it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Slot {
    pub num: Num,
    /// The source expression it was written as (`H`, `dilation * (k - 1) / 2`), if not a literal.
    pub expr: Option<String>,
    /// The block parameter it was written as, in a block's body.
    pub block_param: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Seg {
    Text(String),
    Slot(Slot),
}

/// One line of `__init__` or `forward`.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    pub segs: Vec<Seg>,
    /// The value's shape, for a forward line.
    pub shape: Option<String>,
    /// The item it belongs to, and the local name that names its numbers.
    pub item: Item,
    pub local: String,
}

impl Line {
    /// The text with `#` for each number: lines of two instances match when these do.
    pub fn skeleton(&self) -> String {
        self.segs
            .iter()
            .map(|s| match s {
                Seg::Text(t) => t.as_str(),
                Seg::Slot(_) => "#",
            })
            .collect()
    }

    pub fn slots(&self) -> impl Iterator<Item = &Slot> {
        self.segs.iter().filter_map(|s| match s {
            Seg::Slot(slot) => Some(slot),
            _ => None,
        })
    }
}

/// A scope's lines.
pub(crate) struct Body {
    pub init: Vec<Line>,
    pub forward: Vec<Line>,
    /// The forward function's parameters.
    pub inputs: Vec<String>,
    /// What the forward function returns (for a block instance).
    pub result: String,
    pub helpers: BTreeSet<Helper>,
    pub vars: Vars,
}

/// A settled class, as a parent constructs it.
pub(crate) struct ClassInfo {
    pub name: String,
    /// Constructor parameters, and per instance each one's value.
    pub params: Vec<String>,
    pub values: HashMap<String, Vec<String>>,
}

/// What building bodies reads.
pub(crate) struct Ctx<'a> {
    pub scopes: &'a Scopes<'a>,
    pub checked: &'a Checked,
    /// Every op node's Python form.
    pub emitted: &'a HashMap<NodeId, ops::Emitted>,
    /// The class of each (unshared) block instance.
    pub classes: &'a HashMap<String, ClassInfo>,
    /// Names no variable may take (classes, helpers).
    pub reserved: &'a [String],
}

impl Ctx<'_> {
    /// The lines of `scope`.
    pub fn body(&self, scope: &ScopeName) -> Result<Body, TorchError> {
        let s = self.scopes;
        let mut vars = Vars::new(self.reserved);
        let inputs: Vec<String> = match scope {
            None => s.graph.inputs.iter().map(|&i| vars.add_input(&s.graph.node(i).name)).collect(),
            Some(inst) => s.instances[inst].block.inputs.iter().map(|i| vars.add_input(&i.name)).collect(),
        };
        let items = s.items(scope);
        for item in &items {
            match item {
                Item::Node(id) => {
                    let node = s.graph.node(*id);
                    let owner = node.shares.unwrap_or(*id);
                    let local = Scopes::local(&s.graph.node(owner).name);
                    if matches!(node.kind, NodeKind::Op(Op::Param(_))) {
                        vars.add_attribute(*id, local);
                    } else {
                        vars.add_node(*id, Scopes::local(&node.name));
                    }
                }
                Item::Instance(full) => vars.add_instance(full, Scopes::local(full)),
            }
        }
        let mut body = Body {
            init: Vec::new(),
            forward: Vec::new(),
            inputs,
            result: String::new(),
            helpers: BTreeSet::new(),
            vars,
        };
        for item in &items {
            match item {
                Item::Node(id) => self.node_lines(scope, *id, &mut body)?,
                Item::Instance(full) => self.instance_lines(scope, full, &mut body)?,
            }
        }
        if let Some(inst) = scope {
            let result =
                s.result(inst).ok_or_else(|| TorchError::Internal(format!("instance {inst} has no result")))?;
            body.result = s.value(scope, result, &body.vars)?;
        }
        Ok(body)
    }

    fn node_lines(&self, scope: &ScopeName, id: NodeId, body: &mut Body) -> Result<(), TorchError> {
        let s = self.scopes;
        let node = s.graph.node(id);
        let local = Scopes::local(&node.name).to_string();
        let emitted =
            self.emitted.get(&id).ok_or_else(|| TorchError::Internal(format!("{} was not emitted", node.name)))?;
        body.helpers.extend(emitted.helpers.iter().copied());
        let module = match (node.shares, &emitted.module) {
            (Some(owner), Some(_)) => {
                if s.item_of(scope, owner) != Some(Item::Node(owner)) {
                    return Err(TorchError::unsupported(
                        &node.name,
                        node.op_name(),
                        format!("it shares `{}`, which is in another block instance", s.graph.node(owner).name),
                    ));
                }
                format!("self.{}", Scopes::local(&s.graph.node(owner).name))
            }
            (None, Some(template)) => {
                names::check_attribute(&local, &node.name, node.op_name())?;
                let segs = self.render(scope, id, template, "", body)?;
                let mut segs = segs;
                segs.insert(0, Seg::Text(format!("self.{local} = ")));
                body.init.push(Line { segs, shape: None, item: Item::Node(id), local: local.clone() });
                format!("self.{local}")
            }
            (_, None) => String::new(),
        };
        if emitted.call.is_module() {
            return Ok(());
        }
        let mut segs = self.render(scope, id, &emitted.call, &module, body)?;
        segs.insert(0, Seg::Text(format!("{} = ", body.vars.node(id))));
        let shape = self.checked.shape(id).map(|s| s.to_string());
        body.forward.push(Line { segs, shape, item: Item::Node(id), local });
        Ok(())
    }

    /// A template's pieces as segments: inputs by their Python values, the module by `module`.
    fn render(
        &self,
        scope: &ScopeName,
        id: NodeId,
        t: &Template,
        module: &str,
        body: &Body,
    ) -> Result<Vec<Seg>, TorchError> {
        let s = self.scopes;
        let inputs = s.graph.inputs_of(id);
        let local = Scopes::local(&s.graph.node(id).name);
        let mut segs = Vec::new();
        for piece in &t.0 {
            segs.push(match piece {
                Piece::Text(text) => Seg::Text(text.clone()),
                Piece::Module => Seg::Text(module.to_string()),
                Piece::Input(i) => {
                    let input = inputs.get(*i).ok_or_else(|| TorchError::Internal(format!("no input {i}")))?;
                    Seg::Text(s.value(scope, *input, &body.vars)?)
                }
                Piece::Num(num) => Seg::Slot(self.slot(scope, local, num)),
            });
        }
        Ok(segs)
    }

    /// A number with what the declaration of `local` in `scope` wrote for its parameter.
    fn slot(&self, scope: &ScopeName, local: &str, num: &Num) -> Slot {
        let s = self.scopes;
        let arg = num.param.as_deref().and_then(|p| s.decl(scope, local)?.args.iter().find(|a| a.name.name == p));
        let mut slot = Slot { num: num.clone(), expr: None, block_param: None };
        if let Some(arg) = arg {
            let block = scope.as_ref().and_then(|inst| s.instances.get(inst)).map(|i| i.block);
            match &arg.value.kind {
                ValueKind::Ref(r) if block.is_some_and(|b| b.params.iter().any(|p| p.name.name == *r)) => {
                    slot.block_param = Some(r.clone());
                    slot.expr = Some(r.clone());
                }
                ValueKind::Ref(_) | ValueKind::Arith(_) | ValueKind::Width(_) => {
                    slot.expr = Some(s.text(arg.value.span).to_string());
                }
                _ => {}
            }
        }
        slot
    }

    fn instance_lines(&self, scope: &ScopeName, full: &str, body: &mut Body) -> Result<(), TorchError> {
        let s = self.scopes;
        let local = Scopes::local(full).to_string();
        let module = match s.shared_instance(full) {
            Some(owner) => {
                if s.instances[&owner].parent != *scope {
                    return Err(TorchError::unsupported(
                        full,
                        "block",
                        format!("it shares `{owner}`, which is in another block instance"),
                    ));
                }
                format!("self.{}", Scopes::local(&owner))
            }
            None => {
                names::check_attribute(&local, full, "block")?;
                let class =
                    self.classes.get(full).ok_or_else(|| TorchError::Internal(format!("no class for {full}")))?;
                let mut segs = vec![Seg::Text(format!("self.{local} = {}(", class.name))];
                let values = &class.values[full];
                for (k, (param, value)) in class.params.iter().zip(values).enumerate() {
                    if k > 0 {
                        segs.push(Seg::Text(", ".into()));
                    }
                    let block = s.instances[full].block;
                    let is_block_param = block.params.iter().any(|p| p.name.name == *param);
                    let num =
                        Num { hint: param.clone(), param: is_block_param.then(|| param.clone()), text: value.clone() };
                    segs.push(Seg::Slot(self.slot(scope, &local, &num)));
                }
                segs.push(Seg::Text(")".into()));
                body.init.push(Line {
                    segs,
                    shape: None,
                    item: Item::Instance(full.to_string()),
                    local: local.clone(),
                });
                format!("self.{local}")
            }
        };
        let inst = &s.instances[full];
        let mut args = Vec::new();
        for i in 0..inst.block.inputs.len() {
            let bound =
                s.binding(full, i).ok_or_else(|| TorchError::Internal(format!("{full}: input {i} is unbound")))?;
            args.push(s.value(scope, bound, &body.vars)?);
        }
        let var = body.vars.instance(full);
        let segs = vec![Seg::Text(format!("{var} = {module}({})", args.join(", ")))];
        let shape = s.result(full).and_then(|r| self.checked.shape(r)).map(|s| s.to_string());
        body.forward.push(Line { segs, shape, item: Item::Instance(full.to_string()), local });
        Ok(())
    }
}

/// Builds every op node's view and Python form.
pub(crate) fn emit_all(scopes: &Scopes, checked: &Checked) -> Result<HashMap<NodeId, ops::Emitted>, TorchError> {
    let mut out = HashMap::new();
    for &id in scopes.graph.topo() {
        let node = scopes.graph.node(id);
        let NodeKind::Op(op) = &node.kind else { continue };
        let ins: Vec<_> = scopes.graph.inputs_of(id).iter().filter_map(|&i| checked.shape(i).cloned()).collect();
        let scope = scopes.scope_of(id);
        let decl = scopes.decl(&scope, Scopes::local(&node.name));
        let given = |p: &str| decl.is_some_and(|d| d.args.iter().any(|a| a.name.name == p));
        let view = NodeView { ins: &ins, given: &given };
        let emitted = ops::emit(op, &view).map_err(|why| TorchError::unsupported(&node.name, op.name(), why))?;
        out.insert(id, emitted);
    }
    Ok(out)
}
