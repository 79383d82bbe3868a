//! The built-in simulator: a streaming LLM server over real HTTP/1.1 that speaks OpenAI chat completions
//! (`/v1/chat/completions`), OpenAI legacy completions (`/v1/completions`) and Anthropic Messages
//! (`/v1/messages`), lists one model (`GET /v1/models`), with configurable time to first token, inter-chunk
//! delay, tokens per chunk, output length and reasoning length, and injectable faults. It records what each
//! request carried (path, headers, body) for tests ([`SimServer::received`]) and counts the connections it
//! accepted ([`SimServer::connections`]). Deterministic: the same request gets the same answer, chunk `k` is
//! due at exactly `ttft + k × itl` after the request arrived (timers are not cumulative, so delays do not
//! drift).
//!
//! Its HTTP server is its own, over tokio sockets, so it controls every byte and every connection: it can
//! reproduce the habits of real servers that a client must survive ([`SimConfig`], all off by default) —
//! closing the connection after a streamed response while advertising keep-alive (llama.cpp), with a delay
//! that makes a reused connection meet a reset; closing idle connections (a proxy's keep-alive timeout);
//! close-delimited streamed bodies; the usage on the finish chunk; a `null` role-chunk content; rejecting
//! `stream_options`.
//!
//! With `batch_slots` set it saturates like a serving engine instead (`docs/simulator.md`): one simulated
//! accelerator runs a batch of at most `batch_slots` requests, the others wait in a FIFO queue; a prefill step
//! costs a fixed time plus a time per prompt token, a decode step gives every running request one token and
//! costs a fixed time plus a time per running request; an optional KV budget limits the batch. `GET /metrics`
//! shows vLLM's metrics (queue, batch, KV usage, token counters, latency histograms).
//!
//! Modules: `config` (settings), `listen` (threads, accepting, stopping), `conn` (one connection: keep-alive
//! and the habits), `http` (reading requests: heads, bodies), `chunked` (chunked request bodies),
//! `read_error` (a request refused, and the limits), `response` (what the routes answer, and its bytes),
//! `server` (routes and answers), `state` (what the connections share), `generate` (when pieces are due: fixed timing or the engine), `scheduler` (the engine's schedule, pure), `engine` (the engine's
//! thread), `metrics` (`GET /metrics`), `faults` (what goes wrong), `wire` (the JSON event shapes), `timing`
//! (the timing log), `answers` (correctness questions).
//!
//! It shares nothing with the client but the wire format; its timing code is its own.
//!
//! A correctness-test question ("Convert the following sequence of words into a number: …") is answered with
//! the number (wrong for a configurable fraction), instead of filler words.

// Without the `sim` cargo feature only the configuration stays (the `simulator:` config section still
// parses, so one config file serves both builds); the server is left out.
#[cfg(feature = "sim")]
mod answers;
#[cfg(feature = "sim")]
mod chunked;
mod config;
#[cfg(feature = "sim")]
mod conn;
#[cfg(feature = "sim")]
mod engine;
#[cfg(feature = "sim")]
mod faults;
#[cfg(feature = "sim")]
mod generate;
#[cfg(feature = "sim")]
mod http;
#[cfg(feature = "sim")]
mod listen;
#[cfg(feature = "sim")]
mod metrics;
#[cfg(feature = "sim")]
mod read_error;
#[cfg(feature = "sim")]
mod response;
#[cfg(feature = "sim")]
mod scheduler;
#[cfg(feature = "sim")]
mod server;
#[cfg(feature = "sim")]
mod state;
#[cfg(feature = "sim")]
mod timing;
#[cfg(feature = "sim")]
mod wire;

pub use config::{SimConfig, UsageChunk};
#[cfg(feature = "sim")]
pub use listen::{SimServer, serve_foreground, start_in_background};
#[cfg(feature = "sim")]
pub use state::ReceivedRequest;

/// The built-in simulator serving a run (`openai_api_base: builtin`); it stops when dropped.
#[cfg(feature = "sim")]
pub(crate) type Builtin = SimServer;

/// Built without the `sim` feature there is no simulator to serve a run.
#[cfg(not(feature = "sim"))]
pub(crate) enum Builtin {}

#[cfg(not(feature = "sim"))]
impl Drop for Builtin {
    fn drop(&mut self) {
        match *self {}
    }
}

#[cfg(not(feature = "sim"))]
impl Builtin {
    pub(crate) fn base_url(&self) -> String {
        match *self {}
    }
}

/// Starts the built-in simulator on a free loopback port for a run's `builtin` endpoint.
#[cfg(feature = "sim")]
pub(crate) fn start_builtin(config: SimConfig) -> Result<Builtin, crate::Error> {
    start_in_background(config, "127.0.0.1", 0).map_err(|e| crate::Error::Io {
        what: "starting the built-in simulator".into(),
        source: e,
    })
}

/// Built without the `sim` feature: a `builtin` endpoint is an error that says how to get one.
#[cfg(not(feature = "sim"))]
pub(crate) fn start_builtin(_config: SimConfig) -> Result<Builtin, crate::Error> {
    Err(crate::Error::Config(
        "the API base is `builtin`, but this build has no simulator (built without the `sim` cargo \
         feature): give a real endpoint (OPENAI_API_BASE, or `openai_api_base` in the config), or build with the default \
         features"
            .into(),
    ))
}

use serde::{Deserialize, Serialize};

/// Words the simulator streams. Each is a single Llama token when preceded by a space (and at the start of the
/// text), so a response of `n` tokens counts exactly `n + 1` with BOS.
pub const WORDS: [&str; 16] = [
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "with", "was", "on", "be",
    "at", "by",
];

/// A failure injected into every `every`-th request (counting from 1), and/or into the requests numbered in
/// `at` (the simulator counts requests from 1 in arrival order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// What goes wrong.
    pub kind: Fault,
    /// Every `every`-th request (counting from 1) gets the fault.
    #[serde(default)]
    pub every: Option<u64>,
    /// These requests (1-based arrival numbers) get the fault.
    #[serde(default)]
    pub at: Vec<u64>,
}

impl FaultRule {
    /// Whether request `n` (1-based) gets this fault.
    pub fn matches(&self, n: u64) -> bool {
        self.every.is_some_and(|e| e > 0 && n.is_multiple_of(e)) || self.at.contains(&n)
    }
}

/// A kind of injected failure (see `src/sim/faults.rs` for what each sends). `split_utf8` and
/// `framing_variants` are not failures: a correct client must read them as a normal response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// HTTP 400 with a JSON error body.
    #[serde(rename = "http_400")]
    Http400,
    /// HTTP 401 with a JSON error body.
    #[serde(rename = "http_401")]
    Http401,
    /// HTTP 404 with a JSON error body.
    #[serde(rename = "http_404")]
    Http404,
    /// HTTP 429 with `Retry-After: 1` and a JSON error body.
    #[serde(rename = "http_429")]
    Http429,
    /// HTTP 500 with a JSON error body.
    #[serde(rename = "http_500")]
    Http500,
    /// HTTP 503 with `Retry-After: 1` and a JSON error body.
    #[serde(rename = "http_503")]
    Http503,
    /// Half the tokens, then an `{"error": …}` event, then the end of the stream.
    ErrorMidStream,
    /// Half the tokens, then the response ends without its terminating chunk (the client sees the stream
    /// close early).
    CloseMidStream,
    /// Half the tokens, then the connection is reset (TCP RST).
    ResetMidStream,
    /// Every token, then a clean close without the finish chunk and `[DONE]` (`message_stop`).
    CloseBeforeDone,
    /// Headers sent, then no bytes at all (for `stall_ms`, 10 minutes by default).
    Stall,
    /// The whole response, one byte every `trickle_ms`: never idle, always late.
    SlowTrickle,
    /// A data event whose JSON is cut short.
    MalformedJson,
    /// A data event with bytes that are not UTF-8.
    InvalidUtf8,
    /// A multi-byte character (in the chunk `id`) split across two network writes. Not an error.
    SplitUtf8,
    /// `data:` without the space, CRLF line ends, keep-alive comments, `id:`/`retry:` fields. Not an error.
    FramingVariants,
    /// One line of `huge_line_bytes` (20 MB by default) in the middle of the stream.
    HugeLine,
    /// `307 Temporary Redirect` to another path.
    Redirect,
    /// Accepts the request and never answers (no headers, for `stall_ms`).
    NeverAnswer,
}

impl Fault {
    /// Every kind, by its config name.
    pub const NAMES: &'static str = "http_400, http_401, http_404, http_429, http_500, http_503, \
        error_mid_stream, close_mid_stream, reset_mid_stream, close_before_done, stall, slow_trickle, malformed_json, invalid_utf8, \
        split_utf8, framing_variants, huge_line, redirect, never_answer";
}

impl std::str::FromStr for FaultRule {
    type Err = String;
    /// `KIND:N` (every N-th request) or `KIND@A,B,…` (those requests), e.g. `http_500:5`, `stall@3`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad_kind =
            |kind: &str| format!("unknown fault kind '{kind}': use one of {}", Fault::NAMES);
        let parse_kind = |kind: &str| -> Result<Fault, String> {
            serde_json::from_value(serde_json::Value::from(kind)).map_err(|_| bad_kind(kind))
        };
        if let Some((kind, at)) = s.split_once('@') {
            let at = at
                .split(',')
                .map(|n| n.trim().parse::<u64>().ok().filter(|n| *n >= 1))
                .collect::<Option<Vec<u64>>>()
                .ok_or_else(|| format!("fault '{s}': request numbers must be whole numbers ≥ 1"))?;
            return Ok(FaultRule {
                kind: parse_kind(kind)?,
                every: None,
                at,
            });
        }
        let (kind, every) = s
            .split_once(':')
            .ok_or_else(|| format!("fault '{s}' must be KIND:N or KIND@A,B, e.g. http_500:5"))?;
        let kind = parse_kind(kind)?;
        let every: u64 = every
            .parse()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| format!("fault '{s}': N must be a whole number ≥ 1"))?;
        Ok(FaultRule {
            kind,
            every: Some(every),
            at: Vec::new(),
        })
    }
}
