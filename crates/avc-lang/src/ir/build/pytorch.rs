//! What to write instead of a PyTorch name: a user coming from PyTorch calls `Linear`,
//! `nn.GELU` or `swish`, and "did you mean `gru`?" for `glu` helps nobody. Names are
//! matched without case and without a `nn.`, `torch.` or `F.` prefix; the answer names the
//! avc form, or says how to write what avc has no op for.

/// `(PyTorch name, lower case, no prefix; what to write in avc)`. The first op the answer
/// calls must be registered for the answer to be given (see [`hint`]).
const NAMES: &[(&str, &str)] = &[
    ("linear", "`linear(x, out: N)` (the input width is inferred)"),
    ("lazylinear", "`linear(x, out: N)` (the input width is inferred)"),
    ("conv1d", "`conv1d(x, out: C, kernel: K)` on `[T, F]` (avc transposes for you)"),
    ("conv2d", "`conv2d(x, out: C, kernel: K)` on `[C, H, W]`"),
    ("lstm", "`lstm(x, hidden: H)`"),
    ("gru", "`gru(x, hidden: H)`"),
    ("layernorm", "`layernorm(x)`"),
    ("batchnorm1d", "`batchnorm(x)`"),
    ("batchnorm2d", "`batchnorm(x)`"),
    ("rmsnorm", "`rmsnorm(x)`"),
    ("multiheadattention", "`self_attention(x, heads: H)` or `cross_attention(q, kv, heads: H)`"),
    ("relu", "`relu(x)`"),
    ("leakyrelu", "`leaky_relu(x, slope: 0.01)`"),
    ("leaky_relu", "`leaky_relu(x, slope: 0.01)`"),
    ("gelu", "`gelu(x)`"),
    ("silu", "`silu(x)`"),
    ("swish", "`silu(x)` (swish with beta 1 is SiLU)"),
    ("glu", "`glu(x, axis: -1)`"),
    ("sigmoid", "`sigmoid(x)`"),
    ("tanh", "`tanh(x)`"),
    ("softmax", "`softmax(x, axis: -1)`"),
    ("logsoftmax", "`log_softmax(x, axis: -1)`"),
    ("dropout", "`dropout(x, p: 0.1)`"),
    ("cat", "`concat(a, b)` (on the last axis)"),
    ("concatenate", "`concat(a, b)` (on the last axis)"),
    ("view", "`reshape(x, shape: [...])`"),
    ("flatten", "`flatten(x)`"),
    ("permute", "`permute(x, axes: [...])`"),
    ("unsqueeze", "`unsqueeze(x, axis: N)`"),
    ("bmm", "`bmm(a, b)`"),
    ("einsum", "`matmul` or `bmm`, with `permute` to bring the contracted axis last"),
    ("bilinear", "`u^T W v` with a learned tensor: `W = param(shape: [Fu, Fv])`, then `matmul`"),
    ("sequential", "one call per line, or a `block` for a repeated stack"),
    ("modulelist", "a `block`, used once per layer"),
    ("identity", "the node's input name itself (no op needed)"),
    ("cosinesimilarity", "`cosine(a, b)`"),
    ("pairwisedistance", "`l2_distance(a, b)`"),
    ("maxpool1d", "`maxpool1d(x, kernel: K)`"),
    ("avgpool1d", "`avgpool1d(x, kernel: K)`"),
    ("adaptiveavgpool1d", "`mean(x, axis: 1)` over time, or `adaptive_avgpool1d(x, size: N)`"),
    ("sum", "`mean` times the axis length (avc has no `sum`)"),
    ("adaptivemaxpool1d", "`adaptive_maxpool1d(x, size: N)` (or `max(x, axis: 1)` over time)"),
    ("adaptiveavgpool2d", "`adaptive_avgpool2d(x, size: N)`"),
    ("adaptivemaxpool2d", "`adaptive_maxpool2d(x, size: N)`"),
    ("clip", "`clamp(x, min: A, max: B)`"),
    ("square", "`pow(x, exponent: 2)`"),
    ("positionalencoding", "`sinusoidal_position(x)` (adds the table), or `learned_position(x, max_len: N)`"),
];

/// The avc form of a PyTorch name (`nn.Linear`, `torch.cat`, `F.gelu`, `Swish`), if it is one.
pub(super) fn hint(name: &str) -> Option<String> {
    let bare = ["torch.nn.functional.", "torch.nn.", "torch.", "nn.functional.", "nn.", "F."]
        .iter()
        .find_map(|p| name.strip_prefix(p))
        .unwrap_or(name)
        .to_ascii_lowercase();
    let (_, write) = NAMES.iter().find(|(n, _)| *n == bare)?;
    // Never advise an op this build lacks.
    if let Some(op) = called(write) {
        crate::ops::lookup(op)?;
    }
    Some(format!("in avc, write {write}"))
}

/// The first op an answer calls: the name before the first `(` inside backticks.
fn called(write: &str) -> Option<&str> {
    write.split('`').skip(1).step_by(2).find_map(|code| {
        let (head, _) = code.split_once('(')?;
        let name = head.rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next()?;
        (!name.is_empty()).then_some(name)
    })
}

#[cfg(test)]
mod tests {
    use super::hint;

    #[test]
    fn pytorch_spellings_get_the_avc_form() {
        assert!(hint("nn.Linear").is_some_and(|h| h.contains("`linear(x, out: N)`")));
        assert!(hint("torch.cat").is_some_and(|h| h.contains("`concat")));
        assert!(hint("MultiheadAttention").is_some_and(|h| h.contains("self_attention")));
        assert_eq!(hint("vproj"), None);
        assert!(hint("nn.AdaptiveMaxPool2d").is_some_and(|h| h.contains("`adaptive_maxpool2d(x, size: N)`")));
        assert!(hint("Swish").is_some_and(|h| h.contains("`silu(x)`")));
    }

    #[test]
    fn an_answer_names_its_first_call() {
        assert_eq!(super::called("`W = param(shape: [F])`, then `matmul`"), Some("param"));
        assert_eq!(super::called("one call per line"), None);
        assert_eq!(super::called("`concat(a, b)` (on the last axis)"), Some("concat"));
    }
}
