//! A graph under construction: nodes in order, initializers, fresh value names, and the
//! attribute and constant helpers the op emitters share.

use super::proto::*;
use std::collections::HashSet;

/// One attribute of a node.
pub(super) fn int(name: &str, i: i64) -> AttributeProto {
    AttributeProto { name: name.into(), i, r#type: ATTR_INT, ..Default::default() }
}

pub(super) fn float(name: &str, f: f64) -> AttributeProto {
    AttributeProto { name: name.into(), f: f as f32, r#type: ATTR_FLOAT, ..Default::default() }
}

pub(super) fn ints(name: &str, ints: &[i64]) -> AttributeProto {
    AttributeProto { name: name.into(), ints: ints.to_vec(), r#type: ATTR_INTS, ..Default::default() }
}

pub(super) fn string(name: &str, s: &str) -> AttributeProto {
    AttributeProto { name: name.into(), s: s.as_bytes().to_vec(), r#type: ATTR_STRING, ..Default::default() }
}

/// The nodes and initializers of one graph.
#[derive(Default)]
pub(super) struct Builder {
    pub nodes: Vec<NodeProto>,
    pub initializers: Vec<TensorProto>,
    names: HashSet<String>,
    /// The avc node being emitted: the prefix of its values' names (`vproj/3`).
    pub scope: String,
    fresh: usize,
}

impl Builder {
    fn fresh(&mut self, hint: &str) -> String {
        self.fresh += 1;
        format!("{}/{hint}_{}", self.scope, self.fresh)
    }

    /// A node with `outs` outputs; returns their names.
    pub fn node_n(&mut self, op: &str, inputs: &[&str], attrs: Vec<AttributeProto>, outs: usize) -> Vec<String> {
        let output: Vec<String> = (0..outs).map(|_| self.fresh(op)).collect();
        let name = format!("{}/{op}#{}", self.scope, self.nodes.len());
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: output.clone(),
            name,
            op_type: op.into(),
            attribute: attrs,
        });
        output
    }

    /// A node with one output; returns its name.
    pub fn node(&mut self, op: &str, inputs: &[&str], attrs: Vec<AttributeProto>) -> String {
        self.node_n(op, inputs, attrs, 1).remove(0)
    }

    /// `Identity` into a chosen name (a graph output, a value the next graph reads).
    pub fn rename(&mut self, value: &str, name: &str) {
        self.nodes.push(NodeProto {
            input: vec![value.into()],
            output: vec![name.into()],
            name: format!("{name}/Identity"),
            op_type: "Identity".into(),
            attribute: Vec::new(),
        });
    }

    /// Whether an initializer of this name exists.
    pub fn has(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    /// A float initializer named `name` (once).
    pub fn floats_named(&mut self, name: &str, values: &[f32], dims: &[i64]) -> String {
        if self.names.insert(name.to_string()) {
            let raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            self.initializers.push(TensorProto { dims: dims.to_vec(), data_type: FLOAT, name: name.into(), raw_data });
        }
        name.to_string()
    }

    /// A float constant.
    pub fn floats(&mut self, values: &[f32], dims: &[i64]) -> String {
        let name = self.fresh("const");
        self.floats_named(&name, values, dims)
    }

    /// A float scalar constant (shape `[]`).
    pub fn scalar(&mut self, v: f64) -> String {
        self.floats(&[v as f32], &[])
    }

    /// A 1-D int64 constant (axes, shapes, indices).
    pub fn i64s(&mut self, values: &[i64]) -> String {
        self.i64s_shaped(values, &[values.len() as i64])
    }

    /// An int64 constant of any shape (`[]` for a scalar index).
    pub fn i64s_shaped(&mut self, values: &[i64], dims: &[i64]) -> String {
        let name = self.fresh("const");
        self.names.insert(name.clone());
        let raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializers.push(TensorProto { dims: dims.to_vec(), data_type: INT64, name: name.clone(), raw_data });
        name
    }

    // Shorthands for the ops every emitter uses.

    pub fn binary(&mut self, op: &str, a: &str, b: &str) -> String {
        self.node(op, &[a, b], vec![])
    }

    pub fn unary(&mut self, op: &str, x: &str) -> String {
        self.node(op, &[x], vec![])
    }

    pub fn transpose(&mut self, x: &str, perm: &[i64]) -> String {
        self.node("Transpose", &[x], vec![ints("perm", perm)])
    }

    pub fn reshape(&mut self, x: &str, shape: &[i64]) -> String {
        let s = self.i64s(shape);
        self.node("Reshape", &[x, &s], vec![])
    }

    pub fn unsqueeze(&mut self, x: &str, axes: &[i64]) -> String {
        let a = self.i64s(axes);
        self.node("Unsqueeze", &[x, &a], vec![])
    }

    pub fn squeeze(&mut self, x: &str, axes: &[i64]) -> String {
        let a = self.i64s(axes);
        self.node("Squeeze", &[x, &a], vec![])
    }

    pub fn concat(&mut self, xs: &[&str], axis: i64) -> String {
        self.node("Concat", xs, vec![int("axis", axis)])
    }

    /// `x[start:end]` on `axis` (Python's bounds; `i64::MAX` for the end).
    pub fn slice(&mut self, x: &str, axis: i64, start: i64, end: i64) -> String {
        let (s, e, a) = (self.i64s(&[start]), self.i64s(&[end]), self.i64s(&[axis]));
        self.node("Slice", &[x, &s, &e, &a], vec![])
    }

    /// Reduction over `axes` (opset 17: ReduceSum takes them as an input, the others as an
    /// attribute).
    pub fn reduce(&mut self, op: &str, x: &str, axes: &[i64], keep: bool) -> String {
        let keep = int("keepdims", i64::from(keep));
        if op == "ReduceSum" {
            let a = self.i64s(axes);
            return self.node(op, &[x, &a], vec![keep]);
        }
        self.node(op, &[x], vec![ints("axes", axes), keep])
    }

    /// `x W^T (+ b)` for a PyTorch-layout weight `[out, in]`.
    pub fn linear(&mut self, x: &str, weight: &str, bias: Option<&str>) -> String {
        let wt = self.transpose(weight, &[1, 0]);
        let y = self.binary("MatMul", x, &wt);
        match bias {
            Some(b) => self.binary("Add", &y, b),
            None => y,
        }
    }

    /// `x` with `scale * x` added: `x * c`.
    pub fn mul_scalar(&mut self, x: &str, c: f64) -> String {
        let c = self.scalar(c);
        self.binary("Mul", x, &c)
    }

    pub fn add_scalar(&mut self, x: &str, c: f64) -> String {
        let c = self.scalar(c);
        self.binary("Add", x, &c)
    }

    /// The size of axis `axis` of `x`, as a 1-D int64 of one element.
    pub fn dim(&mut self, x: &str, axis: i64) -> String {
        let shape = self.unary("Shape", x);
        let i = self.i64s(&[axis]);
        self.node("Gather", &[&shape, &i], vec![int("axis", 0)])
    }
}
