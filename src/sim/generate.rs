//! When a response's pieces are due, and what its end counts for `GET /metrics`.
//!
//! Two timing models:
//! - **fixed** (the default): a request waits for one of the `capacity` slots, if set, then piece `k` is due
//!   at exactly `ttft + k·itl` after it got one (deadlines, not sleeps, so delays never add up);
//! - **the engine** (`batch_slots` set): the request joins the engine's queue with its prompt and output
//!   lengths, and piece `k` is due when the engine has produced the token that ends it (a piece of `c` tokens
//!   goes out with its `c`-th token).
//!
//! An [`Outcome`] travels with the response and counts it when its last piece is handed to the socket: as
//! finished (tokens, times) if nothing broke it, else as aborted. Shares nothing with the client.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::engine::Ticket;
use super::metrics::{Finished, Metrics};
use super::state::SimState;

/// When a piece of a streamed response is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Due {
    /// At this instant.
    At(Instant),
    /// When the engine has produced this many tokens of the response (0: when it finished).
    Tokens(u64),
}

/// The timing of one response's pieces.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Timing {
    /// Piece `k` at `start + ttft + k·itl`.
    Fixed {
        start: Instant,
        ttft: Duration,
        itl: Duration,
    },
    /// Piece `k` with token `ends[k]` (the running total of tokens at its end); a piece past them (the tail of
    /// an empty answer) when the response is finished.
    Engine { ends: Vec<u64>, total: u64 },
}

impl Timing {
    /// When piece `k` is due.
    pub fn due(&self, k: usize) -> Due {
        match self {
            Timing::Fixed { start, ttft, itl } => Due::At(*start + *ttft + *itl * (k as u32)),
            Timing::Engine { ends, total } => Due::Tokens(ends.get(k).copied().unwrap_or(*total)),
        }
    }
}

/// A gauge held up by one request; lowered when dropped.
pub(super) struct Held {
    metrics: Arc<Metrics>,
    which: fn(&Metrics) -> &AtomicUsize,
}

impl Held {
    fn new(metrics: &Arc<Metrics>, which: fn(&Metrics) -> &AtomicUsize) -> Held {
        which(metrics).fetch_add(1, Ordering::Relaxed);
        Held {
            metrics: metrics.clone(),
            which,
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        (self.which)(&self.metrics).fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response whose generation has begun.
pub(super) struct Begun {
    pub timing: Timing,
    /// The engine's ticket (with the engine).
    pub ticket: Option<Ticket>,
    /// The `capacity` slot, held until the response is done (fixed timing).
    pub slot: Option<OwnedSemaphorePermit>,
    /// The prompt's token count.
    pub prompt_tokens: u64,
    /// When the request got its slot (fixed timing); the engine's admission comes later, on the ticket.
    pub admitted: Option<Instant>,
    /// "Generating" in the gauges, without the engine.
    pub generating: Option<Held>,
}

/// Begins generating `output` tokens, in pieces ending at the running totals `ends`: waits for a `capacity`
/// slot (fixed timing) or joins the engine's queue. `prompt_tokens` counts the prompt (after the slot is
/// taken, with fixed timing, so the count is part of the time to first token as it always was). `Err` with
/// a message when the engine's KV budget could never hold the request.
pub(super) async fn begin(
    state: &SimState,
    prompt_tokens: impl FnOnce() -> u64,
    output: u64,
    ends: Vec<u64>,
) -> Result<Begun, String> {
    if let Some(engine) = &state.engine {
        let prompt = prompt_tokens();
        let ticket = engine.submit(prompt, output).map_err(|budget| {
            format!(
                "the prompt ({prompt} tokens) and the output ({output} tokens) exceed the simulator's KV \
                 cache ({budget} tokens, simulator.kv_cache_tokens)"
            )
        })?;
        return Ok(Begun {
            timing: Timing::Engine {
                ends,
                total: output,
            },
            ticket: Some(ticket),
            slot: None,
            prompt_tokens: prompt,
            admitted: None,
            generating: None,
        });
    }
    // Wait for a generation slot; the clock of this response starts when one is free.
    let slot = match &state.slots {
        Some(slots) => {
            let _queued = Held::new(&state.metrics, |m| &m.queued);
            slots.clone().acquire_owned().await.ok()
        }
        None => None,
    };
    let start = Instant::now();
    let generating = Held::new(&state.metrics, |m| &m.generating);
    Ok(Begun {
        timing: Timing::Fixed {
            start,
            ttft: Duration::from_secs_f64(state.cfg.ttft_ms / 1000.0),
            itl: Duration::from_secs_f64(state.cfg.itl_ms / 1000.0),
        },
        ticket: None,
        slot,
        prompt_tokens: prompt_tokens(),
        admitted: Some(start),
        generating: Some(generating),
    })
}

/// What a response's end counts for, decided when it is handed to the socket in full; dropped before, it
/// counts as aborted.
pub(super) struct Outcome {
    metrics: Arc<Metrics>,
    /// Whether a response sent in full finished (no fault broke it).
    finishes: bool,
    record: Finished,
    timing: Timing,
    pieces: usize,
    done: bool,
    _generating: Option<Held>,
}

impl Outcome {
    /// The outcome of a response of `pieces` pieces timed by `timing`; `record` has its counts (its times
    /// are filled in at the end). `finishes`: whether sending it in full means it finished.
    pub fn new(
        state: &SimState,
        begun: &mut Begun,
        record: Finished,
        pieces: usize,
        finishes: bool,
    ) -> Outcome {
        Outcome {
            metrics: state.metrics.clone(),
            finishes,
            record,
            timing: begun.timing.clone(),
            pieces,
            done: false,
            _generating: begun.generating.take(),
        }
    }

    /// The response was handed to the socket in full: counts it (as finished if nothing broke it).
    pub fn complete(&mut self, ticket: Option<&mut Ticket>) {
        if !self.finishes {
            return;
        }
        let r = &mut self.record;
        match (&self.timing, ticket) {
            (Timing::Fixed { .. }, _) => {
                r.pieces = (0..self.pieces)
                    .filter_map(|k| match self.timing.due(k) {
                        Due::At(t) => Some(t),
                        Due::Tokens(_) => None,
                    })
                    .collect();
            }
            (Timing::Engine { ends, .. }, Some(t)) => {
                r.admitted = t.admitted().map_or(r.received, Instant::from_std);
                let times = t.token_times();
                r.pieces = ends
                    .iter()
                    .map_while(|e| {
                        let i = usize::try_from(e.checked_sub(1)?).ok()?;
                        times.get(i).copied().map(Instant::from_std)
                    })
                    .collect();
            }
            (Timing::Engine { .. }, None) => {}
        }
        self.metrics.finished(r);
        self.done = true;
    }
}

impl Drop for Outcome {
    fn drop(&mut self) {
        if !self.done {
            self.metrics.aborted();
        }
    }
}
