//! The start-up check that every rank trains the same thing: each publishes a digest of what
//! it was given (the architecture file, the resolved settings, the data's identity, avc's
//! version) in the store, and every rank compares them all, so that ranks started with
//! different files or flags are refused at once, with what differs named, rather than
//! averaging the gradients of different models or hanging.

use super::{DistError, Group};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One thing the ranks must agree on: its name for messages and a digest of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub name: String,
    pub digest: String,
}

impl Item {
    pub fn of(name: &str, bytes: &[u8]) -> Item {
        let digest = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
        Item { name: name.into(), digest }
    }
}

/// The ranks disagree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the ranks were not started alike: rank {rank}'s {} differ{} from rank 0's; start every rank with \
     the same architecture file, flags, data and avc",
    .differ.join(", "),
    if .differ.len() == 1 && !.differ[0].ends_with('s') { "s" } else { "" }
)]
pub struct Mismatch {
    pub rank: usize,
    pub differ: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AgreeError {
    #[error(transparent)]
    Dist(#[from] DistError),
    #[error(transparent)]
    Mismatch(#[from] Mismatch),
}

/// Publishes this rank's items under `key` and checks every rank's against rank 0's.
pub fn agree(group: &Group, key: &str, items: &[Item]) -> Result<(), AgreeError> {
    let mine = serde_json::to_vec(items).unwrap_or_default();
    group.set(&format!("avc/agree/{key}/{}", group.rank), &mine)?;
    let read = |rank: usize| -> Result<Vec<Item>, DistError> {
        let bytes = super::wait_for(group, &format!("avc/agree/{key}/{rank}"))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| DistError { what: format!("reading rank {rank}'s start-up digests"), message: e.to_string() })
    };
    let leader = read(0)?;
    for rank in 1..group.world {
        let theirs = read(rank)?;
        let differ = differences(&leader, &theirs);
        if !differ.is_empty() {
            return Err(Mismatch { rank, differ }.into());
        }
    }
    Ok(())
}

/// The names of the items whose digests differ (or that only one side has).
pub fn differences(a: &[Item], b: &[Item]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for item in a.iter().chain(b) {
        let other = if a.contains(item) { b } else { a };
        if !other.contains(item) && !names.contains(&item.name) {
            names.push(item.name.clone());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_are_named_once() {
        let a = [Item::of("settings", b"lr 1"), Item::of("data", b"x")];
        let b = [Item::of("settings", b"lr 2"), Item::of("data", b"x")];
        assert_eq!(differences(&a, &b), ["settings"]);
        assert!(differences(&a, &a).is_empty());
        let m = Mismatch { rank: 1, differ: vec!["settings".into()] };
        assert!(m.to_string().starts_with("the ranks were not started alike: rank 1's settings differ from rank 0's"));
    }
}
