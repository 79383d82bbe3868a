//! A follow-on: a request the launcher queues on a busy client actor, to start there the moment the client's
//! request in flight ends — a closed loop's next request, sent without the round trip through the launcher
//! (the reply crossing to the launcher's thread and the next request crossing back: two cross-thread
//! wake-ups, tens of microseconds each, between one response's end and the next request's first byte).
//!
//! Who decides whether it starts is settled once, by whoever gets there first, through one atomic word that
//! both threads share:
//!
//! - the client, when its request in flight has ended: [`FollowOn::start`] starts it — unless the run's
//!   timeout has passed (nothing is sent after it) or the launcher withdrew it;
//! - the launcher, when the run is stopped or its grace period ends: [`FollowOn::withdraw`] withdraws it —
//!   unless it has started, in which case it is in flight like any other request (and recorded as such).
//!
//! A follow-on that never started was never sent: it is not counted as launched and leaves no record.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Not started yet.
const QUEUED: u64 = 0;
/// Will never start (withdrawn, or refused for the timeout). Any other value is the start, in nanoseconds
/// after `base`, plus one.
const NOT_STARTED: u64 = u64::MAX;

/// What became of a follow-on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowOnState {
    /// Waiting for the client's request in flight to end.
    Queued,
    /// Started at this instant: it is in flight (or done).
    Started(Instant),
    /// Withdrawn by the launcher or refused for the timeout: never sent.
    NotStarted,
}

/// The shared decision of one follow-on (see the module docs).
#[derive(Debug)]
pub struct FollowOn {
    base: Instant,
    deadline: Option<Instant>,
    state: AtomicU64,
}

impl FollowOn {
    /// A queued follow-on that must not start at or after `deadline`. `base` is any instant not after now
    /// (the run's start): the start is kept as an offset from it.
    pub fn new(base: Instant, deadline: Option<Instant>) -> FollowOn {
        FollowOn {
            base,
            deadline,
            state: AtomicU64::new(QUEUED),
        }
    }

    /// The client: starts it now, if it is still queued and the deadline has not passed; whether it started.
    pub fn start(&self) -> bool {
        let now = Instant::now();
        let next = match self.deadline {
            Some(d) if now >= d => NOT_STARTED,
            _ => {
                let ns = now.saturating_duration_since(self.base).as_nanos();
                u64::try_from(ns).unwrap_or(NOT_STARTED - 2) + 1
            }
        };
        let settled =
            self.state
                .compare_exchange(QUEUED, next, Ordering::AcqRel, Ordering::Acquire);
        settled.is_ok() && next != NOT_STARTED
    }

    /// The launcher: withdraws it unless it has started; what became of it.
    pub fn withdraw(&self) -> FollowOnState {
        let _ =
            self.state
                .compare_exchange(QUEUED, NOT_STARTED, Ordering::AcqRel, Ordering::Acquire);
        self.state()
    }

    /// Where it stands.
    pub fn state(&self) -> FollowOnState {
        match self.state.load(Ordering::Acquire) {
            QUEUED => FollowOnState::Queued,
            NOT_STARTED => FollowOnState::NotStarted,
            at => FollowOnState::Started(self.base + std::time::Duration::from_nanos(at - 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_first_to_decide_wins() {
        let base = Instant::now();
        let f = FollowOn::new(base, None);
        assert_eq!(f.state(), FollowOnState::Queued);
        assert!(f.start());
        let FollowOnState::Started(at) = f.state() else {
            panic!("{:?}", f.state());
        };
        assert!(at >= base && at <= Instant::now());
        // Started: the launcher can no longer withdraw it, and it cannot start twice.
        assert!(matches!(f.withdraw(), FollowOnState::Started(_)));
        assert!(!f.start());

        let g = FollowOn::new(base, None);
        assert_eq!(g.withdraw(), FollowOnState::NotStarted);
        assert!(!g.start(), "a withdrawn follow-on never starts");
        assert_eq!(g.state(), FollowOnState::NotStarted);
    }

    #[test]
    fn nothing_starts_at_or_after_the_deadline() {
        let past = Instant::now();
        let late = FollowOn::new(past, Some(past));
        assert!(!late.start());
        assert_eq!(late.state(), FollowOnState::NotStarted);
        let later = FollowOn::new(past, Some(past + Duration::from_secs(3600)));
        assert!(later.start());
    }

    #[test]
    fn one_of_two_racing_threads_decides() {
        for _ in 0..200 {
            let f = std::sync::Arc::new(FollowOn::new(Instant::now(), None));
            let g = f.clone();
            let client = std::thread::spawn(move || g.start());
            let launcher = f.withdraw();
            let started = client.join().unwrap();
            // Whatever the interleaving, both sides agree.
            assert_eq!(started, matches!(f.state(), FollowOnState::Started(_)));
            assert_eq!(started, launcher != FollowOnState::NotStarted);
        }
    }
}
