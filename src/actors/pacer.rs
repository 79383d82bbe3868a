//! The pacer: a plain thread that sends `Dispatch` to the launcher when each due time of a timeline is
//! reached (a source's [`Next::Pace`](crate::sources::Next::Pace): the open loop's schedule, or any source's
//! "wake me at T"), then `PacerDone`.
//!
//! Precision: async timers round waits up to whole milliseconds, so the pacer sleeps on its own thread with
//! the kernel's timer slack lowered to 1 µs (Linux), and spins (yielding) through the last 50 µs.
//!
//! Falling behind: if the pacer wakes late (the machine was busy), overdue requests are sent at up to twice
//! the schedule's mean rate until it has caught up, instead of all at once — a backlog never becomes a
//! burst the schedule did not contain. Every request's lateness is recorded (its dispatch delay), so the
//! latency measured from the scheduled start still counts it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::messages::{Dispatch, PacerDone};
use crate::workload::schedule::Schedule;

/// Handle to a running pacer; dropping it does not stop it, [`Pacer::stop`] does.
pub struct Pacer {
    stop: Arc<AtomicBool>,
}

impl Pacer {
    /// Starts pacing timeline `timeline` of run `job`: `schedule` (seconds after `t0`), stopping at `until`
    /// seconds or on [`Pacer::stop`]. The thread draws the offsets as it goes.
    pub(crate) fn start<A>(
        schedule: Schedule,
        t0: Instant,
        until: Duration,
        (job, timeline): (u64, usize),
        to: Addr<A>,
    ) -> Pacer
    where
        A: Actor + Handler<Dispatch> + Handler<PacerDone>,
        A::Context: actix::dev::ToEnvelope<A, Dispatch> + actix::dev::ToEnvelope<A, PacerDone>,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("llmperf-pacer".into())
            .spawn(move || {
                lower_timer_slack();
                let len = schedule.len();
                let dispatched = pace(schedule, t0, until, &flag, |k, offset, _| {
                    to.do_send(Dispatch {
                        job,
                        timeline,
                        k,
                        offset,
                    })
                });
                to.do_send(PacerDone {
                    job,
                    dispatched,
                    complete: dispatched >= len,
                });
            })
            .expect("spawning the pacer thread");
        Pacer { stop }
    }

    /// Stops dispatching (the thread ends at its next wake-up).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Runs the schedule up to `until`, calling `send(k, offset, last)` at each due time; returns how many were
/// sent.
pub fn pace(
    schedule: Schedule,
    t0: Instant,
    until: Duration,
    stop: &AtomicBool,
    mut send: impl FnMut(usize, f64, bool),
) -> usize {
    let ((first, last), len) = (schedule.span(), schedule.len());
    // Catch-up spacing: half the mean gap (twice the mean rate).
    let min_gap = if len > 1 && last > first {
        Duration::from_secs_f64(0.5 * (last - first) / (len - 1) as f64)
    } else {
        Duration::ZERO
    };
    let until = until.as_secs_f64();
    let mut offsets = schedule
        .into_offsets()
        .take_while(|&o| o < until)
        .peekable();
    let mut last_sent: Option<Instant> = None;
    let mut k = 0;
    while let Some(offset) = offsets.next() {
        let due = t0 + Duration::from_secs_f64(offset);
        let at = match last_sent {
            Some(prev) if Instant::now() > due => (prev + min_gap).max(due),
            _ => due,
        };
        sleep_until(at);
        if stop.load(Ordering::Relaxed) {
            return k;
        }
        send(k, offset, offsets.peek().is_none());
        last_sent = Some(Instant::now());
        k += 1;
    }
    k
}

/// Sleeps until `at` with microsecond precision: a kernel sleep to within 50 µs, then yielding spins.
pub fn sleep_until(at: Instant) {
    const SPIN: Duration = Duration::from_micros(50);
    loop {
        let now = Instant::now();
        if now >= at {
            return;
        }
        let left = at - now;
        if left > SPIN {
            std::thread::sleep(left - SPIN);
        } else {
            std::thread::yield_now();
        }
    }
}

#[cfg(target_os = "linux")]
fn lower_timer_slack() {
    // SAFETY: prctl(PR_SET_TIMERSLACK) only changes this thread's timer slack; 1 ns is a valid value.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1u64, 0u64, 0u64, 0u64);
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_timer_slack() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_everything_due_before_the_limit_in_order() {
        let stop = AtomicBool::new(false);
        let mut sent = Vec::new();
        let n = pace(
            vec![0.0, 0.001, 0.002, 0.5].into(),
            Instant::now(),
            Duration::from_millis(100),
            &stop,
            |k, offset, last| sent.push((k, offset, last)),
        );
        assert_eq!(n, 3);
        assert_eq!(sent, [(0, 0.0, false), (1, 0.001, false), (2, 0.002, true)]);
    }

    #[test]
    fn a_late_start_catches_up_at_twice_the_rate_not_in_one_burst() {
        let stop = AtomicBool::new(false);
        let offsets: Vec<f64> = (0..21).map(|i| i as f64 * 0.002).collect(); // 500/s for 40 ms
        // Start 30 ms late: 15 requests are overdue at once.
        let t0 = Instant::now() - Duration::from_millis(30);
        let mut times = Vec::new();
        pace(
            offsets.into(),
            t0,
            Duration::from_secs(1),
            &stop,
            |_, _, _| times.push(Instant::now()),
        );
        let gaps: Vec<f64> = times
            .windows(2)
            .map(|w| (w[1] - w[0]).as_secs_f64())
            .collect();
        // Every catch-up gap is at least half the mean gap (1 ms), never back to back.
        assert!(gaps.iter().all(|&g| g >= 0.00095), "{gaps:?}");
    }

    #[test]
    fn stop_ends_pacing() {
        let stop = AtomicBool::new(true);
        let n = pace(
            vec![0.0, 0.1].into(),
            Instant::now(),
            Duration::from_secs(1),
            &stop,
            |_, _, _| {},
        );
        assert_eq!(n, 0);
    }
}
