//! The one integration-test binary (every tch-linked binary costs seconds to link).

mod architectures;
mod diagnostics;
mod docs;
mod dsl;
mod fmt;
mod graph;
mod kill;
mod lowering;
mod ops;
mod run_outputs;
mod training;

/// libtorch's random generator is global to the process: tests that seed it or draw from
/// it (initialisation, dropout, random inputs) hold this lock, so tests running in
/// parallel threads cannot perturb each other's random streams.
pub fn torch_rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
