//! Which client actors are idle, busy or gone: the dispatch core's view of its pool.
//!
//! A client is idle when nothing is in flight on it. Idle clients are taken last-freed first (a stack), as the
//! launcher always has; a client whose mailbox closed (the actor is gone) is never idle again.

use crate::sources::Target;

/// Requests in flight per client, and the idle ones.
#[derive(Debug)]
pub(super) struct Clients {
    load: Vec<u32>,
    /// Clients that became idle, last on top; an entry may be stale (the client was since given a request by
    /// another target), so [`Clients::take`] checks.
    idle: Vec<usize>,
    idle_count: usize,
    gone: Vec<bool>,
    alive: usize,
    /// The follow-on queued on each client, if any: `(job, send number)`.
    follow_ons: Vec<Option<(u64, u64)>>,
}

impl Clients {
    /// `n` idle clients; client 0 is taken first.
    pub fn new(n: usize) -> Clients {
        Clients {
            load: vec![0; n],
            idle: (0..n).rev().collect(),
            idle_count: n,
            gone: vec![false; n],
            alive: n,
            follow_ons: vec![None; n],
        }
    }

    /// Clients with nothing in flight.
    pub fn idle(&self) -> usize {
        self.idle_count
    }

    /// Clients whose actor still answers.
    pub fn alive(&self) -> usize {
        self.alive
    }

    /// Clients in all.
    pub fn len(&self) -> usize {
        self.load.len()
    }

    /// Whether `slot` can take a follow-on: its actor answers, it carries exactly one request, and no
    /// follow-on is queued on it.
    pub fn can_follow(&self, slot: usize) -> bool {
        self.load[slot] == 1 && !self.gone[slot] && self.follow_ons[slot].is_none()
    }

    /// Queues follow-on `id` of `job` on `slot` (which [`Clients::can_follow`]) and counts it.
    pub fn queue_follow_on(&mut self, slot: usize, job: u64, id: u64) {
        self.follow_ons[slot] = Some((job, id));
        self.load[slot] += 1;
    }

    /// The follow-on queued on `slot`, if any: `(job, send number)`.
    pub fn follow_on(&self, slot: usize) -> Option<(u64, u64)> {
        self.follow_ons[slot]
    }

    /// `slot` no longer has a follow-on queued (it started: it is now the request in flight there; or it
    /// never will).
    pub fn clear_follow_on(&mut self, slot: usize) {
        self.follow_ons[slot] = None;
    }

    /// Picks the client for `target` and counts one more request on it; `turn` is the caller's round-robin
    /// position. `None` when there are no clients.
    pub fn take(&mut self, target: Target, turn: &mut usize) -> Option<usize> {
        let n = self.load.len();
        if n == 0 {
            return None;
        }
        let mut round_robin = || {
            let slot = *turn % n;
            *turn += 1;
            slot
        };
        let slot = match target {
            Target::Idle => self.pop_idle().unwrap_or_else(round_robin),
            Target::RoundRobin => round_robin(),
            Target::Client(slot) => slot % n,
        };
        if self.load[slot] == 0 && !self.gone[slot] {
            self.idle_count -= 1;
        }
        self.load[slot] += 1;
        Some(slot)
    }

    fn pop_idle(&mut self) -> Option<usize> {
        while let Some(slot) = self.idle.pop() {
            if self.load[slot] == 0 && !self.gone[slot] {
                return Some(slot);
            }
        }
        None
    }

    /// A request on `slot` finished.
    pub fn release(&mut self, slot: usize) {
        self.load[slot] = self.load[slot].saturating_sub(1);
        if self.load[slot] == 0 && !self.gone[slot] {
            self.idle_count += 1;
            self.idle.push(slot);
        }
    }

    /// A request on `slot` found its actor gone: the client is never used as idle again.
    pub fn lose(&mut self, slot: usize) {
        self.load[slot] = self.load[slot].saturating_sub(1);
        if !self.gone[slot] {
            self.gone[slot] = true;
            self.alive -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_clients_are_taken_last_freed_first_and_counted() {
        let mut c = Clients::new(3);
        let mut turn = 0;
        assert_eq!(c.take(Target::Idle, &mut turn), Some(0));
        assert_eq!(c.take(Target::Idle, &mut turn), Some(1));
        assert_eq!(c.idle(), 1);
        c.release(0);
        assert_eq!(c.idle(), 2);
        assert_eq!(c.take(Target::Idle, &mut turn), Some(0));
        // A client taken by name is no longer idle; its stale stack entry is skipped.
        assert_eq!(c.take(Target::Client(2), &mut turn), Some(2));
        assert_eq!(c.idle(), 0);
        // No idle client: round robin.
        assert_eq!(c.take(Target::Idle, &mut turn), Some(0));
        assert_eq!(turn, 1);
    }

    #[test]
    fn round_robin_ignores_load_and_a_lost_client_is_never_idle() {
        let mut c = Clients::new(2);
        let mut turn = 0;
        let slots: Vec<_> = (0..4)
            .map(|_| c.take(Target::RoundRobin, &mut turn).unwrap())
            .collect();
        assert_eq!(slots, [0, 1, 0, 1]);
        c.lose(0);
        c.release(0);
        c.release(1);
        c.release(1);
        assert_eq!((c.idle(), c.alive()), (1, 1));
        assert_eq!(c.take(Target::Idle, &mut turn), Some(1));
        assert_eq!(Clients::new(0).take(Target::Idle, &mut turn), None);
    }

    #[test]
    fn a_follow_on_needs_one_request_in_flight_and_keeps_its_client_busy() {
        let mut c = Clients::new(2);
        let mut turn = 0;
        assert!(!c.can_follow(0), "idle: nothing to follow");
        let slot = c.take(Target::Idle, &mut turn).unwrap();
        assert!(c.can_follow(slot));
        c.queue_follow_on(slot, 7, 3);
        assert_eq!(c.follow_on(slot), Some((7, 3)));
        assert!(!c.can_follow(slot), "one follow-on at a time");
        // The first request ends: the follow-on is in flight there now, and the client is still busy.
        c.release(slot);
        c.clear_follow_on(slot);
        assert_eq!(c.idle(), 1);
        assert!(c.can_follow(slot));
        c.release(slot);
        assert_eq!(c.idle(), 2);
    }
}
