//! Graceful shutdown on Ctrl-C (SIGINT) and SIGTERM (what Kubernetes sends).
//!
//! The first signal stops launching: the launcher of the run in progress gives the requests in flight a grace
//! period, records the rest as `cancelled`, and the run's files and summary are written as usual; runs not yet
//! started are skipped. A second signal exits at once (exit code 130 / 143): the per-request log, written a
//! line at a time, stays readable.
//!
//! Only the binary turns this on ([`handle_signals`]): a library user's process keeps its own signal
//! handling.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::time::Duration;

use actix::Recipient;

use crate::messages::StopRun;

/// Whether runs listen for signals (see [`handle_signals`]).
static ENABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes the runs of this process stop gracefully on SIGINT and SIGTERM (the binary calls it). Without it, a
/// library user's signals are left alone.
pub fn handle_signals() {
    ENABLED.store(true, Ordering::SeqCst);
}

/// Signals received so far.
static RECEIVED: AtomicUsize = AtomicUsize::new(0);
/// The first signal's number (0 = none).
static FIRST: AtomicI32 = AtomicI32::new(0);
/// The launcher of the run in progress, and the grace period to give it.
static CURRENT: Mutex<Option<(Recipient<StopRun>, Duration)>> = Mutex::new(None);

/// The signal that asked the process to stop (`libc::SIGINT` or `libc::SIGTERM`), if one did.
pub fn requested() -> Option<i32> {
    match FIRST.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// The exit code for a run stopped by `signal`: 128 + its number (130 for SIGINT, 143 for SIGTERM).
pub fn exit_code(signal: i32) -> u8 {
    (128 + signal).clamp(0, 255) as u8
}

fn name(signal: i32) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT (Ctrl-C)",
        libc::SIGTERM => "SIGTERM",
        _ => "signal",
    }
}

/// Makes `launcher` the run that a signal stops, giving its requests in flight `grace`. If a signal has
/// already arrived, the run is stopped at once.
pub fn register(launcher: Recipient<StopRun>, grace: Duration) {
    if requested().is_some() {
        launcher.do_send(StopRun { grace });
    }
    if let Ok(mut current) = CURRENT.lock() {
        *current = Some((launcher, grace));
    }
}

/// The run has finished: nothing to stop any more.
pub fn unregister() {
    if let Ok(mut current) = CURRENT.lock() {
        *current = None;
    }
}

/// What one signal does: the first stops the run in progress (and the runs after it), a second exits.
fn on_signal(signal: i32) {
    let n = RECEIVED.fetch_add(1, Ordering::SeqCst) + 1;
    if n == 1 {
        FIRST.store(signal, Ordering::SeqCst);
        let current = CURRENT.lock().ok().and_then(|c| c.clone());
        let grace = current.as_ref().map(|(_, g)| *g).unwrap_or_default();
        eprintln!(
            "\nreceived {}: launching no more requests; requests in flight get {:.0} s (grace_period), then \
             are recorded as cancelled, and the results are written. Send it again to exit at once.",
            name(signal),
            grace.as_secs_f64()
        );
        if let Some((launcher, grace)) = current {
            launcher.do_send(StopRun { grace });
        }
    } else {
        eprintln!(
            "\nreceived {} again: exiting now (the per-request log keeps every request finished so far)",
            name(signal)
        );
        std::process::exit(i32::from(exit_code(signal)));
    }
}

/// Listens for SIGINT and SIGTERM on the current actix (tokio) runtime for as long as it runs, if
/// [`handle_signals`] was called. Call it inside the system that runs the benchmark.
pub fn listen() {
    use tokio::signal::unix::{SignalKind, signal};
    if !ENABLED.load(Ordering::SeqCst) {
        return;
    }
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        log::warn!(
            "cannot listen for SIGINT/SIGTERM: Ctrl-C will stop the process without writing results"
        );
        return;
    };
    actix_rt::spawn(async move {
        loop {
            let sig = {
                let a = std::pin::pin!(int.recv());
                let b = std::pin::pin!(term.recv());
                match futures_util::future::select(a, b).await {
                    futures_util::future::Either::Left((Some(()), _)) => libc::SIGINT,
                    futures_util::future::Either::Right((Some(()), _)) => libc::SIGTERM,
                    _ => return,
                }
            };
            on_signal(sig);
        }
    });
}
