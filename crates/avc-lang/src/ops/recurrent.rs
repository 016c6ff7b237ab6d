//! Recurrent layers over batch-first sequences `[B, T, F]`. LSTM and GRU share everything
//! but their gate count and kernel: [`Recurrent`] holds the shared configuration, shape
//! rule and cost; [`Cell`] says which kernel runs (the layers, with PyTorch-named
//! variables, are `avc::lower::ops::recurrent`).

use super::product;
use super::{
    ArgReader, Arity, Default, InputMap, Op, OpImpl, OpSpec, ParamKind, ParamSpec, ShapeError, expect_rank, fixed_axis,
};
use crate::shape::{Dim, Shape};

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
pub enum Cell {
    Lstm,
    Gru,
}

impl Cell {
    pub fn gates(self) -> i64 {
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

    pub fn dirs(&self) -> i64 {
        if self.bidirectional { 2 } else { 1 }
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        expect_rank(ins, 0, 3, "[B, T, F]")?;
        fixed_axis(ins, 0, 2, "input features")?;
        let width = Dim::Fixed(product(&[self.hidden, self.dirs()]));
        Ok(if self.last { Shape::batched([width]) } else { ins[0].with_dim(2, width) })
    }

    /// The input width of each layer: the features, then the previous layer's output.
    pub fn layer_inputs(&self, ins: &[Shape]) -> impl Iterator<Item = i64> {
        let f = ins[0].0[2].fixed().unwrap_or(1);
        let below = product(&[self.hidden, self.dirs()]);
        (0..self.layers).map(move |l| if l == 0 { f } else { below })
    }

    fn param_count(&self, cell: Cell, ins: &[Shape]) -> i64 {
        let rows = product(&[cell.gates(), self.hidden]);
        let per_dir =
            |input: i64| product(&[rows, input.saturating_add(self.hidden)]).saturating_add(product(&[2, rows]));
        self.layer_inputs(ins).fold(0i64, |acc, input| acc.saturating_add(product(&[self.dirs(), per_dir(input)])))
    }

    /// One weight multiply-add per weight entry and time step (biases are adds).
    fn macs(&self, cell: Cell, ins: &[Shape]) -> Option<i64> {
        let t = ins[0].0[1].fixed()?;
        let biases = product(&[self.layers, self.dirs(), 2, cell.gates(), self.hidden]);
        Some(product(&[t, self.param_count(cell, ins).saturating_sub(biases)]))
    }

    /// The first layer's input projection, every direction's gates side by side. Split only
    /// outside training: with two pairs per clip the factoring saves half of one projection,
    /// while its step loop replaces libtorch's fused kernel (oneDNN on the CPU, cuDNN on a
    /// GPU); measured on the CPU, a training step of `final` takes as long either way
    /// (docs/performance.md).
    fn input_map(&self, cell: Cell) -> InputMap {
        InputMap { width: self.dirs() * cell.gates() * self.hidden, factor_in_training: false }
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
        results: super::Results::One,
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
        results: super::Results::One,
        params: PARAMS,
        parse: |r: &mut ArgReader| Op::Gru(Gru(Recurrent::parse(r))),
    };
}

/// Implements [`OpImpl`] for a recurrent op by delegating to its [`Recurrent`] config.
macro_rules! recurrent_op {
    ($ty:ident, $cell:expr) => {
        impl OpImpl for $ty {
            fn steps(&self) -> super::Steps {
                super::Steps::Kept
            }
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
