//! `avc sweep --status DIR` and `avc sweep --collect DIR`: where every run of a sweep stands,
//! however it is being trained (in process, by GNU parallel, by Slurm), and the command that
//! resubmits only the runs that need it. `--collect` also writes the sweep's tables and
//! picture from the runs that finished, through the same code as an in-process sweep.
//!
//! A run's state comes from its run directory (finished, stopped part-way with a `last`
//! checkpoint, `failed.txt`), its task's lock (held while a process trains it), its task's
//! record (`tasks/<I>.json`: how the latest attempt ended) and, for a Slurm plan, `squeue`
//! (a task waiting in the queue, or running on a node).

use crate::run::checkpoint::Checkpoint;
use crate::run::rundir::RunDir;
use crate::sweep::plan::{self, Engine};
use crate::sweep::slurm::{self, QueuedTask};
use crate::sweep::table::{ResultRow, RunStatus};
use crate::sweep::task::{LockProbe, TaskLock, TaskOutcome, TaskRecord, task_file};
use crate::sweep::{self, SweepError};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Lines of a failed task's log shown under it.
pub const LOG_TAIL: usize = 12;

/// Where one run stands.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskState {
    Done,
    /// A process trains it now; where and since when.
    Running(String),
    /// Waiting in Slurm's queue.
    Queued(String),
    /// Its latest attempt ended with an error, or died without a word. Failures that would
    /// recur (divergence) are not resubmitted.
    Failed {
        why: String,
        log_tail: Vec<String>,
        resubmit: bool,
    },
    /// Stopped part-way (a signal, a kill): resubmitting resumes it from `last`.
    Stopped(String),
    /// Never started.
    Missing,
}

impl TaskState {
    pub fn word(&self) -> &'static str {
        match self {
            TaskState::Done => "done",
            TaskState::Running(_) => "running",
            TaskState::Queued(_) => "queued",
            TaskState::Failed { .. } => "failed",
            TaskState::Stopped(_) => "stopped",
            TaskState::Missing => "missing",
        }
    }

    /// Whether the resubmit command includes it.
    pub fn resubmit(&self) -> bool {
        match self {
            TaskState::Failed { resubmit, .. } => *resubmit,
            TaskState::Stopped(_) | TaskState::Missing => true,
            _ => false,
        }
    }
}

/// One run's line of the status.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskStatus {
    pub index: usize,
    pub run: String,
    pub state: TaskState,
}

/// A sweep's status.
#[derive(Debug, Clone)]
pub struct SweepStatus {
    pub dir: PathBuf,
    pub engine: Option<Engine>,
    /// Processes per run (`--ntasks-per-run`; 1 unless planned so).
    pub ranks: usize,
    pub tasks: Vec<TaskStatus>,
    /// results.csv's rows (running and failed runs marked so).
    pub rows: Vec<ResultRow>,
    /// The command that resubmits the failed, stopped and missing runs; None when there are none.
    pub resubmit: Option<String>,
    /// Things to know about how the status was judged.
    pub notes: Vec<String>,
}

/// Reads where every run of the sweep in `dir` stands; writes nothing.
pub fn status(dir: &Path) -> Result<SweepStatus, SweepError> {
    let (record, compiled) = sweep::open(dir)?;
    let cfgs = sweep::resolve_all(&compiled, &record.grid)?;
    let runs = record.grid.runs();
    let mut rows = sweep::rows(dir, &runs, &cfgs);
    let mut notes = Vec::new();
    let queue = match record.plan.as_ref().and_then(|p| p.job_name.as_deref()) {
        Some(name) => {
            let queue = slurm::queued_tasks(name);
            if queue.is_none() {
                notes.push(
                    "squeue did not answer: queued tasks look missing, running ones are seen by their locks".into(),
                );
            }
            queue
        }
        None => None,
    };
    if let Some(plan) = &record.plan
        && std::path::absolute(dir).is_ok_and(|d| d.display().to_string() != plan.dir)
    {
        notes.push(format!("the sweep was planned in {}; its scripts name that place: plan it again here", plan.dir));
    }
    let now = crate::sweep::task::now();
    let mut tasks = Vec::new();
    for (index, row) in rows.iter_mut().enumerate() {
        let run_dir = dir.join(&row.name);
        let task = TaskRecord::read(dir, index);
        let evidence = Evidence {
            run_status: row.status.clone(),
            last: Checkpoint::locate(&run_dir, "last").ok().and_then(|d| Checkpoint::read_state(&d).ok()),
            queued: queue.as_ref().and_then(|q| q.get(&index)),
            lock: TaskLock::probe(dir, index),
            task: task.as_ref(),
            now,
        };
        let mut state = classify(&evidence);
        if let TaskState::Failed { log_tail, .. } = &mut state {
            *log_tail = tail(&task_file(dir, index, "log"), LOG_TAIL);
        }
        match &state {
            TaskState::Running(_) => row.status = RunStatus::Running,
            TaskState::Failed { why, .. } => row.status = RunStatus::Failed(why.clone()),
            _ => {}
        }
        tasks.push(TaskStatus { index, run: row.name.clone(), state });
    }
    let again: Vec<usize> = tasks.iter().filter(|t| t.state.resubmit()).map(|t| t.index).collect();
    let resubmit = (!again.is_empty()).then(|| plan::resubmit_command(&record, dir, &again));
    let (engine, ranks) = record.plan.map_or((None, 1), |p| (Some(p.engine), p.ntasks_per_run));
    Ok(SweepStatus { dir: dir.to_path_buf(), engine, ranks, tasks, rows, resubmit, notes })
}

/// [`status`], then results.csv, summary.csv, summary.md and sweep.png from the runs that
/// finished (the same tables an in-process sweep writes).
pub fn collect(dir: &Path) -> Result<SweepStatus, SweepError> {
    let mut status = status(dir)?;
    let record = sweep::read_sweep_record(dir)?;
    if let Some(reason) = sweep::write_tables(&RunDir { path: dir.to_path_buf() }, &record, &status.rows)? {
        status.notes.push(format!("sweep.png not drawn: {reason}"));
    }
    Ok(status)
}

/// What is known about one run.
pub(crate) struct Evidence<'a> {
    /// From its run directory.
    pub run_status: RunStatus,
    /// Its `last` checkpoint's state.
    pub last: Option<crate::run::checkpoint::TrainingState>,
    /// Its Slurm array task in the queue.
    pub queued: Option<&'a QueuedTask>,
    pub lock: LockProbe,
    pub task: Option<&'a TaskRecord>,
    pub now: u64,
}

/// Judges a run's state from the evidence (see the module docs for the sources).
pub(crate) fn classify(e: &Evidence) -> TaskState {
    if e.run_status == RunStatus::Done {
        return TaskState::Done;
    }
    if let Some(q) = e.queued {
        let on = if q.node.is_empty() { String::new() } else { format!(" on {}", q.node) };
        return if q.is_running() {
            TaskState::Running(format!("slurm job {}{on}", q.job))
        } else {
            TaskState::Queued(format!("slurm job {}, {}", q.job, q.state.to_lowercase()))
        };
    }
    let attempt = e.task.map(|t| describe_attempt(t, e.now)).unwrap_or_default();
    if e.lock == LockProbe::Held {
        return TaskState::Running(if attempt.is_empty() { "by another process".into() } else { attempt });
    }
    if let RunStatus::Failed(why) = &e.run_status {
        return TaskState::Failed {
            why: format!("{why} (would recur; not resubmitted)"),
            log_tail: vec![],
            resubmit: false,
        };
    }
    if let Some(task) = e.task {
        match &task.ended {
            Some(end) if end.outcome == TaskOutcome::Failed => {
                return TaskState::Failed { why: end.message.clone(), log_tail: vec![], resubmit: true };
            }
            None if e.lock == LockProbe::Unknown => {
                return TaskState::Running(format!(
                    "{attempt}, as its record says (its lock cannot be checked from here)"
                ));
            }
            None => {
                return TaskState::Failed {
                    why: format!(
                        "its task ended without a word ({attempt}): killed by the time limit, out of memory or a node \
                         failure?"
                    ),
                    log_tail: vec![],
                    resubmit: true,
                };
            }
            _ => {}
        }
    }
    match (&e.run_status, &e.last) {
        (RunStatus::Interrupted, Some(s)) if s.epoch_complete || s.batches_done == 0 => {
            let epoch = if s.epoch_complete { s.epoch } else { s.epoch - 1 };
            TaskState::Stopped(format!("after epoch {epoch}; resubmitting resumes it"))
        }
        (RunStatus::Interrupted, Some(s)) => TaskState::Stopped(format!(
            "in epoch {} after {} batches; resubmitting resumes it",
            s.epoch, s.batches_done
        )),
        (RunStatus::Interrupted, None) => TaskState::Stopped("resubmitting resumes it".into()),
        _ => TaskState::Missing,
    }
}

/// `on node1 (pid 4242, slurm job 120_3), started 3m05s ago, attempt 2`; the host and pid are
/// rank 0's when several ranks train the run (`2 ranks` is added then).
fn describe_attempt(t: &TaskRecord, now: u64) -> String {
    let mut job = t.slurm_job.as_ref().map(|j| format!(", slurm job {j}")).unwrap_or_default();
    if t.ranks > 1 {
        job.push_str(&format!(", {} ranks", t.ranks));
    }
    let attempt = if t.attempts > 1 { format!(", attempt {}", t.attempts) } else { String::new() };
    format!("on {} (pid {}{job}), started {} ago{attempt}", t.host, t.pid, duration(now.saturating_sub(t.started)))
}

/// `45s`, `3m05s`, `2h07m`, `3d04h`.
pub fn duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s if s < 86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        s => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
    }
}

/// The last `n` lines of a log (read from its end; control characters dropped).
pub fn tail(path: &Path, n: usize) -> Vec<String> {
    const WINDOW: u64 = 64 * 1024;
    let Ok(mut file) = std::fs::File::open(path) else { return vec![] };
    let len = file.metadata().map_or(0, |m| m.len());
    if file.seek(SeekFrom::Start(len.saturating_sub(WINDOW))).is_err() {
        return vec![];
    }
    let mut bytes = Vec::new();
    if file.read_to_end(&mut bytes).is_err() {
        return vec![];
    }
    let text = String::from_utf8_lossy(&bytes);
    // A progress bar's carriage returns keep only what the terminal would show last.
    let lines: Vec<String> = text
        .lines()
        .map(|l| l.rsplit('\r').next().unwrap_or("").chars().filter(|c| !c.is_control() || *c == '\t').collect())
        .filter(|l: &String| !l.trim().is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

/// The status for people: counts, then every run that is not done, then the resubmit command.
pub fn render(s: &SweepStatus) -> String {
    let engine = match s.engine {
        Some(Engine::Slurm) => "Slurm",
        Some(Engine::Parallel) => "GNU parallel",
        None => "in process",
    };
    let words = ["done", "running", "queued", "failed", "stopped", "missing"];
    let counts: Vec<String> = words
        .iter()
        .map(|w| (w, s.tasks.iter().filter(|t| t.state.word() == *w).count()))
        .filter(|(w, n)| *n > 0 || **w == "done")
        .map(|(w, n)| format!("{n} {w}"))
        .collect();
    let n = s.tasks.len();
    let mut runs = format!("{n} run{}", if n == 1 { "" } else { "s" });
    if s.ranks > 1 {
        runs.push_str(&format!(" of {} ranks each", s.ranks));
    }
    let mut out = format!("sweep {} ({engine}, {runs}): {}\n", s.dir.display(), counts.join(", "));
    let width = s.tasks.iter().filter(|t| t.state != TaskState::Done).map(|t| t.run.len()).max().unwrap_or(0);
    for t in s.tasks.iter().filter(|t| t.state != TaskState::Done) {
        let detail = match &t.state {
            TaskState::Running(d) | TaskState::Queued(d) | TaskState::Stopped(d) => d.clone(),
            TaskState::Failed { why, .. } => why.clone(),
            TaskState::Missing => "never started".into(),
            TaskState::Done => String::new(),
        };
        out.push_str(&format!("  {:<8} {:<width$}  task {}: {detail}\n", t.state.word(), t.run, t.index));
        if let TaskState::Failed { log_tail, .. } = &t.state {
            for line in log_tail {
                out.push_str(&format!("           | {line}\n"));
            }
        }
    }
    for note in &s.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    match &s.resubmit {
        Some(cmd) => {
            let n = s.tasks.iter().filter(|t| t.state.resubmit()).count();
            let runs = if n == 1 { "1 run that needs".to_string() } else { format!("{n} runs that need") };
            out.push_str(&format!("resubmit the {runs} it: {cmd}\n"));
        }
        None => out.push_str("nothing to resubmit\n"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::checkpoint::TrainingState;
    use crate::sweep::task::TaskEnd;

    fn task(ended: Option<TaskOutcome>) -> TaskRecord {
        TaskRecord {
            index: 3,
            run: "lr=0.1,seed=1".into(),
            host: "node7".into(),
            pid: 4242,
            slurm_job: Some("120_3".into()),
            started: 1000,
            attempts: 2,
            ranks: 1,
            ended: ended.map(|outcome| TaskEnd { at: 1100, outcome, message: "run x: libtorch failed".into() }),
        }
    }

    fn evidence<'a>(run_status: RunStatus, lock: LockProbe, task: Option<&'a TaskRecord>) -> Evidence<'a> {
        Evidence { run_status, last: None, queued: None, lock, task, now: 1185 }
    }

    #[test]
    fn each_source_of_evidence_decides_its_case() {
        let free = LockProbe::Free;
        assert_eq!(classify(&evidence(RunStatus::Done, LockProbe::Held, None)), TaskState::Done);
        assert_eq!(classify(&evidence(RunStatus::Pending, free, None)), TaskState::Missing);
        let running = task(None);
        assert_eq!(
            classify(&evidence(RunStatus::Interrupted, LockProbe::Held, Some(&running))),
            TaskState::Running("on node7 (pid 4242, slurm job 120_3), started 3m05s ago, attempt 2".into())
        );
        // A task of two ranks: rank 0's host and pid, and the ranks.
        let two = TaskRecord { ranks: 2, ..task(None) };
        assert_eq!(
            classify(&evidence(RunStatus::Interrupted, LockProbe::Held, Some(&two))),
            TaskState::Running("on node7 (pid 4242, slurm job 120_3, 2 ranks), started 3m05s ago, attempt 2".into())
        );
        // The record says it runs, but nobody holds the lock: the process died.
        let died = classify(&evidence(RunStatus::Interrupted, free, Some(&running)));
        assert!(
            matches!(&died, TaskState::Failed { why, resubmit: true, .. } if why.contains("without a word")),
            "{died:?}"
        );
        let failed = task(Some(TaskOutcome::Failed));
        assert_eq!(
            classify(&evidence(RunStatus::Pending, free, Some(&failed))),
            TaskState::Failed { why: "run x: libtorch failed".into(), log_tail: vec![], resubmit: true }
        );
        let diverged = classify(&evidence(RunStatus::Failed("the loss became NaN".into()), free, Some(&failed)));
        assert!(matches!(diverged, TaskState::Failed { resubmit: false, .. }));
        let stopped = task(Some(TaskOutcome::Stopped));
        let mut e = evidence(RunStatus::Interrupted, free, Some(&stopped));
        e.last = Some(TrainingState { epoch: 2, batches_done: 5, ..Default::default() });
        assert_eq!(classify(&e), TaskState::Stopped("in epoch 2 after 5 batches; resubmitting resumes it".into()));
    }

    #[test]
    fn the_queue_knows_about_tasks_that_have_not_started() {
        let pending = QueuedTask { state: "PENDING".into(), job: "120_5".into(), node: String::new() };
        let mut e = evidence(RunStatus::Pending, LockProbe::Free, None);
        e.queued = Some(&pending);
        assert_eq!(classify(&e), TaskState::Queued("slurm job 120_5, pending".into()));
        assert!(!classify(&e).resubmit());
    }

    #[test]
    fn durations_read_like_a_clock() {
        assert_eq!(duration(45), "45s");
        assert_eq!(duration(185), "3m05s");
        assert_eq!(duration(7620), "2h07m");
        assert_eq!(duration(3 * 86400 + 4 * 3600), "3d04h");
    }

    #[test]
    fn a_log_tail_keeps_the_last_lines() {
        let path = std::env::temp_dir().join(format!("avc-tail-{}.log", std::process::id()));
        let text: String = (1..=30).map(|i| format!("line {i}\n")).collect::<String>() + "bar 10%\rbar 100%\n\n";
        std::fs::write(&path, text).unwrap();
        let lines = tail(&path, 3);
        assert_eq!(lines, ["line 29", "line 30", "bar 100%"]);
        let _ = std::fs::remove_file(&path);
        assert!(tail(&path, 3).is_empty());
    }
}
