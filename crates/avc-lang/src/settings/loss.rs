//! Which loss, with its settings, and whether it fits the model's outputs: checked by `avc
//! check` and `avc train` alike, before any data is loaded. The losses' arithmetic is the
//! torch side's (`avc::train::loss`).

use super::ConfigError;
use crate::ast::OutputKind;
use crate::ir::Graph;
use serde::Serialize;

/// A training loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// Binary cross-entropy on a match logit, over matched and shuffled pairs.
    Bce,
    /// Hadsell, Chopra and LeCun's contrastive loss on a distance: `d²` for a match,
    /// `max(0, margin - d)²` for a mismatch.
    Contrastive,
    /// InfoNCE: each video must pick its audio among the batch's audios by cosine
    /// similarity over a temperature, and each audio its video (both directions averaged).
    InfoNce,
    /// Triplet loss on cosine distances `1 - cos`: each clip's own pair must be closer than
    /// a negative of the batch by `triplet_margin`, the negative mined as `mining` says
    /// (both directions averaged).
    Triplet,
}

/// Which in-batch negative a triplet takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mining {
    /// The closest negative.
    Hardest,
    /// FaceNet's semi-hard negative: the closest one that is still farther than the
    /// positive and within the margin of it; where none is, the farthest negative (as
    /// TensorFlow Addons' `triplet_semihard_loss`).
    SemiHard,
}

/// Which way InfoNCE's softmax runs: each video picking its audio among the batch's audios
/// (`v2a`, the rows of the similarity matrix), each audio its video (`a2v`, the columns),
/// or both averaged (CLIP's symmetric loss).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Directions {
    Both,
    V2a,
    A2v,
}

impl Directions {
    pub const ALL: [(&'static str, Directions); 3] =
        [("both", Directions::Both), ("v2a", Directions::V2a), ("a2v", Directions::A2v)];
}

/// CLIP's initial temperature (Radford et al. 2021: a logit scale of 1 / 0.07), taken by
/// `temperature: learned`.
pub const CLIP_TEMPERATURE: f64 = 0.07;

/// CLIP's bound on the learned logit scale (100, so the temperature stays >= 0.01): without
/// it the scale grows until the softmax saturates and training becomes unstable.
pub const MAX_LOGIT_SCALE: f64 = 100.0;

impl Mining {
    pub const ALL: [(&'static str, Mining); 2] = [("hardest", Mining::Hardest), ("semi_hard", Mining::SemiHard)];
}

impl LossKind {
    pub const ALL: [(&'static str, LossKind); 4] = [
        ("bce", LossKind::Bce),
        ("contrastive", LossKind::Contrastive),
        ("infonce", LossKind::InfoNce),
        ("triplet", LossKind::Triplet),
    ];

    pub fn parse(word: &str) -> Option<LossKind> {
        Self::ALL.iter().find(|(w, _)| *w == word).map(|(_, k)| *k)
    }

    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, k)| *k == self).map_or("?", |(w, _)| w)
    }

    /// The loss an output of this kind is trained with.
    pub fn for_output(kind: OutputKind) -> LossKind {
        match kind {
            OutputKind::Logit => LossKind::Bce,
            OutputKind::Distance => LossKind::Contrastive,
            OutputKind::Embeddings => LossKind::InfoNce,
        }
    }

    /// The output kind this loss reads.
    pub fn output_kind(self) -> OutputKind {
        match self {
            LossKind::Bce => OutputKind::Logit,
            LossKind::Contrastive => OutputKind::Distance,
            LossKind::InfoNce | LossKind::Triplet => OutputKind::Embeddings,
        }
    }
}

/// The loss settings of a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LossSettings {
    /// `None`: each output's kind picks its loss.
    pub kind: Option<LossKind>,
    /// Contrastive: how far apart mismatched pairs are pushed.
    pub margin: f64,
    /// InfoNCE: the softmax temperature on cosine similarities (the initial one when learned).
    pub temperature: f64,
    /// InfoNCE: learn the temperature as CLIP does (as a log logit scale, trained with the
    /// model's weights, its scale clamped to at most [`MAX_LOGIT_SCALE`] after each step).
    pub learn_temperature: bool,
    /// InfoNCE: which way the softmax runs.
    pub directions: Directions,
    /// BCE: targets `y (1 - s) + s / 2` instead of 0 and 1 (0: none).
    pub label_smoothing: f64,
    /// Triplet: how much closer (in cosine distance) a clip's own pair must be.
    pub triplet_margin: f64,
    /// Triplet: which negative.
    pub mining: Mining,
}

impl Default for LossSettings {
    fn default() -> Self {
        LossSettings {
            kind: None,
            margin: 1.0,
            temperature: 0.1,
            learn_temperature: false,
            directions: Directions::Both,
            label_smoothing: 0.0,
            triplet_margin: 0.2,
            mining: Mining::SemiHard,
        }
    }
}

impl LossSettings {
    /// The loss of one output.
    pub fn for_output(&self, kind: OutputKind) -> LossKind {
        self.kind.unwrap_or(LossKind::for_output(kind))
    }
}

/// Checks that an explicit `train.loss` fits every output, naming the setting (its span in
/// the file, or the flag) and the output that does not fit.
pub fn check(graph: &Graph, settings: &LossSettings, overrides: &[String]) -> Result<(), ConfigError> {
    let Some(loss) = settings.kind else { return Ok(()) };
    let Some(out) = graph.outputs.iter().find(|o| o.kind != loss.output_kind()) else { return Ok(()) };
    let (origin, span) = super::origin(graph, overrides, "loss");
    let fitting = LossKind::for_output(out.kind).name();
    Err(ConfigError {
        origin,
        message: format!(
            "loss `{}` needs {} `{}` output, but output `{}` is of kind `{}`",
            loss.name(),
            if loss.output_kind() == OutputKind::Embeddings { "an" } else { "a" },
            loss.output_kind().keyword(),
            out.name,
            out.kind.keyword()
        ),
        span,
        help: Some(format!(
            "an output of kind `{}` is trained with `{fitting}`; write `loss: {fitting}`, or leave `loss` out \
             to let each output's kind choose",
            out.kind.keyword()
        )),
    })
}

/// Checks that every `loss_weight.<output>` names an output of the model and that some
/// output still trains, naming the setting (its span in the file, or the flag).
pub fn check_weights(graph: &Graph, weights: &[(String, f64)], overrides: &[String]) -> Result<(), ConfigError> {
    // Where the weight of output `name` was set, and under which of its two spellings
    // (`loss_weight.NAME`, or `loss.NAME` from YAML's `loss: {NAME: w}`).
    let place = |name: &str| {
        let keys = [format!("loss_weight.{name}"), format!("loss.{name}")];
        let is_key = |k: &str| keys.iter().any(|key| key == k);
        let flag = overrides
            .iter()
            .rev()
            .find(|o| o.split('=').next().map(str::trim).and_then(|k| k.strip_prefix("train.")).is_some_and(is_key));
        let in_file = graph.train.iter().rev().find(|s| is_key(&s.key.name));
        let key = in_file.map_or(keys[0].clone(), |s| s.key.name.clone());
        match (flag, in_file) {
            (Some(flag), _) => {
                let key = flag.split('=').next().unwrap_or_default().trim().trim_start_matches("train.");
                (format!("--set {flag}"), None, key.to_string())
            }
            (None, Some(s)) => ("train".to_string(), Some(s.key.span), key),
            (None, None) => ("train".to_string(), None, key),
        }
    };
    let names: Vec<&str> = graph.outputs.iter().map(|o| o.name.as_str()).collect();
    if let Some((name, _)) = weights.iter().find(|(n, _)| !names.contains(&n.as_str())) {
        let (origin, span, key) = place(name);
        return Err(ConfigError {
            origin,
            message: format!("`{key}` names no output of the model"),
            span,
            help: Some(format!("the outputs are {}", crate::diag::one_of(&names))),
        });
    }
    let weight = |n: &str| weights.iter().rev().find(|(w, _)| w == n).map_or(1.0, |(_, w)| *w);
    if !names.is_empty() && names.iter().all(|n| weight(n) == 0.0) {
        let (origin, span, _) = place(&weights.last().map(|(n, _)| n.clone()).unwrap_or_default());
        return Err(ConfigError {
            origin,
            message: "every output's loss weight is 0: nothing would be trained".into(),
            span,
            help: Some("give at least one output a positive `loss_weight`".into()),
        });
    }
    Ok(())
}
