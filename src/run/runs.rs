//! `avc runs`: the run directories under a folder, each with its best (by validation)
//! epoch's numbers, read from `metrics.jsonl` and `best/state.json`.

use crate::run::checkpoint::Checkpoint;
use crate::train::EpochMetrics;
use std::path::{Path, PathBuf};

/// One row of the listing.
#[derive(Debug, Clone)]
pub struct RunRow {
    pub dir: PathBuf,
    pub epochs_done: usize,
    pub best: Option<EpochMetrics>,
    /// Whether `last/` says an epoch was left unfinished (interrupted).
    pub interrupted: bool,
}

/// Reads every run directory (one holding `metrics.jsonl` or `config.yaml`) under `parent`,
/// sorted by name. Unreadable pieces are shown as missing, never fatal.
pub fn list(parent: &Path) -> std::io::Result<Vec<RunRow>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(parent)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("config.yaml").is_file())
        .collect();
    dirs.sort();
    Ok(dirs.into_iter().map(|dir| read(&dir)).collect())
}

/// One run directory's row; what cannot be read is left empty.
pub fn read(dir: &Path) -> RunRow {
    let history: Vec<EpochMetrics> = std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let best_epoch =
        Checkpoint::locate(dir, "best").ok().and_then(|d| Checkpoint::read_state(&d).ok()).map(|s| s.best_epoch);
    let interrupted = Checkpoint::locate(dir, "last")
        .ok()
        .and_then(|d| Checkpoint::read_state(&d).ok())
        .is_some_and(|s| !s.epoch_complete);
    RunRow {
        dir: dir.to_path_buf(),
        epochs_done: history.len(),
        best: best_epoch.and_then(|e| history.iter().find(|m| m.epoch == e).cloned()),
        interrupted,
    }
}

/// The listing as an aligned text table.
pub fn render(rows: &[RunRow]) -> String {
    let mut out = format!(
        "{:<32} {:>6} {:>5} {:>8} {:>8} {:>9} {:>9}  {}\n",
        "run", "epochs", "best", "val top1", "val mrr", "test top1", "test top5", "state"
    );
    for r in rows {
        let name = r.dir.file_name().map_or_else(|| r.dir.display().to_string(), |n| n.to_string_lossy().into_owned());
        let state = if r.interrupted { "interrupted (resume with --resume)" } else { "" };
        match &r.best {
            Some(m) => out.push_str(&format!(
                "{name:<32} {:>6} {:>5} {:>7.1}% {:>8.3} {:>8.1}% {:>8.1}%  {state}\n",
                r.epochs_done,
                m.epoch,
                100.0 * m.val.top1,
                m.val.mrr,
                100.0 * m.test.top1,
                100.0 * m.test.top5
            )),
            None => out.push_str(&format!("{name:<32} {:>6} {:>5}  {state}\n", r.epochs_done, "-")),
        }
    }
    // No trailing blanks where the state column is empty (copied tables, diffs).
    out.lines().map(|l| format!("{}\n", l.trim_end())).collect()
}
