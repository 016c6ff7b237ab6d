//! A sweep task trained by several ranks (`--ntasks-per-run N`: srun starts N copies of
//! `avc sweep --task DIR --index I`, which join one data-parallel group).
//!
//! Every rank must do the same thing with the run: start it, resume it, or leave it alone.
//! Each rank reading the run directory for itself could disagree: rank 0 clears a directory
//! left by a start that never reached a checkpoint, and a rank that starts late may read it
//! half-removed. So rank 0 alone decides, holding the task's lock (which the others never
//! take), and tells the others through the job's store (rank 0's TCPStore); the others wait
//! for its word. Rank 0 then waits until each has read it, since the store ends with rank 0's
//! process: a finished run would otherwise let rank 0 exit before a slower rank had asked.
//! When rank 0 fails before deciding (the lock is busy, the plan is stale), it announces its
//! error ([`crate::dist::announce_failure`]) and the others stop with it.

use crate::dist::{self, DistError, Group};
use crate::sweep::table::RunStatus;

/// The store key of rank 0's decision.
const DECISION: &str = "avc/sweep-task/status";

/// The key by which rank `rank` says it has read the decision.
fn heard(rank: usize) -> String {
    format!("avc/sweep-task/heard/{rank}")
}

/// The run's state as every rank of the task's group must see it: `read` on rank 0 (or on
/// a process alone), rank 0's answer on the others.
pub(crate) fn agreed_status(read: impl FnOnce() -> RunStatus) -> Result<RunStatus, DistError> {
    let Some(group) = dist::group() else { return Ok(read()) };
    if group.rank == 0 {
        let status = read();
        group.set(DECISION, encode(&status).as_bytes())?;
        for r in 1..group.world {
            dist::wait_for(group, &heard(r))?;
        }
        Ok(status)
    } else {
        let bytes = dist::wait_for(group, DECISION)?;
        group.set(&heard(group.rank), b"1")?;
        decode(&String::from_utf8_lossy(&bytes)).ok_or_else(|| not_understood(group, &bytes))
    }
}

fn not_understood(group: &Group, bytes: &[u8]) -> DistError {
    DistError {
        what: format!("rank {} reading rank 0's decision", group.rank),
        message: format!("`{}` is not a run state (are the ranks the same avc?)", String::from_utf8_lossy(bytes)),
    }
}

fn encode(status: &RunStatus) -> String {
    match status {
        RunStatus::Failed(why) => format!("failed\n{why}"),
        other => other.word().to_string(),
    }
}

fn decode(text: &str) -> Option<RunStatus> {
    let (word, rest) = text.split_once('\n').unwrap_or((text, ""));
    Some(match word {
        "done" => RunStatus::Done,
        "failed" => RunStatus::Failed(rest.to_string()),
        "interrupted" => RunStatus::Interrupted,
        "running" => RunStatus::Running,
        "pending" => RunStatus::Pending,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_crosses_the_store_unchanged() {
        let states = [
            RunStatus::Done,
            RunStatus::Failed("diverged at epoch 3\nsecond line".into()),
            RunStatus::Interrupted,
            RunStatus::Running,
            RunStatus::Pending,
        ];
        for status in states {
            assert_eq!(decode(&encode(&status)), Some(status));
        }
        assert_eq!(decode("finished"), None);
    }
}
