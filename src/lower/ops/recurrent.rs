//! The tch layers of the recurrent ops
//! (their parameters, shapes and costs are `avc_lang::ops::recurrent`).

use super::projected_rnn::{self, Direction, PairSum};
use super::{FactorInput, Layer, LowerOp, ProjectedPart, bias_init};
use avc_lang::ops::recurrent::*;
use avc_lang::shape::Shape;
use tch::{Tensor, nn};

/// Builds a recurrent op's layer; `cell` says which kernel it runs.
fn lower_recurrent(cfg: &Recurrent, cell: Cell, vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
    let params = variables(cfg, cell, vs, ins)?;
    Ok(Box::new(RecurrentLayer { cfg: cfg.clone(), cell, params }))
}

impl LowerOp for Lstm {
    fn lower(&self, vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        lower_recurrent(&self.0, Cell::Lstm, vs, ins)
    }
}

impl LowerOp for Gru {
    fn lower(&self, vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        lower_recurrent(&self.0, Cell::Gru, vs, ins)
    }
}

/// The variables in the order tch's kernels read them, named as PyTorch names them.
fn variables(cfg: &Recurrent, cell: Cell, vs: &nn::Path, ins: &[Shape]) -> Result<Vec<Tensor>, tch::TchError> {
    let (h, rows) = (cfg.hidden, cell.gates() * cfg.hidden);
    let init = bias_init(h);
    let mut params = Vec::new();
    for (layer, input) in cfg.layer_inputs(ins).enumerate() {
        for dir in 0..cfg.dirs() {
            let suffix = if dir == 1 { "_reverse" } else { "" };
            params.push(vs.f_var(&format!("weight_ih_l{layer}{suffix}"), &[rows, input], init)?);
            params.push(vs.f_var(&format!("weight_hh_l{layer}{suffix}"), &[rows, h], init)?);
            params.push(vs.f_var(&format!("bias_ih_l{layer}{suffix}"), &[rows], init)?);
            params.push(vs.f_var(&format!("bias_hh_l{layer}{suffix}"), &[rows], init)?);
        }
    }
    Ok(params)
}

struct RecurrentLayer {
    cfg: Recurrent,
    cell: Cell,
    /// Per layer and direction: `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`.
    params: Vec<Tensor>,
}

impl RecurrentLayer {
    /// libtorch's kernel for `layers` stacked layers with weights `params`, reduced to the
    /// configured output.
    fn run(&self, x: &Tensor, params: &[Tensor], layers: i64, train: bool) -> Result<Tensor, tch::TchError> {
        let cfg = &self.cfg;
        let batch = x.size().first().copied().unwrap_or(0);
        let dirs = cfg.dirs();
        let state = [layers * dirs, batch, cfg.hidden];
        let zeros = || Tensor::f_zeros(state, (x.kind(), x.device()));
        let (p, bi) = (cfg.dropout, cfg.bidirectional);
        let (out, h) = match self.cell {
            Cell::Lstm => {
                let (h0, c0) = (zeros()?, zeros()?);
                let (out, h, _c) = x.f_lstm(&[h0, c0], params, true, layers, p, train, bi, true)?;
                (out, h)
            }
            Cell::Gru => x.f_gru(&zeros()?, params, true, layers, p, train, bi, true)?,
        };
        if !cfg.last {
            return Ok(out);
        }
        // h is [layers * dirs, B, H]; the top layer's directions are the last `dirs` rows.
        let top = h.f_narrow(0, (layers - 1) * dirs, dirs)?;
        top.f_permute([1, 0, 2])?.f_reshape([batch, dirs * cfg.hidden])
    }

    /// Rows of each first-layer gate block (`gates * hidden`).
    fn rows(&self) -> i64 {
        self.cell.gates() * self.cfg.hidden
    }

    /// The bias the input map carries for direction `dir`: `b_ih`, plus the parts of `b_hh`
    /// that are plain sums (all of it for LSTM; r and z for GRU).
    fn input_bias(&self, dir: usize) -> Result<Tensor, tch::TchError> {
        let (b_ih, b_hh) = (&self.params[4 * dir + 2], &self.params[4 * dir + 3]);
        match self.cell {
            Cell::Lstm => b_ih.f_add(b_hh),
            Cell::Gru => {
                let h = self.cfg.hidden;
                let rz = Tensor::f_cat(&[b_hh.f_narrow(0, 0, 2 * h)?, b_hh.f_zeros_like()?.f_narrow(0, 0, h)?], 0)?;
                b_ih.f_add(&rz)
            }
        }
    }

    /// One direction of the first layer: `[P, T, H]` and the final state `[P, H]`.
    /// `table` stacks every part's projection, `[sum of N, T, dirs * G]`.
    fn direction(&self, table: &Tensor, pairs: &PairSum, dir: usize) -> Result<(Tensor, Tensor), tch::TchError> {
        // The step-by-step recurrence runs in fp32 under autocast: its products are small
        // (a [P, H] state by [H, G]), its in-place updates are not autocast's, and the state
        // carries rounding from step to step.
        crate::lower::precision::in_fp32(&[table], |xs| self.direction_fp32(xs[0], pairs, dir))
    }

    fn direction_fp32(&self, table: &Tensor, pairs: &PairSum, dir: usize) -> Result<(Tensor, Tensor), tch::TchError> {
        let rows = self.rows();
        let mine =
            if self.cfg.bidirectional { table.f_narrow(2, dir as i64 * rows, rows)? } else { table.shallow_clone() };
        // One contiguous [sum of N, G] table per step; `unbind` has a single backward node.
        let steps = mine.f_transpose(0, 1)?.f_contiguous()?.f_unbind(0)?;
        let d = Direction {
            steps: &steps,
            pairs,
            reverse: dir == 1,
            w_hh: &self.params[4 * dir + 1],
            hidden: self.cfg.hidden,
        };
        match self.cell {
            Cell::Lstm => projected_rnn::lstm(&d),
            Cell::Gru => {
                let b_hn = self.params[4 * dir + 3].f_narrow(0, 2 * self.cfg.hidden, self.cfg.hidden)?;
                projected_rnn::gru(&d, &b_hn)
            }
        }
    }
}

impl Layer for RecurrentLayer {
    fn forward(&self, xs: &[&Tensor], train: bool) -> Result<Tensor, tch::TchError> {
        self.run(xs[0], &self.params, self.cfg.layers, train)
    }

    fn factor_input(&self) -> Option<&dyn FactorInput> {
        Some(self)
    }
}

/// The first layer's input projection is factored; its recurrence runs step by step
/// ([`projected_rnn`]), the layers above it in libtorch's kernel.
impl FactorInput for RecurrentLayer {
    fn project(&self, x: &Tensor, start: i64, bias: bool) -> Result<Tensor, tch::TchError> {
        let width = x.size().last().copied().unwrap_or(0);
        let dirs = self.cfg.dirs() as usize;
        let mut weights = Vec::with_capacity(dirs);
        let mut biases = Vec::with_capacity(dirs);
        for dir in 0..dirs {
            weights.push(self.params[4 * dir].f_narrow(1, start, width)?);
            if bias {
                biases.push(self.input_bias(dir)?);
            }
        }
        let w = Tensor::f_cat(&weights, 0)?;
        let b = if bias { Some(Tensor::f_cat(&biases, 0)?) } else { None };
        x.f_linear(&w, b.as_ref())
    }

    /// The step loop runs a handful of small kernels per step where libtorch's fused kernel
    /// runs one: on few pairs their fixed cost outweighs the projection saved, and more so
    /// with more threads (measured for `final` on the CPU: docs/performance.md).
    fn min_pairs(&self) -> i64 {
        64 * i64::from(tch::get_num_threads().max(1))
    }

    fn forward_projected(&self, parts: &[ProjectedPart], train: bool) -> Result<Tensor, tch::TchError> {
        let (table, pairs) = PairSum::new(parts)?;
        let dirs = self.cfg.dirs() as usize;
        let mut outs = Vec::with_capacity(dirs);
        let mut lasts = Vec::with_capacity(dirs);
        for dir in 0..dirs {
            let (out, last) = self.direction(&table, &pairs, dir)?;
            outs.push(out);
            lasts.push(last);
        }
        let out = if dirs == 1 { outs.remove(0) } else { Tensor::f_cat(&outs, 2)? };
        if self.cfg.layers == 1 {
            return if self.cfg.last { Tensor::f_cat(&lasts, 1) } else { Ok(out) };
        }
        // libtorch puts dropout between stacked layers, the first layer's output included.
        let above = super::dropout::dropout(&out, self.cfg.dropout, train)?;
        self.run(&above, &self.params[4 * dirs..], self.cfg.layers - 1, train)
    }
}
