//! The open loop: request `k` is due at offset `tₖ` of a [`Schedule`] — drawn from the seed at a request rate,
//! or explicit (trace replay: the dataset's timestamps) — whatever is in flight. The source hands the schedule
//! to the core's pacer once ([`Next::Pace`]); at each due time it sends request `k` (`pool[k % pool.len()]`)
//! to the next client in turn, or — when `cap` requests are already in flight (`--max-concurrency`) — queues
//! it until one finishes. Queued requests are counted ([`Outgoing::queued`]) and sent late, never dropped;
//! each carries its scheduled offset, so its record shows the dispatch delay.

use std::collections::VecDeque;

use super::{Due, Next, Now, Outgoing, PreparedRequest, RequestSource, Target};
use crate::workload::schedule::Schedule;

/// Sends `pool` on a schedule; see the module docs.
#[derive(Debug)]
pub struct OpenLoop {
    pool: Vec<PreparedRequest>,
    /// Handed to the pacer on the first call.
    schedule: Option<Schedule>,
    /// Due times in the schedule.
    len: usize,
    /// Due times delivered so far.
    delivered: usize,
    cap: usize,
    /// Due requests waiting for a slot: position, due offset, whether they had to wait.
    waiting: VecDeque<(usize, f64, bool)>,
}

impl OpenLoop {
    /// The requests of `schedule` (request `k` uses `pool[k % pool.len()]`), at most `cap` in flight.
    pub fn new(pool: Vec<PreparedRequest>, schedule: Schedule, cap: usize) -> OpenLoop {
        let len = if pool.is_empty() { 0 } else { schedule.len() };
        OpenLoop {
            pool,
            schedule: Some(schedule),
            len,
            delivered: 0,
            cap: cap.max(1),
            waiting: VecDeque::new(),
        }
    }
}

impl RequestSource for OpenLoop {
    fn next(&mut self, now: &Now) -> Next {
        if let Some(schedule) = self.schedule.take().filter(|_| self.len > 0) {
            return Next::Pace(schedule);
        }
        match self.waiting.front() {
            Some(_) if now.in_flight >= self.cap => Next::Wait,
            Some(&(k, offset, queued)) => {
                self.waiting.pop_front();
                Next::Send(Outgoing {
                    scheduled: Some(offset),
                    target: Target::RoundRobin,
                    queued,
                    ..Outgoing::now(k, self.pool[k % self.pool.len()].clone())
                })
            }
            None if self.delivered >= self.len => Next::Done,
            None => Next::Wait,
        }
    }

    fn due(&mut self, due: Due, now: &Now) {
        self.delivered += 1;
        let queued = now.in_flight >= self.cap;
        self.waiting.push_back((due.k, due.offset, queued));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::testing::{now, request, sent};

    fn due(k: usize, offset: f64) -> Due {
        Due {
            timeline: 0,
            k,
            offset,
        }
    }

    #[test]
    fn hands_the_schedule_to_the_pacer_then_sends_each_request_when_due() {
        let pool = vec![request("a"), request("b")];
        let mut s = OpenLoop::new(pool, vec![0.0, 0.5, 1.0].into(), usize::MAX);
        match s.next(&now(0.0, 0, 4)) {
            Next::Pace(p) => assert_eq!(p, vec![0.0, 0.5, 1.0].into()),
            other => panic!("{other:?}"),
        }
        assert!(matches!(s.next(&now(0.0, 0, 4)), Next::Wait));
        for (k, t) in [(0, 0.0), (1, 0.5), (2, 1.0)] {
            // Whatever is in flight: an open loop does not wait for replies.
            s.due(due(k, t), &now(t, 7, 0));
            let o = sent(s.next(&now(t, 7, 0)));
            assert_eq!((o.index, o.scheduled, o.queued), (k, Some(t), false));
            assert_eq!(o.target, Target::RoundRobin);
            assert_eq!(o.request.config.prompt.0, ["a", "b"][k % 2]);
        }
        assert!(matches!(s.next(&now(1.0, 3, 0)), Next::Done));
    }

    #[test]
    fn at_the_cap_due_requests_queue_and_leave_as_slots_free_up() {
        let mut s = OpenLoop::new(vec![request("a")], vec![0.0, 0.1, 0.2].into(), 1);
        assert!(matches!(s.next(&now(0.0, 0, 4)), Next::Pace(_)));
        s.due(due(0, 0.0), &now(0.0, 0, 4));
        assert!(!sent(s.next(&now(0.0, 0, 4))).queued);
        s.due(due(1, 0.1), &now(0.1, 1, 4));
        s.due(due(2, 0.2), &now(0.2, 1, 4));
        assert!(matches!(s.next(&now(0.2, 1, 4)), Next::Wait));
        // A reply frees the slot: the oldest waiting request leaves, late, and counted as queued.
        let o = sent(s.next(&now(0.3, 0, 4)));
        assert_eq!((o.index, o.scheduled, o.queued), (1, Some(0.1), true));
        assert!(matches!(s.next(&now(0.3, 1, 4)), Next::Wait));
        let o = sent(s.next(&now(0.4, 0, 4)));
        assert_eq!((o.index, o.queued), (2, true));
        assert!(matches!(s.next(&now(0.4, 1, 4)), Next::Done));
    }

    #[test]
    fn a_schedule_cut_short_leaves_it_waiting_and_an_empty_one_is_done() {
        // The pacer stops at the timeout: fewer due times than the schedule holds. The core ends the run
        // (timed out) once nothing is in flight.
        let mut s = OpenLoop::new(vec![request("a")], vec![0.0, 5.0].into(), 4);
        assert!(matches!(s.next(&now(0.0, 0, 4)), Next::Pace(_)));
        s.due(due(0, 0.0), &now(0.0, 0, 4));
        sent(s.next(&now(0.0, 0, 4)));
        assert!(matches!(s.next(&now(0.0, 1, 4)), Next::Wait));
        let mut empty = OpenLoop::new(vec![request("a")], Vec::new().into(), 4);
        assert!(matches!(empty.next(&now(0.0, 0, 4)), Next::Done));
    }
}
