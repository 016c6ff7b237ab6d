//! `lstm` and `gru` as ONNX `LSTM` and `GRU`. PyTorch's gate blocks (`i, f, g, o` for the
//! LSTM, `r, z, n` for the GRU) are reordered to ONNX's (`i, o, f, c`; `z, r, h`) by nodes
//! reading the initializers under their PyTorch names; the GRU runs with
//! `linear_before_reset = 1`, PyTorch's form. A first joint layer on a concatenation of tower
//! values can run factored: each tower's share of the input map in its own graph
//! ([`share`]), the recurrence on their sum in the joint graph ([`rnn_on_projection`]).

use super::Ctx;
use crate::export::onnx::OnnxError;
use crate::export::onnx::builder::{Builder, int, string};
use avc_lang::ops::recurrent::{Cell, Recurrent};

/// ONNX's gate order, as indexes of PyTorch's blocks.
fn order(cell: Cell) -> &'static [usize] {
    match cell {
        Cell::Lstm => &[0, 3, 1, 2],
        Cell::Gru => &[1, 0, 2],
    }
}

/// A tensor whose axis 0 holds the gate blocks, in ONNX's order.
fn reorder(b: &mut Builder, cell: Cell, x: &str) -> String {
    let parts = b.node_n("Split", &[x], vec![int("axis", 0)], order(cell).len());
    let ordered: Vec<&str> = order(cell).iter().map(|&k| parts[k].as_str()).collect();
    b.concat(&ordered, 0)
}

fn suffix(dir: i64) -> &'static str {
    if dir == 1 { "_reverse" } else { "" }
}

/// Layer `layer`'s weights as ONNX wants them: `W` [dirs, G*H, in], `R` [dirs, G*H, H] and
/// `B` [dirs, 2*G*H].
fn layer_weights(cfg: &Recurrent, cell: Cell, b: &mut Builder, c: &Ctx, layer: i64) -> Result<[String; 3], OnnxError> {
    let mut per_dir: [Vec<String>; 3] = Default::default();
    for dir in 0..cfg.dirs() {
        let s = suffix(dir);
        let w = c.weight(b, &format!("weight_ih_l{layer}{s}"))?;
        let r = c.weight(b, &format!("weight_hh_l{layer}{s}"))?;
        let (bi, bh) = (c.weight(b, &format!("bias_ih_l{layer}{s}"))?, c.weight(b, &format!("bias_hh_l{layer}{s}"))?);
        let (w, r) = (reorder(b, cell, &w), reorder(b, cell, &r));
        let (bi, bh) = (reorder(b, cell, &bi), reorder(b, cell, &bh));
        let bias = b.concat(&[&bi, &bh], 0);
        for (k, t) in [w, r, bias].into_iter().enumerate() {
            per_dir[k].push(b.unsqueeze(&t, &[0]));
        }
    }
    Ok(per_dir.map(|parts| {
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        if refs.len() == 1 { parts[0].clone() } else { b.concat(&refs, 0) }
    }))
}

fn attrs(cfg: &Recurrent, cell: Cell) -> Vec<crate::export::onnx::proto::AttributeProto> {
    let direction = if cfg.bidirectional { "bidirectional" } else { "forward" };
    let mut a = vec![int("hidden_size", cfg.hidden), string("direction", direction)];
    if cell == Cell::Gru {
        a.push(int("linear_before_reset", 1));
    }
    a
}

fn op_type(cell: Cell) -> &'static str {
    match cell {
        Cell::Lstm => "LSTM",
        Cell::Gru => "GRU",
    }
}

/// The layer on `x` [B, T, F].
pub(in crate::export::onnx) fn rnn(
    cfg: &Recurrent,
    cell: Cell,
    b: &mut Builder,
    c: &Ctx,
    x: &str,
) -> Result<String, OnnxError> {
    let seq = b.transpose(x, &[1, 0, 2]);
    stacked(cfg, cell, b, c, seq, 0)
}

/// Layers `from..` on a time-major sequence `[T, B, in]`, then the node's output.
fn stacked(
    cfg: &Recurrent,
    cell: Cell,
    b: &mut Builder,
    c: &Ctx,
    mut seq: String,
    from: i64,
) -> Result<String, OnnxError> {
    let mut last = None;
    for layer in from..cfg.layers {
        let [w, r, bias] = layer_weights(cfg, cell, b, c, layer)?;
        let outs = b.node_n(op_type(cell), &[&seq, &w, &r, &bias], attrs(cfg, cell), 2);
        (seq, last) = (next_input(b, &outs[0]), Some(outs[1].clone()));
    }
    finish(cfg, b, seq, last)
}

/// `Y` [T, dirs, B, H] as the next layer's input `[T, B, dirs * H]`.
fn next_input(b: &mut Builder, y: &str) -> String {
    let t = b.transpose(y, &[0, 2, 1, 3]);
    b.reshape(&t, &[0, 0, -1])
}

fn finish(cfg: &Recurrent, b: &mut Builder, seq: String, last: Option<String>) -> Result<String, OnnxError> {
    match (cfg.last, last) {
        (true, Some(h)) => {
            let t = b.transpose(&h, &[1, 0, 2]);
            Ok(b.reshape(&t, &[0, -1]))
        }
        _ => Ok(b.transpose(&seq, &[1, 0, 2])),
    }
}

/// One tower's share of the first layer's input map: `x W_ih[:, start..start + width]^T`
/// for every direction side by side (`[B, T, dirs * G * H]`, ONNX's gate order), plus on
/// the first share the biases that act on the input (an LSTM's both; a GRU's `b_ih` and the
/// `r`, `z` blocks of `b_hh`: its `n` block stays in the recurrence).
pub(in crate::export::onnx) fn share(
    cfg: &Recurrent,
    cell: Cell,
    b: &mut Builder,
    c: &Ctx,
    (x, start, width): (&str, i64, i64),
    with_bias: bool,
) -> Result<String, OnnxError> {
    let (mut ws, mut bs) = (Vec::new(), Vec::new());
    let h = cfg.hidden;
    for dir in 0..cfg.dirs() {
        let s = suffix(dir);
        let w = c.weight(b, &format!("weight_ih_l0{s}"))?;
        let part = b.slice(&w, 1, start, start + width);
        ws.push(reorder(b, cell, &part));
        if with_bias {
            let bi = c.weight(b, &format!("bias_ih_l0{s}"))?;
            let mut bh = c.weight(b, &format!("bias_hh_l0{s}"))?;
            if cell == Cell::Gru {
                let mask: Vec<f32> = (0..3 * h).map(|k| if k < 2 * h { 1.0 } else { 0.0 }).collect();
                let mask = b.floats(&mask, &[3 * h]);
                bh = b.binary("Mul", &bh, &mask);
            }
            let sum = b.binary("Add", &bi, &bh);
            bs.push(reorder(b, cell, &sum));
        }
    }
    let refs: Vec<&str> = ws.iter().map(String::as_str).collect();
    let w = b.concat(&refs, 0);
    let refs: Vec<&str> = bs.iter().map(String::as_str).collect();
    let bias = if with_bias { Some(b.concat(&refs, 0)) } else { None };
    Ok(b.linear(x, &w, bias.as_deref()))
}

/// The layer on the sum of its shares, `table` [B, T, dirs * G * H]: the first layer's input
/// map is an identity that picks each direction's columns (exact in floating point), its
/// input biases are in the table already; later layers run whole.
pub(in crate::export::onnx) fn rnn_on_projection(
    cfg: &Recurrent,
    cell: Cell,
    b: &mut Builder,
    c: &Ctx,
    table: &str,
) -> Result<String, OnnxError> {
    let (h, dirs) = (cfg.hidden, cfg.dirs());
    let rows = cell.gates() * h;
    let mut pick = vec![0f32; (dirs * rows * dirs * rows) as usize];
    for dir in 0..dirs {
        for r in 0..rows {
            pick[((dir * rows + r) * dirs * rows + dir * rows + r) as usize] = 1.0;
        }
    }
    let w = b.floats(&pick, &[dirs, rows, dirs * rows]);
    let (mut rs, mut bs) = (Vec::new(), Vec::new());
    for dir in 0..dirs {
        let s = suffix(dir);
        let r = c.weight(b, &format!("weight_hh_l0{s}"))?;
        let r = reorder(b, cell, &r);
        rs.push(b.unsqueeze(&r, &[0]));
        // Only a GRU's `n` block of `b_hh` stays: ONNX's `Rb_h`, inside the reset gate.
        let bias = if cell == Cell::Gru {
            let bh = c.weight(b, &format!("bias_hh_l0{s}"))?;
            let zeros = b.floats(&vec![0f32; (rows + 2 * h) as usize], &[rows + 2 * h]);
            let n = b.slice(&bh, 0, 2 * h, 3 * h);
            b.concat(&[&zeros, &n], 0)
        } else {
            b.floats(&vec![0f32; 2 * rows as usize], &[2 * rows])
        };
        bs.push(b.unsqueeze(&bias, &[0]));
    }
    let join = |b: &mut Builder, v: &[String]| {
        if v.len() == 1 {
            v[0].clone()
        } else {
            let refs: Vec<&str> = v.iter().map(String::as_str).collect();
            b.concat(&refs, 0)
        }
    };
    let (r, bias) = (join(b, &rs), join(b, &bs));
    let seq = b.transpose(table, &[1, 0, 2]);
    let outs = b.node_n(op_type(cell), &[&seq, &w, &r, &bias], attrs(cfg, cell), 2);
    let seq = next_input(b, &outs[0]);
    if cfg.layers == 1 {
        return finish(cfg, b, seq, Some(outs[1].clone()));
    }
    stacked(cfg, cell, b, c, seq, 1)
}
