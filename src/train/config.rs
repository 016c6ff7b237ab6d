//! Harness settings: defaults from what worked in the seed, then the file's `train:`
//! section, then `--set train.KEY=VALUE` overrides, each checked with an error that says
//! where the bad value came from.

use crate::ast::{Setting, Value, ValueKind};
use crate::diag::{Diagnostic, did_you_mean, one_of};
use crate::source::Span;
use serde::Serialize;

/// Every setting the harness reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainConfig {
    pub epochs: i64,
    pub batch_size: i64,
    pub lr: f64,
    pub seed: u64,
    pub optimizer: String,
    pub weight_decay: f64,
    /// Share of the training clips held out for validation (schedule and checkpoint choice).
    pub validation: f64,
    pub schedule: Plateau,
    /// Pairs per forward pass when scoring a group.
    pub eval_chunk: i64,
}

/// ReduceLROnPlateau on the validation top-1.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plateau {
    pub factor: f64,
    pub patience: i64,
    pub min_lr: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 20,
            batch_size: 64,
            lr: 0.005,
            seed: 1,
            optimizer: "adam".into(),
            weight_decay: 0.0,
            validation: 0.1,
            schedule: Plateau { factor: 0.5, patience: 2, min_lr: 1e-5 },
            eval_chunk: 1024,
        }
    }
}

/// The keys `train:` accepts, for errors and docs.
pub const KEYS: &[(&str, &str)] = &[
    ("epochs", "passes over the training clips (int, default 20)"),
    ("batch_size", "matched pairs per batch; as many shuffled pairs are added (int, default 64)"),
    ("lr", "initial learning rate (float, default 0.005)"),
    ("seed", "seeds the split, batch order, negatives, dropout and init (int, default 1)"),
    ("optimizer", "`adam` (default)"),
    ("weight_decay", "L2 penalty (float, default 0)"),
    ("validation", "share of training clips held out for validation (float in (0, 0.5], default 0.1)"),
    ("schedule.factor", "ReduceLROnPlateau: lr multiplier on a plateau (default 0.5)"),
    ("schedule.patience", "ReduceLROnPlateau: epochs without improvement before lowering (default 2)"),
    ("schedule.min_lr", "ReduceLROnPlateau: lower bound of the lr (default 1e-5)"),
    ("eval_chunk", "pairs per forward pass in evaluation (int, default 1024)"),
];

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
        let bad =
            |expected: &str| (None, format!("`{key}` must be {expected}, found {} `{v}`", v.kind.type_name()), None);
        match key {
            "epochs" => self.epochs = positive_int(v).ok_or_else(|| bad("a whole number of at least 1"))?,
            "batch_size" => self.batch_size = positive_int(v).ok_or_else(|| bad("a whole number of at least 1"))?,
            "eval_chunk" => self.eval_chunk = positive_int(v).ok_or_else(|| bad("a whole number of at least 1"))?,
            "lr" => self.lr = positive_float(v).ok_or_else(|| bad("a positive number"))?,
            "seed" => match v.kind {
                ValueKind::Int(i) if i >= 0 => self.seed = i as u64,
                _ => return Err(bad("a non-negative integer")),
            },
            "optimizer" => match &v.kind {
                ValueKind::Str(s) if s == "adam" => self.optimizer = s.clone(),
                _ => return Err(bad("`adam`")),
            },
            "weight_decay" => self.weight_decay = float(v).filter(|x| *x >= 0.0).ok_or_else(|| bad("a number >= 0"))?,
            "validation" => {
                self.validation =
                    float(v).filter(|x| *x > 0.0 && *x <= 0.5).ok_or_else(|| bad("a share in (0, 0.5]"))?
            }
            "schedule.factor" => {
                self.schedule.factor =
                    float(v).filter(|x| *x > 0.0 && *x < 1.0).ok_or_else(|| bad("a number in (0, 1)"))?
            }
            "schedule.patience" => match v.kind {
                ValueKind::Int(i) if i >= 0 => self.schedule.patience = i,
                _ => return Err(bad("a non-negative integer")),
            },
            "schedule.min_lr" => {
                self.schedule.min_lr = float(v).filter(|x| *x >= 0.0).ok_or_else(|| bad("a number >= 0"))?
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
}
