//! A run's `summary.md`: the architecture, the best (by validation) and final epochs'
//! numbers, the time it took, and the curves.

use crate::eval::Ranking;
use crate::train::EpochMetrics;
use std::fmt::Write;

/// A Markdown summary of a run. `table` is the architecture's summary table (preformatted,
/// shown in a code block); `best_epoch` is the epoch chosen by validation; `picture` is the
/// curves image's path relative to the summary, embedded when given.
///
/// Top-k accuracies are shown in % with one decimal, MRR with three decimals, losses with
/// four.
pub fn summary_markdown(
    arch_name: &str,
    table: &str,
    metrics: &[EpochMetrics],
    best_epoch: i64,
    picture: Option<&str>,
) -> String {
    let mut md = String::new();
    // Writing into a String cannot fail.
    let _ = write_summary(&mut md, arch_name, table, metrics, best_epoch, picture);
    md
}

fn write_summary(
    md: &mut String,
    arch_name: &str,
    table: &str,
    metrics: &[EpochMetrics],
    best_epoch: i64,
    picture: Option<&str>,
) -> std::fmt::Result {
    writeln!(md, "# {}: training summary\n", one_line(arch_name))?;

    writeln!(md, "## Architecture\n")?;
    let fence = fence_for(table);
    writeln!(md, "{fence}text\n{}\n{fence}\n", table.trim_end_matches(['\n', '\r']))?;

    let Some(last) = metrics.last() else {
        writeln!(md, "No epoch finished.")?;
        return picture_section(md, picture);
    };

    match metrics.iter().find(|m| m.epoch == best_epoch) {
        Some(best) => {
            writeln!(md, "## Best epoch (by validation): {} of {}\n", best.epoch, last.epoch)?;
            epoch_table(md, best)?;
        }
        None => writeln!(md, "## Best epoch (by validation): {best_epoch}\n\nNot among the recorded epochs.\n")?,
    }

    writeln!(md, "## Final epoch: {}\n", last.epoch)?;
    epoch_table(md, last)?;

    let total: f64 = metrics.iter().map(|m| m.seconds).filter(|s| s.is_finite()).sum();
    let n = metrics.len();
    writeln!(
        md,
        "Total time: {} for {n} epoch{} ({:.1} s per epoch on average).\n",
        duration(total),
        if n == 1 { "" } else { "s" },
        total / n as f64
    )?;
    picture_section(md, picture)
}

fn picture_section(md: &mut String, picture: Option<&str>) -> std::fmt::Result {
    if let Some(p) = picture {
        writeln!(md, "## Curves\n\n![curves]({p})")?;
    }
    Ok(())
}

/// The numbers of one epoch: a row per split.
fn epoch_table(md: &mut String, m: &EpochMetrics) -> std::fmt::Result {
    writeln!(md, "| split | loss | top-1 | top-5 | MRR | median rank | queries |")?;
    writeln!(md, "|---|---:|---:|---:|---:|---:|---:|")?;
    writeln!(md, "| train | {:.4} | | | | | |", m.train_loss)?;
    ranking_row(md, "validation", m.val_loss, &m.val)?;
    ranking_row(md, "test", m.test_loss, &m.test)?;
    writeln!(md, "\nLearning rate {}, {:.1} s.\n", m.lr, m.seconds)
}

fn ranking_row(md: &mut String, split: &str, loss: f64, r: &Ranking) -> std::fmt::Result {
    writeln!(
        md,
        "| {split} | {loss:.4} | {:.1}% | {:.1}% | {:.3} | {} | {} |",
        100.0 * r.top1,
        100.0 * r.top5,
        r.mrr,
        r.median_rank,
        r.queries
    )
}

/// Seconds as `1 h 02 min 03 s`, `2 min 03 s` or `4.5 s`.
fn duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 60.0 {
        return format!("{secs:.1} s");
    }
    let total = secs.round() as u64;
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    if h > 0 { format!("{h} h {m:02} min {s:02} s") } else { format!("{m} min {s:02} s") }
}

/// A code fence longer than any run of backticks in the text.
fn fence_for(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
