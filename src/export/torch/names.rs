//! Python names: a node's module attribute must be its own name (the weights' names are
//! the attributes' paths), so a name Python cannot take as an attribute is refused; a
//! local variable that would hide a keyword, `self` or a name the file uses gets a `_`.

use super::TorchError;
use avc_lang::ir::NodeId;
use std::collections::{HashMap, HashSet};

/// Python's keywords.
const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
    "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal",
    "not", "or", "pass", "raise", "return", "try", "while", "with", "yield", "match", "case", "type",
];

/// Names the generated code itself reads; a variable of that name would hide them.
const USED: &[&str] = &["self", "torch", "nn", "F", "math", "super", "range", "abs", "max", "float", "v", "a"];

/// Attributes every `nn.Module` has: a node of that name cannot be a module attribute.
const MODULE_ATTRIBUTES: &[&str] = &[
    "training",
    "forward",
    "eval",
    "train",
    "to",
    "cuda",
    "cpu",
    "float",
    "double",
    "half",
    "parameters",
    "named_parameters",
    "buffers",
    "children",
    "modules",
    "state_dict",
    "load_state_dict",
    "apply",
    "zero_grad",
    "register_buffer",
    "register_parameter",
    "add_module",
    "get_submodule",
    "extra_repr",
    "requires_grad_",
    "type",
    "share_memory",
    "dump_patches",
    "call_super_init",
    "bfloat16",
    "ipu",
    "xpu",
    "mtia",
    "encode_video",
    "encode_audio",
    "score",
];

/// Whether `name` may be a module attribute (a weight's path component).
pub(crate) fn check_attribute(name: &str, node: &str, op: &str) -> Result<(), TorchError> {
    let ident = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ident || KEYWORDS.contains(&name) || MODULE_ATTRIBUTES.contains(&name) || name.starts_with("__") {
        return Err(TorchError::unsupported(
            node,
            op,
            format!("`{name}` cannot be a PyTorch module attribute, which the weights' names need; rename the node"),
        ));
    }
    Ok(())
}

/// The Python names of one function's values.
#[derive(Default)]
pub(crate) struct Vars {
    nodes: HashMap<NodeId, String>,
    instances: HashMap<String, String>,
    inputs: HashMap<String, String>,
    taken: HashSet<String>,
    reserved: HashSet<String>,
}

impl Vars {
    /// Names that must not be hidden besides the built-in ones (classes, helpers).
    pub fn new(reserved: &[String]) -> Vars {
        let mut reserved: HashSet<String> = reserved.iter().cloned().collect();
        reserved.extend(USED.iter().map(|s| s.to_string()));
        Vars { reserved, ..Vars::default() }
    }

    /// A fresh variable for `wanted`.
    fn fresh(&mut self, wanted: &str) -> String {
        let mut name = wanted.to_string();
        while KEYWORDS.contains(&name.as_str()) || self.reserved.contains(&name) || self.taken.contains(&name) {
            name.push('_');
        }
        self.taken.insert(name.clone());
        name
    }

    pub fn add_input(&mut self, name: &str) -> String {
        let var = self.fresh(name);
        self.inputs.insert(name.to_string(), var.clone());
        var
    }

    pub fn add_node(&mut self, id: NodeId, local: &str) {
        let var = self.fresh(local);
        self.nodes.insert(id, var);
    }

    /// A node whose value is a module attribute (a learned tensor): `self.name`.
    pub fn add_attribute(&mut self, id: NodeId, local: &str) {
        self.nodes.insert(id, format!("self.{local}"));
    }

    pub fn add_instance(&mut self, full: &str, local: &str) {
        let var = self.fresh(local);
        self.instances.insert(full.to_string(), var);
    }

    pub fn node(&self, id: NodeId) -> String {
        self.nodes.get(&id).cloned().unwrap_or_else(|| "None".into())
    }

    pub fn instance(&self, full: &str) -> String {
        self.instances.get(full).cloned().unwrap_or_else(|| "None".into())
    }

    pub fn input(&self, name: &str) -> String {
        self.inputs.get(name).cloned().unwrap_or_else(|| name.to_string())
    }
}

/// `res_lstm` -> `ResLstm`.
pub(crate) fn camel(name: &str) -> String {
    let mut out = String::new();
    for part in name.split(|c: char| !c.is_ascii_alphanumeric()).filter(|p| !p.is_empty()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "Model");
    }
    out
}
