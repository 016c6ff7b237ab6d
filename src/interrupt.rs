//! Ctrl-C: the first press asks the training loop (or a scoring job) to stop at the next
//! batch boundary (training then saves `last`); a second press exits at once. SIGTERM and
//! SIGHUP do the same (ctrlc's `termination` feature): that is how Slurm stops a task on
//! scancel, preemption or its time limit, so a requeued task resumes where it stopped. The
//! library only reads the flag ([`requested`]); the program installs the handler
//! ([`install`]), whose message is the one thing here that prints.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

/// Installs the handler (once per process; later calls do nothing).
pub fn install() {
    install_saying("finishing the current batch and saving a checkpoint");
}

/// Installs the handler with what the first Ctrl-C does, for the message it prints
/// (once per process; later calls do nothing).
pub fn install_saying(what: &'static str) {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let _ = ctrlc::set_handler(move || {
            if STOP.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!("\ninterrupted: {what} (Ctrl-C again to quit now)");
        });
    });
}

pub fn requested() -> bool {
    STOP.load(Ordering::SeqCst)
}
