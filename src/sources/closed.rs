//! The closed loop (LLMPerf's mode): `concurrency` requests in flight, each on an idle client; every time one
//! finishes the next one leaves, until `limit` have been sent. Request `k` is `pool[k % pool.len()]`, so a
//! `--duration` run reuses its prompt pool in order. It never sends more than `limit` (the original sends up
//! to C − 1 extra requests and discards them); the timeout is the core's.
//!
//! Its next request is the same whichever request finishes first, so it hands the core follow-ons: request
//! `k` queued on a busy client starts there the moment that client's request ends, without waiting for the
//! completion to reach the core and the next request to come back (two cross-thread wake-ups). The C slots
//! stay C: a follow-on starts only when its client's request has ended.

use super::{Next, Now, Outgoing, PreparedRequest, RequestSource};

/// Sends `pool` (cyclically) in a closed loop; see the module docs.
#[derive(Debug)]
pub struct ClosedLoop {
    pool: Vec<PreparedRequest>,
    limit: usize,
    concurrency: usize,
    launched: usize,
}

impl ClosedLoop {
    /// `limit` requests from `pool` (reused cyclically), `concurrency` (at least 1) at a time.
    pub fn new(pool: Vec<PreparedRequest>, limit: usize, concurrency: usize) -> ClosedLoop {
        ClosedLoop {
            limit: if pool.is_empty() { 0 } else { limit },
            pool,
            concurrency: concurrency.max(1),
            launched: 0,
        }
    }
}

impl RequestSource for ClosedLoop {
    fn next(&mut self, now: &Now) -> Next {
        if self.launched >= self.limit {
            return Next::Done;
        }
        if now.in_flight >= self.concurrency || now.idle_clients == 0 {
            return Next::Wait;
        }
        let (index, request) = self.take();
        Next::Send(Outgoing::now(index, request))
    }

    fn follow_on(&mut self, _now: &Now) -> Option<(usize, PreparedRequest)> {
        (self.launched < self.limit).then(|| self.take())
    }
}

impl ClosedLoop {
    /// The next request in order.
    fn take(&mut self) -> (usize, PreparedRequest) {
        let index = self.launched;
        self.launched += 1;
        (index, self.pool[index % self.pool.len()].clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::Target;
    use crate::sources::testing::{now, request, sent};

    fn texts(n: usize) -> Vec<PreparedRequest> {
        (0..n).map(|i| request(&format!("p{i}"))).collect()
    }

    #[test]
    fn keeps_concurrency_in_flight_and_stops_at_the_limit() {
        let mut s = ClosedLoop::new(texts(2), 5, 2);
        let a = sent(s.next(&now(0.0, 0, 4)));
        let b = sent(s.next(&now(0.0, 1, 3)));
        assert_eq!((a.index, b.index), (0, 1));
        assert_eq!((a.target, a.scheduled), (Target::Idle, None));
        assert!(matches!(s.next(&now(0.0, 2, 2)), Next::Wait));
        // One finished: the next leaves, reusing the pool cyclically.
        let c = sent(s.next(&now(0.1, 1, 3)));
        assert_eq!(c.index, 2);
        assert_eq!(c.request.config.prompt.0, "p0");
        sent(s.next(&now(0.2, 1, 3)));
        sent(s.next(&now(0.3, 1, 3)));
        assert!(matches!(s.next(&now(0.3, 1, 3)), Next::Done));
    }

    #[test]
    fn follow_ons_continue_the_same_order_up_to_the_limit() {
        let mut s = ClosedLoop::new(texts(2), 3, 1);
        assert_eq!(sent(s.next(&now(0.0, 0, 4))).index, 0);
        assert!(matches!(s.next(&now(0.0, 1, 3)), Next::Wait));
        let (k, r) = s.follow_on(&now(0.0, 1, 3)).unwrap();
        assert_eq!((k, r.config.prompt.0.as_str()), (1, "p1"));
        assert_eq!(s.follow_on(&now(0.0, 2, 3)).unwrap().0, 2);
        assert!(s.follow_on(&now(0.0, 2, 3)).is_none(), "the limit holds");
        assert!(matches!(s.next(&now(0.1, 1, 3)), Next::Done));
    }

    #[test]
    fn waits_for_an_idle_client() {
        let mut s = ClosedLoop::new(texts(3), 3, 8);
        assert!(matches!(s.next(&now(0.0, 0, 0)), Next::Wait));
        assert_eq!(sent(s.next(&now(0.0, 0, 1))).index, 0);
    }

    #[test]
    fn an_empty_pool_is_done_at_once() {
        assert!(matches!(
            ClosedLoop::new(Vec::new(), 10, 2).next(&now(0.0, 0, 4)),
            Next::Done
        ));
    }
}
