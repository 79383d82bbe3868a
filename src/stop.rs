//! Stopping a run: a [`StopHandle`] belongs to the runs it is passed to, not to the process.
//!
//! [`StopHandle::stop`] stops launching: the launcher of the run in progress gives the requests in flight a
//! grace period (`grace_period`), records the rest as `cancelled`, and the run's files and summary are written
//! as usual; runs not yet started are skipped. Two runs in one process with two handles stop independently.
//!
//! The binary wires Ctrl-C (SIGINT) and SIGTERM (what Kubernetes sends) to the handle it passes
//! ([`StopHandle::stop_on_signals`]): the first signal stops, a second exits at once (exit code 130 / 143;
//! the per-request log, written a line at a time, stays readable). A library user's signals are left alone
//! unless it asks for the same.

use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::Recipient;

use crate::messages::StopRun;

/// What [`StopHandle::signal`] holds when [`StopHandle::stop`] was called without a signal.
const STOPPED_BY_CALL: i32 = -1;

/// Stops the runs it was passed to (`run_load_tests_with`, `run_correctness_tests_with`): cheap to clone,
/// every clone stops the same runs, from any thread.
///
/// A handle stays stopped: a run started with a stopped handle is skipped at once.
#[derive(Clone, Default)]
pub struct StopHandle {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// 0 = running; [`STOPPED_BY_CALL`]; or the number of the signal that stopped it.
    reason: AtomicI32,
    /// The launcher of the run in progress, and the grace period to give it.
    target: Mutex<Option<(Recipient<StopRun>, Duration)>>,
}

impl std::fmt::Debug for StopHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StopHandle")
            .field("stopped", &self.is_stopped())
            .field("signal", &self.signal())
            .finish()
    }
}

impl StopHandle {
    /// A handle that has not been stopped.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops the runs holding this handle: nothing more is launched; requests in flight get the grace period,
    /// then are recorded as cancelled, and the results are written. Runs not yet started are skipped.
    pub fn stop(&self) {
        self.stop_with(STOPPED_BY_CALL);
    }

    /// [`stop`](Self::stop), recording that `signal` (e.g. `libc::SIGINT`) asked for it, for
    /// [`signal`](Self::signal) and the exit code.
    pub fn stop_by_signal(&self, signal: i32) {
        self.stop_with(signal);
    }

    fn stop_with(&self, reason: i32) {
        // The first reason sticks.
        let _ = self
            .inner
            .reason
            .compare_exchange(0, reason, Ordering::SeqCst, Ordering::SeqCst);
        if let Some((launcher, grace)) = self.target() {
            launcher.do_send(StopRun { grace });
        }
    }

    /// Whether [`stop`](Self::stop) (or [`stop_by_signal`](Self::stop_by_signal)) was called.
    pub fn is_stopped(&self) -> bool {
        self.inner.reason.load(Ordering::SeqCst) != 0
    }

    /// The signal that stopped the runs, if one did (not set by [`stop`](Self::stop)).
    pub fn signal(&self) -> Option<i32> {
        match self.inner.reason.load(Ordering::SeqCst) {
            s if s > 0 => Some(s),
            _ => None,
        }
    }

    /// The exit code for runs stopped by a signal: 128 + its number (130 for SIGINT, 143 for SIGTERM); `None`
    /// when no signal stopped them.
    pub fn exit_code(&self) -> Option<u8> {
        self.signal().map(exit_code)
    }

    /// The grace period of the run in progress (`None` between runs).
    pub fn grace_period(&self) -> Option<Duration> {
        self.target().map(|(_, grace)| grace)
    }

    fn target(&self) -> Option<(Recipient<StopRun>, Duration)> {
        self.inner.target.lock().ok().and_then(|t| t.clone())
    }

    /// Why runs stop, for the log: "stopped by a signal" or "stopped".
    pub(crate) fn why(&self) -> &'static str {
        if self.signal().is_some() {
            "stopped by a signal"
        } else {
            "stopped"
        }
    }

    /// Makes `launcher` the run this handle stops, giving its requests in flight `grace`. If the handle is
    /// already stopped, the run is stopped at once.
    pub(crate) fn register(&self, launcher: Recipient<StopRun>, grace: Duration) {
        if let Ok(mut target) = self.inner.target.lock() {
            *target = Some((launcher.clone(), grace));
        }
        // After storing it: a stop between the two steps reaches the launcher at least once.
        if self.is_stopped() {
            launcher.do_send(StopRun { grace });
        }
    }

    /// The run has finished: nothing to stop any more.
    pub(crate) fn unregister(&self) {
        if let Ok(mut target) = self.inner.target.lock() {
            *target = None;
        }
    }

    /// Stops this handle's runs on SIGINT (Ctrl-C) or SIGTERM, with a line on stderr; a second signal exits
    /// the process at once with [`exit_code`](Self::exit_code). Listens on a thread of its own for the rest of the process's
    /// life; what the binary does. Fails when the signal handlers cannot be installed.
    pub fn stop_on_signals(&self) -> std::io::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()?;
        // Installed here, before returning: a signal from now on is ours.
        let (mut int, mut term) = rt.block_on(async {
            Ok::<_, std::io::Error>((
                signal(SignalKind::interrupt())?,
                signal(SignalKind::terminate())?,
            ))
        })?;
        let handle = self.clone();
        let received = AtomicUsize::new(0);
        std::thread::Builder::new()
            .name("stop-on-signals".into())
            .spawn(move || {
                rt.block_on(async move {
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
                        on_signal(&handle, &received, sig);
                    }
                })
            })?;
        Ok(())
    }
}

/// The exit code for a run stopped by `signal`: 128 + its number (130 for SIGINT, 143 for SIGTERM).
fn exit_code(signal: i32) -> u8 {
    (128 + signal).clamp(0, 255) as u8
}

fn name(signal: i32) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT (Ctrl-C)",
        libc::SIGTERM => "SIGTERM",
        _ => "signal",
    }
}

/// What one signal does: the first stops the handle's runs, a second exits.
fn on_signal(handle: &StopHandle, received: &AtomicUsize, signal: i32) {
    if received.fetch_add(1, Ordering::SeqCst) == 0 {
        eprintln!(
            "\nreceived {}: launching no more requests; requests in flight get {:.0} s (grace_period), then \
             are recorded as cancelled, and the results are written. Send it again to exit at once.",
            name(signal),
            handle.grace_period().unwrap_or_default().as_secs_f64()
        );
        handle.stop_by_signal(signal);
    } else {
        eprintln!(
            "\nreceived {} again: exiting now (the per-request log keeps every request finished so far)",
            name(signal)
        );
        std::process::exit(i32::from(exit_code(signal)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_sticks_and_clones_share_it() {
        let a = StopHandle::new();
        let b = StopHandle::new();
        let a2 = a.clone();
        assert!(!a.is_stopped());
        a2.stop_by_signal(libc::SIGTERM);
        assert!(a.is_stopped() && a.signal() == Some(libc::SIGTERM));
        // The first reason stays.
        a.stop_by_signal(libc::SIGINT);
        assert_eq!(a.signal(), Some(libc::SIGTERM));
        assert!(!b.is_stopped());
        b.stop();
        assert!(b.is_stopped() && b.signal().is_none());
        assert_eq!(a.exit_code(), Some(143));
        assert_eq!(b.exit_code(), None);
        assert_eq!(exit_code(libc::SIGINT), 130);
    }
}
