//! Sweeps handed to a scheduler: `avc sweep --emit parallel` planned, run by the real GNU
//! parallel (a task stopped part-way resumes, a finished one is left alone), and `--collect`
//! giving byte for byte the tables of the same grid swept in process; a failing task listed
//! with its log and resubmitted; the Slurm script and its template checked as written.
//! (A real Slurm cluster runs the same sweep in scripts/slurm-local.sh: `make test-slurm`.)

use avc::sweep::grid::Grid;
use avc::sweep::task::{self, LockState, TaskLock, TaskOptions, TaskOutcome, TaskRecord, TaskResult};
use avc::sweep::{SweepLimits, SweepOptions, sweep};
use avc::train::DataSource;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const KNOBS: [&str; 5] = ["n_train=32", "n_test=8", "steps=24", "video_dim=16", "audio_dim=8"];
const SETS: [&str; 2] = ["train.lr=0.01,0.05", "train.batch_size=8,16"];

fn scratch(name: &str) -> crate::Scratch {
    let dir = crate::scratch_dir(&format!("engines-{name}"));
    std::fs::write(dir.join("tiny.yaml"), crate::small_model(16, "{epochs: 2, batch_size: 8, lr: 0.01}")).unwrap();
    dir
}

/// GNU parallel must be installed: the set-up installs it, and a missing one is a failure
/// that says how to fix it, not a skipped test.
fn require_parallel() {
    let found = Command::new("parallel").arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(
        found,
        "GNU parallel is not installed; run `make setup` (scripts/tools.sh installs it with apt-get install parallel)"
    );
}

fn avc(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_avc"));
    cmd.current_dir(dir).args(args);
    cmd
}

/// `avc sweep tiny.yaml` over `sets` and `seeds` on the tiny data, with `extra` flags.
fn plan(dir: &Path, sets: &[&str], seeds: &str, extra: &[&str]) -> Output {
    let mut cmd = avc(dir, &["sweep", "tiny.yaml", "--seeds", seeds, "--max-batches", "1"]);
    for set in sets {
        cmd.args(["--set", set]);
    }
    for knob in KNOBS {
        cmd.args(["--synth", knob]);
    }
    cmd.args(extra).output().unwrap()
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The command's standard output, once it has succeeded (else its whole output).
pub(crate) fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "status {}\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Runs a printed command line in bash, as a person would paste it.
fn shell(dir: &Path, line: &str) -> Output {
    Command::new("bash").arg("-c").arg(line).current_dir(dir).output().unwrap()
}

/// The text after `prefix` on the line of `out` that starts with it.
fn line_after<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines().find_map(|l| l.strip_prefix(prefix)).unwrap_or_else(|| panic!("no line `{prefix}...` in:\n{out}"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn manifest(run: &Path) -> serde_json::Value {
    serde_json::from_str(&read(&run.join("manifest.json"))).unwrap()
}

/// summary.md without the two lines that name the sweep and its command.
fn summary_body(dir: &Path) -> String {
    read(&dir.join("summary.md")).lines().filter(|l| !l.starts_with("# Sweep:") && !l.starts_with("Command:")).collect()
}

/// The in-process sweep of the same grid, for reference.
fn in_process(dir: &Path) -> PathBuf {
    let _rng = crate::torch_rng_lock();
    let opts = SweepOptions {
        device: tch::Device::Cpu,
        runs_dir: dir.join("runs"),
        name: Some("in-process".into()),
        arch_path: dir.join("tiny.yaml"),
        verbose: false,
        data_source: DataSource::Synth { seed: 1, knobs: KNOBS.iter().map(|k| k.to_string()).collect() },
        max_batches: Some(1),
        command: "avc sweep tiny.yaml (test)".into(),
        limits: SweepLimits::default(),
    };
    let sets: Vec<String> = SETS.iter().map(|s| s.to_string()).collect();
    let grid = Grid::parse(&sets, "2").unwrap();
    sweep(&crate::compile_ok(&dir.join("tiny.yaml")), &grid, &opts).unwrap().dir
}

#[test]
fn gnu_parallel_runs_a_planned_sweep_and_collect_gives_the_in_process_tables() {
    require_parallel();
    let dir = scratch("parallel");
    let reference = in_process(&dir);
    let out = ok(&plan(&dir, &SETS, "2", &["--device", "cpu", "--emit", "parallel", "--out", "plan", "--jobs", "2"]));
    let sweep_dir = std::path::absolute(dir.join("plan")).unwrap();
    let submit = line_after(&out, "run them:").trim().to_string();
    assert_eq!(submit, format!("parallel --jobs 2 < {}/parallel.tasks", sweep_dir.display()), "{out}");
    let record: serde_json::Value = serde_json::from_str(&read(&sweep_dir.join("sweep.json"))).unwrap();
    assert_eq!(record["avc_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(record["grid"]["seeds"], serde_json::json!([1, 2]));
    assert_eq!(record["grid"]["axes"][1]["values"], serde_json::json!(["8", "16"]));
    assert!(record["command"].as_str().unwrap().contains("--emit parallel"), "{record}");
    assert_eq!(record["plan"]["submit"], submit.as_str());
    let runs: Vec<&str> = record["runs"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert_eq!(runs.len(), 8);
    let commands = read(&sweep_dir.join("parallel.tasks"));
    assert_eq!(commands.lines().count(), 8);
    assert!(commands.lines().nth(5).unwrap().contains("--index 5 >>"), "{commands}");

    // Task 1 stopped part-way, as a preempted or cancelled task is.
    {
        let _rng = crate::torch_rng_lock();
        let report =
            task::run_task(&sweep_dir, 1, TaskOptions { verbose: false, stop_at: Some((2, 0)), device: None }).unwrap();
        assert!(matches!(&report.result, TaskResult::Trained(r) if r.ending == avc::train::Ending::Interrupted));
    }
    assert_eq!(TaskRecord::read(&sweep_dir, 1).unwrap().ended.unwrap().outcome, TaskOutcome::Stopped);
    // Task 0 run by hand, so only some tasks need resubmitting.
    ok(&avc(&dir, &["sweep", "--task", "plan", "--index", "0"]).output().unwrap());
    let status = ok(&avc(&dir, &["sweep", "--status", "plan"]).output().unwrap());
    assert!(status.contains("(GNU parallel, 8 runs): 1 done, 1 stopped, 6 missing"), "{status}");
    let stopped = status.lines().find(|l| l.trim_start().starts_with("stopped")).unwrap_or_default();
    assert!(stopped.contains(runs[1]) && stopped.contains("task 1: after epoch 1"), "{status}");
    let resubmit = line_after(&status, "resubmit the 7 runs that need it: ");
    let expected = format!("sed -n '2p;3p;4p;5p;6p;7p;8p' {}/parallel.tasks | parallel --jobs 2", sweep_dir.display());
    assert_eq!(resubmit, expected);
    ok(&shell(&dir, resubmit));

    let collected = ok(&avc(&dir, &["sweep", "--collect", "plan"]).output().unwrap());
    assert!(collected.contains("8 done") && collected.contains("nothing to resubmit"), "{collected}");
    for table in ["results.csv", "summary.csv"] {
        assert_eq!(read(&sweep_dir.join(table)), read(&reference.join(table)), "{table} differs");
    }
    assert_eq!(summary_body(&sweep_dir), summary_body(&reference));
    assert!(sweep_dir.join("sweep.png").is_file());
    // The stopped run resumed (its manifest lists the session), threads as the commands file set them.
    let stopped = manifest(&sweep_dir.join(runs[1]));
    assert_eq!(stopped["resumed"][0]["threads_from"], "OMP_NUM_THREADS=1", "{stopped}");
    assert_eq!(stopped["resources"]["device"], "cpu");
    let hash = &record["architecture_sha256"];
    assert_eq!(&stopped["architecture_sha256"], hash, "the plan and the runs hash the architecture alike");

    // Submitted again, every task finds its run finished and changes nothing.
    let before: Vec<String> = runs.iter().map(|r| read(&sweep_dir.join(r).join("metrics.jsonl"))).collect();
    ok(&shell(&dir, &submit));
    for (i, run) in runs.iter().enumerate() {
        assert_eq!(read(&sweep_dir.join(run).join("metrics.jsonl")), before[i], "{run} trained again");
        assert_eq!(TaskRecord::read(&sweep_dir, i).unwrap().ended.unwrap().outcome, TaskOutcome::AlreadyDone);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failed_task_is_listed_with_its_log_and_resubmitted() {
    require_parallel();
    let dir = scratch("failed");
    ok(&plan(&dir, &[], "1", &["--emit", "parallel", "--out", "plan"]));
    let sweep_dir = dir.join("plan");
    let copy = sweep_dir.join("architecture.yaml");
    let original = read(&copy);
    std::fs::write(&copy, original.replace("hidden: 16", "hidden: 12")).unwrap();
    let submit = read(&sweep_dir.join("sweep.json"));
    let record: serde_json::Value = serde_json::from_str(&submit).unwrap();
    let submit = record["plan"]["submit"].as_str().unwrap();
    assert!(!shell(&dir, submit).status.success(), "the task fails");
    let status = ok(&avc(&dir, &["sweep", "--status", "plan"]).output().unwrap());
    assert!(
        status.contains("failed   seed=1  task 0:") && status.contains("changed after the sweep was planned"),
        "{status}"
    );
    assert!(status.contains("| error:"), "the log's tail is shown:\n{status}");
    assert_eq!(line_after(&status, "resubmit the 1 run that needs it: "), submit);

    // A run being trained elsewhere is not trained twice.
    std::fs::write(&copy, &original).unwrap();
    let held = TaskLock::try_acquire(&sweep_dir, 0).unwrap();
    assert!(matches!(held, LockState::Held(_)));
    let busy = avc(&dir, &["sweep", "--task", "plan", "--index", "0"]).output().unwrap();
    assert_eq!(busy.status.code(), Some(2));
    assert!(text(&busy.stderr).contains("is being trained by another process"), "{}", text(&busy.stderr));
    drop(held);

    // Resubmitted in a Slurm-like environment: auto takes the CPU when CUDA_VISIBLE_DEVICES
    // leaves no GPU, the threads follow SLURM_CPUS_PER_TASK, the manifest says so.
    let mut task = avc(&dir, &["sweep", "--task", "plan", "--index", "0"]);
    task.env_remove("OMP_NUM_THREADS").env("SLURM_CPUS_PER_TASK", "1").env("CUDA_VISIBLE_DEVICES", "");
    task.env("SLURM_JOB_ID", "77").env("SLURM_ARRAY_JOB_ID", "76").env("SLURM_ARRAY_TASK_ID", "0");
    ok(&task.output().unwrap());
    let used = manifest(&sweep_dir.join("seed=1"))["resources"].clone();
    assert_eq!(used["device"], "cpu", "{used}");
    assert_eq!(used["cuda_visible_devices"], "", "{used}");
    assert_eq!((used["threads"].as_i64(), used["threads_from"].as_str()), (Some(1), Some("SLURM_CPUS_PER_TASK=1")));
    assert_eq!(used["slurm_job"], "76_0");
    let status = ok(&avc(&dir, &["sweep", "--collect", "plan"]).output().unwrap());
    assert!(status.contains("1 done") && status.contains("nothing to resubmit"), "{status}");
    assert!(read(&sweep_dir.join("results.csv")).contains(",done,"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_slurm_plan_is_an_array_job_with_the_asked_resources() {
    let dir = scratch("slurm");
    let flags =
        ["--emit", "slurm", "--out", "plan", "--partition", "gpu", "--time", "01:30:00", "--cpus-per-task", "4"];
    let out = ok(&plan(&dir, &SETS, "2", &[&flags[..], &["--gpus", "1", "--mem", "8G", "--jobs", "3"]].concat()));
    let sweep_dir = std::path::absolute(dir.join("plan")).unwrap();
    let script = read(&sweep_dir.join("sweep.sbatch"));
    assert_eq!(line_after(&out, "submit:").trim(), format!("sbatch {}/sweep.sbatch", sweep_dir.display()));
    for line in [
        "#SBATCH --array=0-7%3".to_string(),
        format!("#SBATCH --output={}/tasks/%a.log", sweep_dir.display()),
        "#SBATCH --partition=gpu".into(),
        "#SBATCH --time=01:30:00".into(),
        "#SBATCH --cpus-per-task=4".into(),
        "#SBATCH --gres=gpu:1".into(),
        "#SBATCH --mem=8G".into(),
        format!(
            "exec {} sweep --task {} --index \"$SLURM_ARRAY_TASK_ID\"",
            std::fs::canonicalize(env!("CARGO_BIN_EXE_avc")).unwrap().display(),
            sweep_dir.display()
        ),
    ] {
        assert!(script.lines().any(|l| l == line), "`{line}` missing:\n{script}");
    }
    // Every run missing: resubmitting is submitting; some of them: an --array list.
    let status = ok(&avc(&dir, &["sweep", "--status", "plan"]).output().unwrap());
    assert!(status.contains("(Slurm, 8 runs): 0 done, 8 missing"), "{status}");
    assert!(status.contains(&format!("sbatch {}/sweep.sbatch", sweep_dir.display())), "{status}");

    // A template of one's own, with a mistake in it.
    std::fs::write(dir.join("my.sbatch"), "#!/bin/bash\n#SBATCH --account={{account}}\n{{task}}\n").unwrap();
    let bad = plan(&dir, &SETS, "2", &["--emit", "slurm", "--out", "plan2", "--template", "my.sbatch"]);
    assert_eq!(bad.status.code(), Some(2));
    let err = text(&bad.stderr);
    assert!(err.contains("my.sbatch:2:19: unknown placeholder `{{account}}`"), "{err}");
    // Flags that only Slurm understands are refused for GNU parallel.
    let bad = plan(&dir, &SETS, "2", &["--emit", "parallel", "--out", "plan3", "--partition", "gpu"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("--partition is for --emit slurm"), "{}", text(&bad.stderr));
    // Planning the same sweep again rewrites its script; another grid under that name is refused.
    let again = ok(&plan(&dir, &SETS, "2", &["--emit", "slurm", "--out", "plan", "--time", "00:10:00"]));
    assert!(again.contains("the same sweep was there"), "{again}");
    assert!(read(&sweep_dir.join("sweep.sbatch")).contains("#SBATCH --time=00:10:00"));
    let other = plan(&dir, &SETS[..1], "2", &["--emit", "slurm", "--out", "plan"]);
    assert_eq!(other.status.code(), Some(2));
    assert!(text(&other.stderr).contains("differs in the grid"), "{}", text(&other.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The text of docs/sweeps.md between `<!-- NAME:begin -->` and `<!-- NAME:end -->`.
fn docs_section(name: &str) -> String {
    let doc = read(Path::new("docs/sweeps.md"));
    let begin = format!("<!-- {name}:begin -->\n");
    let start = doc.find(&begin).unwrap_or_else(|| panic!("no {begin} in docs/sweeps.md")) + begin.len();
    let end = doc.find(&format!("<!-- {name}:end -->")).unwrap();
    doc[start..end].to_string()
}

#[test]
fn docs_show_the_slurm_template_and_every_placeholder() {
    use avc::sweep::slurm::{DEFAULT_TEMPLATE, PLACEHOLDERS};
    assert_eq!(
        docs_section("template"),
        format!("```bash\n{DEFAULT_TEMPLATE}```\n"),
        "docs/sweeps.md shows another template than assets/sweep.sbatch"
    );
    let mut table = String::from("| placeholder | becomes |\n|---|---|\n");
    for (name, meaning) in PLACEHOLDERS {
        table.push_str(&format!("| `{{{{{name}}}}}` | {meaning} |\n"));
    }
    assert_eq!(docs_section("placeholders"), table, "docs/sweeps.md's placeholder table is stale");
}
