//! The op set of current models (GELU, SiLU, GLU, softplus, ELU, log-softmax, the math ops,
//! RMSNorm, grouped and `same`/`causal`-padded convolutions, adaptive pools, positional
//! encodings) against PyTorch's own functions, values and gradients to 1e-5, through the
//! harness of tests/torch_grads.rs. Each PyTorch expression is how a PyTorch user writes
//! the op (`F.gelu(x, approximate="tanh")`, `F.conv1d(..., padding="same", groups=g)`),
//! not a copy of avc's formula.

use crate::torch_grads::{Case, boolean, check, check_drawn, float, int, positive};
use avc::ops::ResolvedArg;
use avc_lang::ast::ValueKind;

/// A string argument (a choice): `padding: "same"`.
fn word(name: &str, v: &str) -> ResolvedArg {
    crate::torch_grads::arg(name, ValueKind::Str(v.into()))
}

fn case(name: &'static str, op: &'static str, args: Vec<ResolvedArg>, input: &[i64], torch: &'static str) -> Case {
    Case { name, op, args, inputs: vec![input.to_vec()], torch }
}

#[test]
fn activations_agree_with_pytorch() {
    let _rng = crate::torch_rng_lock();
    check(&[
        case("gelu", "gelu", vec![], &[2, 3, 7], "F.gelu(x0)"),
        case("gelu tanh", "gelu", vec![word("approximate", "tanh")], &[2, 9], r#"F.gelu(x0, approximate="tanh")"#),
        case("silu", "silu", vec![], &[2, 3, 7], "F.silu(x0)"),
        case("glu", "glu", vec![], &[2, 3, 8], "F.glu(x0, -1)"),
        case("glu time", "glu", vec![int("axis", 1)], &[2, 6, 5], "F.glu(x0, 1)"),
        case("softplus", "softplus", vec![], &[2, 3, 7], "F.softplus(x0)"),
        case(
            "softplus beta threshold",
            "softplus",
            vec![float("beta", 2.0), float("threshold", 1.0)],
            &[4, 9],
            "F.softplus(x0, beta=2.0, threshold=1.0)",
        ),
        case("elu", "elu", vec![], &[2, 3, 7], "F.elu(x0)"),
        case("elu alpha", "elu", vec![float("alpha", 0.5)], &[4, 9], "F.elu(x0, alpha=0.5)"),
        case("log_softmax", "log_softmax", vec![], &[2, 3, 7], "F.log_softmax(x0, -1)"),
        case("log_softmax time", "log_softmax", vec![int("axis", 1)], &[2, 5, 3], "F.log_softmax(x0, 1)"),
    ]);
}

#[test]
fn math_ops_agree_with_pytorch() {
    let _rng = crate::torch_rng_lock();
    check(&[
        case("exp", "exp", vec![], &[2, 3, 7], "torch.exp(x0)"),
        case("abs", "abs", vec![], &[2, 3, 7], "torch.abs(x0)"),
        case("clamp min", "clamp", vec![float("min", -0.5)], &[2, 3, 7], "torch.clamp(x0, min=-0.5)"),
        case("clamp max", "clamp", vec![float("max", 0.5)], &[2, 3, 7], "torch.clamp(x0, max=0.5)"),
        case("clamp both", "clamp", vec![float("min", -1.0), float("max", 0.3)], &[4, 9], "torch.clamp(x0, -1.0, 0.3)"),
        case("pow 3", "pow", vec![float("exponent", 3.0)], &[2, 3, 7], "torch.pow(x0, 3.0)"),
        case("pow -2", "pow", vec![int("exponent", -2)], &[2, 3, 7], "torch.pow(x0, -2)"),
    ]);
    check_drawn(
        &[
            case("log", "log", vec![], &[2, 3, 7], "torch.log(x0)"),
            case("sqrt", "sqrt", vec![], &[2, 3, 7], "torch.sqrt(x0)"),
            case("pow 0.5", "pow", vec![float("exponent", 0.5)], &[2, 3, 7], "torch.pow(x0, 0.5)"),
            case("pow -1.5", "pow", vec![float("exponent", -1.5)], &[2, 3, 7], "torch.pow(x0, -1.5)"),
        ],
        positive,
    );
}

#[test]
fn norms_agree_with_pytorch() {
    let _rng = crate::torch_rng_lock();
    check(&[
        case("rmsnorm", "rmsnorm", vec![], &[2, 3, 8], r#"F.rms_norm(x0, (8,), p["weight"], 1e-6)"#),
        case(
            "rmsnorm eps no affine",
            "rmsnorm",
            vec![boolean("affine", false), float("eps", 1e-2)],
            &[2, 3, 8],
            "F.rms_norm(x0, (8,), None, 1e-2)",
        ),
        case(
            "layernorm eps",
            "layernorm",
            vec![float("eps", 1e-3)],
            &[2, 3, 8],
            r#"F.layer_norm(x0, (8,), p["weight"], p["bias"], 1e-3)"#,
        ),
    ]);
}

/// avc's sequences are `[B, T, F]`; PyTorch's conv1d reads `[B, F, T]`: each expression
/// transposes in and out, as docs/export.md tells a twin to.
#[test]
fn grouped_and_padded_convolutions_agree_with_pytorch() {
    let _rng = crate::torch_rng_lock();
    check(&[
        case(
            "conv1d depthwise causal",
            "conv1d",
            vec![int("out", 6), int("kernel", 3), int("groups", 6), int("dilation", 2), word("padding", "causal")],
            &[2, 9, 6],
            r#"F.conv1d(F.pad(x0.transpose(1, 2), (4, 0)), p["weight"], p["bias"], dilation=2, groups=6).transpose(1, 2)"#,
        ),
        case(
            "conv1d causal stride 2",
            "conv1d",
            vec![int("out", 4), int("kernel", 3), int("stride", 2), word("padding", "causal")],
            &[2, 9, 5],
            r#"F.conv1d(F.pad(x0.transpose(1, 2), (2, 0)), p["weight"], p["bias"], stride=2).transpose(1, 2)"#,
        ),
        case(
            "conv1d same even kernel",
            "conv1d",
            vec![int("out", 4), int("kernel", 4), word("padding", "same")],
            &[2, 9, 5],
            r#"F.conv1d(x0.transpose(1, 2), p["weight"], p["bias"], padding="same").transpose(1, 2)"#,
        ),
        case(
            "conv1d same dilated groups",
            "conv1d",
            vec![int("out", 6), int("kernel", 3), int("dilation", 2), int("groups", 2), word("padding", "same")],
            &[2, 9, 4],
            r#"F.conv1d(x0.transpose(1, 2), p["weight"], p["bias"], padding="same", dilation=2, groups=2).transpose(1, 2)"#,
        ),
        case(
            "conv2d same groups",
            "conv2d",
            vec![int("out", 4), int("kernel", 3), int("groups", 2), word("padding", "same")],
            &[2, 2, 7, 6],
            r#"F.conv2d(x0, p["weight"], p["bias"], padding="same", groups=2)"#,
        ),
        case(
            "conv2d same even kernel depthwise",
            "conv2d",
            vec![int("out", 3), int("kernel", 2), int("groups", 3), word("padding", "same"), boolean("bias", false)],
            &[2, 3, 5, 6],
            r#"F.conv2d(x0, p["weight"], None, padding="same", groups=3)"#,
        ),
    ]);
}

#[test]
fn adaptive_pools_agree_with_pytorch() {
    let _rng = crate::torch_rng_lock();
    check(&[
        case(
            "adaptive_avgpool1d",
            "adaptive_avgpool1d",
            vec![int("size", 4)],
            &[2, 11, 3],
            "F.adaptive_avg_pool1d(x0.transpose(1, 2), 4).transpose(1, 2)",
        ),
        case(
            "adaptive_maxpool1d",
            "adaptive_maxpool1d",
            vec![int("size", 3)],
            &[2, 11, 3],
            "F.adaptive_max_pool1d(x0.transpose(1, 2), 3).transpose(1, 2)",
        ),
        case(
            "adaptive_avgpool2d",
            "adaptive_avgpool2d",
            vec![int("size", 3)],
            &[2, 2, 7, 5],
            "F.adaptive_avg_pool2d(x0, 3)",
        ),
        case(
            "adaptive_maxpool2d",
            "adaptive_maxpool2d",
            vec![int("size", 2)],
            &[2, 2, 7, 5],
            "F.adaptive_max_pool2d(x0, 2)",
        ),
    ]);
}

/// The sinusoidal table as the paper writes it, pos / 10000^(2i/F), in double precision.
const SINUSOID: &str = "(lambda T, F: (lambda a: x0 + torch.stack([a.sin(), a.cos()], -1).reshape(T, F).float())(\
    torch.arange(T, dtype=torch.float64)[:, None] / 10000.0 ** (torch.arange(0, F, 2, dtype=torch.float64) / F)\
    ))(x0.shape[1], x0.shape[2])";

#[test]
fn positional_encodings_agree_with_pytorch() {
    let _rng = crate::torch_rng_lock();
    check(&[
        case("sinusoidal_position", "sinusoidal_position", vec![], &[2, 7, 8], SINUSOID),
        case("sinusoidal_position long", "sinusoidal_position", vec![], &[1, 50, 16], SINUSOID),
        case(
            "learned_position",
            "learned_position",
            vec![int("max_len", 10)],
            &[2, 7, 4],
            r#"x0 + p["weight"][: x0.shape[1]]"#,
        ),
    ]);
}
