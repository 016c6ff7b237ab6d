//! Data-parallel training on PyTorch's own engine, c10d: the launch environment ([`env`]:
//! torchrun's or Slurm's variables, or `avc train --nproc`, [`launch`]), the process group
//! ([`group`]: c10d's TCPStore and ProcessGroupGloo, or NCCL's, through src/shim/dist.cpp),
//! gradient averaging on flat buckets ([`grads`]), and the start-up check that every rank
//! trains the same thing ([`agree`]). docs/distributed.md says what is synchronised.
//!
//! As `torch.distributed.init_process_group` does, a process joins one default group,
//! [`init`], which the training loop finds with [`group`]; a process that was not launched
//! as part of a job has none and trains alone, exactly as before.

pub mod agree;
pub mod env;
pub mod grads;
pub mod group;
pub mod launch;

pub use env::{EnvError, Launch};
pub use group::{Backend, DistError, Group, has_nccl};

use std::sync::OnceLock;
use std::time::{Duration, Instant};

static GROUP: OnceLock<Group> = OnceLock::new();

/// The default collective timeout, torch's (`--dist-timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// Makes `group` the process's default group (the first call wins; later ones are refused).
pub fn init(group: Group) -> Result<&'static Group, DistError> {
    let (rank, world) = (group.rank, group.world);
    GROUP.set(group).map_err(|_| DistError {
        what: format!("joining as rank {rank} of {world}"),
        message: "this process is already in a process group".into(),
    })?;
    GROUP.get().ok_or_else(|| DistError { what: "joining".into(), message: "no group".into() })
}

/// The process's group, when it was launched as one rank of several.
pub fn group() -> Option<&'static Group> {
    GROUP.get()
}

/// This process's rank (0 alone).
pub fn rank() -> usize {
    group().map_or(0, |g| g.rank)
}

/// Whether this process writes the run directory and prints progress: rank 0, or alone.
pub fn is_leader() -> bool {
    rank() == 0
}

/// Where a rank records why it stopped, for the others' messages.
fn failed_key(rank: usize) -> String {
    format!("avc/failed/{rank}")
}

fn saw_key(rank: usize) -> String {
    format!("avc/saw-failure/{rank}")
}

/// Tells the other ranks why this one stops (its error), so that their messages can say
/// it. Best effort: the store may be gone already.
/// Rank 0 holds the store: unless the failure was a collective's (which the others saw
/// too, or died of), it waits a moment (3 s at most) for the others to read it.
/// A rank that announced already keeps its first, most telling, message.
pub fn announce_failure(message: &str, collective: bool) {
    let Some(g) = group() else { return };
    if g.has(&failed_key(g.rank)).unwrap_or(false) {
        return;
    }
    if g.set(&failed_key(g.rank), message.as_bytes()).is_err() || g.rank != 0 || collective {
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        let heard = (1..g.world).all(|r| g.has(&saw_key(r)).unwrap_or(true) || g.has(&failed_key(r)).unwrap_or(true));
        if heard {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits for `key` in the store, as long as the group's timeout, but stops at once when a
/// rank announces it failed (a rank that could not start, rank 0's evaluation): rank 0
/// holds the store, so another rank's exit alone does not end its wait.
pub fn wait_for(group: &Group, key: &str) -> Result<Vec<u8>, DistError> {
    let deadline = Instant::now() + group.timeout;
    loop {
        if group.has(key)? {
            return group.get(key);
        }
        if let Some(failure) = announced_failure(group)? {
            return Err(DistError { what: format!("waiting for `{key}`"), message: failure });
        }
        if Instant::now() >= deadline {
            return Err(DistError {
                what: format!("waiting for `{key}`"),
                message: format!("no answer within the timeout ({}s, --dist-timeout)", group.timeout.as_secs()),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The first announced failure of another rank, as `rank N failed: ...`, if any.
pub fn announced_failure(group: &Group) -> Result<Option<String>, DistError> {
    for r in (0..group.world).filter(|&r| r != group.rank) {
        if group.has(&failed_key(r))? {
            let cause = group.get(&failed_key(r))?;
            let _ = group.set(&saw_key(group.rank), b"announced");
            return Ok(Some(format!("rank {r} failed: {}", String::from_utf8_lossy(&cause).trim())));
        }
    }
    Ok(None)
}

impl Group {
    /// Turns a failed collective into a message that names the rank at fault: one that
    /// announced its error ([`announce_failure`]), one that never answered (killed, crashed,
    /// hung or cut off), or rank 0 when its store is gone.
    pub(crate) fn blame(&self, error: DistError) -> DistError {
        if self.set(&saw_key(self.rank), error.message.as_bytes()).is_err() {
            let message = if self.rank == 0 {
                format!("the job's store is gone: {}", error.message)
            } else {
                format!("rank 0, which holds the job's store, is gone (killed or crashed): {}", error.message)
            };
            return DistError { what: error.what, message };
        }
        // The others see the failure too within moments; a rank that never says so is the one.
        let deadline = Instant::now() + Duration::from_secs(3).min(self.timeout);
        let others: Vec<usize> = (0..self.world).filter(|&r| r != self.rank).collect();
        loop {
            for &r in &others {
                if self.has(&failed_key(r)).unwrap_or(false)
                    && let Ok(message) = self.get(&failed_key(r))
                {
                    let cause = String::from_utf8_lossy(&message).trim().to_string();
                    return DistError { what: error.what, message: format!("rank {r} failed: {cause}") };
                }
            }
            let silent: Vec<usize> =
                others.iter().copied().filter(|&r| !self.has(&saw_key(r)).unwrap_or(false)).collect();
            if silent.is_empty() || Instant::now() >= deadline {
                let message = match silent.as_slice() {
                    [] => format!("every rank saw it fail: {}", error.message),
                    [r] => format!("rank {r} stopped answering (killed, crashed or hung): {}", error.message),
                    rs => format!(
                        "ranks {} stopped answering (killed, crashed or hung): {}",
                        rs.iter().map(usize::to_string).collect::<Vec<_>>().join(", "),
                        error.message
                    ),
                };
                return DistError { what: error.what, message };
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
