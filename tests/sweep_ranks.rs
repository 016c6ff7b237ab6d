//! A Slurm sweep whose runs train on several ranks (`--ntasks-per-run`, docs/sweeps.md):
//! the plan and its refusals, and a task's two ranks started by hand with the variables
//! srun gives them (SLURM_PROCID, SLURM_NTASKS, ...), so that no Slurm is needed: rank 0
//! alone locks, records and writes, and both ranks make the same decision on a finished, a
//! busy and a stopped run.
//! (`make test-slurm` runs the same through a real sbatch and srun.)

use avc::sweep::task::{LockState, TaskLock, TaskOutcome, TaskRecord};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::sweep_engines::{ok, text};

const KNOBS: [&str; 5] = ["n_train=32", "n_test=8", "steps=24", "video_dim=16", "audio_dim=8"];

fn scratch(name: &str) -> crate::Scratch {
    let dir = crate::scratch_dir(&format!("ranks-{name}"));
    std::fs::write(dir.join("tiny.yaml"), crate::small_model(16, "{epochs: 2, batch_size: 8, lr: 0.01}")).unwrap();
    dir
}

/// `avc sweep tiny.yaml` on the tiny data, one run, planned with `extra` flags.
fn plan(dir: &Path, extra: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_avc"));
    cmd.current_dir(dir).args(["sweep", "tiny.yaml", "--device", "cpu", "--max-batches", "2"]);
    for knob in KNOBS {
        cmd.args(["--synth", knob]);
    }
    cmd.args(extra).output().unwrap()
}

/// Rank `rank` of two of task 0 of the sweep in `dir`/plan, as srun would start it.
fn rank(dir: &Path, rank: usize, port: u16) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_avc"));
    cmd.current_dir(dir).args(["sweep", "--task", "plan", "--index", "0"]);
    for var in ["RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"] {
        cmd.env_remove(var);
    }
    cmd.env("SLURM_PROCID", rank.to_string()).env("SLURM_NTASKS", "2").env("SLURM_LOCALID", rank.to_string());
    cmd.env("SLURM_JOB_NODELIST", "localhost").env("MASTER_ADDR", "127.0.0.1").env("MASTER_PORT", port.to_string());
    cmd.env("SLURM_JOB_ID", "91").env("SLURM_ARRAY_JOB_ID", "90").env("SLURM_ARRAY_TASK_ID", "0");
    cmd.env("OMP_NUM_THREADS", "1");
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

/// Both ranks of task 0, to their end: (rank 0's output, rank 1's, rank 0's pid).
fn both_ranks(dir: &Path) -> (Output, Output, u32) {
    let port = avc::dist::launch::free_port().unwrap();
    let (zero, one) = (rank(dir, 0, port), rank(dir, 1, port));
    let pid = zero.id();
    (zero.wait_with_output().unwrap(), one.wait_with_output().unwrap(), pid)
}

#[test]
fn ntasks_per_run_plans_srun_and_bad_values_are_refused() {
    let dir = scratch("plan");
    let out = ok(&plan(&dir, &["--emit", "slurm", "--out", "plan", "--ntasks-per-run", "2", "--cpus-per-task", "1"]));
    let sweep_dir = std::path::absolute(dir.join("plan")).unwrap();
    let script = std::fs::read_to_string(sweep_dir.join("sweep.sbatch")).unwrap();
    let avc = std::fs::canonicalize(env!("CARGO_BIN_EXE_avc")).unwrap();
    for line in [
        "#SBATCH --cpus-per-task=1".to_string(),
        "#SBATCH --ntasks=2".into(),
        "export MASTER_ADDR=\"$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n 1)\"".into(),
        "export MASTER_PORT=$(( 20000 + SLURM_JOB_ID % 10000 ))".into(),
        format!(
            "exec srun --ntasks=2 --cpus-per-task=1 {} sweep --task {} --index \"$SLURM_ARRAY_TASK_ID\"",
            avc.display(),
            sweep_dir.display()
        ),
    ] {
        assert!(script.lines().any(|l| l == line), "`{line}` missing:\n{script}\n{out}");
    }
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sweep_dir.join("sweep.json")).unwrap()).unwrap();
    assert_eq!(record["plan"]["ntasks_per_run"], 2, "{record}");
    let status =
        ok(&Command::new(env!("CARGO_BIN_EXE_avc")).args(["sweep", "--status"]).arg(&sweep_dir).output().unwrap());
    assert!(status.contains("(Slurm, 1 run of 2 ranks each): 0 done, 1 missing"), "{status}");

    // One rank per run, as before: nothing recorded, no srun.
    ok(&plan(&dir, &["--emit", "slurm", "--out", "one"]));
    let one = std::fs::read_to_string(dir.join("one").join("sweep.json")).unwrap();
    assert!(!one.contains("ntasks_per_run"), "{one}");
    let script = std::fs::read_to_string(dir.join("one").join("sweep.sbatch")).unwrap();
    assert!(!script.contains("exec srun") && !script.contains("--ntasks=") && !script.contains("MASTER_"), "{script}");

    for (flags, says) in [
        (
            &["--emit", "slurm", "--out", "p0", "--ntasks-per-run", "0"][..],
            "'--ntasks-per-run <N>': must be at least 1",
        ),
        (
            &["--emit", "slurm", "--out", "p1", "--ntasks-per-run", "two"][..],
            "'--ntasks-per-run <N>': expected a whole number",
        ),
        (&["--emit", "parallel", "--out", "p2", "--ntasks-per-run", "2"][..], "--ntasks-per-run is for --emit slurm"),
        (&["--ntasks-per-run", "2"][..], "--emit <ENGINE>"),
    ] {
        let out = plan(&dir, flags);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains(says), "{flags:?}: {}", text(&out.stderr));
    }
    for refused in ["p0", "p1", "p2"] {
        assert!(!dir.join(refused).exists(), "{refused} was written");
    }
}

#[test]
fn two_ranks_train_a_task_that_only_rank_0_records() {
    let dir = scratch("task");
    ok(&plan(&dir, &["--emit", "slurm", "--out", "plan", "--ntasks-per-run", "2"]));
    let sweep_dir = dir.join("plan");
    let (zero, one, pid) = both_ranks(&dir);
    let (said0, said1) = (ok(&zero), ok(&one));
    assert!(said0.contains("(rank 0 of 2, on ") && said1.contains("(rank 1 of 2, on "), "{said0}\n{said1}");
    assert!(said0.contains("best epoch") && !said1.contains("best epoch"), "{said0}\n{said1}");
    let record = TaskRecord::read(&sweep_dir, 0).expect("tasks/0.json");
    assert_eq!((record.pid, record.ranks, record.attempts), (pid, 2, 1), "{record:?}");
    assert_eq!(record.slurm_job.as_deref(), Some("90_0"));
    assert_eq!(record.ended.as_ref().map(|e| e.outcome), Some(TaskOutcome::Done), "{record:?}");
    let run = sweep_dir.join(&record.run);
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();

    // Run again, both ranks leave the finished run alone; rank 0 records the attempt.
    let (zero, one, pid) = both_ranks(&dir);
    let (said0, said1) = (ok(&zero), ok(&one));
    assert!(said0.contains("finished before; nothing to do"), "{said0}");
    assert!(!said1.contains("finished before"), "only rank 0 says it:\n{said1}");
    let record = TaskRecord::read(&sweep_dir, 0).unwrap();
    assert_eq!((record.pid, record.attempts), (pid, 2), "{record:?}");
    assert_eq!(record.ended.map(|e| e.outcome), Some(TaskOutcome::AlreadyDone));
    assert_eq!(std::fs::read_to_string(run.join("metrics.jsonl")).unwrap(), metrics, "the run trained again");
    let status =
        ok(&Command::new(env!("CARGO_BIN_EXE_avc")).args(["sweep", "--status"]).arg(&sweep_dir).output().unwrap());
    assert!(status.contains("1 done"), "{status}");
}

/// While another process holds the task's lock, rank 0 refuses, and rank 1, which never
/// takes the lock, stops at once with rank 0's reason instead of waiting for it.
#[test]
fn a_busy_task_stops_every_rank_naming_rank_0s_reason() {
    let dir = scratch("busy");
    ok(&plan(&dir, &["--emit", "slurm", "--out", "plan", "--ntasks-per-run", "2"]));
    let held = TaskLock::try_acquire(&dir.join("plan"), 0).unwrap();
    assert!(matches!(held, LockState::Held(_)));
    let begun = Instant::now();
    let (zero, one, _) = both_ranks(&dir);
    let took = begun.elapsed();
    drop(held);
    let (e0, e1) = (text(&zero.stderr), text(&one.stderr));
    assert_eq!(zero.status.code(), Some(2), "{e0}");
    assert!(e0.contains("rank 0: error:") && e0.contains("is being trained by another process"), "{e0}");
    assert!(!one.status.success(), "{e1}");
    assert!(e1.contains("rank 1: error:") && e1.contains("rank 0 failed"), "{e1}");
    assert!(took < Duration::from_secs(30), "the ranks took {took:?} to stop");
    assert!(TaskRecord::read(&dir.join("plan"), 0).is_none(), "a refused task wrote its record");
}

/// SIGTERM to one rank (what scancel sends every rank) stops both with `last` saved and the
/// record saying `stopped`; run again, rank 0 decides to resume and rank 1 resumes with it,
/// to the end.
#[test]
fn a_stopped_two_rank_task_resumes_on_both_ranks() {
    let dir = crate::scratch_dir("ranks-resume");
    std::fs::write(dir.join("tiny.yaml"), crate::small_model(16, "{epochs: 60, batch_size: 8, lr: 0.01}")).unwrap();
    ok(&plan(&dir, &["--emit", "slurm", "--out", "plan", "--ntasks-per-run", "2"]));
    let sweep_dir = dir.join("plan");
    let port = avc::dist::launch::free_port().unwrap();
    let (zero, mut one) = (rank(&dir, 0, port), rank(&dir, 1, port));
    let run = sweep_dir.join("seed=1");
    let begun = Instant::now();
    while avc::run::checkpoint::Checkpoint::locate(&run, "last").is_err() {
        assert!(begun.elapsed() < Duration::from_secs(120), "no checkpoint within 2 minutes");
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: a plain signal to a child this test started and has not yet waited for.
    assert_eq!(unsafe { libc::kill(one.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let zero = zero.wait_with_output().unwrap();
    let one = one.wait().unwrap();
    assert_eq!((zero.status.code(), one.code()), (Some(130), Some(130)), "{}", text(&zero.stderr));
    let record = TaskRecord::read(&sweep_dir, 0).unwrap();
    assert_eq!(record.ended.map(|e| e.outcome), Some(TaskOutcome::Stopped));
    let (zero, one, _) = both_ranks(&dir);
    ok(&one);
    assert!(ok(&zero).contains("best epoch"), "{}", text(&zero.stdout));
    let last = avc::run::checkpoint::Checkpoint::locate(&run, "last").unwrap();
    let state = avc::run::checkpoint::Checkpoint::read_state(&last).unwrap();
    assert!(state.epoch == 60 && state.epoch_complete, "{state:?}");
    let record = TaskRecord::read(&sweep_dir, 0).unwrap();
    assert_eq!((record.attempts, record.ended.map(|e| e.outcome)), (2, Some(TaskOutcome::Done)));
    let manifest = std::fs::read_to_string(run.join("manifest.json")).unwrap();
    assert!(manifest.contains("\"resumed\""), "{manifest}");
}
