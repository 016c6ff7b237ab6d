//! Scoring and training speed, side by side with eager PyTorch in the same run (issue 9):
//!
//! - (a) eval of `final` on 30 x 30 pairs: towers once per clip, the joint part per pair,
//!   against PyTorch scoring every pair through the whole model (tests/python/bench_torch.py);
//! - (b) training `final`: pairs per second of `avc train`'s own loop against PyTorch's;
//! - (c) a two-tower model ranking 10,000 videos against 10,000 audios (top-10 of every row);
//! - (d) with `--full`: the N-way eval of `final` on 1,270 clips (1.6 M pairs), time and peak
//!   memory; without it, the same extrapolated from the first `--rows` video rows;
//! - (p), only when asked for (`--only p`): the joint part's cost per pair against the
//!   number of pairs per batch, first joint layer factored (`Factoring::Auto`) and unfactored;
//! - (m), only when asked for (`--only m`): `final`'s 30 x 30 eval and training pairs per
//!   second in fp32 and in bf16, avc against PyTorch's CPU autocast on the same twin;
//! - (o), only when asked for (`--only o`): `final`'s 30 x 30 scoring in ONNX Runtime from
//!   the graphs `avc export --to onnx` writes (split: towers once per clip, joint.onnx per
//!   pair; whole: every pair through model.onnx), beside avc's, same threads
//!   (tests/python/bench_onnx.py);
//! - (s), only when asked for (`--only s`, `-- --clips 1000,10000`): two-stage retrieval at
//!   scale, `sync_towers` shortlisting 50 candidates per video (`--shortlist-k K`; every
//!   pair scored as a grid)
//!   and `final` (or `--reranker FILE`) re-ranking them (`eval::retrieve::retrieve`, as `avc retrieve --shortlist`),
//!   against `final` scoring every pair (extrapolated from its first `--rows` video rows).
//!
//! Run with `cargo bench --bench eval` (or `make bench`); `-- --threads N` sets the threads
//! of both sides (default: all cores), `-- --only abcd` picks sections, `-- --repeats R`,
//! `-- --budget MIB` the engine's memory budget (default: the CLI's). Features are random
//! uint8 (timings do not depend on the values).

use avc::eval::engine::{Scorer, Silent, Stream, default_budget, tower_macs};
use avc::eval::protocol::Direction;
use avc::lower::{self, Factoring, Model};
use avc_lang::check::Tower;
use avc_lang::compile::{Compiled, compile};
use avc_lang::source::SourceFile;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use tch::Device;

const STEPS: usize = 120;
const VIDEO_DIM: usize = 1024;
const AUDIO_DIM: usize = 128;

struct Options {
    threads: i32,
    repeats: usize,
    only: Vec<char>,
    full: bool,
    /// Video rows of the N-way eval measured when not `--full`.
    rows: u64,
    /// The scoring engine's memory budget in bytes.
    budget: u64,
    /// Catalogue sizes of (s).
    clips: Vec<usize>,
    /// The joint model that re-ranks in (s).
    reranker: String,
    /// (s): how many candidates the first stage keeps per query.
    shortlist_k: usize,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as i32;
    Options {
        threads: value("--threads").and_then(|v| v.parse().ok()).unwrap_or(cores),
        repeats: value("--repeats").and_then(|v| v.parse().ok()).unwrap_or(5),
        only: value("--only")
            .map_or_else(|| vec!['a', 'b', 'c', 'd'], |v| v.chars().filter(|c| c.is_alphabetic()).collect()),
        full: args.iter().any(|a| a == "--full"),
        rows: value("--rows").and_then(|v| v.parse().ok()).unwrap_or(64),
        budget: value("--budget").and_then(|v| v.parse::<u64>().ok()).map_or_else(default_budget, |mib| mib << 20),
        clips: value("--clips")
            .map_or_else(|| vec![1000, 10_000], |v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect()),
        reranker: value("--reranker").unwrap_or_else(|| "architectures/final.avc".into()),
        shortlist_k: value("--shortlist-k").and_then(|v| v.parse().ok()).filter(|k| *k > 0).unwrap_or(50),
    }
}

fn compiled(path: &str) -> Compiled {
    let text = std::fs::read_to_string(path).expect("run from the repository root");
    compile(&SourceFile::new(path, text)).ok().expect("the architecture compiles")
}

fn model(c: &Compiled) -> Model {
    tch::manual_seed(1);
    lower::lower(&c.graph, &c.checked, Device::Cpu).expect("lowers")
}

/// `n` clips of random uint8 features, `[n, STEPS, dim]` row-major (xorshift64).
fn random_clips(n: usize, dim: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut bytes = Vec::with_capacity(n * STEPS * dim + 8);
    while bytes.len() < n * STEPS * dim {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(n * STEPS * dim);
    bytes
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    if xs.is_empty() { f64::NAN } else { xs[xs.len() / 2] }
}

/// `lo-hi` of some values, for the spread of the rounds.
fn spread(xs: &[f64]) -> String {
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{lo:.2}-{hi:.2}")
}

fn time<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed().as_secs_f64())
}

/// The project venv's python (scripts/libtorch.sh installs torch there).
fn python() -> PathBuf {
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    let cache = std::env::var_os("AVC_CACHE").map(PathBuf::from).unwrap_or_else(|| home.join(".cache").join("avc"));
    cache.join("torch-2.13.0").join("bin").join("python")
}

/// Runs tests/python/bench_torch.py; its median seconds and pair count, or why not.
fn pytorch(args: &[String]) -> Result<(f64, f64), String> {
    pytorch_with(args, &[])
}

/// [`pytorch`] with more environment variables.
fn pytorch_with(args: &[String], env: &[(&str, String)]) -> Result<(f64, f64), String> {
    let out = Command::new(python())
        .arg("tests/python/bench_torch.py")
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python().display()))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("failed").to_string());
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    Ok((v["median"].as_f64().unwrap_or(f64::NAN), v["pairs"].as_f64().unwrap_or(f64::NAN)))
}

/// (a) `final` on 30 x 30 pairs. The machine is shared, so avc and PyTorch alternate in
/// rounds (each a median of 3 runs) and the ratio is the median of the rounds' ratios.
fn eval_30(o: &Options) {
    let c = compiled("architectures/final.avc");
    let mut m = model(&c);
    let mut rounds = Vec::new();
    for _ in 0..o.repeats {
        m.set_factoring(Factoring::Never);
        let unfactored = time_eval_30(&m, &c, o.budget);
        m.set_factoring(Factoring::Auto);
        let ours = time_eval_30(&m, &c, o.budget);
        let args = ["eval", "--threads", &o.threads.to_string(), "--repeats", "3", "--chunk", "30"];
        match pytorch(&args.map(String::from)) {
            Ok((theirs, _)) => rounds.push((ours, unfactored, theirs)),
            Err(e) => return println!("(a) PyTorch not measured: {e}"),
        }
    }
    let ours = median(rounds.iter().map(|r| r.0).collect());
    let unfactored = median(rounds.iter().map(|r| r.1).collect());
    let theirs = median(rounds.iter().map(|r| r.2).collect());
    println!("(a) eval of final, 30 x 30 pairs ({} rounds)", rounds.len());
    println!("    avc      {ours:>8.3} s   (first joint layer factored; unfactored {unfactored:.3} s)");
    println!("    pytorch  {theirs:>8.3} s   (every pair through the whole model, a video's 30 pairs per batch)");
    let ratios: Vec<f64> = rounds.iter().map(|r| r.0 / r.2).collect();
    let unfactored_ratio = median(rounds.iter().map(|r| r.1 / r.2).collect());
    println!(
        "    ratio    {:>8.2}x  (rounds {}; goal: at most 0.25x; unfactored {unfactored_ratio:.2}x)",
        median(ratios.clone()),
        spread(&ratios)
    );
}

/// (o) `final`'s 30 x 30 scoring in ONNX Runtime, from the graphs `avc export --to onnx`
/// writes of the same weights, against avc's (as (a)), alternating in rounds.
fn onnx_30(o: &Options) {
    let c = compiled("architectures/final.avc");
    let m = model(&c);
    // A fresh directory of its own, removed when it goes out of scope.
    let scratch = tempfile::Builder::new().prefix("avc-bench-onnx-").tempdir().expect("a temporary directory");
    let dir = scratch.path();
    let written = avc::export::onnx::export_model(&c.graph, &c.checked, &m, &dir.join("model.onnx"), false, &[])
        .and_then(|_| avc::export::onnx::export_model(&c.graph, &c.checked, &m, &dir.join("split"), true, &[]));
    if let Err(e) = written {
        return println!("(o) not measured: the ONNX export failed: {e}");
    }
    let mut rounds = Vec::new();
    for _ in 0..o.repeats {
        let ours = time_eval_30(&m, &c, o.budget);
        let out = Command::new(python())
            .arg("tests/python/bench_onnx.py")
            .arg(dir)
            .args(["--threads", &o.threads.to_string(), "--repeats", "3"])
            .output();
        let v: serde_json::Value = match out {
            Ok(out) if out.status.success() => serde_json::from_slice(&out.stdout).unwrap_or_default(),
            Ok(out) => {
                let why = String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("failed").to_string();
                return println!("(o) ONNX Runtime not measured: {why}");
            }
            Err(e) => return println!("(o) ONNX Runtime not measured: {e}"),
        };
        let seconds = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
        rounds.push((ours, seconds("split"), seconds("whole")));
    }
    let pick = |i: usize| median(rounds.iter().map(|r| [r.0, r.1, r.2][i]).collect());
    println!("(o) final, 30 x 30 pairs: avc against ONNX Runtime on the exported graphs ({} rounds)", rounds.len());
    println!("    avc               {:>8.3} s   (towers once per clip, first joint layer factored)", pick(0));
    println!("    onnxruntime split {:>8.3} s   (video_tower/audio_tower once per clip, joint.onnx per pair)", pick(1));
    println!("    onnxruntime whole {:>8.3} s   (every pair through model.onnx, a video's 30 pairs per call)", pick(2));
}

/// Median seconds of 3 runs of encoding 30 clips per tower and scoring their 900 pairs.
fn time_eval_30(m: &Model, c: &Compiled, budget: u64) -> f64 {
    let (n, vdata, adata) = (30, random_clips(30, VIDEO_DIM, 1), random_clips(30, AUDIO_DIM, 2));
    let (vids, aids) = (ids("v", n), ids("a", n));
    let videos = Stream { ids: &vids, data: &vdata, steps: STEPS, dim: VIDEO_DIM, lengths: &[] };
    let audios = Stream { ids: &aids, data: &adata, steps: STEPS, dim: AUDIO_DIM, lengths: &[] };
    let scorer = Scorer::new(m, budget, STEPS, tower_macs(c, &m.factored_nodes(false))).expect("a scorer");
    let score = || {
        let v = scorer.encode(Tower::Video, &videos, &mut Silent).expect("encodes");
        let a = scorer.encode(Tower::Audio, &audios, &mut Silent).expect("encodes");
        scorer.matrix(&v, &a, &mut Silent).expect("scores")
    };
    score();
    median((0..3).map(|_| time(score).1).collect())
}

/// (b) training `final`: `avc train`'s own loop, profiled, against PyTorch's, alternating
/// in rounds; and the forward + backward step alone with the first joint layer factored and
/// unfactored.
fn train_final(o: &Options) {
    const BATCHES: usize = 10;
    let c = compiled("architectures/final.avc");
    let mut rounds = Vec::new();
    // Every round: the machine's speed drifts by ±10% from minute to minute, and the two
    // sides do not drift alike, so one ratio is worth little and three were too few.
    for _ in 0..o.repeats {
        // Warm, as PyTorch is timed after a warm-up step: a run of one batch more, less its
        // first batch (its one-time costs: creating oneDNN's primitives, the first touch
        // of every buffer; 0.27-0.32 s against 0.155 s for a later batch).
        let warm = time_avc_train(&c, BATCHES + 1);
        let ours = (BATCHES * 2 * 64) as f64 / warm;
        let args = ["train", "--threads", &o.threads.to_string(), "--repeats", "1", "--batches", &BATCHES.to_string()];
        let args = args.map(String::from);
        // PyTorch also with avc's allocator settings: a second reference, beside PyTorch as run.
        match (pytorch(&args), pytorch_with(&args, &avc::device::malloc_environment())) {
            (Ok((t, pairs)), Ok((tuned, _))) => rounds.push((ours, pairs / t, pairs / tuned)),
            (Err(e), _) | (_, Err(e)) => return println!("(b) PyTorch not measured: {e}"),
        }
    }
    let (factored, unfactored) = (time_train_step(&c, Factoring::Always, o), time_train_step(&c, Factoring::Never, o));
    let ours = median(rounds.iter().map(|r| r.0).collect());
    let theirs = median(rounds.iter().map(|r| r.1).collect());
    let tuned = median(rounds.iter().map(|r| r.2).collect());
    let ratios: Vec<f64> = rounds.iter().map(|r| r.0 / r.1).collect();
    let ratio = median(ratios.clone());
    let tuned_ratio = median(rounds.iter().map(|r| r.0 / r.2).collect());
    println!("(b) training final, batches of 64 clips = 128 pairs ({} rounds of {BATCHES} batches)", rounds.len());
    println!(
        "    avc      {ours:>8.0} pairs/s   (avc train's loop after its first batch: data, forward, backward, Adam step)"
    );
    println!("    pytorch  {theirs:>8.0} pairs/s   (every pair through the whole model)");
    println!("    ratio    {ratio:>8.2}x  (rounds {}; goal: at least 2x)", spread(&ratios));
    println!("             against PyTorch given avc's malloc thresholds: {tuned:.0} pairs/s, {tuned_ratio:.2}x");
    let runs = if model(&c).factored_nodes(true).is_empty() { "unfactored" } else { "factored" };
    println!(
        "             forward + backward alone: {:.0} ms factored, {:.0} ms unfactored (training runs {runs})",
        factored * 1e3,
        unfactored * 1e3
    );
}

/// Median seconds of a forward and backward pass on the course's pairs of 64 clips.
fn time_train_step(c: &Compiled, factoring: Factoring, o: &Options) -> f64 {
    let mut m = model(c);
    m.set_factoring(factoring);
    let (b, vdata, adata) = (64, random_clips(64, VIDEO_DIM, 3), random_clips(64, AUDIO_DIM, 4));
    let all: Vec<usize> = (0..b).collect();
    let video = avc::lower::feed::gather(&vdata, STEPS, VIDEO_DIM, &all, Device::Cpu).expect("gathers");
    let audio = avc::lower::feed::gather(&adata, STEPS, AUDIO_DIM, &all, Device::Cpu).expect("gathers");
    let vi = tch::Tensor::arange(2 * b as i64, (tch::Kind::Int64, Device::Cpu)).remainder(b as i64);
    let ai = tch::Tensor::arange(2 * b as i64, (tch::Kind::Int64, Device::Cpu)).flip([0]).remainder(b as i64);
    let batch = avc::lower::PairBatch { video: &video, audio: &audio, video_rows: &vi, audio_rows: &ai, lengths: None };
    let step = || {
        let out = m.forward(&batch, true).expect("runs").remove(0).remove(0);
        out.sum(tch::Kind::Float).backward();
    };
    step();
    median((0..o.repeats).map(|_| time(step).1).collect())
}

/// Seconds of `avc train` over `batches` batches of one epoch less its first batch (its
/// profile: the steps only, not the end-of-epoch evaluation).
fn time_avc_train(c: &Compiled, batches: usize) -> f64 {
    time_avc_train_at(c, batches, "fp32")
}

/// [`time_avc_train`] at `train.precision` `precision`.
fn time_avc_train_at(c: &Compiled, batches: usize, precision: &str) -> f64 {
    use avc::train::{DataSource, TrainOptions};
    // A fresh directory of its own, removed when it goes out of scope.
    let scratch = tempfile::Builder::new().prefix("avc-bench-train-").tempdir().expect("a temporary directory");
    // 90% of the clips train (the rest validate): enough for `batches` full batches.
    let knobs = vec![format!("n_train={}", batches * 64 * 10 / 9 + 16), "n_test=4".to_string()];
    let data = avc::data::synth::generate(&avc::train::synth_config(1, &knobs).expect("valid knobs"));
    let overrides = vec!["train.epochs=1".to_string(), format!("train.precision={precision}")];
    let cfg = avc::train::settle(c, &overrides, tch::Device::Cpu).expect("a valid config");
    let opts = TrainOptions {
        device: Device::Cpu,
        runs_dir: scratch.path().to_path_buf(),
        run_name: Some("bench".into()),
        arch_path: PathBuf::from("architectures/final.avc"),
        verbose: false,
        max_batches: Some(batches),
        stop_at: None,
        data_source: DataSource::Synth { seed: 1, knobs },
        overrides,
        init: None,
        profile: true,
    };
    let data: avc::data::TrainingData = data.into();
    let report = avc::train::train(c, &data, &cfg, &opts).expect("trains");
    let p = report.profile.expect("profiled");
    assert_eq!((p.seconds.batches, cfg.batch_size), (batches, 64), "the batches asked for");
    p.seconds.total() - p.first_batch.total()
}

/// (m) mixed precision: `final`'s 30 x 30 eval and its training pairs per second in fp32
/// and bf16, avc (`Model::set_precision`, `train.precision`) against PyTorch's
/// `torch.autocast("cpu", dtype=torch.bfloat16)` on the same torch.nn twin, alternating in
/// rounds.
fn mixed_precision(o: &Options) {
    const BATCHES: usize = 10;
    let c = compiled("architectures/final.avc");
    let threads = o.threads.to_string();
    println!("(m) final in fp32 and bf16, avc against PyTorch autocast ({} rounds)", o.repeats);
    for precision in ["fp32", "bf16"] {
        let mut m = model(&c);
        m.set_precision(avc::lower::Precision::parse(precision).expect("a precision"));
        let mut rounds = Vec::new();
        for _ in 0..o.repeats {
            let eval_ours = time_eval_30(&m, &c, o.budget);
            let train_ours = (BATCHES * 2 * 64) as f64 / time_avc_train_at(&c, BATCHES + 1, precision);
            let eval_args =
                ["eval", "--threads", &threads, "--repeats", "3", "--chunk", "30", "--precision", precision];
            let train_args = [
                "train",
                "--threads",
                &threads,
                "--repeats",
                "1",
                "--batches",
                &BATCHES.to_string(),
                "--precision",
                precision,
            ];
            match (pytorch(&eval_args.map(String::from)), pytorch(&train_args.map(String::from))) {
                (Ok((eval_theirs, _)), Ok((t, pairs))) => rounds.push((eval_ours, eval_theirs, train_ours, pairs / t)),
                (Err(e), _) | (_, Err(e)) => return println!("(m) PyTorch not measured: {e}"),
            }
        }
        let col = |k: usize| median(rounds.iter().map(|r| [r.0, r.1, r.2, r.3][k]).collect());
        println!(
            "    {precision}: eval 30 x 30 avc {:.3} s, pytorch {:.3} s; training avc {:.0} pairs/s, pytorch {:.0} pairs/s",
            col(0),
            col(1),
            col(2),
            col(3)
        );
    }
}

/// (c) a two-tower model ranking 10,000 videos against 10,000 audios: both towers once per
/// clip, then the cosine matrix a block of rows at a time, each row's top 10 kept.
fn rank_two_tower(o: &Options) {
    let _guard = tch::no_grad_guard();
    const N: usize = 10_000;
    let c = compiled("architectures/synthetic-only/two_tower.avc");
    let m = model(&c);
    let (vdata, adata) = (random_clips(N, VIDEO_DIM, 5), random_clips(N, AUDIO_DIM, 6));
    let (vids, aids) = (ids("v", N), ids("a", N));
    let videos = Stream { ids: &vids, data: &vdata, steps: STEPS, dim: VIDEO_DIM, lengths: &[] };
    let audios = Stream { ids: &aids, data: &adata, steps: STEPS, dim: AUDIO_DIM, lengths: &[] };
    let scorer = Scorer::new(&m, o.budget, STEPS, tower_macs(&c, &m.factored_nodes(false))).expect("a scorer");
    let mut runs = Vec::new();
    for _ in 0..o.repeats.min(3) {
        let (v, ev) = time(|| scorer.encode(Tower::Video, &videos, &mut Silent).expect("encodes"));
        let (a, ea) = time(|| scorer.encode(Tower::Audio, &audios, &mut Silent).expect("encodes"));
        let ((), rank) = time(|| {
            let mut best = Vec::with_capacity(N * 10);
            let mut sink = |_: u64, block: &tch::Tensor| {
                let (_, idx) = block.f_topk(10, 1, true, true)?;
                best.extend(Vec::<i64>::try_from(idx.f_flatten(0, -1)?)?);
                Ok(())
            };
            scorer.for_blocks(&v, &a, Direction::VideoToAudio, 0..N as u64, &mut Silent, &mut sink).expect("ranks");
            assert_eq!(best.len(), N * 10);
        });
        let (direct, blocked) = time(|| top10_blocked(&m, &v, &a));
        assert_eq!(direct.len(), N * 10);
        runs.push((ev + ea + rank, ev, ea, rank, blocked));
    }
    runs.sort_by(|x, y| x.0.total_cmp(&y.0));
    let (total, ev, ea, rank, blocked) = runs[runs.len() / 2];
    println!("(c) two_tower ranks {N} videos against {N} audios (top 10 of each row)");
    println!(
        "    avc      {total:>8.2} s   (goal: under 10 s): video tower {ev:.2} s, audio tower {ea:.2} s, Scorer::for_blocks + top-k {rank:.2} s"
    );
    println!("             towers + 1024-row blocks of the cosine matrix + top-k: {:.2} s", ev + ea + blocked);
}

/// The top 10 audios of every video from the models' embeddings, 1024 rows of the cosine
/// matrix at a time (what `Scorer::for_blocks` does, with blocks of a fixed height).
fn top10_blocked(m: &Model, v: &avc::lower::Encoded, a: &avc::lower::Encoded) -> Vec<i64> {
    let unit = |e: tch::Tensor| &e / e.norm_scalaropt_dim(2, [1], true).clamp_min(1e-8);
    let (v, a) = (unit(m.embedding(v).expect("embeddings")), unit(m.embedding(a).expect("embeddings")));
    let at = a.transpose(0, 1);
    let n = v.size()[0];
    let mut best = Vec::with_capacity(n as usize * 10);
    for start in (0..n).step_by(1024) {
        let block = v.narrow(0, start, (n - start).min(1024)).matmul(&at);
        let (_, idx) = block.topk(10, 1, true, true);
        best.extend(Vec::<i64>::try_from(idx.flatten(0, -1)).expect("indices"));
    }
    best
}

/// (d) the N-way eval of `final` on 1,270 clips: every video against every audio. Without
/// `--full`, the first `--rows` video rows against all audios, extrapolated.
fn full_eval(o: &Options) {
    const N: usize = 1270;
    let c = compiled("architectures/final.avc");
    let m = model(&c);
    let (vdata, adata) = (random_clips(N, VIDEO_DIM, 7), random_clips(N, AUDIO_DIM, 8));
    let (vids, aids) = (ids("v", N), ids("a", N));
    let videos = Stream { ids: &vids, data: &vdata, steps: STEPS, dim: VIDEO_DIM, lengths: &[] };
    let audios = Stream { ids: &aids, data: &adata, steps: STEPS, dim: AUDIO_DIM, lengths: &[] };
    let budget = o.budget;
    let scorer = Scorer::new(&m, budget, STEPS, tower_macs(&c, &m.factored_nodes(false))).expect("a scorer");
    let rows = if o.full { N as u64 } else { o.rows.min(N as u64) };
    let _ = std::fs::write("/proc/self/clear_refs", "5"); // resets the peak resident size
    let before = peak_rss_mib();
    let (v, encode_v) = time(|| scorer.encode(Tower::Video, &videos, &mut Silent).expect("encodes"));
    let (a, encode_a) = time(|| scorer.encode(Tower::Audio, &audios, &mut Silent).expect("encodes"));
    let (scores, pairs_time) = time(|| {
        let mut scores = Vec::with_capacity(rows as usize * N);
        let mut sink = |_: u64, block: &tch::Tensor| {
            scores.extend(Vec::<f32>::try_from(block.f_flatten(0, -1)?)?);
            Ok(())
        };
        scorer.for_blocks(&v, &a, Direction::VideoToAudio, 0..rows, &mut Silent, &mut sink).expect("scores");
        scores
    });
    assert_eq!(scores.len(), rows as usize * N);
    let pairs = rows * N as u64;
    let per_pair = pairs_time / pairs as f64;
    let total = encode_v + encode_a + per_pair * (N * N) as f64;
    println!("(d) N-way eval of final on {N} clips ({} pairs), memory budget {} MiB", N * N, budget >> 20);
    println!("    towers   {:>8.1} s   (video {encode_v:.1} s, audio {encode_a:.1} s)", encode_v + encode_a);
    println!("    pairs    {:>8.1} s   for {pairs} pairs ({:.0} pairs/s)", pairs_time, 1.0 / per_pair);
    let how = if o.full { "measured" } else { "extrapolated from the rows measured" };
    println!("    total    {:>8.1} s   ({how})", total);
    println!(
        "    peak RSS {:>8} MiB (the whole process, clips included; {before} MiB before encoding)",
        peak_rss_mib()
    );
}

/// (s) two-stage retrieval at scale: `sync_towers` shortlists `--shortlist-k` (50) audios per
/// video, `final` (or `--reranker`) re-ranks them and keeps 10; against `final` scoring every pair, extrapolated from its
/// first `--rows` video rows. Random features: times only (recall is measured on the speech
/// set, docs/speech-set.md).
fn two_stage(o: &Options) {
    use avc::eval::retrieve::{Shortlist, retrieve};
    let k = o.shortlist_k;
    let (fc, sc) = (compiled(&o.reranker), compiled("architectures/sync_towers.avc"));
    let name = std::path::Path::new(&o.reranker).file_stem().map_or("?".into(), |s| s.to_string_lossy().into_owned());
    let (fm, sm) = (model(&fc), model(&sc));
    let reranker = Scorer::new(&fm, o.budget, STEPS, tower_macs(&fc, &fm.factored_nodes(false))).expect("a scorer");
    let sync_scorer = Scorer::new(&sm, o.budget, STEPS, tower_macs(&sc, &sm.factored_nodes(false))).expect("a scorer");
    for &n in &o.clips {
        let (vdata, adata) = (random_clips(n, VIDEO_DIM, 11), random_clips(n, AUDIO_DIM, 12));
        let (vids, aids) = (ids("v", n), ids("a", n));
        let videos = Stream { ids: &vids, data: &vdata, steps: STEPS, dim: VIDEO_DIM, lengths: &[] };
        let audios = Stream { ids: &aids, data: &adata, steps: STEPS, dim: AUDIO_DIM, lengths: &[] };
        let shortlist = Shortlist::new(&sync_scorer, k, Direction::VideoToAudio, (n, n)).expect("a shortlist");
        let (ranked, total) = time(|| {
            retrieve(&reranker, &videos, &audios, Direction::VideoToAudio, 10.min(k), Some(&shortlist), &mut Silent)
                .expect("retrieves")
        });
        assert_eq!(ranked.ranked.len(), n);
        // The shortlist stage alone: sync_towers' towers and its grid's top-k.
        let (_, first) = time(|| {
            retrieve(&sync_scorer, &videos, &audios, Direction::VideoToAudio, k, None, &mut Silent).expect("ranks")
        });
        // final on every pair: its towers, then the first rows' pairs, extrapolated.
        let (v, encode_v) = time(|| reranker.encode(Tower::Video, &videos, &mut Silent).expect("encodes"));
        let (a, encode_a) = time(|| reranker.encode(Tower::Audio, &audios, &mut Silent).expect("encodes"));
        let rows = o.rows.min(n as u64);
        let ((), pairs_time) = time(|| {
            let mut sink = |_: u64, _: &tch::Tensor| Ok(());
            reranker.for_blocks(&v, &a, Direction::VideoToAudio, 0..rows, &mut Silent, &mut sink).expect("scores");
        });
        let every_pair = encode_v + encode_a + pairs_time / (rows as f64 * n as f64) * (n * n) as f64;
        println!("(s) {n} videos x {n} audios, top 10 per video");
        println!(
            "    two-stage {total:>8.1} s   (goal at 10,000: under 60 s): sync_towers shortlist of {k} {first:.1} s, \
             then {name}'s towers and {} pairs",
            n * k
        );
        println!(
            "    {name} on every pair {every_pair:>8.1} s   (towers {:.1} s; {} pairs extrapolated from {rows} rows)",
            encode_v + encode_a,
            n * n
        );
    }
}

/// The process's peak resident set size (VmHWM), in MiB.
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap_or("");
    line.split_whitespace().nth(1).and_then(|k| k.parse::<u64>().ok()).map_or(0, |kib| kib / 1024)
}

/// (p) the joint part of `final` (`Model::score_pairs`) on batches of 16 to 1,024 pairs of
/// 32 encoded clips: microseconds per pair, unfactored, factored and `Factoring::Auto` (the default:
/// factored from the layer's `min_pairs` on) alternating.
fn sweep_pairs(o: &Options) {
    let _guard = tch::no_grad_guard();
    let c = compiled("architectures/final.avc");
    let mut m = model(&c);
    let all: Vec<usize> = (0..32).collect();
    let clips = |dim, seed| avc::lower::feed::gather(&random_clips(32, dim, seed), STEPS, dim, &all, Device::Cpu);
    let (video, audio) = (clips(VIDEO_DIM, 1).expect("clips"), clips(AUDIO_DIM, 2).expect("clips"));
    println!("(p) the joint part of final, microseconds per pair by pairs per batch");
    for p in [16i64, 32, 64, 128, 256, 512, 1024] {
        let rows = tch::Tensor::arange(p, (tch::Kind::Int64, Device::Cpu));
        let (vi, ai) = (rows.remainder(32), rows.floor_divide_scalar(32).remainder(32));
        let mut us = [Vec::new(), Vec::new(), Vec::new()];
        for _ in 0..o.repeats {
            for (k, factoring) in [Factoring::Never, Factoring::Always, Factoring::Auto].into_iter().enumerate() {
                m.set_factoring(factoring);
                let v = m.encode(Tower::Video, &video, false).expect("encodes");
                let a = m.encode(Tower::Audio, &audio, false).expect("encodes");
                let batches = (2048 / p).max(1);
                let ((), t) = time(|| {
                    for _ in 0..batches {
                        m.score_pairs(&v, &a, &vi, &ai, false).expect("scores");
                    }
                });
                us[k].push(t / (batches * p) as f64 * 1e6);
            }
        }
        let [unfactored, factored, auto] = us.map(median);
        println!(
            "    {p:>5} pairs: unfactored {unfactored:>5.0} us, factored {factored:>5.0} us, default (Auto) {auto:>5.0} us"
        );
    }
}

fn main() {
    let o = options();
    // What the CLI does at start (src/main.rs), so avc is measured as `avc train` runs.
    avc::device::keep_freed_tensor_memory();
    tch::set_num_threads(o.threads);
    if !std::env::args().any(|a| a == "--quiet") {
        let load = Path::new("/proc/loadavg").exists().then(loadavg).unwrap_or_default();
        println!("avc vs PyTorch, {} intra-op thread(s) each; {load}", o.threads);
    }
    if o.only.contains(&'a') {
        eval_30(&o);
    }
    if o.only.contains(&'b') {
        train_final(&o);
    }
    if o.only.contains(&'p') {
        sweep_pairs(&o);
    }
    if o.only.contains(&'c') {
        rank_two_tower(&o);
    }
    if o.only.contains(&'m') {
        mixed_precision(&o);
    }
    if o.only.contains(&'o') {
        onnx_30(&o);
    }
    if o.only.contains(&'s') {
        two_stage(&o);
    }
    if o.only.contains(&'d') {
        if o.only.len() == 1 {
            full_eval(&o);
        } else {
            // A process of its own, so that its peak memory is (d)'s alone.
            let mut args: Vec<String> = std::env::args().skip(1).collect();
            if let Some(i) = args.iter().position(|a| a == "--only") {
                args.drain(i..(i + 2).min(args.len()));
            }
            let me = std::env::current_exe().expect("the bench's own path");
            let status = Command::new(me).args(args).args(["--only", "d", "--quiet"]).status();
            if !status.as_ref().is_ok_and(|s| s.success()) {
                println!("(d) failed: {status:?}");
            }
        }
    }
}

fn loadavg() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!("load average {}", text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}
