//! Layers with weights of their own: `linear`, the recurrences, `embedding`, `param`,
//! `residual`, the attention ops and the positional encodings.

use super::{Emitted, NodeView, keyword};
use crate::export::torch::helpers::Helper;
use crate::export::torch::template::{Template, float, float_literal, int};
use avc_lang::ops::attention::Attention;
use avc_lang::ops::dense::Linear;
use avc_lang::ops::embedding::Embedding;
use avc_lang::ops::learned::{Init, Param};
use avc_lang::ops::position::{LearnedPosition, SinusoidalPosition};
use avc_lang::ops::recurrent::Recurrent;
use avc_lang::ops::residual::Residual;

pub(super) fn linear(c: &Linear, node: &NodeView) -> Result<Emitted, String> {
    let f = node.last(0)?;
    let mut module = Template::parse("nn.Linear({}, {}", [int("in_features", None, f), int("out", Some("out"), c.out)]);
    if !c.bias {
        module = module.t(", bias=False");
    }
    Ok(Emitted::module(module.t(")"), Template::parse("{m}({x0})", [])))
}

/// `nn.LSTM` / `nn.GRU` with `batch_first=True`: its output sequence, or the top layer's
/// final hidden state.
pub(super) fn recurrent(c: &Recurrent, class: &str, node: &NodeView) -> Result<Emitted, String> {
    let f = node.fixed(0, 2)?;
    let mut module = Template::parse(
        &format!("nn.{class}({{}}, {{}}"),
        [int("input_size", None, f), int("hidden", Some("hidden"), c.hidden)],
    );
    module = keyword(module, node, "num_layers", "layers", int("layers", Some("layers"), c.layers), c.layers == 1);
    module = module.t(", batch_first=True");
    if c.bidirectional {
        module = module.t(", bidirectional=True");
    }
    // PyTorch warns about dropout on one layer, where it has no effect (nor in avc).
    if c.layers > 1 && c.dropout > 0.0 {
        module = module.t(", dropout=").num(float("dropout", "dropout", c.dropout));
    }
    let module = module.t(")");
    // LSTM returns (out, (h, c)), GRU (out, h).
    let h = if class == "LSTM" { "{m}({x0})[1][0]" } else { "{m}({x0})[1]" };
    let call = match (c.last, c.bidirectional) {
        (false, _) => Template::parse("{m}({x0})[0]", []),
        (true, false) => Template::parse(&format!("{h}[-1]"), []),
        (true, true) => {
            return Ok(
                Emitted::module(module, Template::parse(&format!("last_state({h}, 2)"), [])).with(Helper::LastState)
            );
        }
    };
    Ok(Emitted::module(module, call))
}

pub(super) fn embedding(c: &Embedding) -> Result<Emitted, String> {
    let module =
        Template::parse("nn.Embedding({}, {})", [int("count", Some("count"), c.count), int("dim", Some("dim"), c.dim)]);
    Ok(Emitted::module(module, Template::parse("{m}({x0}.long())", [])))
}

/// A learned tensor: an `nn.Parameter` initialised as avc initialises it, read as it is.
pub(super) fn param(c: &Param) -> Result<Emitted, String> {
    let dims: Vec<_> = c.shape.iter().map(|&d| int("shape", Some("shape"), d)).collect();
    let holes = vec!["{}"; dims.len()].join(", ");
    let tuple = if dims.len() == 1 { format!("({holes},)") } else { format!("({holes})") };
    let value = match c.init {
        Init::Normal { std } => {
            Template::parse(&format!("torch.randn({holes}) * "), dims).num(float("std", "std", std))
        }
        Init::Uniform { low, high } => Template::parse(&format!("torch.empty({holes}).uniform_("), dims)
            .num(float("low", "low", low))
            .t(", ")
            .num(float("high", "high", high))
            .t(")"),
        Init::Constant(v) => Template::parse(&format!("torch.full({tuple}, "), dims).t(&float_literal(v)).t(")"),
        Init::Xavier => {
            let r = c.shape.len();
            let receptive: i64 = c.shape[..r.saturating_sub(2)].iter().product();
            let fan_in = c.shape.get(r.wrapping_sub(1)).copied().unwrap_or(1) * receptive;
            let fan_out = c.shape.get(r.wrapping_sub(2)).copied().unwrap_or(1) * receptive;
            let bound = (6.0 / (fan_in + fan_out) as f64).sqrt();
            Template::parse(&format!("torch.empty({holes}).uniform_("), dims).t(&format!(
                "{}, {})",
                float_literal(-bound),
                float_literal(bound)
            ))
        }
    };
    let module = Template::parse("nn.Parameter(", []);
    let module = Template(module.0.into_iter().chain(value.0).collect()).t(")");
    Ok(Emitted::module(module, Template::parse("{m}", [])))
}

/// `x + skip`, or through the [`Helper::Shortcut`] projection when the widths differ.
pub(super) fn residual(node: &NodeView) -> Result<Emitted, String> {
    match Residual::projection(node.ins) {
        Some((from, to)) => Ok(Emitted::module(
            Template::parse("Shortcut({}, {})", [int("skip_features", None, from), int("features", None, to)]),
            Template::parse("{m}({x0}, {x1})", []),
        )
        .with(Helper::Shortcut)),
        None => Ok(Emitted::call(Template::parse("{x1} + {x0}", []))),
    }
}

pub(super) fn attention(c: &Attention, node: &NodeView) -> Result<Emitted, String> {
    let f = node.fixed(0, 2)?;
    let mut module = Template::parse(
        "AdditiveAttention({}, {}",
        [int("features", None, f), int("hidden", Some("hidden"), c.hidden)],
    );
    let call = match Attention::query_width(node.ins) {
        Some(q) => {
            module = module.t(", ").num(int("query_features", None, q));
            Template::parse("{m}({x0}, {x1})", [])
        }
        None => Template::parse("{m}({x0})", []),
    };
    if c.weights {
        module = module.t(", weights=True");
    }
    Ok(Emitted::module(module.t(")"), call).with(Helper::AdditiveAttention))
}

/// `nn.MultiheadAttention` on `(x, x, x)` or `(q, kv, kv)`.
pub(super) fn multihead(heads: i64, dropout: f64, cross: bool, node: &NodeView) -> Result<Emitted, String> {
    let f = node.fixed(0, 2)?;
    let mut module =
        Template::parse("nn.MultiheadAttention({}, {}", [int("features", None, f), int("heads", Some("heads"), heads)]);
    module = keyword(module, node, "dropout", "dropout", float("dropout", "dropout", dropout), dropout == 0.0);
    let module = module.t(", batch_first=True)");
    let call = if cross {
        "{m}({x0}, {x1}, {x1}, need_weights=False)[0]"
    } else {
        "{m}({x0}, {x0}, {x0}, need_weights=False)[0]"
    };
    Ok(Emitted::module(module, Template::parse(call, [])))
}

pub(super) fn learned_position(c: &LearnedPosition, node: &NodeView) -> Result<Emitted, String> {
    let f = node.last(0)?;
    let module = Template::parse(
        "LearnedPosition({}, {})",
        [int("max_len", Some("max_len"), c.max_len), int("features", None, f)],
    );
    Ok(Emitted::module(module, Template::parse("{m}({x0})", [])).with(Helper::LearnedPosition))
}

pub(super) fn sinusoidal(c: &SinusoidalPosition, node: &NodeView) -> Result<Emitted, String> {
    if node.rank(0) != 3 {
        return Err("its input is not a [B, T, F] sequence".into());
    }
    let call =
        Template::parse("{x0} + sinusoids({x0}.shape[1], {x0}.shape[2], {}).to({x0})", [float("base", "base", c.base)]);
    Ok(Emitted::call(call).with(Helper::Sinusoids))
}
