//! `avc compare`: argument handling and the result lines. The work is in
//! `avc::eval::compare`.

use avc::eval::compare::{self, Comparison};
use avc::eval::metrics::{Bootstrap, Difference, Interval};
use avc::outputs::Input;
use avc::report::report;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct CompareArgs {
    /// The baseline: an evaluation directory, or a run directory (its `eval-best`)
    baseline: PathBuf,
    /// The runs to compare with it, evaluated on the same clips
    #[arg(required = true)]
    others: Vec<PathBuf>,
    /// Bootstrap resamples for the 95% intervals
    #[arg(long, default_value_t = 1000, value_parser = super::eval::resample_count)]
    resamples: usize,
    /// Seed of the bootstrap
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also write the differences as JSON to this file
    #[arg(long)]
    json: Option<PathBuf>,
    /// Replace an existing --json file that avc compare did not write (never an input:
    /// docs/safety.md)
    #[arg(long, requires = "json")]
    force: bool,
}

/// What compare reads: each directory given, and all of each evaluation directory.
fn inputs(given: &[&std::path::Path], opened: &[&std::path::Path]) -> Vec<Input> {
    let given = given.iter().map(|p| Input::Path(p.to_path_buf()));
    given.chain(opened.iter().map(|p| Input::Tree(p.to_path_buf()))).collect()
}

pub fn compare_cmd(args: CompareArgs) -> Result<(), u8> {
    let boot = Bootstrap { resamples: args.resamples, seed: args.seed, ..Bootstrap::default() };
    let baseline = compare::open(&args.baseline).map_err(|e| report(&e))?;
    // Every directory read and checked before anything is printed: a bad third run stops
    // the command before the first two's lines.
    let mut all = Vec::new();
    let mut dirs = Vec::new();
    for other in &args.others {
        let other = compare::open(other).map_err(|e| report(&e))?;
        all.push(compare::compare(&baseline, &other, &boot).map_err(|e| report(&e))?);
        dirs.push(other.dir);
    }
    if let Some(path) = &args.json {
        let given: Vec<&std::path::Path> =
            std::iter::once(&args.baseline).chain(&args.others).map(PathBuf::as_path).collect();
        let opened: Vec<&std::path::Path> = std::iter::once(&baseline.dir).chain(&dirs).map(PathBuf::as_path).collect();
        let kind = avc::outputs::Kind::File(avc::outputs::COMPARISON);
        avc::outputs::claim("--json", path, kind, &inputs(&given, &opened), args.force).map_err(|e| report(&e))?;
    }
    for (k, (c, dir)) in all.iter().zip(&dirs).enumerate() {
        if k > 0 {
            println!();
        }
        print(c, &baseline.dir, dir);
    }
    if let Some(path) = &args.json {
        let path = compare::write_json(&all, path).map_err(|e| report(&e))?;
        println!("differences written to {}", path.display());
    }
    Ok(())
}

fn print(c: &Comparison, a: &std::path::Path, b: &std::path::Path) {
    println!("{} - {} on {} clips ({} - {})", c.other, c.baseline, c.clips, b.display(), a.display());
    println!("  differences with 95% paired bootstrap intervals; * where an interval excludes 0");
    for d in &c.directions {
        println!("{}", line(d.direction.name(), "full", &d.full));
        println!("{}", line(d.direction.name(), "30-way", &d.groups));
    }
}

/// `v2a full   top-1 +6.7 [-3.3, +16.7]  ...` in points; MRR as a fraction; mean rank in ranks.
fn line(direction: &str, protocol: &str, d: &Difference) -> String {
    let mark = |i: &Interval| if i.low > 0.0 || i.high < 0.0 { "*" } else { "" };
    let pts =
        |i: &Interval| format!("{:+.1} [{:+.1}, {:+.1}]{}", 100.0 * i.value, 100.0 * i.low, 100.0 * i.high, mark(i));
    let plain = |i: &Interval, digits: usize| {
        format!("{:+.digits$} [{:+.digits$}, {:+.digits$}]{}", i.value, i.low, i.high, mark(i))
    };
    format!(
        "{direction} {protocol:<6} top-1 {}  top-5 {}  top-10 {}  MRR {}  mean rank {}  better for {}, worse for {} of {}",
        pts(&d.top1),
        pts(&d.top5),
        pts(&d.top10),
        plain(&d.mrr, 3),
        plain(&d.mean_rank, 1),
        d.better,
        d.worse,
        d.queries
    )
}
