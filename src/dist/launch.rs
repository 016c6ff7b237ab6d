//! `avc train --nproc N`: a one-machine launcher, torchrun's `--standalone` in small. It picks
//! a free port, starts N copies of this program with torchrun's variables set (`RANK`,
//! `WORLD_SIZE`, `LOCAL_RANK`, `LOCAL_WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT`, and
//! `OMP_NUM_THREADS` as the cores divided among them unless it is set), and waits. When a
//! rank ends with an error or a signal, the others stop on their own within moments (their
//! next collective fails); any still running after a grace period are killed. The exit code
//! is the first failing rank's (1 for a signal), and the message names it.

use std::ffi::OsString;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// How long the other ranks get to stop on their own after one failed.
const GRACE: Duration = Duration::from_secs(30);

/// Why the job could not be started.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("--nproc: cannot pick a free port on 127.0.0.1: {0}")]
    Port(std::io::Error),
    #[error("--nproc: cannot start rank {rank} ({program}): {source}")]
    Spawn {
        rank: usize,
        program: String,
        #[source]
        source: std::io::Error,
    },
}

impl crate::report::Report for LaunchError {
    fn exit_code(&self) -> u8 {
        2
    }
}

/// How a rank ended, for the launcher's message.
fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(9)) => "was killed (SIGKILL)".into(),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => "ended".into(),
    }
}

/// A port nothing listens on now (the kernel's pick), for rank 0's store.
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// Starts `nproc` ranks of `program args` and waits for all. Returns the job's exit code
/// (0 when every rank succeeded) and, when some rank failed, a line naming it.
pub fn run(nproc: usize, program: &std::path::Path, args: &[OsString]) -> Result<(u8, Option<String>), LaunchError> {
    let port = free_port().map_err(LaunchError::Port)?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let threads = (cores / nproc).max(1).to_string();
    let mut children: Vec<Option<Child>> = Vec::with_capacity(nproc);
    for rank in 0..nproc {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env("RANK", rank.to_string())
            .env("LOCAL_RANK", rank.to_string())
            .env("WORLD_SIZE", nproc.to_string())
            .env("LOCAL_WORLD_SIZE", nproc.to_string())
            .env("MASTER_ADDR", "127.0.0.1")
            .env("MASTER_PORT", port.to_string());
        if std::env::var_os("OMP_NUM_THREADS").is_none() {
            cmd.env("OMP_NUM_THREADS", &threads);
        }
        own_process_group(&mut cmd);
        match cmd.spawn() {
            Ok(child) => children.push(Some(child)),
            Err(source) => {
                stop_all(&mut children);
                return Err(LaunchError::Spawn { rank, program: program.display().to_string(), source });
            }
        }
    }
    Ok(wait_all(&mut children))
}

/// Starts a rank in a process group of its own, which dies with the launcher: a Ctrl-C at
/// the terminal reaches the launcher alone, which passes it on once (see [`wait_all`]),
/// rather than every rank getting it twice (from the terminal and from the launcher), and
/// a launcher killed outright takes its ranks with it instead of leaving them training.
fn own_process_group(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            #[cfg(target_os = "linux")]
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
}

/// Sends SIGTERM to every rank still running: a rank takes it as Ctrl-C (the first stops
/// the job at the next batch, a second at once).
fn pass_on_signal(children: &[Option<Child>]) {
    for child in children.iter().flatten() {
        if let Ok(pid) = libc::pid_t::try_from(child.id()) {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
    }
}

/// Waits for every rank, passing on each signal the launcher gets; after the first failure,
/// gives the others [`GRACE`] to stop.
fn wait_all(children: &mut [Option<Child>]) -> (u8, Option<String>) {
    let mut failure: Option<(u8, String)> = None;
    let mut since: Option<Instant> = None;
    let mut passed_on = 0;
    while children.iter().any(Option::is_some) {
        while passed_on < crate::interrupt::signals() {
            pass_on_signal(children);
            passed_on += 1;
        }
        for (rank, slot) in children.iter_mut().enumerate() {
            let Some(child) = slot else { continue };
            let status = match child.try_wait() {
                Ok(Some(status)) => status,
                Ok(None) => continue,
                Err(e) => {
                    failure.get_or_insert((1, format!("rank {rank} could not be waited for: {e}")));
                    *slot = None;
                    continue;
                }
            };
            *slot = None;
            if !status.success() && failure.is_none() {
                let code = status.code().and_then(|c| u8::try_from(c).ok()).filter(|&c| c != 0).unwrap_or(1);
                failure = Some((code, format!("rank {rank} {}", describe(status))));
                since = Some(Instant::now());
            }
        }
        if since.is_some_and(|t| t.elapsed() > GRACE) {
            stop_all(children);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    match failure {
        Some((code, line)) => (code, Some(line)),
        None => (0, None),
    }
}

fn stop_all(children: &mut [Option<Child>]) {
    for child in children.iter_mut().flatten() {
        let _ = child.kill();
        let _ = child.wait();
    }
    for slot in children.iter_mut() {
        *slot = None;
    }
}
