//! `avc eval` and `avc retrieve`: argument handling, the cost line, the progress bar and the
//! result lines. The work is in `avc::eval`.

use avc::eval::EvalError;
use avc::eval::apply::{self, LoadedRun};
use avc::eval::engine::{self, Cost, Observer, Stage};
use avc::eval::evaldir::{self, Provenance};
use avc::eval::metrics::Bootstrap;
use avc::eval::protocol::Direction;
use avc::eval::retrieve::{self, Shortlist};
use avc::eval::summary::{self, counted};
use avc::interrupt;
use avc::outputs;
use avc::report::{report, usage};
use avc::train::DataSource;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Options both commands share.
#[derive(clap::Args)]
pub struct ApplyArgs {
    /// Which checkpoint: best (by validation) or last.
    #[arg(long, default_value = "best", value_parser = ["best", "last"])]
    checkpoint: String,
    /// The data: a course-layout directory, yt8m:PATH_OR_GLOB, a data file (.yaml), or
    /// `synth` / `synth:SEED` for the embedded set (docs/data.md). Default: the data the run
    /// trained on.
    #[arg(long, value_name = "SOURCE")]
    data: Option<String>,
    #[command(flatten)]
    lists: super::data::ListArgs,
    /// A knob of the embedded synthetic set (`--synth n_test=300`; `avc data synth --help`
    /// lists them); implies `--data synth` unless --data names another seed.
    #[arg(long = "synth", value_name = "KEY=VALUE")]
    synth: Vec<String>,
    /// auto (the GPU when there is one), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: String,
    /// The forward pass's format: fp32, bf16 (autocast; CPU or CUDA) or fp16 (autocast;
    /// CUDA only). Weights stay fp32; scores are returned as fp32 (docs/precision.md).
    #[arg(long, default_value = "fp32", value_parser = ["fp32", "bf16", "fp16"])]
    precision: String,
    /// Memory the scoring may use at once, e.g. 512M or 4G (default: a quarter of the memory
    /// available, at most 2 GiB).
    #[arg(long, value_name = "SIZE")]
    max_memory: Option<String>,
    /// No progress bar or cost line.
    #[arg(long, short)]
    quiet: bool,
    /// Replace an existing output directory that is not avc's own output of the same kind
    /// (never an input: docs/safety.md).
    #[arg(long)]
    force: bool,
}

#[derive(clap::Args)]
pub struct EvalArgs {
    /// The run directory.
    run: PathBuf,
    #[command(flatten)]
    apply: ApplyArgs,
    /// The evaluation directory (default: RUN/eval-<checkpoint>[-<data>]).
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Bootstrap resamples for the 95% intervals.
    #[arg(long, default_value_t = 1000, value_parser = resample_count)]
    resamples: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    dist: super::dist::DistArgs,
}

#[derive(clap::Args)]
pub struct RetrieveArgs {
    /// The run directory.
    run: PathBuf,
    /// File of video ids, one per line (`-`: standard input).
    #[arg(long, value_name = "LIST")]
    videos: PathBuf,
    /// File of audio ids, one per line (`-`: standard input).
    #[arg(long, value_name = "LIST")]
    audios: PathBuf,
    #[command(flatten)]
    apply: ApplyArgs,
    /// Candidates kept per query.
    #[arg(long, default_value_t = 5)]
    top: usize,
    /// v2a: each video asks for its audio (the course's task); a2v: the other way.
    #[arg(long, default_value = "v2a", value_parser = ["v2a", "a2v"])]
    direction: String,
    /// Output directory for ranking.csv and ranking.jsonl (default: RUN/retrieve-<direction>).
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// An embeddings (two-tower) run that shortlists candidates for this run to re-rank.
    #[arg(long, value_name = "RUN2")]
    shortlist: Option<PathBuf>,
    /// Candidates the shortlist keeps per query.
    #[arg(long, default_value_t = 50)]
    shortlist_k: usize,
    /// Also write every clip's embedding (npy) and id list here (embeddings models only).
    #[arg(long, value_name = "DIR")]
    embeddings_out: Option<PathBuf>,
}

/// Prints an error and gives its exit code.
fn fail(e: EvalError) -> u8 {
    report(&e)
}

struct Prepared {
    loaded: LoadedRun,
    budget: u64,
    source: Option<DataSource>,
}

impl Prepared {
    /// What the command reads: the run, its checkpoint and the data (the run's own when no
    /// --data is given), which no output may replace.
    fn inputs(&self, run: &Path, args: &ApplyArgs) -> Vec<outputs::Input> {
        let source = self.source.as_ref().unwrap_or(&self.loaded.opened.data_source);
        let mut inputs = outputs::of_run(run, &args.checkpoint);
        inputs.extend(outputs::of_source(args.data.as_deref(), source));
        inputs
    }
}

/// Claims an output directory, printing why not.
fn claim_dir(flag: &str, dir: &Path, kind: outputs::DirKind, inputs: &[outputs::Input], force: bool) -> Result<(), u8> {
    outputs::claim(flag, dir, outputs::Kind::Dir(kind), inputs, force).map(drop).map_err(|e| report(&e))
}

fn prepare(run: &Path, args: &ApplyArgs) -> Result<Prepared, u8> {
    let device = avc::device::choose(&args.device).map_err(|e| report(&e))?;
    // One rank of a job on GPUs takes the GPU of its LOCAL_RANK, as in training.
    let device = match (device, super::dist::local_rank()) {
        (tch::Device::Cuda(_), Some(local)) => tch::Device::Cuda(local),
        (device, _) => device,
    };
    let budget = match &args.max_memory {
        Some(text) => engine::parse_size(text).map_err(|e| usage(format!("--max-memory {e}")))?,
        None => engine::default_budget(),
    };
    let source = super::data::source(args.data.as_deref(), &args.lists, &args.synth, None).map_err(usage)?;
    if !run.is_dir() {
        return Err(usage(format!("{}: expected a run directory (made by avc train)", run.display())));
    }
    let precision = avc::lower::Precision::parse(&args.precision).unwrap_or_default();
    avc::lower::precision::check(precision, device)
        .map_err(|e| usage(format!("--precision {}: {e}", args.precision)))?;
    let mut loaded = apply::load_run(run, &args.checkpoint, device).map_err(fail)?;
    loaded.model.set_precision(precision);
    Ok(Prepared { loaded, budget, source })
}

/// What the first Ctrl-C does to a scoring job.
const ON_CTRL_C: &str = "stopping the scoring; nothing will be written";

/// `avc eval`: alone, or one rank of a job (`--nproc`, torchrun, srun) that divides the
/// query rows between the ranks; rank 0 writes.
pub fn eval_cmd(args: EvalArgs) -> Result<(), u8> {
    if let Some(n) = args.dist.nproc.filter(|&n| n > 1) {
        return super::dist::launch_local(n);
    }
    super::dist::name_rank();
    // The scores cross between the ranks on the host: Gloo, whatever the device.
    super::dist::join_job(tch::Device::Cpu, args.dist.dist_timeout)?;
    let result = eval_rank(args);
    if let Err(code) = result {
        avc::dist::announce_failure(&format!("it stopped with exit status {code}"), false);
    }
    result
}

fn eval_rank(args: EvalArgs) -> Result<(), u8> {
    let leader = avc::dist::is_leader();
    let p = prepare(&args.run, &args.apply)?;
    let dir = args.out.clone().unwrap_or_else(|| default_eval_dir(&args.run, &args.apply));
    let flag = if args.out.is_some() { "--out" } else { "the default output" };
    if leader {
        claim_dir(flag, &dir, outputs::EVALUATION, &p.inputs(&args.run, &args.apply), args.apply.force)?;
    }
    let (clips, origin) = p.loaded.test_clips(p.source.as_ref()).map_err(fail)?;
    let scorer = p.loaded.scorer(p.budget, clips.video_steps.max(clips.audio_steps)).map_err(fail)?;
    let cost = apply::plan(&scorer, &clips);
    let mut watch = Watch::new(args.apply.quiet || !leader);
    watch.announce(&cost);
    if let Some(g) = avc::dist::group().filter(|_| leader && !args.apply.quiet) {
        let per_block = usize::try_from(scorer.rows_per_block(cost.audios)).unwrap_or(usize::MAX);
        let rows: Vec<String> =
            (0..g.world).map(|r| apply::share(clips.len(), per_block, r, g.world).len().to_string()).collect();
        eprintln!("the video rows divided between {} ranks: {}", g.world, rows.join(" + "));
    }
    interrupt::install_saying(ON_CTRL_C);
    let boot = Bootstrap { resamples: args.resamples, seed: args.seed, ..Bootstrap::default() };
    let started = std::time::Instant::now();
    let eval = apply::evaluate_shared(&scorer, &clips, &boot, avc::dist::group(), &mut watch).map_err(fail)?;
    watch.finish();
    // Only rank 0 holds the whole matrix, and writes.
    let Some(eval) = eval else { return Ok(()) };
    let scored = started.elapsed();
    let provenance = Provenance {
        run: args.run.file_name().map_or_else(|| args.run.display().to_string(), |n| n.to_string_lossy().into()),
        checkpoint: p.loaded.checkpoint.clone(),
        epoch: p.loaded.epoch,
        data: origin,
    };
    let nonfinite = eval.scores.iter().filter(|s| !s.is_finite()).count();
    if nonfinite > 0 {
        eprintln!(
            "warning: {nonfinite} of {} scores are NaN or infinite; a NaN true score ranks last, a NaN rival above \
             the truth (docs/eval.md)",
            eval.scores.len()
        );
    }
    let dir = evaldir::write(&eval, &provenance, &boot, &dir).map_err(fail)?;
    print!("{}", summary::render(&eval));
    println!("{}", summary::closing(eval.n, &provenance, scored, &dir));
    Ok(())
}

/// `--resamples`: at least one, or the intervals would have nothing to be read from; at
/// most a million, or the resamples would not fit in memory.
pub(crate) fn resample_count(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1: the 95% intervals are read from the resamples (default 1000)".into()),
        // Every resample's six metrics are kept to sort: 10^6 are 48 MB a protocol.
        Ok(n) if n > 1_000_000 => {
            Err("must be at most 1,000,000 (10,000 already give intervals stable to a fraction of a point)".into())
        }
        Ok(n) => Ok(n),
        Err(e) => Err(format!("expected a whole number: {e}")),
    }
}

fn default_eval_dir(run: &Path, args: &ApplyArgs) -> PathBuf {
    let named = args.data.clone().or_else(|| (!args.synth.is_empty()).then(|| "synth".to_string()));
    let data = named.as_deref().map(|d| format!("-{}", evaldir::data_name(d)));
    run.join(format!("eval-{}{}", args.checkpoint, data.unwrap_or_default()))
}

/// `avc retrieve`.
pub fn retrieve_cmd(args: RetrieveArgs) -> Result<(), u8> {
    if args.videos.as_os_str() == "-" && args.audios.as_os_str() == "-" {
        return Err(usage("only one of --videos and --audios can be read from standard input (-)"));
    }
    let p = prepare(&args.run, &args.apply)?;
    let direction = Direction::parse(&args.direction).unwrap_or(Direction::VideoToAudio);
    let dir = args.out.clone().unwrap_or_else(|| args.run.join(format!("retrieve-{}", direction.name())));
    let mut inputs = p.inputs(&args.run, &args.apply);
    let lists = [&args.videos, &args.audios].into_iter().filter(|l| l.as_os_str() != "-");
    inputs.extend(lists.cloned().map(outputs::Input::Path));
    inputs.extend(args.shortlist.iter().flat_map(|run| outputs::of_run(run, "best")));
    let flag = if args.out.is_some() { "--out" } else { "the default output" };
    claim_dir(flag, &dir, outputs::RANKING, &inputs, args.apply.force)?;
    if let Some(embeddings) = &args.embeddings_out {
        let (a, b) = (avc_lang::output::resolve(&dir), avc_lang::output::resolve(embeddings));
        if a.starts_with(&b) || b.starts_with(&a) {
            return Err(usage(format!(
                "--embeddings-out {}: the ranking goes to {}, and each is written whole; give two separate directories",
                embeddings.display(),
                dir.display()
            )));
        }
        claim_dir("--embeddings-out", embeddings, outputs::EMBEDDINGS, &inputs, args.apply.force)?;
    }
    let source = p.source.clone().unwrap_or_else(|| p.loaded.opened.data_source.clone());
    let compiled = &p.loaded.opened.compiled;
    let (videos, audios) = retrieve::load_lists(&source, compiled, &args.videos, &args.audios).map_err(fail)?;
    let scorer = p.loaded.scorer(p.budget, videos.steps.max(audios.steps)).map_err(fail)?;
    let short_loaded = match &args.shortlist {
        Some(run) => {
            let mut short = apply::load_run(run, "best", p.loaded.model.device()).map_err(fail)?;
            short.model.set_precision(p.loaded.model.precision());
            Some(short)
        }
        None => None,
    };
    let short_scorer = match &short_loaded {
        Some(l) => Some(l.scorer(p.budget, videos.steps.max(audios.steps)).map_err(fail)?),
        None => None,
    };
    let shortlist = match &short_scorer {
        Some(scorer) => {
            let counts = (videos.ids.len(), audios.ids.len());
            Some(Shortlist::new(scorer, args.shortlist_k, direction, counts).map_err(fail)?)
        }
        None => None,
    };
    let (v, a) = (videos.view(), audios.view());
    let pairs = retrieve::planned_pairs(shortlist.as_ref(), direction, v.len(), a.len());
    let mut watch = Watch::new(args.apply.quiet);
    watch.announce(&scorer.cost(&v, &a, pairs));
    interrupt::install_saying(ON_CTRL_C);
    let r = retrieve::retrieve(&scorer, &v, &a, direction, args.top, shortlist.as_ref(), &mut watch).map_err(fail)?;
    if let Some(dir) = &args.embeddings_out {
        retrieve::write_embeddings(&scorer, &v, &a, dir, &mut watch).map_err(fail)?;
    }
    watch.finish();
    let files = retrieve::write_ranking(&r, &dir).map_err(fail)?;
    if args.shortlist.is_some() {
        println!("{}", summary::shortlist(r.shortlist.as_ref()));
    }
    let shown: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    println!("{}, top {} each: {}", counted(r.ranked.len(), "query", "queries"), args.top, shown.join(", "));
    Ok(())
}

/// The progress bar on a terminal (nothing otherwise), and Ctrl-C.
struct Watch {
    bar: Option<ProgressBar>,
    stage: Option<Stage>,
    quiet: bool,
}

impl Watch {
    fn new(quiet: bool) -> Watch {
        Watch { bar: None, stage: None, quiet }
    }

    fn announce(&self, cost: &Cost) {
        if self.quiet {
            return;
        }
        let macs = cost.macs.map_or("unknown".to_string(), |m| format!("{:.3e}", m as f64));
        eprintln!(
            "scoring {} videos x {} audios: {} pairs, about {macs} multiply-adds, up to {} pairs at once",
            cost.videos, cost.audios, cost.pairs, cost.chunk
        );
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Observer for Watch {
    fn progress(&mut self, stage: Stage, done: u64, total: u64) {
        if self.quiet || !std::io::stderr().is_terminal() {
            return;
        }
        if self.stage != Some(stage) {
            self.finish();
            let label = match stage {
                Stage::Encode(t) => format!("{} tower", t.label()),
                Stage::Pairs => "pairs".to_string(),
            };
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len} ({eta} left)") {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(label);
            self.bar = Some(bar);
            self.stage = Some(stage);
        }
        if let Some(bar) = &self.bar {
            bar.set_position(done);
        }
    }

    fn should_stop(&self) -> bool {
        interrupt::requested()
    }
}
