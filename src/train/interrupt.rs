//! Ctrl-C: the first press asks the training loop to stop at the next batch boundary (it
//! then saves `last` and says how to resume); a second press exits at once.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

/// Installs the handler (once per process; later calls do nothing).
pub fn install() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            if STOP.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!("\ninterrupted: finishing the current batch and saving a checkpoint (Ctrl-C again to quit now)");
        });
    });
}

pub fn requested() -> bool {
    STOP.load(Ordering::SeqCst)
}
