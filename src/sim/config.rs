//! The simulator's settings ([`SimConfig`], config key `simulator:`, or `serve-sim` flags) and their
//! validation: timings, capacity, faults.

use serde::Deserialize;

use super::{Fault, FaultRule};
use crate::Error;

/// Simulator behaviour (config key `simulator:`, or `serve-sim` flags).
///
/// ```
/// use llmperf_actors::sim::SimConfig;
/// let cfg = SimConfig { ttft_ms: 50.0, model: Some("llama-3-8b".into()), ..SimConfig::default() }
///     .validated()
///     .unwrap();
/// assert_eq!(cfg.itl_ms, 10.0);
/// ```
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
    /// HTTP worker threads, each accepting connections on the same listening socket.
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
    /// (`n arrival_unix_us first_content_us last_item_us items earlier_on_connection`, the two offsets from
    /// the moment the request had been read, taken when each piece is written to the socket). Written after
    /// the response's last byte, so it does not delay the stream it describes. `None` (the default) records
    /// nothing.
    pub timing_log: Option<std::path::PathBuf>,
    /// The model id `GET /v1/models` lists (`sim-model` when unset). Requests may name any model.
    pub model: Option<String>,
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
            model: None,
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
        if self.model.as_deref().is_some_and(|m| m.trim().is_empty()) {
            return bad("model", &"must not be empty (leave it out for sim-model)");
        }
        Ok(self)
    }

    /// The fault for the `n`-th request (1-based), if any.
    pub fn fault_for(&self, n: u64) -> Option<Fault> {
        self.faults.iter().find(|f| f.matches(n)).map(|f| f.kind)
    }
}
