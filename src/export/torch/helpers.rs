//! The few functions and modules the generated file defines for itself, where one avc op
//! is not one torch call: each is written once, above the classes, only when a node uses it.

/// A helper the generated file defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Helper {
    LastState,
    Sinusoids,
    LaggedCosine,
    Shortcut,
    AdditiveAttention,
    LearnedPosition,
}

impl Helper {
    /// Every helper, in the order the file defines them.
    pub const ALL: [Helper; 6] = [
        Helper::LastState,
        Helper::Sinusoids,
        Helper::LaggedCosine,
        Helper::Shortcut,
        Helper::AdditiveAttention,
        Helper::LearnedPosition,
    ];

    /// The name the file gives it (a node's variable must not hide it).
    pub fn name(self) -> &'static str {
        match self {
            Helper::LastState => "last_state",
            Helper::Sinusoids => "sinusoids",
            Helper::LaggedCosine => "lagged_cosine",
            Helper::Shortcut => "Shortcut",
            Helper::AdditiveAttention => "AdditiveAttention",
            Helper::LearnedPosition => "LearnedPosition",
        }
    }

    /// Whether the file must import `math` for it.
    pub fn needs_math(self) -> bool {
        self == Helper::Sinusoids
    }

    pub fn source(self) -> &'static str {
        match self {
            Helper::LastState => LAST_STATE,
            Helper::Sinusoids => SINUSOIDS,
            Helper::LaggedCosine => LAGGED_COSINE,
            Helper::Shortcut => SHORTCUT,
            Helper::AdditiveAttention => ADDITIVE_ATTENTION,
            Helper::LearnedPosition => LEARNED_POSITION,
        }
    }
}

const LAST_STATE: &str = r#"def last_state(h, directions):
    """The top layer's final hidden state, directions side by side: [layers * directions, B, H] -> [B, directions * H]."""
    return h[-directions:].transpose(0, 1).reshape(h.shape[1], -1)
"#;

const SINUSOIDS: &str = r#"def sinusoids(steps, features, base):
    """PE[t, 2i] = sin(t * w_i), PE[t, 2i + 1] = cos(t * w_i), w_i = base^(-2i / features), in double precision."""
    t = torch.arange(steps, dtype=torch.float64).unsqueeze(1)
    rates = torch.exp(torch.arange(0, features, 2, dtype=torch.float64) * (-math.log(base) / features))
    angles = t * rates.unsqueeze(0)
    return torch.stack([angles.sin(), angles.cos()], 2).reshape(steps, features)
"#;

const LAGGED_COSINE: &str = r#"def lagged_cosine(a, b, max_lag):
    """The best, over lags -max_lag..max_lag, of the mean cosine of a[t] and b[t + lag]: [B, T, D] x 2 -> [B, 1]."""
    a = a / a.norm(2, -1, keepdim=True).clamp_min(1e-8)
    b = b / b.norm(2, -1, keepdim=True).clamp_min(1e-8)
    steps = a.shape[1]
    per_lag = []
    for lag in range(-max_lag, max_lag + 1):
        n = steps - abs(lag)
        if n > 0:
            sa, sb = max(-lag, 0), max(lag, 0)
            per_lag.append((a[:, sa : sa + n] * b[:, sb : sb + n]).sum(-1).mean(-1))
    return torch.stack(per_lag, 1).amax(-1, keepdim=True)
"#;

const SHORTCUT: &str = r#"class Shortcut(nn.Module):
    """A residual connection whose skip input is projected to the other's width: x + skip W^T."""

    def __init__(self, skip_features, features):
        super().__init__()
        self.proj = nn.Linear(skip_features, features, bias=False)

    def forward(self, skip, x):
        return x + self.proj(skip)
"#;

const ADDITIVE_ATTENTION: &str = r#"class AdditiveAttention(nn.Module):
    """Additive attention pooling over time: w = softmax(score(tanh(key(x) + q))), returns sum_t w_t x_t (or w).

    The query term q is `query(y)` for a second input y, or a learned vector `query`.
    """

    def __init__(self, features, hidden, query_features=None, weights=False):
        super().__init__()
        self.key = nn.Linear(features, hidden)
        if query_features is None:
            self.query = nn.Parameter(torch.empty(hidden).uniform_(-(hidden**-0.5), hidden**-0.5))
        else:
            self.query = nn.Linear(query_features, hidden, bias=False)
        self.score = nn.Linear(hidden, 1, bias=False)
        self.weights = weights

    def forward(self, x, y=None):
        q = self.query if y is None else self.query(y).unsqueeze(1)
        w = torch.softmax(self.score(torch.tanh(self.key(x) + q)).squeeze(-1), 1)
        if self.weights:
            return w
        return torch.bmm(w.unsqueeze(1), x).squeeze(1)
"#;

const LEARNED_POSITION: &str = r#"class LearnedPosition(nn.Module):
    """A learned vector per step, added to a [B, T, F] sequence (T at most max_len)."""

    def __init__(self, max_len, features):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(max_len, features) * 0.02)

    def forward(self, x):
        return x + self.weight[: x.shape[1]]
"#;
