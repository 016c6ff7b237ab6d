//! Recurrent layers over batch-first sequences `[B, T, F]`.

use super::{
    ArgReader, Arity, Default, Layer, Op, OpImpl, OpSpec, ParamKind, ParamSpec, ShapeError, expect_rank, fixed_axis,
};
use crate::shape::{Dim, Shape};
use tch::{Tensor, nn};

const OUTPUTS: &[&str] = &["sequence", "last"];

/// `lstm(x, hidden: H)`: a (stacked, optionally bidirectional) LSTM.
#[derive(Debug, Clone, PartialEq)]
pub struct Lstm {
    pub hidden: i64,
    pub layers: i64,
    pub bidirectional: bool,
    /// Return the whole output sequence, or only the final hidden state.
    pub last: bool,
    pub dropout: f64,
}

impl Lstm {
    pub const SPEC: OpSpec = OpSpec {
        name: "lstm",
        family: "recurrent",
        summary: "Long short-term memory over time. Weights are named as PyTorch's nn.LSTM \
                  names them (`weight_ih_l0`, `bias_hh_l1_reverse`, ...).",
        shape_rule: "[B, T, F] -> [B, T, hidden * dirs] (output: sequence) or [B, hidden * dirs] (output: last)",
        arity: Arity::Exactly(1),
        params: &[
            ParamSpec { name: "hidden", kind: ParamKind::Int, default: None, doc: "hidden units per direction" },
            ParamSpec { name: "layers", kind: ParamKind::Int, default: Some(Default::Int(1)), doc: "stacked layers" },
            ParamSpec {
                name: "bidirectional",
                kind: ParamKind::Bool,
                default: Some(Default::Bool(false)),
                doc: "run a second LSTM backwards in time and concatenate",
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
        ],
        parse: |r: &mut ArgReader| {
            Op::Lstm(Lstm {
                hidden: r.int_at_least("hidden", 1),
                layers: r.int_at_least("layers", 1),
                bidirectional: r.bool("bidirectional"),
                last: r.choice("output") == 1,
                dropout: r.float_in("dropout", 0.0, 1.0),
            })
        },
    };

    fn dirs(&self) -> i64 {
        if self.bidirectional { 2 } else { 1 }
    }
}

impl OpImpl for Lstm {
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        expect_rank(ins, 0, 3, "[B, T, F]")?;
        fixed_axis(ins, 0, 2, "input features")?;
        let width = Dim::Fixed(self.hidden * self.dirs());
        Ok(if self.last { Shape::batched([width]) } else { ins[0].with_dim(2, width) })
    }

    fn param_count(&self, ins: &[Shape]) -> i64 {
        let f = ins[0].0[2].fixed().unwrap_or(0);
        let h = self.hidden;
        (0..self.layers)
            .map(|l| {
                let input = if l == 0 { f } else { h * self.dirs() };
                self.dirs() * (4 * h * (input + h) + 8 * h)
            })
            .sum()
    }

    fn macs(&self, ins: &[Shape], _out: &Shape) -> Option<i64> {
        let t = ins[0].0[1].fixed()?;
        let per_step: i64 = self.param_count(ins) - self.layers * self.dirs() * 8 * self.hidden;
        Some(t * per_step)
    }

    fn lower(&self, vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        let f = ins[0].0[2].fixed().unwrap_or(1);
        let h = self.hidden;
        let init = super::bias_init(h);
        let mut params = Vec::new();
        for layer in 0..self.layers {
            let input = if layer == 0 { f } else { h * self.dirs() };
            for dir in 0..self.dirs() {
                let suffix = if dir == 1 { "_reverse" } else { "" };
                params.push(vs.f_var(&format!("weight_ih_l{layer}{suffix}"), &[4 * h, input], init)?);
                params.push(vs.f_var(&format!("weight_hh_l{layer}{suffix}"), &[4 * h, h], init)?);
                params.push(vs.f_var(&format!("bias_ih_l{layer}{suffix}"), &[4 * h], init)?);
                params.push(vs.f_var(&format!("bias_hh_l{layer}{suffix}"), &[4 * h], init)?);
            }
        }
        Ok(Box::new(LstmLayer { cfg: self.clone(), params }))
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

struct LstmLayer {
    cfg: Lstm,
    params: Vec<Tensor>,
}

impl Layer for LstmLayer {
    fn forward(&self, xs: &[&Tensor], train: bool) -> Result<Tensor, tch::TchError> {
        let x = xs[0];
        let batch = x.size().first().copied().unwrap_or(0);
        let dirs = self.cfg.dirs();
        let state = [self.cfg.layers * dirs, batch, self.cfg.hidden];
        let h0 = Tensor::f_zeros(state, (x.kind(), x.device()))?;
        let c0 = Tensor::f_zeros(state, (x.kind(), x.device()))?;
        let (out, h, _c) = x.f_lstm(
            &[&h0, &c0],
            &self.params.iter().collect::<Vec<_>>(),
            true,
            self.cfg.layers,
            self.cfg.dropout,
            train,
            self.cfg.bidirectional,
            true,
        )?;
        if !self.cfg.last {
            return Ok(out);
        }
        // h is [layers * dirs, B, H]; the top layer's directions are the last `dirs` rows.
        let top = h.f_narrow(0, (self.cfg.layers - 1) * dirs, dirs)?;
        top.f_permute([1, 0, 2])?.f_reshape([batch, dirs * self.cfg.hidden])
    }
}
