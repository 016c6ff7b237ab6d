//! Slurm's side of a sweep: the `sbatch` array script, written from a template (avc's own,
//! `assets/sweep.sbatch`, or the user's `--template FILE`), and what `squeue` says about the
//! sweep's tasks.
//!
//! A template is the job script with `{{placeholders}}`; [`PLACEHOLDERS`] lists them. The
//! resource placeholders (`{{partition}}`, `{{time}}`, `{{cpus_per_task}}`, `{{gpus}}`,
//! `{{mem}}`) take the `--emit` flags of the same names; `{{resources}}` is the `#SBATCH`
//! lines of the flags that were given.
//!
//! With `--ntasks-per-run N` above 1, each array task is one data-parallel job of N ranks:
//! the script asks for `--ntasks=N`, `{{launch}}` sets where the ranks meet
//! ([`launch_lines`]), and `{{task}}` starts the N processes with `srun`, each of which
//! reads its rank from Slurm's variables (src/dist/env.rs).

use crate::sweep::SweepError;
use crate::sweep::plan::TaskResources;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

/// avc's own template.
pub const DEFAULT_TEMPLATE: &str = include_str!("../../assets/sweep.sbatch");

/// Every placeholder a template may use, and what it becomes.
pub const PLACEHOLDERS: [(&str, &str); 17] = [
    (
        "task",
        "the command a task runs: avc sweep --task DIR --index \"$SLURM_ARRAY_TASK_ID\", behind srun with \
         --ntasks-per-run above 1 (required)",
    ),
    (
        "launch",
        "with --ntasks-per-run above 1, the lines that export MASTER_ADDR and MASTER_PORT for the run's ranks \
         (required then); else a comment",
    ),
    ("avc", "the avc binary"),
    ("dir", "the sweep directory (absolute)"),
    ("script", "this script's path"),
    ("sweep", "the sweep directory's name"),
    ("runs", "the number of runs"),
    ("job_name", "the job's name, by which --status finds its tasks in squeue"),
    ("array", "the array indices, 0-N (with %J when --jobs J limits the tasks running at once)"),
    ("log", "each task's log, DIR/tasks/%a.log (a requeued task appends to it)"),
    ("resources", "an #SBATCH line per resource flag given, and --ntasks above one rank per run"),
    ("partition", "--partition"),
    ("time", "--time"),
    ("cpus_per_task", "--cpus-per-task"),
    ("gpus", "--gpus (GPUs per task, as --gres=gpu:N)"),
    ("mem", "--mem"),
    ("ntasks", "--ntasks-per-run (1 unless given)"),
];

/// The values of a template's placeholders; a resource flag that was not given is None.
pub struct ScriptValues {
    pub values: HashMap<&'static str, Option<String>>,
    /// Processes per run: above 1 the template must set up their rendezvous.
    pub ranks: usize,
}

impl ScriptValues {
    /// The values of every placeholder but the resources, which come from `res`, and those
    /// of `ranks` processes per run.
    pub fn new(fixed: [(&'static str, String); 9], res: &TaskResources, ranks: usize) -> ScriptValues {
        let mut values: HashMap<&'static str, Option<String>> = fixed.into_iter().map(|(k, v)| (k, Some(v))).collect();
        let mut resources = resource_lines(res);
        if ranks > 1 {
            resources.push_str(&format!("{}#SBATCH --ntasks={ranks}", if resources.is_empty() { "" } else { "\n" }));
        }
        values.insert("resources", Some(resources));
        values.insert("launch", Some(launch_lines(ranks)));
        values.insert("ntasks", Some(ranks.to_string()));
        values.insert("partition", res.partition.clone());
        values.insert("time", res.time.clone());
        values.insert("cpus_per_task", res.cpus_per_task.map(|n| n.to_string()));
        values.insert("gpus", res.gpus.map(|n| n.to_string()));
        values.insert("mem", res.mem.clone());
        ScriptValues { values, ranks }
    }
}

/// The first port of the range the ranks of a run meet on; see [`launch_lines`].
pub const PORT_BASE: u32 = 20000;
/// How many ports the range has.
pub const PORT_SPAN: u32 = 10000;

/// The script lines that tell the ranks of one run where to meet: rank 0's host is the
/// job's first node, and the port comes from the array task's own job id
/// (`SLURM_JOB_ID`, unique per array task), so that the array tasks of one sweep, or of two
/// sweeps, sharing a node do not take the same port: ids within 10,000 of each other never
/// collide. The range 20000-29999 stays below Linux's ephemeral ports (32768 and up), which
/// outgoing connections take. One process per run needs no rendezvous: a comment says so.
pub fn launch_lines(ranks: usize) -> String {
    if ranks <= 1 {
        return "# One process per run (--ntasks-per-run 1): no rendezvous to set up.".to_string();
    }
    format!(
        "# The run's {ranks} ranks (srun starts them) meet at the job's first node, on a port taken\n\
         # from this array task's job id so that tasks sharing a node differ (docs/sweeps.md).\n\
         export MASTER_ADDR=\"$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n 1)\"\n\
         export MASTER_PORT=$(( {PORT_BASE} + SLURM_JOB_ID % {PORT_SPAN} ))"
    )
}

/// The command of an array task: `task` itself for one process per run; for several,
/// `srun` starting `ranks` copies of it. Slurm 22.05 to 23.02's srun does not take the
/// job's --cpus-per-task over from sbatch, so it is repeated on srun's line.
pub fn task_command(task: &str, ranks: usize, cpus_per_task: Option<usize>) -> String {
    if ranks <= 1 {
        return task.to_string();
    }
    let cpus = cpus_per_task.map(|c| format!(" --cpus-per-task={c}")).unwrap_or_default();
    format!("srun --ntasks={ranks}{cpus} {task}")
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
    let mut used = std::collections::HashSet::new();
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
            used.insert(key.to_string());
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
    if !used.contains("task") && errors.is_empty() {
        errors.push(format!("{origin}: the template has no `{{{{task}}}}`, the command that trains a task's run"));
    }
    if values.ranks > 1 && errors.is_empty() {
        let ranks = values.ranks;
        if !used.contains("launch") {
            errors.push(format!(
                "{origin}: --ntasks-per-run {ranks} needs `{{{{launch}}}}` in the template, before `{{{{task}}}}` \
                 (it sets where the run's ranks meet: MASTER_ADDR and MASTER_PORT)"
            ));
        }
        if !used.contains("resources") && !used.contains("ntasks") {
            errors.push(format!(
                "{origin}: --ntasks-per-run {ranks} needs `{{{{resources}}}}` or an `#SBATCH --ntasks={{{{ntasks}}}}` \
                 line in the template, or Slurm gives the job one task"
            ));
        }
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
        values_for(res, 1)
    }

    fn values_for(res: &TaskResources, ranks: usize) -> ScriptValues {
        let task = "avc sweep --task /s --index \"$SLURM_ARRAY_TASK_ID\"";
        ScriptValues::new(
            [
                ("task", task_command(task, ranks, res.cpus_per_task)),
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
            ranks,
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

    /// Two ranks per run: two tasks asked for, the rendezvous exported before srun starts
    /// them, the port derived from the array task's job id; the whole script, as written.
    #[test]
    fn two_ranks_per_run_start_through_srun() {
        let res = TaskResources { cpus_per_task: Some(1), time: Some("00:10:00".into()), ..Default::default() };
        let script = render(DEFAULT_TEMPLATE, "built-in", &values_for(&res, 2)).unwrap();
        let tail: Vec<&str> = script.lines().skip_while(|l| !l.starts_with("#SBATCH")).collect();
        assert_eq!(
            tail.join("\n"),
            [
                "#SBATCH --job-name=avc-s-abcdef",
                "#SBATCH --array=0-7",
                "#SBATCH --output=/s/tasks/%a.log",
                "#SBATCH --open-mode=append",
                "#SBATCH --requeue",
                "#SBATCH --time=00:10:00",
                "#SBATCH --cpus-per-task=1",
                "#SBATCH --ntasks=2",
                "# The run's 2 ranks (srun starts them) meet at the job's first node, on a port taken",
                "# from this array task's job id so that tasks sharing a node differ (docs/sweeps.md).",
                "export MASTER_ADDR=\"$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n 1)\"",
                "export MASTER_PORT=$(( 20000 + SLURM_JOB_ID % 10000 ))",
                "exec srun --ntasks=2 --cpus-per-task=1 avc sweep --task /s --index \"$SLURM_ARRAY_TASK_ID\"",
            ]
            .join("\n")
        );
        // The port line is shell arithmetic that bash evaluates as meant.
        let port = std::process::Command::new("bash")
            .args([
                "-c",
                "SLURM_JOB_ID=123456; export MASTER_PORT=$(( 20000 + SLURM_JOB_ID % 10000 )); echo $MASTER_PORT",
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        assert_eq!(port.ok().as_deref(), Some("23456"));
        // One rank: no srun, no --ntasks, a comment where the rendezvous would be.
        let one = render(DEFAULT_TEMPLATE, "built-in", &values_for(&res, 1)).unwrap();
        assert!(!one.contains("exec srun") && !one.contains("--ntasks=") && !one.contains("MASTER_"), "{one}");
        // A template of one's own must set the rendezvous up and ask for the tasks.
        let err = render("#!/bin/bash\n{{resources}}\n{{task}}\n", "my.sbatch", &values_for(&res, 2))
            .unwrap_err()
            .to_string();
        assert!(err.contains("my.sbatch: --ntasks-per-run 2 needs `{{launch}}`"), "{err}");
        let err =
            render("#!/bin/bash\n{{launch}}\n{{task}}\n", "my.sbatch", &values_for(&res, 2)).unwrap_err().to_string();
        assert!(err.contains("needs `{{resources}}` or an `#SBATCH --ntasks={{ntasks}}`"), "{err}");
        let own = "#!/bin/bash\n#SBATCH --ntasks={{ntasks}}\n{{launch}}\n{{task}}\n";
        assert!(render(own, "my.sbatch", &values_for(&res, 2)).unwrap().contains("#SBATCH --ntasks=2\n"));
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
