//! Ctrl-C and SIGTERM: the first asks the app to shut down gracefully (a
//! message on the receiver [`interrupts`] returns); the second ends the
//! `wippy` process at once with status 1, saying so, as Wippy does.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;

/// What the first interrupt logs after `received shutdown signal` (Wippy's
/// words).
pub const SHUTTING_DOWN: &str = "shutting down (press Ctrl+C again to force exit)";

/// Installs the handler (once per process) and returns the receiver of the
/// first interrupt.
pub fn interrupts() -> Receiver<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    // The handler runs on ctrlc's own thread, one signal after another;
    // the count is only read and written there.
    let count = AtomicUsize::new(0);
    let installed = ctrlc::set_handler(move || {
        if count.fetch_add(1, Ordering::Relaxed) == 0 {
            tx.send(()).ok();
        } else {
            eprintln!("wippy: interrupted again; forced exit");
            std::process::exit(1);
        }
    });
    if let Err(e) = installed {
        tracing::warn!("cannot install the Ctrl-C handler: {e}");
    }
    rx
}

/// Logs the first interrupt's lines (Wippy's).
pub fn announce_shutdown() {
    tracing::info!("received shutdown signal");
    tracing::info!("{SHUTTING_DOWN}");
}
