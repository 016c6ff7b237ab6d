//! Decoding the next batches on background threads while the model trains on this one.
//!
//! Jobs `0..count` are produced by `workers` threads, at most `depth` ahead of the consumer,
//! and handed out strictly in order; what a job produces depends only on its number, so
//! the result is the same as decoding them one after the other. When the consumer stops
//! early (Ctrl-C, an error, the end of a smoke run) the workers finish the job in hand and
//! exit.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::{Condvar, Mutex};

/// Shared state: the next job to claim, how many were consumed, and whether to stop.
struct State {
    next: usize,
    consumed: usize,
    stop: bool,
}

/// The consumer's side: jobs in order.
pub struct Prefetched<'a, T> {
    rx: mpsc::Receiver<(usize, T)>,
    ready: BTreeMap<usize, T>,
    next: usize,
    count: usize,
    state: &'a (Mutex<State>, Condvar),
}

impl<T> Prefetched<'_, T> {
    /// The next job's result, in order; `None` after the last.
    pub fn next_job(&mut self) -> Option<T> {
        if self.next >= self.count {
            return None;
        }
        loop {
            if let Some(item) = self.ready.remove(&self.next) {
                self.next += 1;
                let (lock, wake) = self.state;
                if let Ok(mut s) = lock.lock() {
                    s.consumed = self.next;
                }
                wake.notify_all();
                return Some(item);
            }
            match self.rx.recv() {
                Ok((k, item)) => {
                    self.ready.insert(k, item);
                }
                // Every worker is gone (it panicked): nothing more will come.
                Err(_) => return None,
            }
        }
    }
}

/// Runs `consume` with the results of `make(0..count)` in order, computed by `workers`
/// background threads at most `depth` jobs ahead. With `workers == 0` the jobs run on the
/// calling thread, one at a time.
pub fn prefetch<T: Send, R>(
    count: usize,
    workers: usize,
    depth: usize,
    make: impl Fn(usize) -> T + Sync,
    consume: impl FnOnce(&mut dyn Iterator<Item = T>) -> R,
) -> R {
    if workers == 0 {
        return consume(&mut (0..count).map(&make));
    }
    let state = (Mutex::new(State { next: 0, consumed: 0, stop: false }), Condvar::new());
    let depth = depth.max(1);
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel();
        for _ in 0..workers {
            let tx = tx.clone();
            let (state, make) = (&state, &make);
            scope.spawn(move || {
                loop {
                    let job = {
                        let (lock, wake) = state;
                        let Ok(mut s) = lock.lock() else { return };
                        while !s.stop && s.next < count && s.next >= s.consumed + depth {
                            s = match wake.wait(s) {
                                Ok(s) => s,
                                Err(_) => return,
                            };
                        }
                        if s.stop || s.next >= count {
                            return;
                        }
                        s.next += 1;
                        s.next - 1
                    };
                    if tx.send((job, make(job))).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut jobs = Prefetched { rx, ready: BTreeMap::new(), next: 0, count, state: &state };
        let result = consume(&mut std::iter::from_fn(|| jobs.next_job()));
        let (lock, wake) = &state;
        if let Ok(mut s) = lock.lock() {
            s.stop = true;
        }
        wake.notify_all();
        drop(jobs);
        result
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn results_come_in_order_and_stay_bounded() {
        let made = AtomicUsize::new(0);
        let slow = |k: usize| {
            made.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_micros(((k * 7919) % 5) as u64 * 200));
            k * k
        };
        let got: Vec<usize> = prefetch(50, 3, 4, slow, |jobs| jobs.collect());
        assert_eq!(got, (0..50).map(|k| k * k).collect::<Vec<_>>());
        // Stopping early: only jobs up to the lookahead were made.
        made.store(0, Ordering::SeqCst);
        let first: Vec<usize> = prefetch(1000, 2, 3, slow, |jobs| jobs.take(5).collect());
        assert_eq!(first, [0, 1, 4, 9, 16]);
        assert!(made.load(Ordering::SeqCst) <= 5 + 3 + 2, "{}", made.load(Ordering::SeqCst));
        let inline: Vec<usize> = prefetch(4, 0, 1, |k| k + 1, |jobs| jobs.collect());
        assert_eq!(inline, [1, 2, 3, 4]);
    }
}
