//! `avc sweep` through the library: a 2x2 grid over two seeds writes its tables and picture
//! with statistics that agree with the per-run numbers, and a sweep stopped twice (after
//! its first run, then in the middle of its second) and continued gives the same tables.

use avc::sweep::grid::Grid;
use avc::sweep::plot::SWEEP_SIZE;
use avc::sweep::table::RunStatus;
use avc::sweep::{SweepEnding, SweepEvent, SweepLimits, SweepObserver, SweepOptions, resume_sweep_observed, sweep};
use avc::train::DataSource;
use std::path::Path;

fn arch() -> String {
    crate::small_model(16, "{epochs: 2, batch_size: 8, lr: 0.01}")
}

const KNOBS: [&str; 5] = ["n_train=32", "n_test=8", "steps=24", "video_dim=16", "audio_dim=8"];

fn scratch(name: &str) -> crate::Scratch {
    crate::scratch_dir(&format!("sweep-{name}"))
}

fn options(dir: &Path, name: &str) -> SweepOptions {
    SweepOptions {
        device: tch::Device::Cpu,
        runs_dir: dir.join("runs"),
        name: Some(name.into()),
        arch_path: dir.join("tiny.yaml"),
        verbose: false,
        data_source: DataSource::Synth { seed: 2, knobs: KNOBS.iter().map(|k| k.to_string()).collect() },
        max_batches: Some(1),
        command: "avc sweep tiny.yaml (test)".into(),
        limits: SweepLimits::default(),
    }
}

fn grid() -> Grid {
    Grid::parse(&["train.lr=0.01,0.05".into(), "train.batch_size=8,16".into()], "2").unwrap()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The CSV's rows as maps from column name to cell (no cell of these tables is quoted
/// except the run name, which is the first column).
fn rows(csv: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut lines = csv.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    lines
        .map(|line| {
            let (name, rest) = match line.strip_prefix('"') {
                Some(quoted) => {
                    let end = quoted.find('"').unwrap();
                    (Some(quoted[..end].to_string()), &quoted[end + 2..])
                }
                None => (None, line),
            };
            let mut cells: Vec<String> = name.into_iter().collect();
            cells.extend(rest.split(',').map(String::from));
            assert_eq!(cells.len(), header.len(), "{line}");
            header.iter().cloned().zip(cells).collect()
        })
        .collect()
}

fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{} is not a PNG", path.display());
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

fn check_outputs(dir: &Path) {
    let results = rows(&read(&dir.join("results.csv")));
    assert_eq!(results.len(), 8, "2 x 2 points x 2 seeds");
    assert!(results.iter().all(|r| r["status"] == "done"), "{results:?}");
    let names: Vec<&str> = results.iter().map(|r| r["run"].as_str()).collect();
    assert_eq!(names[0], "lr=0.01,batch_size=8,seed=1");
    assert_eq!(names[7], "lr=0.05,batch_size=16,seed=2");
    for r in &results {
        let run = dir.join(&r["run"]);
        assert!(run.join("best").join("weights.safetensors").is_file(), "{}", run.display());
        let config = read(&run.join("config.yaml"));
        for set in [format!("train.lr={}", r["lr"]), format!("train.seed={}", r["seed"])] {
            assert!(config.contains(&set), "{set} missing from {}:\n{config}", run.display());
        }
    }
    let summary = rows(&read(&dir.join("summary.csv")));
    assert_eq!(summary.len(), 4);
    for s in &summary {
        assert_eq!(s["n"], "2");
        let runs: Vec<_> =
            results.iter().filter(|r| r["lr"] == s["lr"] && r["batch_size"] == s["batch_size"]).collect();
        assert_eq!(runs.len(), 2);
        for (column, key) in [("test_top1", "test_top1"), ("test_top5", "test_top5"), ("val_top1", "val_top1")] {
            let xs: Vec<f64> = runs.iter().map(|r| r[key].parse().unwrap()).collect();
            let mean = (xs[0] + xs[1]) / 2.0;
            let std = ((xs[0] - mean).powi(2) + (xs[1] - mean).powi(2)).sqrt(); // n - 1 = 1
            let got_mean: f64 = s[&format!("{column}_mean")].parse().unwrap();
            let got_std: f64 = s[&format!("{column}_std")].parse().unwrap();
            assert!((got_mean - mean).abs() < 2e-6, "{column} mean {got_mean} vs {mean}");
            assert!((got_std - std).abs() < 2e-6, "{column} std {got_std} vs {std}");
        }
    }
    let md = read(&dir.join("summary.md"));
    assert_eq!(md.lines().filter(|l| l.starts_with("| 0.0")).count(), 4, "{md}");
    assert!(md.contains("![sweep](sweep.png)"), "{md}");
    assert_eq!(png_size(&dir.join("sweep.png")), SWEEP_SIZE);
}

/// Keeps a sweep's events.
struct Recorded(Vec<SweepEvent>);

impl SweepObserver for Recorded {
    fn event(&mut self, event: SweepEvent) {
        self.0.push(event);
    }
}

#[test]
fn a_grid_sweep_tabulates_and_a_stopped_one_continues_to_the_same_tables() {
    let _rng = crate::torch_rng_lock();
    let dir = scratch("grid");
    std::fs::write(dir.join("tiny.yaml"), arch()).unwrap();
    let compiled = crate::compile_ok(&dir.join("tiny.yaml"));

    let whole = sweep(&compiled, &grid(), &options(&dir, "whole")).unwrap();
    assert_eq!((whole.ending, whole.trained), (SweepEnding::Completed, 8));
    check_outputs(&whole.dir);
    assert!(whole.dir.join("sweep.json").is_file());

    // Stopped after its first run...
    let mut opts = options(&dir, "stopped");
    opts.limits.max_runs = Some(1);
    let first = sweep(&compiled, &grid(), &opts).unwrap();
    assert_eq!((first.ending, first.trained), (SweepEnding::Paused, 1));
    let statuses: Vec<&RunStatus> = first.rows.iter().map(|r| &r.status).collect();
    assert_eq!(statuses[..2], [&RunStatus::Done, &RunStatus::Pending]);
    assert_eq!(rows(&read(&first.dir.join("results.csv"))).len(), 8, "partial results list every run");
    // ...continued by the same command, which stops in the middle of the second run...
    opts.limits = SweepLimits { max_runs: None, stop_at: Some((1, (2, 0))) };
    let second = sweep(&compiled, &grid(), &opts).unwrap();
    assert_eq!((second.ending, second.trained), (SweepEnding::Interrupted, 1));
    assert_eq!(second.rows[1].status, RunStatus::Interrupted);
    assert_eq!(second.rows[1].best.as_ref().map(|m| m.epoch), Some(1), "epoch 1 of the stopped run is kept");
    // ...then resumed by directory: the stopped run resumes, the rest start.
    let mut events = Recorded(Vec::new());
    let third =
        resume_sweep_observed(&second.dir, tch::Device::Cpu, false, SweepLimits::default(), &mut events).unwrap();
    assert_eq!((third.ending, third.trained), (SweepEnding::Completed, 7));
    // The caller hears of every run: the first skipped, the second resumed, each finished.
    let events = events.0;
    assert!(matches!(&events[0], SweepEvent::Skipped { index: 0, total: 8, .. }), "{events:?}");
    assert!(matches!(&events[1], SweepEvent::Started { index: 1, resuming: true, .. }), "{events:?}");
    let finished = events.iter().filter(|e| matches!(e, SweepEvent::Finished { .. })).count();
    let started = events.iter().filter(|e| matches!(e, SweepEvent::Started { resuming: false, .. })).count();
    assert_eq!((finished, started), (7, 6), "{events:?}");
    assert_eq!(events[1].to_string(), format!("[2/8] {}: resuming from its last checkpoint", third.rows[1].name));
    check_outputs(&third.dir);
    for table in ["results.csv", "summary.csv"] {
        assert_eq!(read(&third.dir.join(table)), read(&whole.dir.join(table)), "{table} differs");
    }

    // The same name with another grid is refused, not mixed in.
    let other = Grid::parse(&["train.lr=0.01,0.02".into()], "2").unwrap();
    let err = sweep(&compiled, &other, &opts).unwrap_err().to_string();
    assert!(err.contains("differs in the grid") && err.contains("avc sweep --resume"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_values_in_a_grid_are_reported_before_anything_trains() {
    let dir = scratch("bad");
    std::fs::write(dir.join("tiny.yaml"), arch()).unwrap();
    let compiled = crate::compile_ok(&dir.join("tiny.yaml"));
    let grid = Grid::parse(&["train.lr=0.01,-1".into(), "train.optimizer=adam,fast".into()], "3").unwrap();
    let err = sweep(&compiled, &grid, &options(&dir, "bad")).unwrap_err().to_string();
    assert!(err.contains("--set train.lr=-1: `lr` must be a positive number"), "{err}");
    assert!(err.contains("--set train.optimizer=fast"), "{err}");
    assert_eq!(err.lines().count(), 2, "each bad value once:\n{err}");
    assert!(!dir.join("runs").exists(), "nothing was created");
    let _ = std::fs::remove_dir_all(&dir);
}
