//! A sweep's tables: `results.csv` (one row per run, read back from its run directory),
//! `summary.csv` and `summary.md` (one row per grid point: mean and sample standard
//! deviation over the seeds).
//!
//! Every number is that of the run's best epoch by validation; test numbers are reported for
//! that checkpoint and never used to choose it. Accuracies are fractions in the CSV files
//! (as in `metrics.jsonl`) and percentages in the Markdown.

use crate::train::EpochMetrics;
use std::fmt::Write;

/// Where a run of the sweep stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunStatus {
    /// Trained to its last epoch (or early-stopped).
    Done,
    /// Stopped with an error that would recur (divergence); the message says which.
    Failed(String),
    /// Stopped part-way; continuing the sweep resumes it from its `last` checkpoint.
    Interrupted,
    /// Being trained by a scheduler's task now (`avc sweep --collect` of a sweep under way).
    Running,
    /// Not started yet.
    Pending,
}

impl RunStatus {
    pub fn word(&self) -> &'static str {
        match self {
            RunStatus::Done => "done",
            RunStatus::Failed(_) => "failed",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Running => "running",
            RunStatus::Pending => "pending",
        }
    }
}

/// One run's line of `results.csv`.
#[derive(Debug, Clone)]
pub struct ResultRow {
    pub name: String,
    /// (short key, value) per swept axis.
    pub point: Vec<(String, String)>,
    pub seed: u64,
    pub status: RunStatus,
    /// The best epoch by validation among those finished, if any.
    pub best: Option<EpochMetrics>,
}

/// Mean and sample standard deviation (n - 1 in the denominator; none for fewer than two
/// values). None for no values.
pub fn mean_std(values: &[f64]) -> Option<(f64, Option<f64>)> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let std = (values.len() > 1).then(|| (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
    Some((mean, std))
}

/// One grid point's line of `summary.csv`: statistics over its finished runs.
#[derive(Debug, Clone, PartialEq)]
pub struct PointSummary {
    pub point: Vec<(String, String)>,
    /// Runs of this point that finished (the statistics' n).
    pub n: usize,
    /// Runs of this point in the grid.
    pub planned: usize,
    pub test_top1: Option<(f64, Option<f64>)>,
    pub test_top5: Option<(f64, Option<f64>)>,
    pub val_top1: Option<(f64, Option<f64>)>,
}

/// Groups the rows by grid point (in grid order) and summarises the finished runs of each.
pub fn summarize(rows: &[ResultRow]) -> Vec<PointSummary> {
    let mut out: Vec<PointSummary> = Vec::new();
    let mut points: Vec<&Vec<(String, String)>> = Vec::new();
    for row in rows {
        if !points.contains(&&row.point) {
            points.push(&row.point);
        }
    }
    for point in points {
        let done: Vec<&EpochMetrics> = rows
            .iter()
            .filter(|r| &r.point == point && r.status == RunStatus::Done)
            .filter_map(|r| r.best.as_ref())
            .collect();
        let stat = |f: fn(&EpochMetrics) -> f64| mean_std(&done.iter().map(|m| f(m)).collect::<Vec<_>>());
        out.push(PointSummary {
            point: point.clone(),
            n: done.len(),
            planned: rows.iter().filter(|r| &r.point == point).count(),
            test_top1: stat(|m| m.test.top1),
            test_top5: stat(|m| m.test.top5),
            val_top1: stat(|m| m.val.top1),
        });
    }
    out
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_string() }
}

fn number(x: f64) -> String {
    format!("{x:.6}")
}

/// `results.csv`: run, the swept keys, seed, status, best epoch, validation and test
/// top-1 / top-5 / MRR at the best epoch (empty while a run has no finished epoch).
pub fn results_csv(keys: &[&str], rows: &[ResultRow]) -> String {
    let mut csv = String::from("run");
    for k in keys {
        csv.push(',');
        csv.push_str(&field(k));
    }
    csv.push_str(",seed,status,best_epoch,val_top1,val_top5,val_mrr,test_top1,test_top5,test_mrr\n");
    for r in rows {
        csv.push_str(&field(&r.name));
        for (_, v) in &r.point {
            csv.push(',');
            csv.push_str(&field(v));
        }
        let _ = write!(csv, ",{},{}", r.seed, r.status.word());
        match &r.best {
            Some(m) => {
                let _ = write!(csv, ",{}", m.epoch);
                for x in [m.val.top1, m.val.top5, m.val.mrr, m.test.top1, m.test.top5, m.test.mrr] {
                    csv.push(',');
                    csv.push_str(&number(x));
                }
            }
            None => csv.push_str(",,,,,,,"),
        }
        csv.push('\n');
    }
    csv
}

/// `summary.csv`: the swept keys, n, then mean and sample std of test top-1, test top-5 and
/// validation top-1 (a std is empty when n < 2; everything is empty when n = 0).
pub fn summary_csv(keys: &[&str], summaries: &[PointSummary]) -> String {
    let mut csv = keys.iter().map(|k| field(k)).collect::<Vec<_>>().join(",");
    if !keys.is_empty() {
        csv.push(',');
    }
    csv.push_str("n,test_top1_mean,test_top1_std,test_top5_mean,test_top5_std,val_top1_mean,val_top1_std\n");
    for s in summaries {
        for (_, v) in &s.point {
            csv.push_str(&field(v));
            csv.push(',');
        }
        csv.push_str(&s.n.to_string());
        for stat in [s.test_top1, s.test_top5, s.val_top1] {
            let (mean, std) = match stat {
                Some((m, sd)) => (number(m), sd.map(number).unwrap_or_default()),
                None => (String::new(), String::new()),
            };
            let _ = write!(csv, ",{mean},{std}");
        }
        csv.push('\n');
    }
    csv
}

/// What `summary.md` says besides the tables.
pub struct SweepHeader<'a> {
    pub title: &'a str,
    pub command: &'a str,
    pub axes: &'a [crate::sweep::grid::Axis],
    pub seeds: &'a [u64],
    /// The picture's path relative to the summary, embedded when given.
    pub picture: Option<&'a str>,
}

/// `summary.md`: the command, the grid, a table of mean ± std per grid point (the best mean
/// validation top-1 in bold: the choice a sweep supports), and the picture.
pub fn summary_markdown(header: &SweepHeader, rows: &[ResultRow], summaries: &[PointSummary]) -> String {
    let mut md = String::new();
    let _ = write_markdown(&mut md, header, rows, summaries);
    md
}

fn write_markdown(
    md: &mut String,
    h: &SweepHeader,
    rows: &[ResultRow],
    summaries: &[PointSummary],
) -> std::fmt::Result {
    writeln!(md, "# Sweep: {}\n", h.title.replace('\n', " "))?;
    writeln!(md, "Command: `{}`\n", h.command.replace('`', "'"))?;
    let seeds: Vec<String> = h.seeds.iter().map(u64::to_string).collect();
    let mut grid: Vec<String> =
        h.axes.iter().map(|a| format!("`{}` ∈ {{{}}}", a.short_key(), a.values.join(", "))).collect();
    grid.push(format!("seeds {}", seeds.join(", ")));
    let done = rows.iter().filter(|r| r.status == RunStatus::Done).count();
    writeln!(md, "Grid: {}: {} runs, {done} done.\n", grid.join("; "), rows.len())?;
    let best = summaries
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.val_top1.map(|(m, _)| (i, m)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i);
    let keys: Vec<&str> = h.axes.iter().map(|a| a.short_key()).collect();
    let mut head = keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>();
    head.extend(["n", "test top-1", "test top-5", "val top-1"].map(String::from));
    writeln!(md, "| {} |", head.join(" | "))?;
    let align: Vec<&str> = keys.iter().map(|_| "---").chain(["---:"; 4]).collect();
    writeln!(md, "|{}|", align.join("|"))?;
    for (i, s) in summaries.iter().enumerate() {
        let mut cells: Vec<String> = s.point.iter().map(|(_, v)| v.clone()).collect();
        cells.push(if s.n == s.planned { s.n.to_string() } else { format!("{} of {}", s.n, s.planned) });
        cells.extend([s.test_top1, s.test_top5].map(percent));
        let val = percent(s.val_top1);
        cells.push(if best == Some(i) { format!("**{val}**") } else { val });
        writeln!(md, "| {} |", cells.join(" | "))?;
    }
    writeln!(
        md,
        "\nMean ± sample standard deviation over seeds of each run's best epoch by validation; the test \
         numbers are that checkpoint's. Bold: the best mean validation top-1. Per run: results.csv.\n"
    )?;
    let failed: Vec<&ResultRow> = rows.iter().filter(|r| matches!(r.status, RunStatus::Failed(_))).collect();
    for r in &failed {
        if let RunStatus::Failed(why) = &r.status {
            writeln!(md, "- `{}` failed: {}", r.name, why.replace('\n', " "))?;
        }
    }
    if !failed.is_empty() {
        writeln!(md)?;
    }
    if let Some(p) = h.picture {
        writeln!(md, "![sweep]({p})")?;
    }
    Ok(())
}

/// `41.2 ± 2.1%`, `41.2%` without a spread, `-` without runs.
fn percent(stat: Option<(f64, Option<f64>)>) -> String {
    match stat {
        None => "-".to_string(),
        Some((m, None)) => format!("{:.1}%", 100.0 * m),
        Some((m, Some(sd))) => format!("{:.1} ± {:.1}%", 100.0 * m, 100.0 * sd),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::Ranking;

    fn row(lr: &str, seed: u64, status: RunStatus, test_top1: f64, val_top1: f64) -> ResultRow {
        let r = |top1: f64| Ranking { top1, top5: (top1 + 0.5).min(1.0), mrr: top1, median_rank: 1.0, queries: 10 };
        let best = EpochMetrics {
            epoch: 2,
            train_loss: 0.5,
            val_loss: 0.5,
            val: r(val_top1),
            test_loss: 0.5,
            test: r(test_top1),
            lr: 0.01,
            seconds: 1.0,
            temperature: None,
            skipped_steps: None,
            loss_scale: None,
        };
        ResultRow {
            name: format!("lr={lr},seed={seed}"),
            point: vec![("lr".into(), lr.into())],
            seed,
            status,
            best: Some(best),
        }
    }

    #[test]
    fn mean_and_sample_std() {
        assert_eq!(mean_std(&[]), None);
        assert_eq!(mean_std(&[0.25]), Some((0.25, None)));
        let (m, sd) = mean_std(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert_eq!(m, 5.0);
        // Sum of squared deviations 32, over n - 1 = 7.
        assert!((sd.unwrap() - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        let (m, sd) = mean_std(&[0.1, 0.3]).unwrap();
        assert!((m - 0.2).abs() < 1e-12 && (sd.unwrap() - 0.02f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn summary_counts_finished_runs_per_point() {
        let rows = vec![
            row("0.1", 1, RunStatus::Done, 0.5, 0.4),
            row("0.1", 2, RunStatus::Done, 0.7, 0.6),
            row("0.01", 1, RunStatus::Done, 0.2, 0.3),
            row("0.01", 2, RunStatus::Interrupted, 0.9, 0.9),
        ];
        let s = summarize(&rows);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].n, s[0].planned, s[1].n, s[1].planned), (2, 2, 1, 2));
        let (m, sd) = s[0].test_top1.unwrap();
        assert!((m - 0.6).abs() < 1e-12 && (sd.unwrap() - 0.02f64.sqrt()).abs() < 1e-12);
        assert_eq!(s[1].test_top1, Some((0.2, None)));
        let csv = summary_csv(&["lr"], &s);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "lr,n,test_top1_mean,test_top1_std,test_top5_mean,test_top5_std,val_top1_mean,val_top1_std"
        );
        assert_eq!(lines[2], "0.01,1,0.200000,,0.700000,,0.300000,");
        let results = results_csv(&["lr"], &rows);
        assert_eq!(results.lines().count(), 5);
        assert!(results.contains("\"lr=0.1,seed=1\",0.1,1,done,2,0.400000,"), "{results}");
        let axes = [crate::sweep::grid::Axis { key: "train.lr".into(), values: vec!["0.1".into(), "0.01".into()] }];
        let header =
            SweepHeader { title: "t", command: "avc sweep", axes: &axes, seeds: &[1, 2], picture: Some("sweep.png") };
        let md = summary_markdown(&header, &rows, &s);
        assert!(md.contains("| 0.1 | 2 | 60.0 ± 14.1% |"), "{md}");
        assert!(md.contains("| 0.01 | 1 of 2 | 20.0% |"), "{md}");
        assert!(md.contains("**50.0 ± 14.1%**"), "the best validation mean is bold:\n{md}");
        assert!(md.contains("4 runs, 3 done"), "{md}");
        assert!(md.contains("![sweep](sweep.png)"), "{md}");
    }
}
