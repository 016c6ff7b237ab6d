//! Harness settings: defaults from what worked in the seed, then the file's `train:`
//! section, then `--set train.KEY=VALUE` overrides, each checked with an error that says
//! where the bad value came from. They live in the language crate so that `avc check`
//! applies exactly the checks `avc train` does ([`check`]); the torch side reads the
//! resolved [`TrainConfig`].

pub mod loss;
pub mod optim;
pub mod schedule;

use crate::ast::{Setting, Value, ValueKind};
use crate::diag::{Diagnostic, did_you_mean, one_of};
use crate::source::Span;
use loss::{LossKind, LossSettings, Mining};
use optim::{OptimizerConfig, OptimizerKind};
use schedule::{ScheduleConfig, ScheduleKind};
use serde::Serialize;

/// Every setting the harness reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainConfig {
    pub epochs: i64,
    pub batch_size: i64,
    /// Micro-batches per optimiser step: each batch is split into this many parts, whose
    /// gradients are summed (each loss divided by it) before one step, as Lightning's
    /// `accumulate_grad_batches` (1: off).
    pub accumulate: i64,
    pub lr: f64,
    pub seed: u64,
    pub optimizer: OptimizerConfig,
    /// Clip the joint gradient norm to this value (0: off).
    pub clip_norm: f64,
    /// Clip each gradient element into [-v, v] (0: off).
    pub clip_value: f64,
    /// Share of the training clips held out for validation (schedule and checkpoint choice).
    pub validation: f64,
    pub schedule: ScheduleSettings,
    /// Stop after this many epochs without a better validation metric (0: never).
    pub early_stopping: i64,
    /// The validation metric the schedule, early stopping and best checkpoint watch.
    pub monitor: Monitor,
    /// Pairs per forward pass when scoring a group.
    pub eval_chunk: i64,
    pub loss: LossSettings,
    /// `loss_weight.<output>`: the weight of an output's loss in the training loss (default
    /// 1 each; 0: the output is evaluated but not trained). In setting order; an output
    /// named twice takes the last.
    pub loss_weights: Vec<(String, f64)>,
    /// `lr_mult.<prefix>`: the learning rate of the weights under a dotted-name prefix (a
    /// node, or a node inside a block instance) times this; the longest prefix wins. In
    /// setting order; a prefix named twice takes the last.
    pub lr_mults: Vec<(String, f64)>,
    /// Whether 1-D weights (biases, norm weights, learned scalars) get weight decay. `None`:
    /// not with `adamw` (the usual practice since BERT; timm's and nanoGPT's rule), as every
    /// other weight with the other optimisers.
    pub decay_1d: Option<bool>,
    /// Keep an exponential moving average of the weights with this decay (0: off); when on,
    /// validation, the best checkpoint, evaluation and export use the average.
    pub ema: f64,
    /// The forward pass's floating-point format.
    pub precision: Precision,
}

impl TrainConfig {
    /// The weight of output `name`'s loss in the training loss.
    pub fn loss_weight(&self, name: &str) -> f64 {
        self.loss_weights.iter().rev().find(|(n, _)| n == name).map_or(1.0, |(_, w)| *w)
    }

    /// The learning-rate multiplier of the weight `name` (dotted, as in the weights file):
    /// the last-set value of the longest `lr_mult` prefix it falls under, else 1.
    pub fn lr_mult(&self, name: &str) -> f64 {
        let under = |prefix: &str| name == prefix || name.strip_prefix(prefix).is_some_and(|r| r.starts_with('.'));
        let mut best: Option<(usize, f64)> = None;
        for (prefix, mult) in &self.lr_mults {
            if under(prefix) && best.is_none_or(|(len, _)| prefix.len() >= len) {
                best = Some((prefix.len(), *mult));
            }
        }
        best.map_or(1.0, |(_, m)| m)
    }

    /// Whether 1-D weights decay (see [`TrainConfig::decay_1d`]).
    pub fn decays_1d(&self) -> bool {
        self.decay_1d.unwrap_or(self.optimizer.kind != OptimizerKind::AdamW)
    }
}

/// Every schedule's settings; `kind` picks which are used.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScheduleSettings {
    pub kind: ScheduleKind,
    pub factor: f64,
    pub patience: i64,
    pub min_lr: f64,
    pub step_size: i64,
    pub gamma: f64,
    pub warmup: i64,
    pub restart_lr: f64,
}

impl ScheduleSettings {
    pub fn to_config(&self) -> ScheduleConfig {
        let s = self;
        match s.kind {
            ScheduleKind::None => ScheduleConfig::None,
            ScheduleKind::Step => ScheduleConfig::Step { step_size: s.step_size, gamma: s.gamma },
            ScheduleKind::Cosine => ScheduleConfig::Cosine { warmup: s.warmup, min_lr: s.min_lr },
            ScheduleKind::WarmRestart => ScheduleConfig::WarmRestart {
                factor: s.factor,
                patience: s.patience,
                min_lr: s.min_lr,
                restart_lr: s.restart_lr,
            },
            ScheduleKind::Plateau => {
                ScheduleConfig::Plateau { factor: s.factor, patience: s.patience, min_lr: s.min_lr }
            }
        }
    }
}

/// The floating-point format of the forward pass (`train.precision`, `--precision`).
/// Weights, optimiser state, checkpoints and the loss stay in fp32 whatever it is; bf16 and
/// fp16 run the forward pass under autocast (PyTorch's mixed precision).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    #[default]
    Fp32,
    /// bfloat16 autocast: on the CPU (AMX, AVX-512 BF16) and on CUDA; no loss scaling needed.
    Bf16,
    /// float16 autocast with dynamic loss scaling: CUDA only.
    Fp16,
}

impl Precision {
    pub const ALL: [(&'static str, Precision); 3] =
        [("fp32", Precision::Fp32), ("bf16", Precision::Bf16), ("fp16", Precision::Fp16)];

    pub fn parse(word: &str) -> Option<Precision> {
        Self::ALL.iter().find(|(w, _)| *w == word).map(|(_, p)| *p)
    }

    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, p)| *p == self).map_or("?", |(w, _)| w)
    }
}

/// Validation metrics that can be monitored (all: higher is better).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Monitor {
    ValMrr,
    ValTop1,
    ValTop5,
}

impl Monitor {
    pub const ALL: [(&'static str, Monitor); 3] =
        [("val_mrr", Monitor::ValMrr), ("val_top1", Monitor::ValTop1), ("val_top5", Monitor::ValTop5)];

    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, m)| *m == self).map_or("?", |(n, _)| n)
    }

    /// The monitored value among (MRR, top-1, top-5).
    pub fn pick(self, mrr: f64, top1: f64, top5: f64) -> f64 {
        match self {
            Monitor::ValMrr => mrr,
            Monitor::ValTop1 => top1,
            Monitor::ValTop5 => top5,
        }
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 20,
            batch_size: 64,
            accumulate: 1,
            lr: 0.005,
            seed: 1,
            optimizer: OptimizerConfig {
                kind: OptimizerKind::Adam,
                weight_decay: 0.0,
                momentum: 0.9,
                nesterov: false,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                alpha: 0.99,
            },
            clip_norm: 0.0,
            clip_value: 0.0,
            validation: 0.1,
            schedule: ScheduleSettings {
                kind: ScheduleKind::Plateau,
                factor: 0.5,
                patience: 2,
                min_lr: 1e-5,
                step_size: 10,
                gamma: 0.7,
                warmup: 0,
                restart_lr: 0.001,
            },
            early_stopping: 0,
            monitor: Monitor::ValMrr,
            eval_chunk: 1024,
            loss: LossSettings::default(),
            loss_weights: Vec::new(),
            lr_mults: Vec::new(),
            decay_1d: None,
            ema: 0.0,
            precision: Precision::Fp32,
        }
    }
}

/// The keys `train:` accepts, for errors and docs.
pub const KEYS: &[(&str, &str)] = &[
    ("epochs", "passes over the training clips (int, default 20)"),
    ("batch_size", "matched pairs per batch; as many shuffled pairs are added (int, default 64)"),
    (
        "accumulate",
        "micro-batches per optimiser step: the batch is split into this many, their gradients summed (int, \
         default 1)",
    ),
    ("lr", "initial learning rate (float, default 0.005)"),
    ("seed", "seeds the split, batch order, negatives, dropout and init (int, default 1)"),
    ("optimizer", "`adam` (default), `adamw`, `sgd` or `rmsprop`"),
    ("weight_decay", "L2 penalty; decoupled for adamw (float, default 0)"),
    ("momentum", "sgd and rmsprop momentum (float, default 0.9 for sgd; rmsprop ignores it)"),
    ("nesterov", "sgd: Nesterov momentum (bool, default false)"),
    ("beta1", "adam/adamw first-moment decay (default 0.9)"),
    ("beta2", "adam/adamw second-moment decay (default 0.999)"),
    ("eps", "adam/adamw/rmsprop denominator term (default 1e-8)"),
    ("alpha", "rmsprop smoothing constant (default 0.99)"),
    ("clip_norm", "clip the joint gradient L2 norm to this (float, default 0 = off)"),
    ("clip_value", "clip each gradient element to ±this (float, default 0 = off)"),
    ("validation", "share of training clips held out for validation (float in (0, 0.5], default 0.1)"),
    ("schedule", "shorthand for schedule.kind"),
    ("schedule.kind", "`plateau` (default), `step`, `cosine`, `warm_restart` or `none`"),
    ("schedule.factor", "plateau / warm_restart: lr multiplier on a plateau (default 0.5)"),
    ("schedule.patience", "plateau / warm_restart: epochs without improvement before acting (default 2)"),
    ("schedule.min_lr", "plateau / warm_restart / cosine: lower bound of the lr (default 1e-5)"),
    ("schedule.step_size", "step: epochs between decays (default 10, the course's)"),
    ("schedule.gamma", "step: lr multiplier per step (default 0.7, the course's)"),
    ("schedule.warmup", "cosine: epochs of linear warm-up (default 0)"),
    ("schedule.restart_lr", "warm_restart: the lr to restart at once the lr has bottomed out (default 0.001)"),
    ("early_stopping", "stop after this many epochs without a better monitored metric (int, default 0 = off)"),
    ("monitor", "`val_mrr` (default), `val_top1` or `val_top5`: what the schedule and best checkpoint watch"),
    ("eval_chunk", "pairs per forward pass in evaluation (int, default 1024)"),
    (
        "loss",
        "`bce` (logit), `contrastive` (distance), `infonce` or `triplet` (embeddings); default: by each output's kind",
    ),
    ("margin", "contrastive: mismatched pairs closer than this are pushed apart (float, default 1, the course's)"),
    (
        "temperature",
        "infonce: softmax temperature on cosine similarities (float, default 0.1), or `learned` (CLIP's: from 0.07, \
         trained with the weights)",
    ),
    ("learn_temperature", "infonce: train the temperature, starting from `temperature` (bool, default false)"),
    ("infonce_directions", "infonce: `both` (default; the two directions averaged), `v2a` or `a2v`"),
    ("label_smoothing", "bce: targets y (1 - s) + s / 2 instead of 0 and 1 (float in [0, 1), default 0)"),
    ("triplet_margin", "triplet: how much closer in cosine distance a clip's own pair must be (float, default 0.2)"),
    ("mining", "triplet: `semi_hard` (default; FaceNet's, else the farthest negative) or `hardest`"),
    ("loss.OUTPUT", "the same as loss_weight.OUTPUT, so that YAML's `loss: {match: 1.0, aux: 0.3}` weighs each output"),
    (
        "lr_mult.PREFIX",
        "the lr of the weights under a dotted-name prefix (a node, `block.node`) times this (float >= 0; \
         for fine-tuning with --init-from)",
    ),
    ("decay_1d", "weight decay on 1-D weights (biases, norm weights): default false with adamw, true otherwise (bool)"),
    ("precision", "`fp32` (default), `bf16` (autocast; CPU or CUDA) or `fp16` (autocast with loss scaling; CUDA only)"),
    ("ema", "keep an exponential moving average of the weights with this decay (e.g. 0.999; default 0 = off)"),
    (
        "loss_weight.OUTPUT",
        "the weight of output OUTPUT's loss in the training loss (float >= 0, default 1; 0: evaluated only)",
    ),
];

/// Where setting `key` took its value: the last `--set train.KEY=...` flag (no span), else
/// its place in the file's `train` section (the value's span), else just `train`. What a
/// [`ConfigError`] about a setting's value names.
pub fn origin(graph: &crate::ir::Graph, overrides: &[String], key: &str) -> (String, Option<Span>) {
    let flag_key = format!("train.{key}");
    let flag = overrides.iter().rev().find(|o| o.split('=').next().map(str::trim) == Some(flag_key.as_str()));
    let in_file = graph.train.iter().rev().find(|s| s.key.name == key);
    match (flag, in_file) {
        (Some(flag), _) => (format!("--set {flag}"), None),
        (None, Some(s)) => ("train".to_string(), Some(s.value.span)),
        (None, None) => ("train".to_string(), None),
    }
}

/// A bad setting: where it came from (a span in the file, or a command-line flag).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct ConfigError {
    pub origin: String,
    pub message: String,
    pub span: Option<Span>,
    pub help: Option<String>,
}

impl ConfigError {
    pub fn to_diagnostic(&self) -> Diagnostic {
        let mut d = Diagnostic::error("train::setting", self.message.clone());
        if let Some(span) = self.span {
            d = d.with_label(span, "here");
        }
        match &self.help {
            Some(h) => d.with_help(h.clone()),
            None => d,
        }
    }
}

/// The file's own `train:` settings checked as `avc train` checks them (each value, then
/// whether the loss fits the outputs), as diagnostics: what `avc check` and every compile
/// report, so a file that checks cleanly also starts training.
pub fn check(graph: &crate::ir::Graph) -> Vec<Diagnostic> {
    match TrainConfig::resolve(&graph.train, &[]) {
        Ok(cfg) => [loss::check(graph, &cfg.loss, &[]).err(), loss::check_weights(graph, &cfg.loss_weights, &[]).err()]
            .into_iter()
            .flatten()
            .map(|e| e.to_diagnostic())
            .collect(),
        Err(errors) => errors.iter().map(ConfigError::to_diagnostic).collect(),
    }
}

impl TrainConfig {
    /// Defaults, then the file's settings, then the overrides (`train.lr=0.001`).
    pub fn resolve(settings: &[Setting], overrides: &[String]) -> Result<TrainConfig, Vec<ConfigError>> {
        let mut cfg = TrainConfig::default();
        let mut errors = Vec::new();
        for s in settings {
            if let Err(e) = cfg.apply(&s.key.name, &s.value) {
                errors.push(ConfigError {
                    origin: "train".into(),
                    span: Some(e.0.unwrap_or(s.value.span)),
                    message: e.1,
                    help: e.2,
                });
            }
        }
        for o in overrides {
            if let Err(e) = cfg.apply_override(o) {
                errors.push(e);
            }
        }
        if errors.is_empty() { Ok(cfg) } else { Err(errors) }
    }

    fn apply_override(&mut self, text: &str) -> Result<(), ConfigError> {
        let origin = format!("--set {text}");
        let err =
            |message: String, help: Option<String>| ConfigError { origin: origin.clone(), message, span: None, help };
        let (key, raw) =
            text.split_once('=').ok_or_else(|| err("expected KEY=VALUE, e.g. train.lr=0.001".into(), None))?;
        let key = key.trim();
        let key = key.strip_prefix("train.").ok_or_else(|| {
            err(
                format!("unknown setting `{key}`"),
                Some("settings are written `train.KEY`, e.g. train.lr=0.001".into()),
            )
        })?;
        let value = parse_scalar(raw.trim());
        self.apply(key, &value).map_err(|(_, message, help)| err(message, help))
    }

    /// Sets one key. The error is (span of a nested value, message, help).
    fn apply(&mut self, key: &str, v: &Value) -> Result<(), (Option<Span>, String, Option<String>)> {
        // Settings are read before any graph exists: no constants, no widths to compute with.
        let help = matches!(v.kind, ValueKind::Arith(_) | ValueKind::Width(_))
            .then(|| "train settings take plain values; arithmetic is for op and block parameters".to_string());
        let bad = |expected: &str| {
            (None, format!("`{key}` must be {expected}, found {} `{v}`", v.kind.type_name()), help.clone())
        };
        let at_least_one = "a whole number of at least 1";
        let o = &mut self.optimizer;
        let s = &mut self.schedule;
        match key {
            "epochs" => self.epochs = positive_int(v).ok_or_else(|| bad(at_least_one))?,
            "batch_size" => self.batch_size = positive_int(v).ok_or_else(|| bad(at_least_one))?,
            "accumulate" => self.accumulate = positive_int(v).ok_or_else(|| bad(at_least_one))?,
            "eval_chunk" => self.eval_chunk = positive_int(v).ok_or_else(|| bad(at_least_one))?,
            "lr" => self.lr = positive_float(v).ok_or_else(|| bad("a positive number"))?,
            "seed" => self.seed = non_negative_int(v).ok_or_else(|| bad("a non-negative integer"))? as u64,
            "optimizer" => {
                o.kind =
                    word(v).and_then(OptimizerKind::parse).ok_or_else(|| bad("`adam`, `adamw`, `sgd` or `rmsprop`"))?
            }
            "weight_decay" => o.weight_decay = non_negative(v).ok_or_else(|| bad("a number >= 0"))?,
            "momentum" => o.momentum = unit(v).ok_or_else(|| bad("a number in [0, 1)"))?,
            "nesterov" => o.nesterov = boolean(v).ok_or_else(|| bad("`true` or `false`"))?,
            "beta1" => o.beta1 = unit(v).ok_or_else(|| bad("a number in [0, 1)"))?,
            "beta2" => o.beta2 = unit(v).ok_or_else(|| bad("a number in [0, 1)"))?,
            "alpha" => o.alpha = unit(v).ok_or_else(|| bad("a number in [0, 1)"))?,
            "eps" => o.eps = positive_float(v).ok_or_else(|| bad("a positive number"))?,
            "clip_norm" => self.clip_norm = non_negative(v).ok_or_else(|| bad("a number >= 0"))?,
            "clip_value" => self.clip_value = non_negative(v).ok_or_else(|| bad("a number >= 0"))?,
            "validation" => {
                self.validation =
                    float(v).filter(|x| *x > 0.0 && *x <= 0.5).ok_or_else(|| bad("a share in (0, 0.5]"))?
            }
            "schedule" | "schedule.kind" => {
                s.kind = word(v).and_then(ScheduleKind::parse).ok_or_else(|| bad(&one_of(&ScheduleKind::NAMES)))?
            }
            "schedule.factor" => {
                s.factor = float(v).filter(|x| *x > 0.0 && *x < 1.0).ok_or_else(|| bad("a number in (0, 1)"))?
            }
            "schedule.patience" => s.patience = non_negative_int(v).ok_or_else(|| bad("a non-negative integer"))?,
            "schedule.min_lr" => s.min_lr = non_negative(v).ok_or_else(|| bad("a number >= 0"))?,
            "schedule.step_size" => s.step_size = positive_int(v).ok_or_else(|| bad(at_least_one))?,
            "schedule.gamma" => {
                s.gamma = float(v).filter(|x| *x > 0.0 && *x <= 1.0).ok_or_else(|| bad("a number in (0, 1]"))?
            }
            "schedule.warmup" => s.warmup = non_negative_int(v).ok_or_else(|| bad("a non-negative integer"))?,
            "schedule.restart_lr" => s.restart_lr = positive_float(v).ok_or_else(|| bad("a positive number"))?,
            "early_stopping" => {
                self.early_stopping = non_negative_int(v).ok_or_else(|| bad("a non-negative integer"))?
            }
            "loss" => {
                let names: Vec<&str> = LossKind::ALL.iter().map(|(n, _)| *n).collect();
                self.loss.kind = Some(word(v).and_then(LossKind::parse).ok_or_else(|| bad(&one_of(&names)))?)
            }
            "margin" => self.loss.margin = positive_float(v).ok_or_else(|| bad("a positive number"))?,
            "temperature" if word(v) == Some("learned") => {
                self.loss.temperature = loss::CLIP_TEMPERATURE;
                self.loss.learn_temperature = true;
            }
            "temperature" => {
                self.loss.temperature = positive_float(v).ok_or_else(|| bad("a positive number or `learned`"))?
            }
            "learn_temperature" => self.loss.learn_temperature = boolean(v).ok_or_else(|| bad("`true` or `false`"))?,
            "infonce_directions" => {
                let names: Vec<&str> = loss::Directions::ALL.iter().map(|(n, _)| *n).collect();
                self.loss.directions = word(v)
                    .and_then(|w| loss::Directions::ALL.iter().find(|(n, _)| *n == w).map(|(_, d)| *d))
                    .ok_or_else(|| bad(&one_of(&names)))?
            }
            "label_smoothing" => {
                self.loss.label_smoothing =
                    float(v).filter(|x| (0.0..1.0).contains(x)).ok_or_else(|| bad("a number in [0, 1)"))?
            }
            "triplet_margin" => self.loss.triplet_margin = positive_float(v).ok_or_else(|| bad("a positive number"))?,
            "mining" => {
                let names: Vec<&str> = Mining::ALL.iter().map(|(n, _)| *n).collect();
                self.loss.mining = word(v)
                    .and_then(|w| Mining::ALL.iter().find(|(n, _)| *n == w).map(|(_, m)| *m))
                    .ok_or_else(|| bad(&one_of(&names)))?
            }
            "monitor" => {
                let names: Vec<&str> = Monitor::ALL.iter().map(|(n, _)| *n).collect();
                self.monitor = word(v)
                    .and_then(|w| Monitor::ALL.iter().find(|(n, _)| *n == w).map(|(_, m)| *m))
                    .ok_or_else(|| bad(&one_of(&names)))?
            }
            "decay_1d" => self.decay_1d = Some(boolean(v).ok_or_else(|| bad("`true` or `false`"))?),
            "precision" => {
                let names: Vec<&str> = Precision::ALL.iter().map(|(n, _)| *n).collect();
                self.precision = word(v).and_then(Precision::parse).ok_or_else(|| bad(&one_of(&names)))?
            }
            "ema" => self.ema = unit(v).ok_or_else(|| bad("a decay in [0, 1), e.g. 0.999"))?,
            other if other.starts_with("lr_mult.") => {
                let prefix = &other["lr_mult.".len()..];
                let mult = non_negative(v).ok_or_else(|| bad("a number >= 0"))?;
                self.lr_mults.push((prefix.to_string(), mult));
            }
            other if other.starts_with("loss_weight.") || other.starts_with("loss.") => {
                let output = other.split_once('.').map_or("", |(_, o)| o);
                let weight = non_negative(v).ok_or_else(|| bad("a number >= 0"))?;
                self.loss_weights.push((output.to_string(), weight));
            }
            other => {
                let names: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
                let help = match did_you_mean(other, names.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("known settings: {}", one_of(&names)),
                };
                return Err((None, format!("unknown setting `{other}`"), Some(help)));
            }
        }
        Ok(())
    }
}

/// A command-line value read the way YAML would read it.
fn parse_scalar(raw: &str) -> Value {
    let kind = if let Ok(i) = raw.parse::<i64>() {
        ValueKind::Int(i)
    } else if let Ok(x) = raw.parse::<f64>() {
        ValueKind::Float(x)
    } else if let Ok(b) = raw.parse::<bool>() {
        ValueKind::Bool(b)
    } else {
        ValueKind::Str(raw.to_string())
    };
    Value { kind, span: Span::empty() }
}

fn float(v: &Value) -> Option<f64> {
    match v.kind {
        ValueKind::Float(x) if x.is_finite() => Some(x),
        ValueKind::Int(i) => Some(i as f64),
        _ => None,
    }
}

fn positive_float(v: &Value) -> Option<f64> {
    float(v).filter(|x| *x > 0.0)
}

fn non_negative(v: &Value) -> Option<f64> {
    float(v).filter(|x| *x >= 0.0)
}

fn unit(v: &Value) -> Option<f64> {
    float(v).filter(|x| (0.0..1.0).contains(x))
}

fn boolean(v: &Value) -> Option<bool> {
    match v.kind {
        ValueKind::Bool(b) => Some(b),
        _ => None,
    }
}

fn word(v: &Value) -> Option<&str> {
    match &v.kind {
        ValueKind::Str(s) => Some(s),
        _ => None,
    }
}

fn non_negative_int(v: &Value) -> Option<i64> {
    match v.kind {
        ValueKind::Int(i) if i >= 0 => Some(i),
        _ => None,
    }
}

fn positive_int(v: &Value) -> Option<i64> {
    match v.kind {
        ValueKind::Int(i) if i >= 1 => Some(i),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::Ident;

    fn setting(key: &str, kind: ValueKind) -> Setting {
        Setting { key: Ident::new(key, Span::new(0, 1)), value: Value { kind, span: Span::new(3, 5) } }
    }

    #[test]
    fn file_then_overrides() {
        let file = [setting("lr", ValueKind::Float(0.01)), setting("schedule.patience", ValueKind::Int(4))];
        let cfg = TrainConfig::resolve(&file, &["train.lr=0.001".into(), "train.epochs=3".into()]).unwrap();
        assert_eq!((cfg.lr, cfg.epochs, cfg.schedule.patience), (0.001, 3, 4));
    }

    #[test]
    fn errors_name_their_origin() {
        let file = [setting("lr", ValueKind::Str("fast".into())), setting("epoch", ValueKind::Int(3))];
        let errs = TrainConfig::resolve(&file, &["train.batch_size=0".into(), "lr=1".into()]).unwrap_err();
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(text[0], "train: `lr` must be a positive number, found a string `\"fast\"`");
        assert_eq!(text[1], "train: unknown setting `epoch`");
        assert_eq!(errs[1].help.as_deref(), Some("did you mean `epochs`?"));
        assert_eq!(
            text[2],
            "--set train.batch_size=0: `batch_size` must be a whole number of at least 1, found an integer `0`"
        );
        assert_eq!(text[3], "--set lr=1: unknown setting `lr`");
        assert_eq!(errs[0].span, Some(Span::new(3, 5)));
    }

    #[test]
    fn an_unknown_schedule_is_an_error_not_plateau() {
        let err = TrainConfig::resolve(&[], &["train.schedule=cosin".into()]).unwrap_err();
        let text = err[0].to_string();
        assert!(text.contains("cosine") && text.contains("warm_restart"), "{text}");
        let cfg = TrainConfig::resolve(&[], &["train.schedule=step".into()]).unwrap();
        assert!(matches!(cfg.schedule.to_config(), ScheduleConfig::Step { .. }));
    }
}
