//! Request sources: what each load mode sends, and when — plain state machines, no actix inside.
//!
//! The dispatch core (the `RequestsLauncher` actor) owns what every load mode shares: the client actors and
//! which are idle, the requests in flight, the timeout, the grace period and cancellation, stopping, progress,
//! and forwarding every result to the collector. What differs between modes is one question, which a
//! [`RequestSource`] answers each time the core asks ([`RequestSource::next`]):
//!
//! - [`Next::Send`]: send this request now (its index, when it was due, which client may take it);
//! - [`Next::Pace`]: nothing now; wake me at these offsets from the start. The core hands the offsets to its
//!   pacer thread, which is precise to microseconds (async timers round to milliseconds), and tells the source
//!   of each due time ([`RequestSource::due`]);
//! - [`Next::Wait`]: nothing now; ask again after a completion (or a due time);
//! - [`Next::Done`]: nothing more, ever.
//!
//! The core asks after every event — the start, a completion ([`RequestSource::completed`], which carries the
//! raw measurement and the reply), a due time, a request an embedder offered ([`RequestSource::offer`]) — and
//! keeps asking until the answer is `Wait` or `Done`. A run ends when its source is done (or the timeout or a
//! stop ended it) and nothing it sent is still in flight.
//!
//! | mode | source | sends |
//! |---|---|---|
//! | closed loop (LLMPerf) | [`closed::ClosedLoop`] | the next request whenever fewer than C are in flight |
//! | open loop, trace replay | [`open::OpenLoop`] | request k at offset tₖ (drawn or explicit), queued at the cap |
//! | multi-turn conversations | [`conversation::Conversations`] | turn k + 1 of a conversation when turn k's reply is in |
//! | one at a time (embedders) | [`single::OneAtATime`] | each offered request as soon as a client is idle |
//!
//! A new load mode is one new file implementing [`RequestSource`] (see `tests/custom_source.rs`, which writes
//! one inside the test and runs it through the real core with `RunSource`).

pub mod closed;
pub mod conversation;
pub mod open;
pub mod single;

/// An open loop's due times (`RunRequests::schedule`): drawn from a seed as they are consumed, or explicit
/// offsets (trace replay).
pub use crate::workload::schedule::{Drawn, Schedule, schedule};

use crate::backend::{ClientResponse, RequestConfig};

/// A request ready to send: its config plus what we know of its prompt.
#[derive(Debug, Clone)]
pub struct PreparedRequest {
    /// The request to send.
    pub config: RequestConfig,
    /// Real token count of the prompt (BOS included); `config.prompt.1` is the target length. `None`: the
    /// collector counts it, on its own thread, when the result arrives (nothing to tokenize before sending).
    pub actual_input_tokens: Option<u64>,
}

/// What the core tells a source when it asks what to send.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Now {
    /// Seconds since the run started.
    pub offset: f64,
    /// This source's requests sent (or being prepared, or queued as follow-ons) and not yet completed.
    pub in_flight: usize,
    /// Client actors with nothing in flight: what [`Target::Idle`] can take.
    pub idle_clients: usize,
    /// Client actors in all.
    pub clients: usize,
}

/// Which client actor a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A client with nothing in flight (answer this only when [`Now::idle_clients`] > 0; otherwise the core
    /// falls back to [`Target::RoundRobin`]). With one request per client, the number of clients is the
    /// concurrency.
    Idle,
    /// The next client in turn, whatever it has in flight (open loops: a client may carry many requests).
    RoundRobin,
    /// This client (conversations stay on the client they started on).
    Client(usize),
}

/// One request to send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Its position in the run (the record's `index`).
    pub index: usize,
    /// The request.
    pub request: PreparedRequest,
    /// When it was due, in seconds from the start (open loops); `None`: now (its scheduled start is then its
    /// actual start). The core refuses requests due at or after the run's timeout.
    pub scheduled: Option<f64>,
    /// Which client takes it.
    pub target: Target,
    /// It waited for a slot (`--max-concurrency`): counted in the run's `queued`.
    pub queued: bool,
    /// Its prompt is only known now: the core has it counted on the counting thread (never on the dispatching
    /// arbiter) and fills `prompt.1` and `actual_input_tokens` before sending it.
    pub count_prompt: bool,
}

impl Outgoing {
    /// Request `index`, sent now to an idle client.
    pub fn now(index: usize, request: PreparedRequest) -> Outgoing {
        Outgoing {
            index,
            request,
            scheduled: None,
            target: Target::Idle,
            queued: false,
            count_prompt: false,
        }
    }
}

/// What a source wants now.
// `Send` is large, but each answer is moved once and consumed at once: boxing it would allocate per request.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Next {
    /// Send this request now.
    Send(Outgoing),
    /// Nothing now; wake me at each of these offsets (seconds from the start, in order): the core's pacer calls
    /// [`RequestSource::due`] at each. Offsets at or after the run's timeout are not delivered. The core asks
    /// again at once: answer `Wait` while the due times are pending (each `Pace` starts a pacer thread).
    Pace(Schedule),
    /// Nothing now; ask again after a completion or a due time.
    Wait,
    /// Nothing more, ever.
    Done,
}

impl Next {
    /// Nothing now; wake me once, at `offset` seconds from the start.
    pub fn at(offset: f64) -> Next {
        Next::Pace(vec![offset].into())
    }
}

/// A due time of a paced timeline has come.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Due {
    /// Which of the source's [`Next::Pace`] answers this belongs to (0 for the first).
    pub timeline: usize,
    /// Position in that timeline.
    pub k: usize,
    /// When it was due, in seconds from the start (the pacer delivers it at most microseconds later, unless
    /// the machine fell behind).
    pub offset: f64,
}

/// A request a source sent has finished (successfully or not).
#[derive(Debug, Clone, Copy)]
pub struct Completion<'a> {
    /// Its index ([`Outgoing::index`]).
    pub index: usize,
    /// The client that carried it.
    pub client: usize,
    /// The request as it was sent.
    pub request: &'a PreparedRequest,
    /// What the client measured (timings, usage, the error if any) and the generated text. Token counts are
    /// taken later, on the collector's thread.
    pub response: &'a ClientResponse,
    /// Seconds from the start to when the client started it.
    pub start_offset_s: f64,
    /// Seconds from the start to when it was due (= `start_offset_s` when it was sent on demand).
    pub scheduled_start_s: f64,
}

/// A load mode: says what to send next and when (see the module docs). Plain state, no actix: each source is
/// unit-tested by calling these methods.
pub trait RequestSource: Send {
    /// What to do now. Called after every event until it answers [`Next::Wait`] or [`Next::Done`]; never again
    /// after `Done`.
    fn next(&mut self, now: &Now) -> Next;

    /// A due time this source asked for with [`Next::Pace`] has come (the core asks [`RequestSource::next`]
    /// right after).
    fn due(&mut self, _due: Due, _now: &Now) {}

    /// A request this source sent has finished; called before the result goes to the collector. (A
    /// [follow-on](RequestSource::follow_on) that never started is not reported: it was never sent.)
    fn completed(&mut self, _done: &Completion<'_>) {}
    /// The request to start on a busy client the moment its request in flight ends, before that completion
    /// reaches the source: `(index, request)`. The core asks after [`RequestSource::next`] answered `Wait`, for
    /// each client whose one request in flight is this source's; a follow-on counts in [`Now::in_flight`] from
    /// then on. It starts on the client's own thread, without a round trip through the core — unless the run
    /// was stopped or its timeout passed by then, in which case it is never sent. For sources whose next
    /// request is the same whichever completion comes first (the closed loop). `None` (the default): none.
    fn follow_on(&mut self, _now: &Now) -> Option<(usize, PreparedRequest)> {
        None
    }

    /// Embedders: one more request to send; whether the source took it (only a source that takes requests
    /// from outside does).
    fn offer(&mut self, _request: RequestConfig) -> bool {
        false
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers for the sources' unit tests.
    use super::*;
    use crate::metrics::{Measured, StreamTimings, Usage};
    use std::time::Instant;

    /// A request whose prompt is `text`.
    pub fn request(text: &str) -> PreparedRequest {
        PreparedRequest {
            config: RequestConfig {
                model: "m".into(),
                prompt: (text.into(), 3),
                sampling_params: Default::default(),
                llm_api: "openai".into(),
                metadata: Default::default(),
                messages: None,
            },
            actual_input_tokens: None,
        }
    }

    /// A successful reply with this text (or a failed one).
    pub fn reply(text: &str, ok: bool) -> ClientResponse {
        ClientResponse {
            started: Instant::now(),
            measured: Measured {
                timings: StreamTimings::default(),
                usage: Usage::default(),
                error: (!ok).then(|| (serde_json::Value::from(500), "failed".into())),
                error_kind: None,
            },
            generated_text: text.into(),
            reasoning_text: String::new(),
        }
    }

    /// The state at `offset` with `in_flight` requests out and `idle` of 4 clients idle.
    pub fn now(offset: f64, in_flight: usize, idle: usize) -> Now {
        Now {
            offset,
            in_flight,
            idle_clients: idle,
            clients: 4,
        }
    }

    /// The request a `Send` carries (panics on anything else).
    pub fn sent(next: Next) -> Outgoing {
        match next {
            Next::Send(o) => o,
            other => panic!("expected Send, got {other:?}"),
        }
    }
}
