//! An independent discrete-event model of the simulator's saturating engine, written from its documented rules
//! (`docs/simulator.md`) without calling its code, so the tests can predict what the simulator must show at a
//! given load: per request, when it arrived, was admitted, got its first token and finished.
//!
//! Rules: iterations; each admits waiting requests that have arrived, in order, while fewer than `slots` run
//! and (with a KV budget) the head's `prompt + output` fits beside the running ones' reservations; if any were
//! admitted, a prefill of `f + p·Σprompt` gives each its first token; then a decode step of `d + r·B` gives each
//! of the `B` running requests one more token. A request is done at its `output`-th token (its slot is free for
//! the next iteration); an idle engine waits for the next arrival. A closed-loop client sends its next request
//! just after its previous one finished (too late for the iteration that starts at that instant).
#![allow(dead_code)] // each test file uses its own subset

use std::collections::VecDeque;

/// The engine's settings, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Engine {
    pub slots: usize,
    pub f: f64,
    pub p: f64,
    pub d: f64,
    pub r: f64,
    pub kv: Option<f64>,
}

/// How requests arrive: all identical (`prompt`, `output` tokens).
#[derive(Debug, Clone)]
pub enum Load {
    /// `concurrency` clients, each sending its next request as soon as the last one finished, `requests` in all.
    Closed { concurrency: usize, requests: usize },
    /// Requests at these times (milliseconds, increasing).
    Open { arrivals: Vec<f64> },
}

/// One request's life, in milliseconds from the start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Life {
    pub arrival: f64,
    pub admitted: f64,
    pub first_token: f64,
    pub finished: f64,
}

impl Life {
    fn arriving(arrival: f64) -> Life {
        Life {
            arrival,
            admitted: f64::NAN,
            first_token: f64::NAN,
            finished: f64::NAN,
        }
    }
    pub fn ttft(&self) -> f64 {
        self.first_token - self.arrival
    }
    pub fn e2e(&self) -> f64 {
        self.finished - self.arrival
    }
}

/// Runs the model; the lives in the order the requests were sent.
pub fn simulate(e: Engine, load: &Load, prompt: u64, output: u64) -> Vec<Life> {
    let (mut to_send, initial): (usize, Vec<f64>) = match load {
        Load::Closed {
            concurrency,
            requests,
        } => {
            let first = (*concurrency).min(*requests);
            (requests - first, vec![0.0; first])
        }
        Load::Open { arrivals } => (0, arrivals.clone()),
    };
    let closed = matches!(load, Load::Closed { .. });
    let need = (prompt + output) as f64;
    let mut lives: Vec<Life> = Vec::new();
    // Queue of request indexes; batch of (index, tokens so far).
    let mut queue: VecDeque<usize> = VecDeque::new();
    let mut batch: Vec<(usize, u64)> = Vec::new();
    for a in initial {
        queue.push_back(lives.len());
        lives.push(Life::arriving(a));
    }
    let mut t = 0.0_f64;
    let mut done = 0;
    while done < lives.len() {
        if batch.is_empty() {
            let next = lives[*queue.front().expect("work left")].arrival;
            t = t.max(next);
        }
        let mut admitted = 0u64;
        while batch.len() < e.slots {
            let Some(&i) = queue.front() else { break };
            let reserved = batch.len() as f64 * need;
            if lives[i].arrival > t || e.kv.is_some_and(|k| reserved + need > k) {
                break;
            }
            queue.pop_front();
            lives[i].admitted = t;
            batch.push((i, 0));
            admitted += 1;
        }
        if admitted > 0 {
            t += e.f + e.p * (admitted * prompt) as f64;
            for (i, tokens) in batch.iter_mut().filter(|(_, k)| *k == 0) {
                if output > 0 {
                    *tokens = 1;
                }
                lives[*i].first_token = t;
            }
            done += retire(
                &mut batch,
                output,
                t,
                &mut lives,
                &mut queue,
                closed,
                &mut to_send,
            );
        }
        if !batch.is_empty() {
            t += e.d + e.r * batch.len() as f64;
            for (_, k) in batch.iter_mut() {
                *k += 1;
            }
            done += retire(
                &mut batch,
                output,
                t,
                &mut lives,
                &mut queue,
                closed,
                &mut to_send,
            );
        }
    }
    lives
}

/// Takes the requests with all their tokens out of the batch, finished at `t`; in a closed loop, each one's
/// client sends the next request (while any are left to send). Returns how many finished.
fn retire(
    batch: &mut Vec<(usize, u64)>,
    output: u64,
    t: f64,
    lives: &mut Vec<Life>,
    queue: &mut VecDeque<usize>,
    closed: bool,
    to_send: &mut usize,
) -> usize {
    // Closed-loop resubmissions come this long after a finish: too late for the iteration starting then.
    const EPS: f64 = 1e-6;
    let before = batch.len();
    batch.retain(|(i, k)| {
        let done = *k >= output;
        if done {
            lives[*i].finished = t;
        }
        !done
    });
    let finished = before - batch.len();
    if closed {
        for _ in 0..finished.min(*to_send) {
            *to_send -= 1;
            queue.push_back(lives.len());
            lives.push(Life::arriving(t + EPS));
        }
    }
    finished
}

/// Requests per second over the run: all of them over the time from the first arrival to the last finish.
pub fn throughput(lives: &[Life]) -> f64 {
    let start = lives
        .iter()
        .map(|l| l.arrival)
        .fold(f64::INFINITY, f64::min);
    let end = lives.iter().map(|l| l.finished).fold(0.0, f64::max);
    lives.len() as f64 / ((end - start) / 1000.0)
}
