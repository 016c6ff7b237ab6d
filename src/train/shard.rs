//! Which training rows each rank of a data-parallel job trains on.
//!
//! By default every rank shuffles all the training rows alike and trains its share of each
//! batch, cut by position ([`super::epoch`]'s `Shares`): N ranks then give exactly the numbers
//! of one process with `train.accumulate: N`, but each rank reads clips from every file.
//!
//! When the training split is streamed YouTube-8M records from at least as many files as
//! there are ranks, the files are split between the ranks instead (as tf.data's `shard` or
//! a per-rank file list does): each rank trains only on the records of its own files, so a
//! rank's reads touch only its files (file locality: a node's page cache, a local copy, a
//! network file system's per-file costs). Each rank shuffles its own rows per epoch and
//! takes its part of each global batch of `train.batch_size` rows; the job keeps one global
//! batch per optimiser step.
//!
//! Every rank must run the same number of optimiser steps an epoch, or the gradient
//! all-reduce of the rank with more steps waits for ever. The plan is computed from the
//! index, which every rank holds identically (the start-up agreement checks its digest), so
//! every rank computes every rank's row count, and so the common step count, locally: no
//! communication. The step count is the smallest rank's; a larger rank's rows beyond it are
//! left out of that epoch (a different draw each epoch, since each epoch shuffles anew). So
//! that this never costs much of an epoch, files are given to the ranks largest first, each
//! to the rank with the fewest rows (for files of one size: file i to rank i % N), and a job
//! whose file split would leave more than a tenth of the training clips out of each epoch
//! keeps the split by index (three files of one size on two ranks would leave a third out).
//!
//! What `open` loads does not change: the validation rows (rows of the training split) and
//! the test clips stay readable by every rank. A training split held in memory keeps the
//! split by index: every rank loaded all of it already, so a file split would save no read.

use crate::data::split::{Item, Split};
use crate::random::at as mix;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// How the rows are divided, and the line that says so at the start of a run.
pub(super) struct Planned {
    pub sharding: Sharding,
    /// For a job of several ranks: which split it uses, and why when not by file.
    pub note: Option<String>,
}

/// Which rows this rank trains on.
pub(super) enum Sharding {
    /// Every rank walks the same shuffled order of all training rows and trains its share of
    /// each batch by position.
    ByIndex,
    /// This rank trains on its own files' rows only.
    ByFile(FileShare),
}

/// A rank's training rows when the training files are split by rank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FileShare {
    rank: usize,
    /// Rows of the training split from this rank's files, in the training rows' order.
    rows: Vec<usize>,
    /// This rank's rows per optimiser step: its part of `train.batch_size`.
    per_step: usize,
    /// Optimiser steps an epoch, the same on every rank.
    steps: usize,
}

/// A salt for the per-rank order, so that its stream differs from the batch streams.
const ORDER_SALT: u64 = 0x5_4a2d_f11e;

/// A file split may leave at most one in this many training rows out of an epoch.
const MAX_LEFT_OUT: usize = 10;

impl FileShare {
    /// This rank's rows of `epoch`, in training order: its rows shuffled by a stream of
    /// (seed, epoch, rank), cut to `steps` steps. The order depends on nothing else, so an
    /// interrupted epoch resumed at step k takes the same rows from k on.
    pub fn order(&self, seed: u64, epoch: i64) -> Vec<usize> {
        let mut order = self.rows.clone();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(mix(seed ^ ORDER_SALT, epoch as u64, self.rank as u64)));
        order.truncate(self.steps * self.per_step);
        order
    }

    pub fn per_step(&self) -> usize {
        self.per_step
    }
}

/// The plan for the training split `split`'s rows `train_idx` on rank `rank` of a job of
/// `world` ranks (one process: `None`).
pub(super) fn plan_for(
    split: &Split,
    train_idx: &[usize],
    job: Option<(usize, usize)>,
    batch_size: i64,
    accumulate: i64,
) -> Planned {
    let Some((rank, world)) = job.filter(|&(_, world)| world > 1) else {
        return Planned { sharding: Sharding::ByIndex, note: None };
    };
    let by_index = |why: &str| Planned {
        sharding: Sharding::ByIndex,
        note: Some(format!("data: each rank reads its share of every batch by index ({why})")),
    };
    let files: Option<Vec<usize>> = match split {
        Split::Memory(_) => return by_index("the training split is held in memory on every rank"),
        Split::Stream(s) => train_idx
            .iter()
            .map(|&row| match s.items.get(row) {
                Some(Item::Record { shard, .. }) => Some(*shard),
                _ => None,
            })
            .collect(),
    };
    let Some(files) = files else { return by_index("the training clips are not TFRecord records") };
    let batch = usize::try_from(batch_size).unwrap_or(0);
    let accumulate = usize::try_from(accumulate).unwrap_or(1).max(1);
    plan(train_idx, &files, rank, world, batch, accumulate)
}

/// The plan for training rows `rows`, row i from file `files[i]`, on rank `rank` of `world`
/// (> 1) ranks, `batch` rows an optimiser step cut in `accumulate` micro-batches a rank.
fn plan(rows: &[usize], files: &[usize], rank: usize, world: usize, batch: usize, accumulate: usize) -> Planned {
    let by_index = |why: String| Planned {
        sharding: Sharding::ByIndex,
        note: Some(format!("data: each rank reads its share of every batch by index ({why})")),
    };
    let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
    for &f in files {
        *counts.entry(f).or_default() += 1;
    }
    let n_files = counts.len();
    if n_files < world {
        return by_index(format!(
            "{n_files} training shard{} for {world} ranks: splitting by file needs one a rank",
            plural(n_files)
        ));
    }
    // The first `batch % world` ranks take one row more per step.
    let per_step: Vec<usize> = (0..world).map(|r| batch / world + usize::from(r < batch % world)).collect();
    if batch / world < 2 * accumulate {
        return by_index(format!("batch_size {batch} leaves fewer than 2 clips a micro-batch on {world} ranks"));
    }
    // Largest first, each to the rank whose rows, per row it takes a step, are fewest.
    let mut by_size: Vec<(usize, usize)> = counts.iter().map(|(&f, &c)| (f, c)).collect();
    by_size.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut load = vec![0usize; world];
    let mut owner: BTreeMap<usize, usize> = BTreeMap::new();
    for (file, count) in by_size {
        let r = (0..world)
            .min_by(|&a, &b| (load[a] as u128 * per_step[b] as u128).cmp(&(load[b] as u128 * per_step[a] as u128)))
            .unwrap_or(0);
        load[r] += count;
        owner.insert(file, r);
    }
    let steps = (0..world).map(|r| load[r] / per_step[r]).min().unwrap_or(0);
    let n = rows.len();
    let left_out = n - steps * batch;
    if left_out * MAX_LEFT_OUT > n {
        return by_index(format!(
            "split by file, the {n_files} training shards would leave {left_out} of the {n} training clips out of \
             each epoch"
        ));
    }
    let mine: Vec<usize> =
        rows.iter().zip(files).filter(|(_, f)| owner.get(f) == Some(&rank)).map(|(&r, _)| r).collect();
    let per_rank: Vec<usize> = (0..world).map(|r| owner.values().filter(|&&o| o == r).count()).collect();
    let (least, most) = (per_rank.iter().min().unwrap_or(&0), per_rank.iter().max().unwrap_or(&0));
    let spread = if least == most { format!("{least}") } else { format!("{least} to {most}") };
    let note = format!(
        "data: {n_files} training shards split by rank ({spread} per rank); each epoch {steps} step{} of {batch} \
         clips, {left_out} of the {n} training clips left out",
        plural(steps)
    );
    let share = FileShare { rank, rows: mine, per_step: per_step[rank], steps };
    Planned { sharding: Sharding::ByFile(share), note: Some(note) }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// `per_file` rows in each of the files' sizes, rows numbered from 100 (not positions).
    fn rows_of(sizes: &[usize]) -> (Vec<usize>, Vec<usize>) {
        let files: Vec<usize> = sizes.iter().enumerate().flat_map(|(f, &n)| std::iter::repeat_n(f, n)).collect();
        ((100..100 + files.len()).collect(), files)
    }

    fn shares(sizes: &[usize], world: usize, batch: usize, accumulate: usize) -> Vec<FileShare> {
        let (rows, files) = rows_of(sizes);
        (0..world)
            .map(|r| match plan(&rows, &files, r, world, batch, accumulate).sharding {
                Sharding::ByFile(s) => s,
                Sharding::ByIndex => panic!("rank {r} split by index: {sizes:?} on {world}"),
            })
            .collect()
    }

    fn files_of(share: &FileShare, sizes: &[usize]) -> BTreeSet<usize> {
        let (rows, files) = rows_of(sizes);
        share.rows.iter().map(|r| files[rows.iter().position(|x| x == r).unwrap()]).collect()
    }

    /// Files of one size go round the ranks: file i to rank i % N.
    #[test]
    fn equal_files_go_round_the_ranks() {
        let sizes = [10; 9];
        let s = shares(&sizes, 3, 6, 1);
        assert_eq!(files_of(&s[0], &sizes), BTreeSet::from([0, 3, 6]));
        assert_eq!(files_of(&s[1], &sizes), BTreeSet::from([1, 4, 7]));
        assert_eq!(files_of(&s[2], &sizes), BTreeSet::from([2, 5, 8]));
    }

    /// Unequal files are balanced largest first; every rank runs the same number of steps,
    /// whatever its rows, and the first ranks take the batch's remainder.
    #[test]
    fn every_rank_runs_the_same_steps() {
        let sizes = [50, 10, 10, 30, 20, 25, 15];
        let s = shares(&sizes, 3, 10, 1);
        assert_eq!(s.iter().map(|x| x.per_step).collect::<Vec<_>>(), [4, 3, 3]);
        let steps = s[0].steps;
        assert!(s.iter().all(|x| x.steps == steps));
        for share in &s {
            assert!(share.rows.len() >= steps * share.per_step);
            assert_eq!(share.order(1, 1).len(), steps * share.per_step);
        }
        // 160 rows over 10 a step: at most a tenth left out.
        assert!(steps >= 15, "{steps}");
        // Each file is one rank's, whole.
        let owned: Vec<BTreeSet<usize>> = s.iter().map(|x| files_of(x, &sizes)).collect();
        for f in 0..sizes.len() {
            assert_eq!(owned.iter().filter(|o| o.contains(&f)).count(), 1, "file {f}: {owned:?}");
        }
    }

    /// When the files divide evenly, an epoch's rows over all ranks are all training rows,
    /// each once.
    #[test]
    fn the_ranks_rows_make_up_the_epoch() {
        let sizes = [12; 6];
        let (rows, _) = rows_of(&sizes);
        let s = shares(&sizes, 2, 8, 2);
        let mut all: Vec<usize> = s.iter().flat_map(|x| x.order(7, 3)).collect();
        all.sort_unstable();
        assert_eq!(all, rows);
        assert_eq!(s[0].steps, 9);
    }

    /// The order is a function of (seed, epoch, rank) only: the same on every call, another
    /// for another epoch or seed, and a permutation of the rank's rows.
    #[test]
    fn the_order_is_deterministic() {
        let s = shares(&[20; 4], 2, 8, 1);
        let a = s[1].order(1, 2);
        assert_eq!(a, s[1].order(1, 2));
        assert_ne!(a, s[1].order(1, 3));
        assert_ne!(a, s[1].order(2, 2));
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, s[1].rows);
    }

    #[test]
    fn too_few_files_or_too_uneven_keep_the_split_by_index() {
        let (rows, files) = rows_of(&[10, 10, 10]);
        let p = plan(&rows, &files, 0, 4, 8, 1);
        assert!(matches!(p.sharding, Sharding::ByIndex));
        assert!(p.note.unwrap().contains("3 training shards for 4 ranks"));
        // Three files of one size on two ranks: one rank has twice the rows, so a third of
        // the epoch would be left out.
        let p = plan(&rows, &files, 0, 2, 4, 1);
        assert!(matches!(p.sharding, Sharding::ByIndex));
        assert!(p.note.unwrap().contains("would leave 10 of the 30 training clips out of each epoch"));
        // A batch too small to give each micro-batch 2 clips.
        let p = plan(&rows, &files, 0, 3, 9, 2);
        assert!(matches!(p.sharding, Sharding::ByIndex));
        // One process: nothing to split, nothing said.
        let split = Split::Memory(crate::data::Clips::empty([2, 2], 1, 1));
        assert!(plan_for(&split, &[], None, 8, 1).note.is_none());
        assert!(plan_for(&split, &[], Some((0, 2)), 8, 1).note.unwrap().contains("held in memory"));
    }

    #[test]
    fn the_note_says_the_split() {
        let (rows, files) = rows_of(&[40, 36, 20, 10, 7]);
        let p = plan(&rows, &files, 1, 2, 16, 1);
        assert_eq!(
            p.note.as_deref(),
            Some(
                "data: 5 training shards split by rank (2 to 3 per rank); each epoch 7 steps of 16 clips, 1 of the \
                 113 training clips left out"
            )
        );
    }
}
