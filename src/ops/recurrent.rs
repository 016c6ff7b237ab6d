//! Recurrent layers over batch-first sequences `[B, T, F]`. LSTM and GRU share everything
//! but their gate count and kernel: [`Recurrent`] holds the shared configuration, shape
//! rule, cost and PyTorch-named variables; [`Cell`] says which kernel runs.

use super::recurrence::{self, Direction, PairSum};
use super::{
    ArgReader, Arity, Default, InputMap, Layer, Op, OpImpl, OpSpec, ParamKind, ParamSpec, ProjectedPart, ShapeError,
    SplitInput, expect_rank, fixed_axis,
};
use crate::shape::{Dim, Shape};
use tch::{Tensor, nn};

const OUTPUTS: &[&str] = &["sequence", "last"];

const SHAPE_RULE: &str = "[B, T, F] -> [B, T, hidden * dirs] (output: sequence) or [B, hidden * dirs] (output: last)";

/// The parameters of every recurrent op, in the order they are documented.
const PARAMS: &[ParamSpec] = &[
    ParamSpec { name: "hidden", kind: ParamKind::Int, default: None, doc: "hidden units per direction" },
    ParamSpec { name: "layers", kind: ParamKind::Int, default: Some(Default::Int(1)), doc: "stacked layers" },
    ParamSpec {
        name: "bidirectional",
        kind: ParamKind::Bool,
        default: Some(Default::Bool(false)),
        doc: "run a second layer backwards in time and concatenate its output",
    },
    ParamSpec {
        name: "output",
        kind: ParamKind::Choice(OUTPUTS),
        default: Some(Default::Str("sequence")),
        doc: "`sequence`: every step; `last`: the final hidden state of the top layer",
    },
    ParamSpec {
        name: "dropout",
        kind: ParamKind::Float,
        default: Some(Default::Float(0.0)),
        doc: "dropout between stacked layers (training only)",
    },
];

/// Which recurrent kernel runs; it fixes the number of gates (rows of each weight block).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cell {
    Lstm,
    Gru,
}

impl Cell {
    fn gates(self) -> i64 {
        match self {
            Cell::Lstm => 4,
            Cell::Gru => 3,
        }
    }
}

/// The configuration LSTM and GRU share.
#[derive(Debug, Clone, PartialEq)]
pub struct Recurrent {
    pub hidden: i64,
    pub layers: i64,
    pub bidirectional: bool,
    /// Return the whole output sequence, or only the final hidden state.
    pub last: bool,
    pub dropout: f64,
}

impl Recurrent {
    fn parse(r: &mut ArgReader) -> Self {
        Recurrent {
            hidden: r.int_at_least("hidden", 1),
            layers: r.int_at_least("layers", 1),
            bidirectional: r.bool("bidirectional"),
            last: r.choice("output") == 1,
            dropout: r.float_in("dropout", 0.0, 1.0),
        }
    }

    fn dirs(&self) -> i64 {
        if self.bidirectional { 2 } else { 1 }
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        expect_rank(ins, 0, 3, "[B, T, F]")?;
        fixed_axis(ins, 0, 2, "input features")?;
        let width = Dim::Fixed(self.hidden * self.dirs());
        Ok(if self.last { Shape::batched([width]) } else { ins[0].with_dim(2, width) })
    }

    /// The input width of each layer: the features, then the previous layer's output.
    fn layer_inputs(&self, ins: &[Shape]) -> impl Iterator<Item = i64> {
        let f = ins[0].0[2].fixed().unwrap_or(1);
        let below = self.hidden * self.dirs();
        (0..self.layers).map(move |l| if l == 0 { f } else { below })
    }

    fn param_count(&self, cell: Cell, ins: &[Shape]) -> i64 {
        let rows = cell.gates() * self.hidden;
        let per_dir = |input: i64| rows * (input + self.hidden) + 2 * rows;
        self.layer_inputs(ins).map(|input| self.dirs() * per_dir(input)).sum()
    }

    /// One weight multiply-add per weight entry and time step (biases are adds).
    fn macs(&self, cell: Cell, ins: &[Shape]) -> Option<i64> {
        let t = ins[0].0[1].fixed()?;
        let biases = self.layers * self.dirs() * 2 * cell.gates() * self.hidden;
        Some(t * (self.param_count(cell, ins) - biases))
    }

    /// The variables in the order tch's kernels read them, named as PyTorch names them.
    fn variables(&self, cell: Cell, vs: &nn::Path, ins: &[Shape]) -> Result<Vec<Tensor>, tch::TchError> {
        let (h, rows) = (self.hidden, cell.gates() * self.hidden);
        let init = super::bias_init(h);
        let mut params = Vec::new();
        for (layer, input) in self.layer_inputs(ins).enumerate() {
            for dir in 0..self.dirs() {
                let suffix = if dir == 1 { "_reverse" } else { "" };
                params.push(vs.f_var(&format!("weight_ih_l{layer}{suffix}"), &[rows, input], init)?);
                params.push(vs.f_var(&format!("weight_hh_l{layer}{suffix}"), &[rows, h], init)?);
                params.push(vs.f_var(&format!("bias_ih_l{layer}{suffix}"), &[rows], init)?);
                params.push(vs.f_var(&format!("bias_hh_l{layer}{suffix}"), &[rows], init)?);
            }
        }
        Ok(params)
    }

    /// The first layer's input projection, every direction's gates side by side. Split only
    /// outside training: with two pairs per clip the split saves half of one projection,
    /// while its step loop replaces libtorch's fused kernel (oneDNN on the CPU, cuDNN on a
    /// GPU); measured on the CPU, a training step of `final` takes as long either way
    /// (docs/performance.md).
    fn input_map(&self, cell: Cell) -> InputMap {
        InputMap { width: self.dirs() * cell.gates() * self.hidden, split_in_training: false }
    }

    fn describe(&self) -> String {
        let mut s = format!("hidden={}", self.hidden);
        if self.layers != 1 {
            s += &format!(" layers={}", self.layers);
        }
        if self.bidirectional {
            s += " bidirectional";
        }
        if self.last {
            s += " output=last";
        }
        if self.dropout > 0.0 {
            s += &format!(" dropout={}", self.dropout);
        }
        s
    }
}

/// `lstm(x, hidden: H)`: a (stacked, optionally bidirectional) LSTM.
#[derive(Debug, Clone, PartialEq)]
pub struct Lstm(pub Recurrent);

impl Lstm {
    pub const SPEC: OpSpec = OpSpec {
        name: "lstm",
        family: "recurrent",
        summary: "Long short-term memory over time. Weights are named as PyTorch's nn.LSTM \
                  names them (`weight_ih_l0`, `bias_hh_l1_reverse`, ...).",
        shape_rule: SHAPE_RULE,
        arity: Arity::Exactly(1),
        params: PARAMS,
        parse: |r: &mut ArgReader| Op::Lstm(Lstm(Recurrent::parse(r))),
    };
}

/// `gru(x, hidden: H)`: a (stacked, optionally bidirectional) GRU.
#[derive(Debug, Clone, PartialEq)]
pub struct Gru(pub Recurrent);

impl Gru {
    pub const SPEC: OpSpec = OpSpec {
        name: "gru",
        family: "recurrent",
        summary: "Gated recurrent unit over time: three gates to the LSTM's four, no cell state. \
                  Weights are named as PyTorch's nn.GRU names them (`weight_ih_l0` of shape \
                  [3 * hidden, F], `bias_hh_l1_reverse`, ...).",
        shape_rule: SHAPE_RULE,
        arity: Arity::Exactly(1),
        params: PARAMS,
        parse: |r: &mut ArgReader| Op::Gru(Gru(Recurrent::parse(r))),
    };
}

/// Implements [`OpImpl`] for a recurrent op by delegating to its [`Recurrent`] config.
macro_rules! recurrent_op {
    ($ty:ident, $cell:expr) => {
        impl OpImpl for $ty {
            fn spec(&self) -> &'static OpSpec {
                &Self::SPEC
            }
            fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
                self.0.infer(ins)
            }
            fn param_count(&self, ins: &[Shape]) -> i64 {
                self.0.param_count($cell, ins)
            }
            fn macs(&self, ins: &[Shape], _out: &Shape) -> Option<i64> {
                self.0.macs($cell, ins)
            }
            fn lower(&self, vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
                let params = self.0.variables($cell, vs, ins)?;
                Ok(Box::new(RecurrentLayer { cfg: self.0.clone(), cell: $cell, params }))
            }
            fn describe(&self) -> String {
                self.0.describe()
            }
            fn input_map(&self) -> Option<InputMap> {
                Some(self.0.input_map($cell))
            }
        }
    };
}

recurrent_op!(Lstm, Cell::Lstm);
recurrent_op!(Gru, Cell::Gru);

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
            Cell::Lstm => recurrence::lstm(&d),
            Cell::Gru => {
                let b_hn = self.params[4 * dir + 3].f_narrow(0, 2 * self.cfg.hidden, self.cfg.hidden)?;
                recurrence::gru(&d, &b_hn)
            }
        }
    }
}

impl Layer for RecurrentLayer {
    fn forward(&self, xs: &[&Tensor], train: bool) -> Result<Tensor, tch::TchError> {
        self.run(xs[0], &self.params, self.cfg.layers, train)
    }

    fn split_input(&self) -> Option<&dyn SplitInput> {
        Some(self)
    }
}

/// The first layer's input projection is split; its recurrence runs step by step
/// ([`recurrence`]), the layers above it in libtorch's kernel.
impl SplitInput for RecurrentLayer {
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
        let above = out.f_dropout(self.cfg.dropout, train)?;
        self.run(&above, &self.params[4 * dirs..], self.cfg.layers - 1, train)
    }
}
