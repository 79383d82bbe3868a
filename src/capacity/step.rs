//! One step of a capacity search as a [`RequestSource`]: an open loop at a request rate (Poisson arrivals
//! drawn from the seed, so a step replays exactly) or a closed loop at a concurrency, which judges itself as
//! its replies come in and stops as soon as its verdict is clear.
//!
//! - The first `warmup` requests are sent and recorded but not judged.
//! - A **pass** is judged on the longest run of judged requests that have all completed, in the order they
//!   were sent (so requests still in flight, the slow ones, cannot bias it); it needs `min_requests`.
//! - A **fail** may be judged on every completed request, as soon as an interval is wholly on the wrong side
//!   (the slow ones still in flight could only make it worse).
//! - Both are looked at only at growing sizes — 20 judged requests (a pass: `min_requests`), then 1.5 times
//!   the last look, and at the cap — not at every reply: each look is a chance to clear a target by luck.
//! - At `max_requests` sent and completed, an unclear step is decided by its point estimates.
//! - **Over-saturation** (open loop): requests in flight only grow — their count rises at more than 15 % of
//!   the arrival rate and the second half of the step holds 1.5 times the first half's — or the dispatch delay
//!   grows (the client cannot keep up). The step then stops sending and fails.
//!
//! The source shares its state ([`StepCore`]) with the runner, which reads the verdict once the run is over.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::judge::{Judgement, Rules, Sample, Verdict};
use super::search::SearchKind;
use crate::report::export::table::warnings::late_threshold_s;
use crate::sources::{
    Completion, Due, Next, Now, Outgoing, PreparedRequest, RequestSource, Target,
};
use crate::workload::schedule::{Arrival, Schedule};

/// What one step does.
#[derive(Debug, Clone, PartialEq)]
pub struct StepPlan {
    /// Rate or concurrency.
    pub kind: SearchKind,
    /// Requests/s, or requests in flight.
    pub load: f64,
    /// Seed of the arrivals.
    pub seed: u64,
    /// Requests at the start left out of the judgement.
    pub warmup: usize,
    /// Judged requests needed before a pass.
    pub min_requests: usize,
    /// Requests sent at most (warm-up included).
    pub max_requests: usize,
    /// The SLO, goodput target and confidence.
    pub rules: Rules,
}

/// A step's measurements beside its verdict.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StepCounts {
    /// Requests sent.
    pub sent: usize,
    /// Requests completed (warm-up included).
    pub completed: usize,
    /// Most requests in flight at once.
    pub max_in_flight: usize,
    /// Completed requests per second, from the first send to the last completion.
    pub achieved_rate: Option<f64>,
    /// Largest dispatch delay (actual − scheduled send), seconds.
    pub max_dispatch_delay_s: f64,
    /// Judged requests a rate step dispatched, and how many of them left later than the pacing warning's
    /// threshold (`late_threshold_s`): the client, not the server, fell behind.
    pub dispatched: usize,
    /// See `dispatched`.
    pub late: usize,
}

/// The step's state, shared between the source (inside the dispatch core) and the runner.
#[derive(Debug)]
pub struct StepCore {
    plan: StepPlan,
    /// Judged samples by request position (warm-up excluded), `None` until completed.
    samples: Vec<Option<Sample>>,
    completed_judged: usize,
    /// Length of the completed prefix of `samples`.
    prefix: usize,
    /// The next sizes at which the prefix (a pass or a fail) and everything completed (a fail) are judged.
    prefix_look: usize,
    all_look: usize,
    counts: StepCounts,
    first_send: Option<f64>,
    last_done: f64,
    /// (offset, in flight, dispatch delay) at each due time after the warm-up.
    watch: Vec<(f64, f64, f64)>,
    decided: Option<Judgement>,
    saturation: Option<String>,
}

impl StepCore {
    /// The state of a step about to run `plan`, to share with its [`StepSource`].
    pub fn shared(plan: StepPlan) -> Arc<Mutex<StepCore>> {
        Arc::new(Mutex::new(StepCore::new(plan)))
    }

    fn new(plan: StepPlan) -> StepCore {
        let judged = plan.max_requests.saturating_sub(plan.warmup);
        StepCore {
            plan,
            samples: vec![None; judged],
            completed_judged: 0,
            prefix: 0,
            prefix_look: 0,
            all_look: FIRST_LOOK,
            counts: StepCounts::default(),
            first_send: None,
            last_done: 0.0,
            watch: Vec::new(),
            decided: None,
            saturation: None,
        }
    }

    fn done_sending(&self) -> bool {
        self.decided.is_some() || self.counts.sent >= self.plan.max_requests
    }

    fn sent(&mut self, now: &Now) {
        self.counts.sent += 1;
        self.first_send.get_or_insert(now.offset);
        self.counts.max_in_flight = self.counts.max_in_flight.max(now.in_flight + 1);
    }

    fn completed(&mut self, index: usize, sample: Sample, end_offset: f64) {
        self.counts.completed += 1;
        self.last_done = self.last_done.max(end_offset);
        let Some(pos) = index.checked_sub(self.plan.warmup) else {
            return;
        };
        let Some(slot) = self.samples.get_mut(pos) else {
            return;
        };
        if slot.is_none() {
            *slot = Some(sample);
            self.completed_judged += 1;
        }
        while self.samples.get(self.prefix).is_some_and(Option::is_some) {
            self.prefix += 1;
        }
        if self.decided.is_none() {
            self.decide();
        }
    }

    /// Judges what has come in, at the look sizes ([`next_look`]); records a clear verdict.
    fn decide(&mut self) {
        let rules = &self.plan.rules;
        let cap = self.samples.len();
        if self.prefix_look == 0 {
            self.prefix_look = self.plan.min_requests.max(FIRST_LOOK).min(cap.max(1));
        }
        // A pass (or a fail) on the completed prefix.
        if self.prefix >= self.prefix_look || (self.prefix == cap && cap > 0) {
            self.prefix_look = next_look(self.prefix);
            let prefix: Vec<Sample> = self.samples[..self.prefix]
                .iter()
                .flatten()
                .copied()
                .collect();
            let at_cap = self.prefix == self.samples.len();
            let j = rules.judge(&prefix, at_cap);
            if j.verdict != Verdict::More {
                self.decided = Some(j);
                return;
            }
        }
        // A fail on everything completed.
        if self.completed_judged >= self.all_look.min(cap.max(1)) {
            self.all_look = next_look(self.completed_judged);
            let all: Vec<Sample> = self.samples.iter().flatten().copied().collect();
            let j = rules.judge(&all, false);
            if j.verdict == Verdict::Fail {
                self.decided = Some(j);
            }
        }
    }

    fn due(&mut self, due: &Due, now: &Now) {
        if due.k < self.plan.warmup || self.decided.is_some() {
            return;
        }
        let delay = (now.offset - due.offset).max(0.0);
        self.counts.max_dispatch_delay_s = self.counts.max_dispatch_delay_s.max(delay);
        if self.plan.kind == SearchKind::Rate {
            self.counts.dispatched += 1;
            if delay > late_threshold_s(self.plan.load) {
                self.counts.late += 1;
            }
        }
        self.watch.push((due.offset, now.in_flight as f64, delay));
        if self.watch.len() >= 30
            && self.watch.len().is_multiple_of(5)
            && let Some(why) = over_saturated(&self.watch, self.plan.load)
        {
            let all: Vec<Sample> = self.samples.iter().flatten().copied().collect();
            let mut j = self.plan.rules.judge(&all, true);
            j.verdict = Verdict::Fail;
            j.confident = false;
            j.reason = why.clone();
            self.saturation = Some(why);
            self.decided = Some(j);
        }
    }

    /// The verdict once the run is over: the one reached, or — the request cap or the step's time limit
    /// reached first — the point estimates' on what completed.
    pub fn finish(&mut self) -> Judgement {
        if let Some(j) = &self.decided {
            return j.clone();
        }
        let all: Vec<Sample> = self.samples.iter().flatten().copied().collect();
        let j = self.plan.rules.judge(&all, true);
        self.decided = Some(j.clone());
        j
    }

    /// The step's counts.
    pub fn counts(&self) -> StepCounts {
        let mut c = self.counts.clone();
        c.achieved_rate = self
            .first_send
            .filter(|&f| self.last_done > f && c.completed > 1)
            .map(|f| c.completed as f64 / (self.last_done - f));
        c
    }

    /// Why the step was stopped as over-saturated, if it was.
    pub fn saturation(&self) -> Option<&str> {
        self.saturation.as_deref()
    }
}

/// Least-squares slope of `y` over `x`.
fn slope(points: impl Iterator<Item = (f64, f64)> + Clone) -> f64 {
    let n = points.clone().count() as f64;
    let (sx, sy) = points
        .clone()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = points.fold((0.0, 0.0), |(a, b), (x, y)| {
        (a + (x - mx) * (y - my), b + (x - mx) * (x - mx))
    });
    if den > 0.0 { num / den } else { 0.0 }
}

/// The first look at a step's judged requests.
const FIRST_LOOK: usize = 20;

/// The look after one at `n` judged requests: 1.5 times as many, in fives. Every look is a chance for the
/// intervals to clear their targets by luck; looking every 5 requests up to a cap of 500 gave ~95 looks, and
/// the search's interval held the model's capacity in 78 % of seeds instead of 95 (docs/capacity.md); 9
/// looks on a ×1.5 grid give 93 %.
fn next_look(n: usize) -> usize {
    (n + 5).max((n * 3).div_ceil(2).div_ceil(5) * 5)
}

/// Whether an open loop at `rate` is plainly over-saturated, from (offset, in flight, dispatch delay) at each
/// due time: in flight rising by more than 15 % of the arrivals with the second half's mean at least 1.5 times
/// the first half's (and 10 more), or the dispatch delay rising by more than 0.2 s per second to over 1 s.
pub fn over_saturated(watch: &[(f64, f64, f64)], rate: f64) -> Option<String> {
    if watch.len() < 30 {
        return None;
    }
    let growth = slope(watch.iter().map(|w| (w.0, w.1)));
    let half = watch.len() / 2;
    let mean = |s: &[(f64, f64, f64)]| s.iter().map(|w| w.1).sum::<f64>() / s.len() as f64;
    let (first, second) = (mean(&watch[..half]), mean(&watch[half..]));
    if growth > 0.15 * rate && second >= 1.5 * first.max(1.0) && second >= first + 10.0 {
        return Some(format!(
            "over-saturated: requests in flight only grow (mean {first:.0} → {second:.0}, +{growth:.1}/s at \
             {rate:.3} req/s): the server queues what it cannot serve"
        ));
    }
    let lag = slope(watch.iter().map(|w| (w.0, w.2)));
    let last = watch.last().map_or(0.0, |w| w.2);
    if lag > 0.2 && last > 1.0 {
        return Some(format!(
            "over-saturated: the dispatch delay only grows (to {last:.1} s, +{lag:.2} s/s): the client cannot \
             keep up with {rate:.3} req/s"
        ));
    }
    None
}

/// Locks the step's state. A poisoned lock only means a panic elsewhere already failed the run; the state is
/// still readable.
fn lock(core: &Mutex<StepCore>) -> std::sync::MutexGuard<'_, StepCore> {
    core.lock().unwrap_or_else(|p| p.into_inner())
}

/// The [`RequestSource`] of a step; see the module docs.
pub struct StepSource {
    pool: Vec<PreparedRequest>,
    core: Arc<Mutex<StepCore>>,
    kind: SearchKind,
    schedule: Option<Schedule>,
    delivered: usize,
    waiting: VecDeque<(usize, f64)>,
}

impl StepSource {
    /// The step `plan` over the prompts `pool` (request `k` uses `pool[k % pool.len()]`), and the state the
    /// runner reads its verdict from.
    pub fn new(pool: Vec<PreparedRequest>, plan: StepPlan) -> (StepSource, Arc<Mutex<StepCore>>) {
        let core = StepCore::shared(plan);
        (StepSource::attach(pool, core.clone()), core)
    }

    /// The source of the step whose state is `core` (made with [`StepCore::shared`]), over `pool`.
    pub fn attach(pool: Vec<PreparedRequest>, core: Arc<Mutex<StepCore>>) -> StepSource {
        let plan = core.lock().unwrap_or_else(|p| p.into_inner()).plan.clone();
        let schedule = (plan.kind == SearchKind::Rate && !pool.is_empty()).then(|| {
            Schedule::drawn(
                plan.load,
                Arrival::Poisson,
                plan.seed,
                None,
                plan.max_requests,
                (0, 1),
            )
        });
        StepSource {
            pool,
            core,
            kind: plan.kind,
            schedule,
            delivered: 0,
            waiting: VecDeque::new(),
        }
    }

    fn core(&self) -> std::sync::MutexGuard<'_, StepCore> {
        lock(&self.core)
    }
}

impl RequestSource for StepSource {
    fn next(&mut self, now: &Now) -> Next {
        if self.pool.is_empty() {
            return Next::Done;
        }
        if let Some(s) = self.schedule.take() {
            return Next::Pace(s);
        }
        let mut core = lock(&self.core);
        if core.decided.is_some() {
            return Next::Done;
        }
        match self.kind {
            SearchKind::Rate => match self.waiting.pop_front() {
                Some((k, offset)) => {
                    core.sent(now);
                    Next::Send(Outgoing {
                        scheduled: Some(offset),
                        target: Target::RoundRobin,
                        ..Outgoing::now(k, self.pool[k % self.pool.len()].clone())
                    })
                }
                None if core.done_sending() => Next::Done,
                None => Next::Wait,
            },
            SearchKind::Concurrency => {
                if core.done_sending() {
                    return Next::Done;
                }
                if (now.in_flight as f64) >= core.plan.load {
                    return Next::Wait;
                }
                let k = core.counts.sent;
                core.sent(now);
                Next::Send(Outgoing::now(k, self.pool[k % self.pool.len()].clone()))
            }
        }
    }

    fn due(&mut self, due: Due, now: &Now) {
        self.delivered += 1;
        self.waiting.push_back((due.k, due.offset));
        self.core().due(&due, now);
    }

    fn completed(&mut self, done: &Completion<'_>) {
        let m = &done.response.measured;
        let t = &m.timings;
        // From the scheduled send: the client's lateness, then its preparation and connecting, then the
        // request's own clock.
        let delay =
            (done.start_offset_s - done.scheduled_start_s).max(0.0) + t.pre_send_s.unwrap_or(0.0);
        let ok = m.error.is_none();
        let n = m.usage.completion_tokens.unwrap_or(t.data_events);
        let first = t.first_token_s.or(t.first_content_s);
        let sample = Sample {
            ok,
            ttft_s: delay + t.first_content_s.or(first).unwrap_or(t.end_s),
            tpot_s: match first {
                Some(f) if ok && n >= 2 => Some((t.end_s - f) / (n - 1) as f64),
                _ => None,
            },
            e2e_s: delay + t.end_s,
        };
        self.core().completed(
            done.index,
            sample,
            done.start_offset_s + t.pre_send_s.unwrap_or(0.0) + t.end_s,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::slo::CapacitySlo;
    use crate::sources::testing::{now, reply, request, sent};

    fn plan(kind: SearchKind, load: f64, max: usize) -> StepPlan {
        StepPlan {
            kind,
            load,
            seed: 7,
            warmup: 2,
            min_requests: 20,
            max_requests: max,
            rules: Rules {
                slo: CapacitySlo::parse("ttft_p90=500ms").unwrap(),
                goodput: 0.9,
                confidence: 0.95,
            },
        }
    }

    fn complete(s: &mut StepSource, index: usize, ttft: f64) {
        let mut r = reply("x", true);
        r.measured.timings.first_content_s = Some(ttft);
        r.measured.timings.end_s = ttft + 0.1;
        r.measured.usage.completion_tokens = Some(5);
        let req = request("a");
        s.completed(&Completion {
            index,
            client: 0,
            request: &req,
            response: &r,
            start_offset_s: index as f64 * 0.1,
            scheduled_start_s: index as f64 * 0.1,
        });
    }

    #[test]
    fn the_arrivals_come_from_the_seed_so_a_step_replays_exactly() {
        let (a, _) = StepSource::new(vec![request("a")], plan(SearchKind::Rate, 5.0, 50));
        let (b, _) = StepSource::new(vec![request("a")], plan(SearchKind::Rate, 5.0, 50));
        let offsets = |s: StepSource| {
            s.schedule
                .expect("a rate step paces")
                .into_offsets()
                .collect::<Vec<f64>>()
        };
        let (x, y) = (offsets(a), offsets(b));
        assert_eq!(x, y);
        assert_eq!(x.len(), 50);
        // Mean gap ≈ 1/5 s.
        assert!((x[49] / 49.0 - 0.2).abs() < 0.08, "{}", x[49]);
    }

    #[test]
    fn a_fast_step_passes_once_enough_requests_completed_and_then_stops_sending() {
        let (mut s, core) =
            StepSource::new(vec![request("a")], plan(SearchKind::Concurrency, 4.0, 200));
        for k in 0..4 {
            assert_eq!(sent(s.next(&now(0.0, k, 4))).index, k);
        }
        assert!(matches!(s.next(&now(0.0, 4, 0)), Next::Wait));
        let mut k = 4;
        loop {
            complete(&mut s, k - 4, 0.1);
            if core.lock().unwrap().decided.is_some() {
                break;
            }
            let o = sent(s.next(&now(0.0, 3, 1)));
            assert_eq!(o.index, k);
            k += 1;
            assert!(k < 200, "never decided");
        }
        assert!(matches!(s.next(&now(1.0, 3, 1)), Next::Done));
        let j = core.lock().unwrap().finish();
        assert_eq!(
            (j.verdict, j.confident),
            (Verdict::Pass, true),
            "{}",
            j.reason
        );
        // The warm-up is not judged; a pass needs the 20-request minimum (and the p90's upper bound).
        assert!(j.n >= 20, "{}", j.n);
    }

    #[test]
    fn a_slow_step_fails_early_on_whatever_completed() {
        let (mut s, core) =
            StepSource::new(vec![request("a")], plan(SearchKind::Concurrency, 50.0, 500));
        for k in 0..50 {
            sent(s.next(&now(0.0, k, 4)));
        }
        // Completions out of order: 2..=31 (the first two are warm-up).
        for i in (2..32).rev() {
            complete(&mut s, i, 2.0);
        }
        let j = core.lock().unwrap().finish();
        assert_eq!(
            (j.verdict, j.confident),
            (Verdict::Fail, true),
            "{}",
            j.reason
        );
        // Decided at the first look, 20 judged requests: the lower bound of their p90 is already 2 s.
        assert_eq!(j.n, 20);
        assert!(matches!(s.next(&now(1.0, 30, 0)), Next::Done));
    }

    #[test]
    fn a_queue_that_only_grows_is_over_saturation_and_a_steady_one_is_not() {
        // 10 req/s; in flight grows by 5 per second (half the arrivals pile up).
        let growing: Vec<(f64, f64, f64)> = (0..60)
            .map(|i| (i as f64 * 0.1, 5.0 + i as f64 * 0.5, 0.0))
            .collect();
        let why = over_saturated(&growing, 10.0).expect("saturated");
        assert!(why.contains("in flight only grow"), "{why}");
        let steady: Vec<(f64, f64, f64)> = (0..60)
            .map(|i| (i as f64 * 0.1, 8.0 + (i % 7) as f64, 0.001))
            .collect();
        assert_eq!(over_saturated(&steady, 10.0), None);
        let lagging: Vec<(f64, f64, f64)> = (0..60)
            .map(|i| (i as f64 * 0.1, 3.0, i as f64 * 0.05))
            .collect();
        assert!(
            over_saturated(&lagging, 10.0)
                .unwrap()
                .contains("dispatch delay")
        );
    }

    #[test]
    fn a_rate_step_counts_the_requests_the_client_sent_late() {
        let (mut s, core) = StepSource::new(vec![request("a")], plan(SearchKind::Rate, 10.0, 500));
        // At 10 req/s a request is late 25 ms behind its schedule; requests 0 and 1 are the warm-up.
        for k in 0..12 {
            let t = k as f64 * 0.1;
            let lag = if k % 4 == 0 { 0.030 } else { 0.010 };
            s.due(
                Due {
                    timeline: 0,
                    k,
                    offset: t,
                },
                &now(t + lag, 1, 3),
            );
        }
        let c = core.lock().unwrap();
        assert_eq!((c.counts.dispatched, c.counts.late), (10, 2));
    }

    #[test]
    fn the_open_loop_paces_once_sends_each_due_request_and_stops_when_saturated() {
        let (mut s, core) = StepSource::new(vec![request("a")], plan(SearchKind::Rate, 10.0, 500));
        assert!(matches!(s.next(&now(0.0, 0, 4)), Next::Pace(_)));
        assert!(matches!(s.next(&now(0.0, 0, 4)), Next::Wait));
        let mut k = 0;
        loop {
            let t = k as f64 * 0.1;
            // Nothing ever completes: in flight grows with every arrival.
            s.due(
                Due {
                    timeline: 0,
                    k,
                    offset: t,
                },
                &now(t, k, 0),
            );
            if core.lock().unwrap().decided.is_some() {
                break;
            }
            let o = sent(s.next(&now(t, k, 0)));
            assert_eq!((o.index, o.scheduled), (k, Some(t)));
            k += 1;
            assert!(k < 500, "never stopped");
        }
        assert!(matches!(s.next(&now(9.0, k, 0)), Next::Done));
        let c = core.lock().unwrap();
        assert!(c.saturation().is_some());
        assert_eq!(c.decided.as_ref().map(|j| j.verdict), Some(Verdict::Fail));
    }
}
