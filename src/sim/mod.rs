//! The built-in simulator: a streaming LLM server over real HTTP that speaks OpenAI chat completions
//! (`/v1/chat/completions`), OpenAI legacy completions (`/v1/completions`) and Anthropic Messages
//! (`/v1/messages`), with configurable time to first token, inter-chunk delay, tokens per chunk, output length
//! and reasoning length, and injectable faults. It records what each request carried (path, headers, body)
//! for tests ([`SimServer::received`]). Deterministic: the same request gets the same answer, chunk `k` is due at exactly
//! `ttft + k × itl` after the request arrived (timers are not cumulative, so delays do not drift).
//!
//! It shares nothing with the client but the wire format; its timing code is its own.
//!
//! A correctness-test question ("Convert the following sequence of words into a number: …") is answered with
//! the number (wrong for a configurable fraction), instead of filler words.

mod answers;
mod faults;
mod server;
mod wire;

pub use server::{ReceivedRequest, SimServer, serve_foreground, start_in_background};

use serde::Deserialize;

use crate::Error;

/// Words the simulator streams. Each is a single Llama token when preceded by a space (and at the start of the
/// text), so a response of `n` tokens counts exactly `n + 1` with BOS.
pub const WORDS: [&str; 16] = [
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "with", "was", "on", "be",
    "at", "by",
];

/// A failure injected into every `every`-th request (counting from 1), and/or into the requests numbered in
/// `at` (the simulator counts requests from 1 in arrival order).
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
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

/// Simulator behaviour (config key `simulator:`, or `serve-sim` flags).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    /// Delay from request arrival to the first content chunk, in milliseconds.
    pub ttft_ms: f64,
    /// Delay between content chunks, in milliseconds.
    pub itl_ms: f64,
    /// Tokens per content chunk.
    pub tokens_per_chunk: u32,
    /// Fixed output length; `None` honours the request's `max_tokens` (else `default_output_tokens`).
    pub output_tokens: Option<u64>,
    /// Output length when the request has no `max_tokens`.
    pub default_output_tokens: u64,
    /// HTTP worker threads.
    pub workers: usize,
    /// Concurrent generation slots; more requests wait for one (their time to first token grows), like a
    /// loaded server. `None` is unlimited.
    pub capacity: Option<usize>,
    /// Injected failures; the first rule that matches a request wins.
    pub faults: Vec<FaultRule>,
    /// Fraction (0..=1) of correctness-test questions answered with a wrong number; spread evenly, so
    /// `n` questions get exactly `floor(n × fraction)` wrong answers.
    pub wrong_answer_fraction: f64,
    /// Reasoning tokens streamed before the answer (`reasoning_content` chunks; Anthropic thinking deltas), with
    /// the same chunking and timing as the answer; not for `/v1/completions`. Counted in the usage's
    /// completion tokens, as servers do.
    pub reasoning_tokens: u64,
    /// `stall` and `never_answer`: how long nothing is sent, in milliseconds.
    pub stall_ms: u64,
    /// `slow_trickle`: delay between bytes, in milliseconds.
    pub trickle_ms: u64,
    /// `huge_line`: length of the line, in bytes.
    pub huge_line_bytes: usize,
    /// Ground truth for timing-fidelity benchmarks: append one line per streamed response to this file
    /// (`n arrival_unix_us first_content_us last_item_us items`, the two offsets from the moment the handler
    /// first saw the request, taken when each piece is handed to the HTTP encoder). Written after the response's last byte, so it
    /// does not delay the stream it describes. `None` (the default) records nothing.
    pub timing_log: Option<std::path::PathBuf>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            ttft_ms: 100.0,
            itl_ms: 10.0,
            tokens_per_chunk: 1,
            output_tokens: None,
            default_output_tokens: 100,
            workers: 1,
            capacity: None,
            faults: Vec::new(),
            wrong_answer_fraction: 0.0,
            reasoning_tokens: 0,
            stall_ms: 600_000,
            trickle_ms: 100,
            huge_line_bytes: 20 * 1024 * 1024,
            timing_log: None,
        }
    }
}

impl SimConfig {
    /// Checks the values; errors name the key.
    pub fn validated(self) -> Result<SimConfig, Error> {
        let bad = |k: &str, v: &dyn std::fmt::Display| {
            Err(Error::Config(format!("simulator.{k} is invalid: {v}")))
        };
        if !(self.ttft_ms.is_finite() && self.ttft_ms >= 0.0) {
            return bad("ttft_ms", &self.ttft_ms);
        }
        if !(self.itl_ms.is_finite() && self.itl_ms >= 0.0) {
            return bad("itl_ms", &self.itl_ms);
        }
        if self.tokens_per_chunk == 0 {
            return bad("tokens_per_chunk", &"must be at least 1");
        }
        if !(0.0..=1.0).contains(&self.wrong_answer_fraction) {
            return bad("wrong_answer_fraction", &"must be between 0 and 1");
        }
        if self.capacity == Some(0) {
            return bad(
                "capacity",
                &"must be at least 1 (leave it out for no limit)",
            );
        }
        if self.workers == 0 {
            return bad("workers", &"must be at least 1");
        }
        if let Some(f) = self.faults.iter().find(|f| f.every == Some(0)) {
            return bad(
                "faults",
                &format!("{:?} has every: 0; use 1 or more", f.kind),
            );
        }
        if let Some(f) = self
            .faults
            .iter()
            .find(|f| f.every.is_none() && f.at.is_empty())
        {
            return bad(
                "faults",
                &format!("{:?} needs `every: N` or `at: [request numbers]`", f.kind),
            );
        }
        if self.huge_line_bytes > 1 << 30 {
            return bad("huge_line_bytes", &"must be at most 1 GiB");
        }
        Ok(self)
    }

    /// The fault for the `n`-th request (1-based), if any.
    pub fn fault_for(&self, n: u64) -> Option<Fault> {
        self.faults.iter().find(|f| f.matches(n)).map(|f| f.kind)
    }
}
