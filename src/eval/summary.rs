//! What `avc eval` prints: one line per direction and protocol, and a closing line that
//! says what was scored. Kept here, not in the CLI, so the text people read is tested
//! (tests/snapshots) and shared by every front-end.

use super::apply::Evaluation;
use super::evaldir::Provenance;
use super::metrics::{Interval, Metrics};
use super::protocol::Direction;
use super::retrieve::ShortlistRecall;
use std::path::Path;
use std::time::Duration;

/// Every direction's full and 30-way lines.
pub fn render(eval: &Evaluation) -> String {
    let mut out = String::new();
    for r in &eval.directions {
        out.push_str(&line(r.direction, "full", &r.full));
        out.push('\n');
        out.push_str(&line(r.direction, "30-way", &r.groups));
        out.push('\n');
    }
    out
}

/// `30 clips, checkpoint best (epoch 4), scored in 1.2 s; evaluation directory DIR`.
pub fn closing(n: usize, provenance: &Provenance, scored: Duration, dir: &Path) -> String {
    format!(
        "{}, checkpoint {} (epoch {}), scored in {:.1} s; evaluation directory {}",
        counted(n, "clip", "clips"),
        provenance.checkpoint,
        provenance.epoch,
        scored.as_secs_f64(),
        dir.display()
    )
}

/// `v2a full    top-1 93.3% [83.3, 100.0]  top-5 ...` in percent, ranks as they are.
pub fn line(d: Direction, protocol: &str, m: &Metrics) -> String {
    let pct = |i: &Interval| format!("{:.1}% [{:.1}, {:.1}]", 100.0 * i.value, 100.0 * i.low, 100.0 * i.high);
    format!(
        "{} {protocol:<6} top-1 {}  top-5 {}  top-10 {}  MRR {:.3} [{:.3}, {:.3}]  median rank {} (of {}, {})",
        d.name(),
        pct(&m.top1),
        pct(&m.top5),
        pct(&m.top10),
        m.mrr.value,
        m.mrr.low,
        m.mrr.high,
        m.median_rank.value,
        m.candidates,
        counted(m.queries, "query", "queries")
    )
}

/// How a shortlist fared (`avc retrieve --shortlist`).
pub fn shortlist(recall: Option<&ShortlistRecall>) -> String {
    match recall {
        Some(s) => format!(
            "shortlist: the true candidate survived the top {} for {} of {} queries ({:.1}%)",
            s.k,
            s.survived,
            s.queries,
            100.0 * s.survived as f64 / s.queries.max(1) as f64
        ),
        None => "shortlist: no query's true candidate is known (lists of different lengths and no id in both), so \
                 its recall is not reported"
            .into(),
    }
}

/// `1 clip`, `30 clips`.
pub fn counted(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
