//! Data-parallel training and evaluation on this machine's cores (issue 26,
//! docs/distributed.md), each side by side with its reference in the same run:
//!
//! - (t) training `final` (architectures/final.yaml, batch 64, the embedded synthetic set):
//!   `avc train --nproc N` with one thread per rank against one process with N threads, and
//!   PyTorch the same two ways (tests/python/bench_ddp.py: DistributedDataParallel on Gloo,
//!   one rank of N threads, N ranks of one thread). With `-- --device cuda` (a machine of N
//!   GPUs; never run here): one GPU against N, each rank on its own, NCCL on both sides.
//!   avc's pace is read from its `--profile` (steady steps: the first batch left out), which
//!   also gives the all-reduce's time and bytes per step; PyTorch times its steps after a
//!   warm-up step. Rounds alternate the four; each figure is the median of the rounds.
//! - (e) the N-way evaluation of a `final` run (`avc eval`, every one of `--clips` x `--clips`
//!   pairs) on one process with N threads against `--nproc N` with one thread each, and
//!   whether their metrics.json are the same bytes.
//!
//! Run with `cargo bench --bench dist`; `-- --only t` or `-- --only e` picks a section,
//! `-- --nproc N` the processes (default: the cores, or the GPUs' count with `--device
//! cuda`), `-- --batches B` the steps timed
//! (default 10), `-- --rounds R` (default 2), `-- --clips C` the evaluation's clips (default
//! 300; the course's test set is 1,270, about 7 minutes a side on 2 cores).

use avc::train::profile::ProfileSummary;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

struct Options {
    nproc: usize,
    batches: usize,
    rounds: usize,
    clips: usize,
    only: String,
    /// `cpu` or `cuda`.
    device: String,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let number = |flag: &str, default: usize| value(flag).map_or(default, |v| v.parse().expect(flag));
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let device = value("--device").unwrap_or_else(|| "cpu".into());
    let gpus = if device == "cuda" { tch::Cuda::device_count().max(1) as usize } else { cores };
    Options {
        nproc: number("--nproc", gpus),
        device,
        batches: number("--batches", 10),
        rounds: number("--rounds", 2),
        clips: number("--clips", 300),
        only: value("--only").unwrap_or_else(|| "te".into()),
    }
}

const BATCH: usize = 64;

/// The project venv's python (scripts/libtorch.sh installs torch there).
fn python() -> PathBuf {
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    let cache = std::env::var_os("AVC_CACHE").map(PathBuf::from).unwrap_or_else(|| home.join(".cache").join("avc"));
    cache.join("torch-2.13.0").join("bin").join("python")
}

fn avc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_avc"))
}

/// Runs `cmd` with `threads` intra-op threads per process; fails the bench with its output.
fn run(mut cmd: Command, threads: usize) -> String {
    let out = cmd.env("OMP_NUM_THREADS", threads.to_string()).output().expect("starting a process");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{cmd:?} failed:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    text
}

/// One timed training run of avc: pairs per second over its steady steps, and the
/// all-reduce's milliseconds and megabytes per step (zero alone).
fn avc_train(dir: &Path, name: &str, o: &Options, nproc: usize) -> (f64, f64, f64) {
    let mut cmd = avc();
    cmd.args(["train", "architectures/final.yaml", "--device", &o.device, "-q", "--profile"]);
    cmd.arg("--runs").arg(dir).args(["--name", name, "--set", "train.epochs=1", "--synth", "n_test=30"]);
    cmd.args(["--max-batches", &(o.batches + 1).to_string()]);
    if nproc > 1 {
        cmd.args(["--nproc", &nproc.to_string()]);
    }
    run(cmd, o.nproc / nproc);
    let p: ProfileSummary =
        serde_json::from_str(&std::fs::read_to_string(dir.join(name).join("profile.json")).unwrap())
            .expect("profile.json");
    let steady = p.seconds.batches - p.first_batch.batches;
    let seconds = p.seconds.total() - p.first_batch.total();
    let reduce = p.seconds.all_reduce - p.first_batch.all_reduce;
    let pairs = (2 * BATCH * steady) as f64;
    (pairs / seconds, 1000.0 * reduce / steady as f64, p.all_reduce_bytes as f64 / 1e6)
}

/// PyTorch's pairs per second, DDP on `nproc` ranks (one of them: alone).
fn torch_train(o: &Options, nproc: usize) -> f64 {
    let mut cmd = Command::new(python());
    let threads = (o.nproc / nproc).to_string();
    cmd.args(["tests/python/bench_ddp.py", "--nproc", &nproc.to_string(), "--threads", &threads]);
    cmd.args(["--batches", &o.batches.to_string(), "--batch", &BATCH.to_string(), "--device", &o.device]);
    let text = run(cmd, o.nproc / nproc);
    let line = text.lines().rev().find(|l| l.starts_with('{')).expect("a JSON line");
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    v["pairs"].as_f64().unwrap() / v["median"].as_f64().unwrap()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 { xs[n / 2] } else { (xs[n / 2 - 1] + xs[n / 2]) / 2.0 }
}

/// How the two sides are laid out: `1 x N threads` and `N x 1` on CPUs, one GPU against N.
fn layouts(o: &Options) -> (String, String) {
    let n = o.nproc;
    if o.device == "cuda" {
        ("1 process, 1 GPU".into(), format!("{n} processes, 1 GPU each"))
    } else {
        (format!("1 process x {n} threads"), format!("{n} processes x 1 thread"))
    }
}

fn training(dir: &Path, o: &Options) {
    let n = o.nproc;
    let (alone, ranked) = layouts(o);
    println!("(t) training final, batch {BATCH}, {} steady steps, {} rounds, {n} cores", o.batches, o.rounds);
    let (mut one, mut ranks, mut torch_one, mut ddp, mut reduce) = (vec![], vec![], vec![], vec![], vec![]);
    let mut mb = 0.0;
    for r in 0..o.rounds {
        one.push(avc_train(dir, &format!("one-{r}"), o, 1).0);
        let (pace, ms, megabytes) = avc_train(dir, &format!("ranks-{r}"), o, n);
        ranks.push(pace);
        reduce.push(ms);
        mb = megabytes;
        torch_one.push(torch_train(o, 1));
        ddp.push(torch_train(o, n));
        println!(
            "  round {r}: avc {:.0} / {:.0} pairs/s, PyTorch {:.0} / {:.0} ({alone} / {ranked})",
            one[r], ranks[r], torch_one[r], ddp[r]
        );
    }
    let (one, ranks, torch_one, ddp) = (median(one), median(ranks), median(torch_one), median(ddp));
    println!("  {alone:<26} avc {one:7.0} pairs/s   PyTorch DDP {torch_one:7.0} pairs/s");
    println!("  {ranked:<26} avc {ranks:7.0} pairs/s   PyTorch DDP {ddp:7.0} pairs/s");
    println!("  {n} ranks against one process: avc {:.2}x, PyTorch {:.2}x", ranks / one, ddp / torch_one);
    println!("  avc against PyTorch: {:.2}x alone, {:.2}x on {n} ranks", one / torch_one, ranks / ddp);
    println!("  avc's all-reduce: {mb:.2} MB per step on each rank, {:.1} ms per step", median(reduce));
}

fn evaluation(dir: &Path, o: &Options) {
    let n = o.nproc;
    let (alone, ranked) = layouts(o);
    println!("(e) avc eval of final on {0} x {0} pairs, {alone} against {ranked}", o.clips);
    let mut cmd = avc();
    cmd.args(["train", "architectures/final.yaml", "--device", &o.device, "-q", "--max-batches", "2"]);
    cmd.arg("--runs").arg(dir).args(["--name", "eval-run", "--set", "train.epochs=1"]);
    cmd.args(["--synth", &format!("n_test={}", o.clips)]);
    run(cmd, n);
    let eval = |out: &str, nproc: usize| {
        let mut cmd = avc();
        cmd.arg("eval").arg(dir.join("eval-run")).args(["--device", &o.device, "-q", "-o"]).arg(dir.join(out));
        if nproc > 1 {
            cmd.args(["--nproc", &nproc.to_string()]);
        }
        let start = Instant::now();
        run(cmd, n / nproc);
        start.elapsed().as_secs_f64()
    };
    let one = eval("eval-one", 1);
    let ranks = eval("eval-ranks", n);
    let read = |out: &str| std::fs::read(dir.join(out).join("metrics.json")).unwrap();
    let same = read("eval-one") == read("eval-ranks");
    println!(
        "  1 process: {one:.1} s; {n} processes: {ranks:.1} s ({:.2}x); metrics.json identical: {same}",
        one / ranks
    );
}

fn main() {
    let o = options();
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("avc-bench-dist-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    if o.only.contains('t') {
        training(&dir, &o);
    }
    if o.only.contains('e') {
        evaluation(&dir, &o);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
