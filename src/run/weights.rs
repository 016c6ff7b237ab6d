//! Checkpoints meet graphs: saved weights compared with a model's variables tensor by
//! tensor, by name (the node's dotted name and the layer's own, `arnn.rnn.weight_ih_l0`).
//!
//! A changed architecture rarely breaks one tensor only, so the comparison lists every
//! difference at once: what matches, what the checkpoint lacks, what it has that the model
//! does not, and what has another shape (both shapes). Resuming needs an exact match;
//! initialising from another run (`--init-from`) copies what matches.

use avc_lang::diag::{Align, pad};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt::Write;
use std::path::Path;
use tch::{Tensor, nn::VarStore};

/// A tensor's name and shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedShape {
    pub name: String,
    pub shape: Vec<i64>,
}

/// A tensor both sides have, with different shapes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShapeMismatch {
    pub name: String,
    pub model: Vec<i64>,
    pub checkpoint: Vec<i64>,
}

/// The tensor-by-tensor comparison of a model with a checkpoint; each list sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadReport {
    /// Same name and shape on both sides.
    pub matched: Vec<NamedShape>,
    /// In the model, not in the checkpoint.
    pub missing: Vec<NamedShape>,
    /// In the checkpoint, not in the model.
    pub unexpected: Vec<NamedShape>,
    /// On both sides with different shapes.
    pub reshaped: Vec<ShapeMismatch>,
}

/// Whether tensor `name` belongs to a node selected by one of `prefixes` (a node's dotted
/// name selects its own tensors and those of the nodes inside it: `arnn` selects
/// `arnn.rnn.weight_ih_l0`, not `arnn2.bias`). No prefixes select everything.
pub fn selected(name: &str, prefixes: &[String]) -> bool {
    prefixes.is_empty()
        || prefixes.iter().any(|p| name == p || (name.starts_with(p.as_str()) && name[p.len()..].starts_with('.')))
}

impl LoadReport {
    /// Compares (name, shape) lists; names are unique on each side.
    pub fn compare(model: &[NamedShape], checkpoint: &[NamedShape]) -> LoadReport {
        let saved: HashMap<&str, &Vec<i64>> = checkpoint.iter().map(|t| (t.name.as_str(), &t.shape)).collect();
        let mut report = LoadReport::default();
        for t in model {
            match saved.get(t.name.as_str()) {
                None => report.missing.push(t.clone()),
                Some(shape) if **shape == t.shape => report.matched.push(t.clone()),
                Some(shape) => report.reshaped.push(ShapeMismatch {
                    name: t.name.clone(),
                    model: t.shape.clone(),
                    checkpoint: (*shape).clone(),
                }),
            }
        }
        let known: std::collections::HashSet<&str> = model.iter().map(|t| t.name.as_str()).collect();
        report.unexpected = checkpoint.iter().filter(|t| !known.contains(t.name.as_str())).cloned().collect();
        report.matched.sort_by(|a, b| a.name.cmp(&b.name));
        report.missing.sort_by(|a, b| a.name.cmp(&b.name));
        report.unexpected.sort_by(|a, b| a.name.cmp(&b.name));
        report.reshaped.sort_by(|a, b| a.name.cmp(&b.name));
        report
    }

    /// Compares a VarStore's variables with named tensors.
    pub fn of(vs: &VarStore, saved: &HashMap<String, Tensor>) -> LoadReport {
        let model: Vec<NamedShape> =
            vs.variables().iter().map(|(name, t)| NamedShape { name: name.clone(), shape: t.size() }).collect();
        let checkpoint: Vec<NamedShape> =
            saved.iter().map(|(name, t)| NamedShape { name: name.clone(), shape: t.size() }).collect();
        LoadReport::compare(&model, &checkpoint)
    }

    /// The part of the report about tensors selected by `prefixes` (see [`selected`]).
    pub fn restricted(&self, prefixes: &[String]) -> LoadReport {
        let keep = |t: &NamedShape| selected(&t.name, prefixes);
        LoadReport {
            matched: self.matched.iter().filter(|t| keep(t)).cloned().collect(),
            missing: self.missing.iter().filter(|t| keep(t)).cloned().collect(),
            unexpected: self.unexpected.iter().filter(|t| keep(t)).cloned().collect(),
            reshaped: self.reshaped.iter().filter(|t| selected(&t.name, prefixes)).cloned().collect(),
        }
    }

    /// True when every tensor matches by name and shape on both sides.
    pub fn is_exact(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.reshaped.is_empty()
    }

    /// Every difference, a heading per kind and a tensor a line under it (at most
    /// `LISTED` (16) a kind, then how many more), each line indented; empty when exact.
    pub fn differences(&self) -> String {
        let mut out = String::new();
        let mut kind = |heading: &str, lines: Vec<String>| {
            if lines.is_empty() {
                return;
            }
            out.push_str(&format!("\n  {heading} ({}):", lines.len()));
            for line in lines.iter().take(LISTED) {
                out.push_str(&format!("\n    {line}"));
            }
            if lines.len() > LISTED {
                out.push_str(&format!("\n    ... and {} more", lines.len() - LISTED));
            }
        };
        kind("missing from the checkpoint", listed(&self.missing));
        kind("in the checkpoint but not the model", listed(&self.unexpected));
        let shapes = self
            .reshaped
            .iter()
            .map(|m| format!("`{}`: model {:?}, checkpoint {:?}", m.name, m.model, m.checkpoint))
            .collect();
        kind("another shape", shapes);
        out
    }

    /// A table, one tensor a line, for people: what is loaded, skipped, missing, ignored.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let width = self
            .matched
            .iter()
            .chain(&self.missing)
            .chain(&self.unexpected)
            .map(|t| t.name.len())
            .chain(self.reshaped.iter().map(|m| m.name.len()))
            .max()
            .unwrap_or(0);
        for t in &self.matched {
            let _ = writeln!(out, "  loaded      {}  {:?}", pad(&t.name, width, Align::Left), t.shape);
        }
        for m in &self.reshaped {
            let _ = writeln!(
                out,
                "  skipped     {}  model {:?}, checkpoint {:?}",
                pad(&m.name, width, Align::Left),
                m.model,
                m.checkpoint
            );
        }
        for t in &self.missing {
            let _ = writeln!(
                out,
                "  missing     {}  {:?} (not in the checkpoint: initialised afresh)",
                pad(&t.name, width, Align::Left),
                t.shape
            );
        }
        for t in &self.unexpected {
            let _ =
                writeln!(out, "  ignored     {}  {:?} (not in the model)", pad(&t.name, width, Align::Left), t.shape);
        }
        out
    }
}

/// Tensors a kind of difference lists before it says how many more there are: a model of
/// hundreds of tensors built with another width would otherwise fill the screen.
const LISTED: usize = 16;

fn listed(tensors: &[NamedShape]) -> Vec<String> {
    tensors.iter().map(|t| format!("`{}` {:?}", t.name, t.shape)).collect()
}

/// Why weights could not be read or loaded.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("{}: {}", path.display(), unreadable(path, error))]
    Read { path: std::path::PathBuf, error: tch::TchError },
    #[error("`{name}`: {error}")]
    Copy { name: String, error: tch::TchError },
    /// The file's tensors and the model's variables differ (every difference is listed).
    #[error("the checkpoint's weights ({}) do not fit the model's graph:{}", path.display(), report.differences())]
    Mismatch { path: std::path::PathBuf, report: LoadReport },
}

/// Why a weights file could not be read, without the path tch repeats: a file safetensors
/// cannot parse is most often one cut short (a full disk, a copy interrupted).
fn unreadable(path: &Path, error: &tch::TchError) -> String {
    let text = error.to_string();
    match text.strip_prefix(&format!("safetensors error {}: ", path.display())) {
        Some(reason) => format!("not a readable safetensors file ({reason}); it may be truncated or not a checkpoint"),
        None => text,
    }
}

/// Reads a weights file (safetensors) into named tensors on the CPU.
pub fn read(path: &Path) -> Result<HashMap<String, Tensor>, WeightsError> {
    Tensor::read_safetensors(path)
        .map(|v| v.into_iter().collect())
        .map_err(|error| WeightsError::Read { path: path.to_path_buf(), error })
}

/// Copies the named tensors into the VarStore's variables of the same name (shapes must
/// already agree). Gradients are not recorded.
pub fn copy_into(vs: &VarStore, saved: &HashMap<String, Tensor>, names: &[NamedShape]) -> Result<(), WeightsError> {
    let _guard = tch::no_grad_guard();
    let vars = vs.variables();
    for t in names {
        if let (Some(var), Some(value)) = (vars.get(&t.name), saved.get(&t.name)) {
            let mut var = var.shallow_clone();
            var.f_copy_(value).map_err(|error| WeightsError::Copy { name: t.name.clone(), error })?;
        }
    }
    Ok(())
}

/// Loads a checkpoint's weights into a model that must match it exactly; otherwise the
/// error lists every difference.
pub fn load_exact(vs: &VarStore, path: &Path) -> Result<LoadReport, WeightsError> {
    let saved = read(path)?;
    let report = LoadReport::of(vs, &saved);
    if !report.is_exact() {
        return Err(WeightsError::Mismatch { path: path.to_path_buf(), report });
    }
    copy_into(vs, &saved, &report.matched)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, shape: &[i64]) -> NamedShape {
        NamedShape { name: name.into(), shape: shape.to_vec() }
    }

    #[test]
    fn every_difference_is_listed() {
        let model = [t("a.weight", &[4, 2]), t("b.weight", &[3]), t("c.bias", &[1]), t("d", &[2])];
        let ckpt = [t("d", &[2]), t("b.weight", &[5]), t("a.weight", &[4, 2]), t("z.weight", &[7])];
        let r = LoadReport::compare(&model, &ckpt);
        assert_eq!(r.matched, [t("a.weight", &[4, 2]), t("d", &[2])]);
        assert_eq!(r.missing, [t("c.bias", &[1])]);
        assert_eq!(r.unexpected, [t("z.weight", &[7])]);
        assert_eq!(r.reshaped, [ShapeMismatch { name: "b.weight".into(), model: vec![3], checkpoint: vec![5] }]);
        assert!(!r.is_exact());
        let text = r.differences();
        assert_eq!(
            text,
            "\n  missing from the checkpoint (1):\n    `c.bias` [1]\
             \n  in the checkpoint but not the model (1):\n    `z.weight` [7]\
             \n  another shape (1):\n    `b.weight`: model [3], checkpoint [5]"
        );
        let many: Vec<NamedShape> = (0..20).map(|i| t(&format!("w{i:02}"), &[i])).collect();
        let text = LoadReport::compare(&many, &[]).differences();
        assert!(text.starts_with("\n  missing from the checkpoint (20):\n    `w00` [0]\n"), "{text}");
        assert!(text.ends_with("\n    `w15` [15]\n    ... and 4 more"), "{text}");
        assert!(LoadReport::compare(&model, &model).is_exact());
    }

    #[test]
    fn a_cut_short_file_is_named_once_and_explained() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("weights.safetensors");
        std::fs::write(&path, [8u8, 0, 0]).unwrap();
        let text = super::read(&path).map(|_| ()).unwrap_err().to_string();
        assert_eq!(text.matches("weights.safetensors").count(), 1, "{text}");
        assert!(text.contains("not a readable safetensors file (") && text.contains("may be truncated"), "{text}");
    }

    #[test]
    fn prefixes_select_whole_node_names() {
        let only = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(selected("arnn.rnn.weight_ih_l0", &only(&["arnn"])));
        assert!(selected("arnn.rnn.weight_ih_l0", &only(&["arnn.rnn"])));
        assert!(!selected("arnn2.weight", &only(&["arnn"])));
        assert!(!selected("arnn.rnn2.bias", &only(&["arnn.rnn"])));
        assert!(selected("x", &[]));
        let r = LoadReport::compare(&[t("arnn.w", &[1]), t("v.w", &[1])], &[t("arnn.w", &[1]), t("arnn.u", &[2])]);
        let sub = r.restricted(&only(&["arnn"]));
        assert_eq!((sub.matched.len(), sub.missing.len(), sub.unexpected.len()), (1, 0, 1));
    }

    #[test]
    fn the_rendering_names_each_tensor() {
        let r = LoadReport::compare(
            &[t("a", &[2]), t("bb", &[3]), t("c", &[1])],
            &[t("a", &[2]), t("bb", &[4]), t("d", &[5])],
        );
        let text = r.render();
        assert!(text.contains("  loaded      a   [2]\n"), "{text}");
        assert!(text.contains("  skipped     bb  model [3], checkpoint [4]\n"), "{text}");
        assert!(text.contains("  missing     c   [1] (not in the checkpoint: initialised afresh)\n"), "{text}");
        assert!(text.contains("  ignored     d   [5] (not in the model)\n"), "{text}");
    }
}
