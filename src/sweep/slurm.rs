//! Slurm's side of a sweep: the `sbatch` array script, written from a template (avc's own,
//! `assets/sweep.sbatch`, or the user's `--template FILE`), and what `squeue` says about the
//! sweep's tasks.
//!
//! A template is the job script with `{{placeholders}}`; [`PLACEHOLDERS`] lists them. The
//! resource placeholders (`{{partition}}`, `{{time}}`, `{{cpus_per_task}}`, `{{gpus}}`,
//! `{{mem}}`) take the `--emit` flags of the same names; `{{resources}}` is the `#SBATCH`
//! lines of the flags that were given.

use crate::sweep::SweepError;
use crate::sweep::plan::TaskResources;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

/// avc's own template.
pub const DEFAULT_TEMPLATE: &str = include_str!("../../assets/sweep.sbatch");

/// Every placeholder a template may use, and what it becomes.
pub const PLACEHOLDERS: [(&str, &str); 15] = [
    ("task", "the command a task runs: avc sweep --task DIR --index \"$SLURM_ARRAY_TASK_ID\" (required)"),
    ("avc", "the avc binary"),
    ("dir", "the sweep directory (absolute)"),
    ("script", "this script's path"),
    ("sweep", "the sweep directory's name"),
    ("runs", "the number of runs"),
    ("job_name", "the job's name, by which --status finds its tasks in squeue"),
    ("array", "the array indices, 0-N (with %J when --jobs J limits the tasks running at once)"),
    ("log", "each task's log, DIR/tasks/%a.log (a requeued task appends to it)"),
    ("resources", "an #SBATCH line per resource flag given"),
    ("partition", "--partition"),
    ("time", "--time"),
    ("cpus_per_task", "--cpus-per-task"),
    ("gpus", "--gpus (GPUs per task, as --gres=gpu:N)"),
    ("mem", "--mem"),
];

/// The values of a template's placeholders; a resource flag that was not given is None.
pub struct ScriptValues {
    pub values: HashMap<&'static str, Option<String>>,
}

impl ScriptValues {
    /// The values of every placeholder but the resources, which come from `res`.
    pub fn new(fixed: [(&'static str, String); 9], res: &TaskResources) -> ScriptValues {
        let mut values: HashMap<&'static str, Option<String>> = fixed.into_iter().map(|(k, v)| (k, Some(v))).collect();
        values.insert("resources", Some(resource_lines(res)));
        values.insert("partition", res.partition.clone());
        values.insert("time", res.time.clone());
        values.insert("cpus_per_task", res.cpus_per_task.map(|n| n.to_string()));
        values.insert("gpus", res.gpus.map(|n| n.to_string()));
        values.insert("mem", res.mem.clone());
        ScriptValues { values }
    }
}

/// `#SBATCH` lines for the resource flags that were given.
pub fn resource_lines(res: &TaskResources) -> String {
    let mut lines = Vec::new();
    if let Some(p) = &res.partition {
        lines.push(format!("#SBATCH --partition={p}"));
    }
    if let Some(t) = &res.time {
        lines.push(format!("#SBATCH --time={t}"));
    }
    if let Some(n) = res.cpus_per_task {
        lines.push(format!("#SBATCH --cpus-per-task={n}"));
    }
    if let Some(n) = res.gpus {
        lines.push(format!("#SBATCH --gres=gpu:{n}"));
    }
    if let Some(m) = &res.mem {
        lines.push(format!("#SBATCH --mem={m}"));
    }
    lines.join("\n")
}

/// Fills a template's placeholders. `origin` names the template in errors, which give the
/// line and column of an unknown placeholder, one whose flag was not given, or an unclosed
/// `{{`; a template without `{{task}}` would not run the sweep and is refused too.
pub fn render(template: &str, origin: &str, values: &ScriptValues) -> Result<String, SweepError> {
    let mut out = String::with_capacity(template.len() + 256);
    let mut errors = Vec::new();
    let mut has_task = false;
    for (n, line) in template.split_inclusive('\n').enumerate() {
        let mut rest = line;
        let mut column = 1;
        while let Some(open) = rest.find("{{") {
            out.push_str(&rest[..open]);
            column += rest[..open].chars().count();
            let at = format!("{origin}:{}:{column}", n + 1);
            let Some(close) = rest[open..].find("}}") else {
                errors.push(format!("{at}: `{{{{` without a closing `}}}}`"));
                rest = &rest[open + 2..];
                column += 2;
                continue;
            };
            let key = rest[open + 2..open + close].trim();
            has_task |= key == "task";
            match values.values.get(key) {
                Some(Some(value)) => out.push_str(value),
                Some(None) => errors.push(format!(
                    "{at}: the template uses `{{{{{key}}}}}`, but --{} was not given",
                    key.replace('_', "-")
                )),
                None => errors.push(format!(
                    "{at}: unknown placeholder `{{{{{key}}}}}`; the placeholders are {}",
                    PLACEHOLDERS.iter().map(|(k, _)| format!("{{{{{k}}}}}")).collect::<Vec<_>>().join(", ")
                )),
            }
            column += rest[open..open + close + 2].chars().count();
            rest = &rest[open + close + 2..];
        }
        out.push_str(rest);
    }
    if !has_task && errors.is_empty() {
        errors.push(format!("{origin}: the template has no `{{{{task}}}}`, the command that trains a task's run"));
    }
    if errors.is_empty() { Ok(out) } else { Err(SweepError::Plan(errors.join("\n"))) }
}

/// A Slurm job name for a sweep directory: `avc-<name>-<6 hex digits of its path>`, so two
/// sweeps with the same folder name in different places do not see each other's tasks.
pub fn job_name(dir: &Path) -> String {
    let name: String = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("sweep")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .collect();
    let hash = crate::run::manifest::sha256(&[&dir.display().to_string()]);
    format!("avc-{name}-{}", &hash[..6])
}

/// One of the sweep's array tasks in Slurm's queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedTask {
    /// `PENDING`, `RUNNING`, `COMPLETING`, ...
    pub state: String,
    /// `1234_5`.
    pub job: String,
    /// The node it runs on (empty while pending).
    pub node: String,
}

impl QueuedTask {
    /// Whether the task is on a node (as opposed to waiting for one).
    pub fn is_running(&self) -> bool {
        matches!(self.state.as_str(), "RUNNING" | "COMPLETING" | "CONFIGURING" | "STAGE_OUT" | "SIGNALING")
    }
}

/// The sweep's tasks in `squeue`, by array index; None when squeue is not there or fails
/// (then `--status` judges by the task locks alone).
pub fn queued_tasks(job_name: &str) -> Option<HashMap<usize, QueuedTask>> {
    let out = Command::new("squeue")
        .args(["--noheader", "--array", "--me", "--format=%K|%T|%i|%N"])
        .arg(format!("--name={job_name}"))
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    Some(parse_squeue(&String::from_utf8_lossy(&out.stdout)))
}

/// Parses `squeue --array --format=%K|%T|%i|%N` lines (array index, state, job id, node).
pub fn parse_squeue(text: &str) -> HashMap<usize, QueuedTask> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.trim().split('|');
            let index = parts.next()?.trim().parse().ok()?;
            let state = parts.next()?.trim().to_string();
            let job = parts.next().unwrap_or("").trim().to_string();
            let node = parts.next().unwrap_or("").trim().to_string();
            Some((index, QueuedTask { state, job, node }))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(res: &TaskResources) -> ScriptValues {
        ScriptValues::new(
            [
                ("task", "avc sweep --task /s --index \"$SLURM_ARRAY_TASK_ID\"".into()),
                ("avc", "avc".into()),
                ("dir", "/s".into()),
                ("script", "/s/sweep.sbatch".into()),
                ("sweep", "s".into()),
                ("runs", "8".into()),
                ("job_name", "avc-s-abcdef".into()),
                ("array", "0-7".into()),
                ("log", "/s/tasks/%a.log".into()),
            ],
            res,
        )
    }

    #[test]
    fn the_default_template_has_every_line_a_task_needs() {
        let res = TaskResources { partition: Some("gpu".into()), gpus: Some(1), ..Default::default() };
        let script = render(DEFAULT_TEMPLATE, "built-in", &values(&res)).unwrap();
        for line in [
            "#SBATCH --array=0-7",
            "#SBATCH --output=/s/tasks/%a.log",
            "#SBATCH --job-name=avc-s-abcdef",
            "#SBATCH --requeue",
            "#SBATCH --partition=gpu",
            "#SBATCH --gres=gpu:1",
            "exec avc sweep --task /s --index \"$SLURM_ARRAY_TASK_ID\"",
        ] {
            assert!(script.lines().any(|l| l == line), "`{line}` missing:\n{script}");
        }
        assert!(!script.contains("{{") && !script.contains("--time"), "{script}");
        // sbatch reads #SBATCH lines only before the first command.
        let lines: Vec<&str> = script.lines().collect();
        let first_command = lines.iter().position(|l| !l.is_empty() && !l.starts_with('#')).unwrap();
        let last_directive = lines.iter().rposition(|l| l.starts_with("#SBATCH")).unwrap();
        assert!(last_directive < first_command, "{script}");
    }

    #[test]
    fn template_errors_name_the_place() {
        let res = TaskResources::default();
        let err = render("#!/bin/bash\n#SBATCH -p {{partition}}\n{{tsk}}\n", "my.sbatch", &values(&res))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("my.sbatch:2:12: the template uses `{{partition}}`, but --partition was not given"),
            "{err}"
        );
        assert!(err.contains("my.sbatch:3:1: unknown placeholder `{{tsk}}`"), "{err}");
        let err = render("echo {{ dir }}\n", "t", &values(&res)).unwrap_err().to_string();
        assert!(err.contains("no `{{task}}`"), "{err}");
        let err = render("{{task}} {{dir\n", "t", &values(&res)).unwrap_err().to_string();
        assert!(err.contains("t:1:10: `{{` without a closing `}}`"), "{err}");
        let res = TaskResources { mem: Some("4G".into()), ..Default::default() };
        assert_eq!(
            render("#SBATCH --mem={{ mem }}\n{{task}}", "t", &values(&res)).unwrap().lines().next(),
            Some("#SBATCH --mem=4G")
        );
    }

    #[test]
    fn squeue_lines_by_array_index() {
        let tasks = parse_squeue("3|RUNNING|120_3|node1\n5|PENDING|120_5|\nnot a line\n");
        assert_eq!(tasks.len(), 2);
        assert!(tasks[&3].is_running() && tasks[&3].node == "node1" && tasks[&3].job == "120_3");
        assert!(!tasks[&5].is_running());
    }

    #[test]
    fn job_names_differ_by_place() {
        let a = job_name(Path::new("/x/sweep 1"));
        assert!(a.starts_with("avc-sweep_1-") && a.len() == "avc-sweep_1-".len() + 6, "{a}");
        assert_ne!(a, job_name(Path::new("/y/sweep 1")));
    }
}

/// Checks a `--time` value against Slurm's formats (sbatch(1)): `MM`, `MM:SS`, `HH:MM:SS`,
/// `D-HH`, `D-HH:MM`, `D-HH:MM:SS`, or `UNLIMITED`/`INFINITE`. Slurm would reject anything
/// else only when the job is submitted, after the plan is written.
pub fn check_time(value: &str) -> Result<(), String> {
    if matches!(value, "UNLIMITED" | "INFINITE" | "unlimited" | "infinite") {
        return Ok(());
    }
    let numbers = |text: &str, most: usize| {
        let parts: Vec<&str> = text.split(':').collect();
        parts.len() <= most
            && parts.iter().all(|p| !p.is_empty() && p.len() <= 6 && p.bytes().all(|b| b.is_ascii_digit()))
    };
    let fits = match value.split_once('-') {
        Some((days, rest)) => numbers(days, 1) && numbers(rest, 3),
        None => numbers(value, 3),
    };
    if fits {
        Ok(())
    } else {
        Err(format!(
            "--time `{value}`: expected Slurm's format: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS \
             (e.g. 02:00:00 or 1-12:00:00)"
        ))
    }
}

/// Checks a `--mem` value against Slurm's format: a whole number with an optional unit,
/// K, M, G or T (megabytes without one), e.g. `8G`, `16000`, `512M`.
pub fn check_mem(value: &str) -> Result<(), String> {
    let digits = value.trim_end_matches(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't']);
    let unit_len = value.len() - digits.len();
    if !digits.is_empty() && digits.len() <= 12 && digits.bytes().all(|b| b.is_ascii_digit()) && unit_len <= 1 {
        Ok(())
    } else {
        Err(format!("--mem `{value}`: expected a whole number with an optional unit K, M, G or T (e.g. 8G or 16000M)"))
    }
}

/// Checks a `--partition` value: one or more partition names separated by commas, each of
/// letters, digits, `_`, `-` and `.` (what fits on an #SBATCH line unquoted).
pub fn check_partition(value: &str) -> Result<(), String> {
    let name_ok = |n: &str| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if value.split(',').all(name_ok) {
        Ok(())
    } else {
        Err(format!(
            "--partition `{value}`: expected partition names of letters, digits, `_`, `-` and `.`, separated by commas"
        ))
    }
}

#[cfg(test)]
mod value_tests {
    use super::*;

    #[test]
    fn slurm_times_follow_sbatch_formats() {
        for ok in ["30", "30:00", "02:00:00", "1-12", "1-12:30", "1-12:30:00", "UNLIMITED"] {
            assert!(check_time(ok).is_ok(), "{ok}");
        }
        for bad in ["", "2h", "1:2:3:4", "1-", "-1", "1-2-3", "02:00:00 ", "1:-1", "ten"] {
            let err = check_time(bad).unwrap_err();
            assert!(err.contains("HH:MM:SS"), "{bad}: {err}");
        }
    }

    #[test]
    fn slurm_memory_is_a_number_with_a_unit() {
        for ok in ["8G", "16000", "512M", "1T", "64k"] {
            assert!(check_mem(ok).is_ok(), "{ok}");
        }
        for bad in ["", "G", "8GB", "8.5G", "-1G", "8 G", "lots"] {
            assert!(check_mem(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn partitions_are_plain_names() {
        for ok in ["gpu", "gpu,cpu", "a100-80g", "long.q"] {
            assert!(check_partition(ok).is_ok(), "{ok}");
        }
        for bad in ["", "gpu cpu", "gpu;rm", "gpu,", "$(x)"] {
            assert!(check_partition(bad).is_err(), "{bad}");
        }
    }
}
