//! The saturating engine's schedule, pure: no clock, no thread, no socket — requests in, steps with their
//! times out, so every formula of `docs/simulator.md` is checked here against hand-computed values. Times are
//! offsets from the engine's start; `engine` maps them to real time and carries the tokens to the streams.
//!
//! The model (one simulated accelerator), with `S` batch slots, fixed prefill time `f` (`ttft_ms`), prefill time
//! per prompt token `p`, fixed decode-step time `d`, decode time per running request `r` and an optional KV
//! budget of `K` tokens. Each iteration, at engine time `t`:
//!
//! 1. **Admission**: waiting requests that arrived by `t` join the batch in arrival order (FIFO, no
//!    overtaking) while fewer than `S` run and, with a KV budget, while the head's reservation fits: a request
//!    reserves `P + N` tokens (its prompt and its whole output) when admitted and frees them when it finishes,
//!    as TGI's `max_batch_total_tokens` does — so it never has to be preempted. A request that could never fit
//!    (`P + N > K`) is refused before it is queued.
//! 2. **Prefill**, if anyone was admitted: the admitted requests' prompts in one batched step of
//!    `f + p·ΣP` (the fixed cost once per step, as one forward pass over all the new prompts); at its end each
//!    of them has its first token. The running requests wait meanwhile (no chunked prefill).
//! 3. **Decode**: one step of `d + r·B` for the `B` requests now running (the ones just prefilled included);
//!    at its end each has one token more.
//!
//! A request finishes with its `N`-th token (with none, for `N = 0`, at the end of its prefill) and frees its
//! slot and reservation at the end of that step; the next iteration may admit in its place. When nothing runs,
//! the clock jumps to the next arrival.

use std::collections::VecDeque;
use std::time::Duration;

/// The engine's settings (validated by `SimConfig::validated`: at least one slot, times finite and ≥ 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct EngineParams {
    /// `S`: requests that run at once.
    pub slots: usize,
    /// `f`: the fixed time of a prefill step, in milliseconds (`ttft_ms`).
    pub prefill_ms: f64,
    /// `p`: prefill time per prompt token, in milliseconds.
    pub prefill_ms_per_token: f64,
    /// `d`: the fixed time of a decode step, in milliseconds.
    pub decode_step_ms: f64,
    /// `r`: decode-step time per running request, in milliseconds.
    pub decode_ms_per_running: f64,
    /// `K`: the KV budget in tokens, if any.
    pub kv_cache_tokens: Option<u64>,
}

/// Milliseconds as a duration, rounded to the nanosecond (so steps add up exactly).
fn ms(x: f64) -> Duration {
    Duration::from_nanos((x * 1e6).round() as u64)
}

impl EngineParams {
    /// `f + p·prompt_tokens`.
    pub fn prefill_time(&self, prompt_tokens: u64) -> Duration {
        ms(self.prefill_ms + self.prefill_ms_per_token * prompt_tokens as f64)
    }

    /// `d + r·running`.
    pub fn decode_time(&self, running: usize) -> Duration {
        ms(self.decode_step_ms + self.decode_ms_per_running * running as f64)
    }

    /// Whether a request of `prompt` + `output` tokens can ever run (its reservation fits the KV budget).
    pub fn fits(&self, prompt: u64, output: u64) -> bool {
        self.kv_cache_tokens
            .is_none_or(|k| prompt.saturating_add(output) <= k)
    }
}

/// A request for the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Job {
    /// Its number (unique).
    pub id: u64,
    /// When it arrived, from the engine's start; jobs are submitted in arrival order.
    pub arrival: Duration,
    /// `P`: prompt tokens.
    pub prompt: u64,
    /// `N`: tokens to generate.
    pub output: u64,
}

#[derive(Debug)]
struct Running {
    id: u64,
    output: u64,
    generated: u64,
    reserved: u64,
}

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Prefill,
    Decode,
}

/// One step of the engine: what happens at its start and at its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Step {
    pub phase: Phase,
    pub start: Duration,
    pub end: Duration,
    /// Requests admitted at `start` (prefill steps), in arrival order.
    pub admitted: Vec<u64>,
    /// Requests running during the step (a prefill step counts the ones it admits).
    pub running: usize,
    /// KV tokens reserved during the step.
    pub reserved: u64,
    /// Requests that have one more token at `end`.
    pub tokens: Vec<u64>,
    /// Requests that finished at `end` (their last token, if any, is in `tokens`).
    pub finished: Vec<u64>,
}

/// Where a cancelled request was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Left {
    Waiting,
    Running,
}

/// The engine's state: the clock, the FIFO queue, the batch.
#[derive(Debug)]
pub(super) struct Scheduler {
    params: EngineParams,
    now: Duration,
    waiting: VecDeque<Job>,
    running: Vec<Running>,
    reserved: u64,
    /// A prefill step just ran: the decode step of the same iteration is next.
    decode_next: bool,
}

impl Scheduler {
    pub fn new(params: EngineParams) -> Scheduler {
        Scheduler {
            params,
            now: Duration::ZERO,
            waiting: VecDeque::new(),
            running: Vec::new(),
            reserved: 0,
            decode_next: false,
        }
    }

    /// Queues `job` (it must fit: [`EngineParams::fits`]; one that does not is dropped).
    pub fn submit(&mut self, job: Job) {
        if self.params.fits(job.prompt, job.output) {
            self.waiting.push_back(job);
        }
    }

    /// Takes request `id` out (its client went away): out of the queue, or out of the batch, freeing its slot
    /// and reservation for the next iteration.
    pub fn cancel(&mut self, id: u64) -> Option<Left> {
        if let Some(i) = self.waiting.iter().position(|j| j.id == id) {
            self.waiting.remove(i);
            return Some(Left::Waiting);
        }
        let i = self.running.iter().position(|r| r.id == id)?;
        let r = self.running.swap_remove(i);
        self.reserved -= r.reserved;
        Some(Left::Running)
    }

    /// Requests in the batch.
    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// Requests in the queue.
    #[cfg(test)]
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// KV tokens reserved by the batch.
    pub fn reserved(&self) -> u64 {
        self.reserved
    }

    /// Nothing running, nothing waiting.
    pub fn is_idle(&self) -> bool {
        self.running.is_empty() && self.waiting.is_empty()
    }

    /// The next step, `None` when idle. The clock moves to its end.
    pub fn next_step(&mut self) -> Option<Step> {
        if std::mem::take(&mut self.decode_next)
            && let Some(step) = self.decode()
        {
            return Some(step);
        }
        if self.running.is_empty() {
            let next = self.waiting.front()?.arrival;
            self.now = self.now.max(next);
        }
        let admitted = self.admit();
        if admitted.is_empty() {
            return self.decode();
        }
        let start = self.now;
        let prompts: u64 = admitted.iter().map(|j| j.prompt).sum();
        let end = start + self.params.prefill_time(prompts);
        let (running, reserved) = (self.running.len(), self.reserved);
        let mut tokens = Vec::new();
        for r in self.running.iter_mut().filter(|r| r.generated == 0) {
            if r.output > 0 {
                r.generated = 1;
                tokens.push(r.id);
            }
        }
        let finished = self.finish();
        self.now = end;
        self.decode_next = true;
        Some(Step {
            phase: Phase::Prefill,
            start,
            end,
            admitted: admitted.iter().map(|j| j.id).collect(),
            running,
            reserved,
            tokens,
            finished,
        })
    }

    /// Moves waiting requests that arrived by now into free slots, in order, while their reservations fit.
    fn admit(&mut self) -> Vec<Job> {
        let mut admitted = Vec::new();
        while self.running.len() < self.params.slots {
            let Some(job) = self.waiting.front().copied() else {
                break;
            };
            let need = job.prompt.saturating_add(job.output);
            let fits = self
                .params
                .kv_cache_tokens
                .is_none_or(|k| self.reserved.saturating_add(need) <= k);
            if job.arrival > self.now || !fits {
                break;
            }
            self.waiting.pop_front();
            self.reserved += need;
            self.running.push(Running {
                id: job.id,
                output: job.output,
                generated: 0,
                reserved: need,
            });
            admitted.push(job);
        }
        admitted
    }

    /// One decode step for the whole batch; `None` if nothing runs.
    fn decode(&mut self) -> Option<Step> {
        if self.running.is_empty() {
            return None;
        }
        let start = self.now;
        let (running, reserved) = (self.running.len(), self.reserved);
        let end = start + self.params.decode_time(running);
        let tokens = self
            .running
            .iter_mut()
            .map(|r| {
                r.generated += 1;
                r.id
            })
            .collect();
        let finished = self.finish();
        self.now = end;
        Some(Step {
            phase: Phase::Decode,
            start,
            end,
            admitted: Vec::new(),
            running,
            reserved,
            tokens,
            finished,
        })
    }

    /// Takes the requests that have all their tokens out of the batch (in batch order).
    fn finish(&mut self) -> Vec<u64> {
        let mut finished = Vec::new();
        let reserved = &mut self.reserved;
        self.running.retain(|r| {
            let done = r.generated >= r.output;
            if done {
                *reserved -= r.reserved;
                finished.push(r.id);
            }
            !done
        });
        finished
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// S slots, f = 10, p = 0.5, d = 4, r = 1 (milliseconds).
    fn params(slots: usize, kv: Option<u64>) -> EngineParams {
        EngineParams {
            slots,
            prefill_ms: 10.0,
            prefill_ms_per_token: 0.5,
            decode_step_ms: 4.0,
            decode_ms_per_running: 1.0,
            kv_cache_tokens: kv,
        }
    }

    fn at(x: f64) -> Duration {
        ms(x)
    }

    fn job(id: u64, arrival_ms: f64, prompt: u64, output: u64) -> Job {
        Job {
            id,
            arrival: at(arrival_ms),
            prompt,
            output,
        }
    }

    /// Runs to idle; per request: (admitted at, token times, finished at), in milliseconds.
    fn run(s: &mut Scheduler) -> std::collections::BTreeMap<u64, (f64, Vec<f64>, f64)> {
        let msf = |d: Duration| d.as_nanos() as f64 / 1e6;
        let mut out = std::collections::BTreeMap::new();
        let mut steps = 0;
        while let Some(step) = s.next_step() {
            steps += 1;
            assert!(steps < 10_000, "runs away");
            for id in &step.admitted {
                out.insert(*id, (msf(step.start), Vec::new(), f64::NAN));
            }
            for id in &step.tokens {
                out.get_mut(id).expect("admitted").1.push(msf(step.end));
            }
            for id in &step.finished {
                out.get_mut(id).expect("admitted").2 = msf(step.end);
            }
        }
        out
    }

    #[test]
    fn one_request_unloaded() {
        // TTFT = f + p·P = 10 + 0.5·8 = 14; then one token per decode step of d + r·1 = 5.
        let mut s = Scheduler::new(params(2, None));
        s.submit(job(1, 3.0, 8, 4));
        let r = run(&mut s);
        assert_eq!(r[&1].0, 3.0);
        assert_eq!(r[&1].1, [17.0, 22.0, 27.0, 32.0]);
        assert_eq!(r[&1].2, 32.0);
        assert!(s.is_idle());
    }

    #[test]
    fn requests_beyond_the_slots_queue_fifo() {
        // S = 2; three requests at 0, P = 4, N = 3.
        // Iteration 1: admit 1, 2; prefill f + p·8 = 14 -> first tokens at 14; decode (B = 2) 6 -> 20.
        // Iteration 2: nothing to admit (no slot); decode -> 26: 1 and 2 finish (3 tokens) and free their slots.
        // Iteration 3: admit 3 at 26; prefill 10 + 2 = 12 -> 38; decode (B = 1) 5 -> 43; iteration 4: -> 48.
        let mut s = Scheduler::new(params(2, None));
        for id in 1..=3 {
            s.submit(job(id, 0.0, 4, 3));
        }
        let r = run(&mut s);
        for id in [1, 2] {
            assert_eq!(r[&id], (0.0, vec![14.0, 20.0, 26.0], 26.0), "request {id}");
        }
        assert_eq!(r[&3], (26.0, vec![38.0, 43.0, 48.0], 48.0));
    }

    #[test]
    fn a_late_arrival_is_prefilled_between_decode_steps() {
        // Request 1 at 0 (P = 0, N = 4): token at 10, decode steps of 5 -> 15, 20, ...
        // Request 2 arrives at 12 (P = 0, N = 2): admitted at the iteration starting at 15, prefill 10 -> 25
        // (request 1 stalls), decode with B = 2 (6) -> 31.
        let mut s = Scheduler::new(params(4, None));
        s.submit(job(1, 0.0, 0, 4));
        s.submit(job(2, 12.0, 0, 2));
        let r = run(&mut s);
        assert_eq!(r[&1].1, [10.0, 15.0, 31.0, 36.0]);
        assert_eq!(r[&2], (15.0, vec![25.0, 31.0], 31.0));
    }

    #[test]
    fn the_kv_budget_blocks_admission_in_order() {
        // K = 20: request 1 reserves 4 + 6 = 10, request 2 needs 8 + 6 = 14 > 10 left: it waits, and so does
        // request 3 (2 + 2 = 4 would fit, but FIFO admits no one past the head).
        let queued = || {
            let mut s = Scheduler::new(params(4, Some(20)));
            s.submit(job(1, 0.0, 4, 6));
            s.submit(job(2, 0.0, 8, 6));
            s.submit(job(3, 0.0, 2, 2));
            s
        };
        let mut s = queued();
        let first = s.next_step().expect("a prefill");
        assert_eq!(first.admitted, [1]);
        assert_eq!((first.running, first.reserved), (1, 10));
        assert_eq!(s.waiting(), 2);
        let mut s = queued();
        let r = run(&mut s);
        // Request 1: 12, 17, ..., 37 (6 tokens); 2 and 3 admitted together at 37: prefill 10 + 0.5·10 = 15.
        assert_eq!(r[&1].1, [12.0, 17.0, 22.0, 27.0, 32.0, 37.0]);
        assert_eq!(r[&2].0, 37.0);
        assert_eq!(r[&3].0, 37.0);
        assert_eq!(r[&3].1, [52.0, 58.0]);
        assert_eq!(s.reserved(), 0);
        assert!(!params(4, Some(20)).fits(15, 6));
        let mut refused = Scheduler::new(params(4, Some(20)));
        refused.submit(job(9, 0.0, 15, 6));
        assert!(
            refused.is_idle(),
            "a request that can never fit is not queued"
        );
    }

    #[test]
    fn a_cancelled_request_frees_its_slot_for_the_next_iteration() {
        let mut s = Scheduler::new(params(1, Some(100)));
        s.submit(job(1, 0.0, 0, 100));
        s.submit(job(2, 0.0, 0, 1));
        s.submit(job(3, 0.0, 0, 1));
        let prefill = s.next_step().expect("prefill");
        assert_eq!(prefill.admitted, [1]);
        assert_eq!(s.cancel(3), Some(Left::Waiting));
        let decode = s.next_step().expect("decode");
        assert_eq!((decode.phase, decode.end), (Phase::Decode, at(15.0)));
        assert_eq!(s.cancel(1), Some(Left::Running));
        assert_eq!(s.reserved(), 0);
        assert_eq!(s.cancel(1), None);
        let next = s.next_step().expect("request 2");
        assert_eq!(next.admitted, [2]);
        assert_eq!(next.start, at(15.0));
        // N = 1: done with its prefill; no decode step follows.
        assert_eq!(next.finished, [2]);
        assert_eq!(s.next_step(), None);
    }

    #[test]
    fn an_idle_engine_waits_for_the_next_arrival() {
        let mut s = Scheduler::new(params(1, None));
        s.submit(job(1, 0.0, 0, 1));
        assert!(run(&mut s).contains_key(&1));
        s.submit(job(2, 100.0, 0, 0));
        let r = run(&mut s);
        // N = 0: admitted at its arrival, finished at the end of its prefill, no token.
        assert_eq!(r[&2], (100.0, vec![], 110.0));
    }

    #[test]
    fn a_saturated_batch_runs_in_waves() {
        // S = 2, four requests at 0 (P = 10, N = 3): each wave is f + p·20 + 2·(d + 2r) = 20 + 12 = 32 long.
        let mut s = Scheduler::new(params(2, None));
        for id in 1..=4 {
            s.submit(job(id, 0.0, 10, 3));
        }
        let r = run(&mut s);
        assert_eq!(r[&2].2, 32.0);
        assert_eq!(r[&4].0, 32.0);
        assert_eq!(r[&4].2, 64.0);
    }
}
