//! Ctrl-C: the first press asks the training loop (or a scoring job) to stop at the next
//! batch boundary (training then saves `last`); a second press exits at once. SIGTERM and
//! SIGHUP do the same (ctrlc's `termination` feature): that is how Slurm stops a task on
//! scancel, preemption or its time limit, so a requeued task resumes where it stopped. The
//! library only reads the flag ([`requested`]); the program installs the handler
//! ([`install`]), whose message is the one thing here that prints.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);
static SIGNALS: AtomicUsize = AtomicUsize::new(0);

/// Installs the handler (once per process; later calls do nothing).
pub fn install() {
    install_saying("finishing the current batch and saving a checkpoint");
}

/// Installs the handler with what the first Ctrl-C does, for the message it prints
/// (once per process; later calls do nothing).
pub fn install_saying(what: &'static str) {
    install_handler(what, false);
}

/// Installs a handler that only counts the signals ([`signals`]), prints nothing and never
/// exits: for `--nproc`'s launcher, which passes each one on to its ranks (rank 0 says what
/// it does) and exits when they have.
pub fn install_counting() {
    install_handler("", true);
}

fn install_handler(what: &'static str, counting: bool) {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let _ = ctrlc::set_handler(move || {
            SIGNALS.fetch_add(1, Ordering::SeqCst);
            if STOP.swap(true, Ordering::SeqCst) {
                if !counting {
                    std::process::exit(130);
                }
                return;
            }
            // In a job, rank 0 speaks for every rank (and `--nproc`'s launcher lets it).
            if !counting && crate::dist::is_leader() {
                let line = crate::report::prefixed(&format!("interrupted: {what} (Ctrl-C again to quit now)"));
                eprintln!("\n{line}");
            }
        });
    });
}

pub fn requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// How many interrupting signals this process has had.
pub fn signals() -> usize {
    SIGNALS.load(Ordering::SeqCst)
}
