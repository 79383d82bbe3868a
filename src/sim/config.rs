//! The simulator's settings ([`SimConfig`], config key `simulator:`, or `serve-sim` flags) and their
//! validation: timings, capacity, the saturating engine (off by default), faults, and the HTTP habits of real
//! servers (all off by default).

use serde::{Deserialize, Serialize};

use super::{Fault, FaultRule};
use crate::Error;

/// Where the usage object of a streamed OpenAI-shaped response goes, when the request asked for it
/// (`stream_options.include_usage`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageChunk {
    /// In a chunk of its own after the finish chunk, with `"choices": []` (OpenAI, vLLM).
    #[default]
    Separate,
    /// On the last chunk that still has `choices` (the finish chunk), as llama.cpp's `/v1/completions` does.
    WithLastChoice,
}

impl std::str::FromStr for UsageChunk {
    type Err = String;
    /// `separate` or `with_last_choice` (`with-last-choice` also accepted).
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "separate" => Ok(UsageChunk::Separate),
            "with_last_choice" | "with-last-choice" => Ok(UsageChunk::WithLastChoice),
            _ => Err(format!(
                "unknown usage placement '{s}': use separate or with_last_choice"
            )),
        }
    }
}

/// Simulator behaviour (config key `simulator:`, or `serve-sim` flags).
///
/// ```
/// use llmperf_actors::sim::{SimConfig, UsageChunk};
/// // A llama.cpp-like server: closes the connection after each streamed response while advertising
/// // keep-alive, and puts the usage on the finish chunk.
/// let cfg = SimConfig {
///     close_after_stream: true,
///     usage_chunk: UsageChunk::WithLastChoice,
///     role_content_null: true,
///     ..SimConfig::default()
/// }
/// .validated()
/// .unwrap();
/// assert_eq!(cfg.close_delay_ms, 0);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    // The `*_ms` times also read a duration with a unit (`0.5s`); see `duration.rs`.
    /// Delay from request arrival to the first content chunk, in milliseconds.
    #[serde(with = "crate::duration::serde_millis::f64")]
    pub ttft_ms: f64,
    /// Delay between content chunks, in milliseconds.
    #[serde(with = "crate::duration::serde_millis::f64")]
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
    #[serde(with = "crate::duration::serde_millis::u64")]
    pub stall_ms: u64,
    /// `slow_trickle`: delay between bytes, in milliseconds.
    #[serde(with = "crate::duration::serde_millis::u64")]
    pub trickle_ms: u64,
    /// `huge_line`: length of the line, in bytes.
    pub huge_line_bytes: usize,
    /// Ground truth for timing-fidelity benchmarks: append one line per streamed response to this file
    /// (`n arrival_unix_us first_content_us last_item_us items earlier_on_connection`, the two offsets from
    /// the moment the request had been read, taken when each piece is handed to the socket writer). Written after
    /// the response's last byte, so it does not delay the stream it describes. `None` (the default) records
    /// nothing.
    pub timing_log: Option<std::path::PathBuf>,
    /// The model id `GET /v1/models` lists (`sim-model` when unset). Requests may name any model.
    pub model: Option<String>,
    /// llama.cpp's habit: every streamed response advertises keep-alive (`Connection: keep-alive`,
    /// `Keep-Alive: timeout=5, max=100`), yet the server closes the connection right after its last byte,
    /// without reading anything more from it.
    pub close_after_stream: bool,
    /// With `close_after_stream`: wait this long (milliseconds) after the last byte before closing, still
    /// without reading, so a request the client sends on the reused connection meets a reset (RST).
    #[serde(with = "crate::duration::serde_millis::u64")]
    pub close_delay_ms: u64,
    /// Close a connection that has waited this long (milliseconds) for its next request, silently, like a
    /// proxy's keep-alive timeout (a request arriving at that moment is not read). `None`: never.
    #[serde(with = "crate::duration::serde_millis::option_u64")]
    pub idle_close_ms: Option<u64>,
    /// Streamed responses carry neither `Content-Length` nor `Transfer-Encoding`: the body ends when the
    /// server closes the connection (RFC 9112 §6.3). Other responses keep `Content-Length`.
    pub close_delimited: bool,
    /// Where a streamed OpenAI-shaped response puts the usage it was asked for.
    pub usage_chunk: UsageChunk,
    /// The chat role chunk's delta is `{"role": "assistant", "content": null}` (llama.cpp) instead of
    /// `"content": ""`.
    pub role_content_null: bool,
    /// Answer a request whose body has a `stream_options` field with HTTP 400 naming the field, as servers
    /// that reject unknown fields do.
    pub reject_stream_options: bool,
    /// The saturating engine (`docs/simulator.md`): this many requests run at once in one batch, the others
    /// wait in a FIFO queue; `ttft_ms` becomes the fixed time of a prefill step. `None` (the default): the
    /// fixed timing model.
    pub batch_slots: Option<usize>,
    /// Engine: prefill time per prompt token, in milliseconds \[0\].
    pub prefill_ms_per_token: Option<f64>,
    /// Engine: the fixed time of a decode step (one token for every running request), in milliseconds
    /// \[`itl_ms`\].
    #[serde(with = "crate::duration::serde_millis::option_f64")]
    pub decode_step_ms: Option<f64>,
    /// Engine: decode-step time per running request, in milliseconds \[0\].
    pub decode_ms_per_running: Option<f64>,
    /// Engine: the KV-cache budget in tokens; a request reserves its prompt and its whole output when admitted
    /// [no limit].
    pub kv_cache_tokens: Option<u64>,
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
            close_after_stream: false,
            close_delay_ms: 0,
            idle_close_ms: None,
            close_delimited: false,
            usage_chunk: UsageChunk::Separate,
            role_content_null: false,
            reject_stream_options: false,
            batch_slots: None,
            prefill_ms_per_token: None,
            decode_step_ms: None,
            decode_ms_per_running: None,
            kv_cache_tokens: None,
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
        if self.close_delay_ms > 0 && !self.close_after_stream {
            return bad(
                "close_delay_ms",
                &"only applies with close_after_stream: set simulator.close_after_stream: true \
                  (--close-after-stream), or leave close_delay_ms at 0",
            );
        }
        if self.close_delay_ms > 3_600_000 {
            return bad("close_delay_ms", &"must be at most 3600000 (one hour)");
        }
        if self.close_after_stream && self.close_delimited {
            return bad(
                "close_delimited",
                &"cannot be combined with close_after_stream (a close-delimited response cannot \
                  advertise keep-alive): choose one",
            );
        }
        if self.idle_close_ms == Some(0) {
            return bad(
                "idle_close_ms",
                &"must be at least 1 (leave it out to keep idle connections open)",
            );
        }
        self.validate_engine()?;
        Ok(self)
    }

    /// The engine's keys: only with `batch_slots`, times finite and in range.
    fn validate_engine(&self) -> Result<(), Error> {
        let bad = |k: &str, v: &dyn std::fmt::Display| {
            Err(Error::Config(format!("simulator.{k} is invalid: {v}")))
        };
        let times = [
            ("prefill_ms_per_token", self.prefill_ms_per_token, 60_000.0),
            ("decode_step_ms", self.decode_step_ms, 3_600_000.0),
            (
                "decode_ms_per_running",
                self.decode_ms_per_running,
                60_000.0,
            ),
        ];
        let Some(slots) = self.batch_slots else {
            let set = times
                .iter()
                .find(|(_, v, _)| v.is_some())
                .map(|(k, _, _)| *k)
                .or(self.kv_cache_tokens.map(|_| "kv_cache_tokens"));
            return match set {
                Some(k) => bad(
                    k,
                    &"only applies to the saturating engine: set simulator.batch_slots (--batch-slots)                       too, or leave it out",
                ),
                None => Ok(()),
            };
        };
        if slots == 0 {
            return bad(
                "batch_slots",
                &"must be at least 1 (leave it out for the fixed timing)",
            );
        }
        if self.capacity.is_some() {
            return bad(
                "capacity",
                &"cannot be combined with batch_slots (the engine's batch is its capacity): choose one",
            );
        }
        for (k, v, max) in times {
            if let Some(v) = v
                && !(v.is_finite() && (0.0..=max).contains(&v))
            {
                return bad(k, &format!("{v}: must be between 0 and {max} milliseconds"));
            }
        }
        if self.ttft_ms > 3_600_000.0 {
            return bad(
                "ttft_ms",
                &"must be at most 3600000 (one hour) with the engine",
            );
        }
        if self.kv_cache_tokens == Some(0) {
            return bad(
                "kv_cache_tokens",
                &"must be at least 1 (leave it out for no limit)",
            );
        }
        Ok(())
    }

    /// The engine's parameters, if `batch_slots` turns it on: the fixed prefill time is `ttft_ms`, the fixed
    /// decode step `decode_step_ms` (else `itl_ms`).
    #[cfg(feature = "sim")]
    pub(super) fn engine_params(&self) -> Option<super::scheduler::EngineParams> {
        Some(super::scheduler::EngineParams {
            slots: self.batch_slots?,
            prefill_ms: self.ttft_ms,
            prefill_ms_per_token: self.prefill_ms_per_token.unwrap_or(0.0),
            decode_step_ms: self.decode_step_ms.unwrap_or(self.itl_ms),
            decode_ms_per_running: self.decode_ms_per_running.unwrap_or(0.0),
            kv_cache_tokens: self.kv_cache_tokens,
        })
    }

    /// The fault for the `n`-th request (1-based), if any.
    pub fn fault_for(&self, n: u64) -> Option<Fault> {
        self.faults.iter().find(|f| f.matches(n)).map(|f| f.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(cfg: SimConfig) -> String {
        match cfg.validated() {
            Err(e) => e.to_string(),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn the_habits_are_off_by_default() {
        let cfg = SimConfig::default();
        assert!(!cfg.close_after_stream && !cfg.close_delimited);
        assert!(!cfg.role_content_null && !cfg.reject_stream_options);
        assert_eq!(cfg.idle_close_ms, None);
        assert_eq!(cfg.usage_chunk, UsageChunk::Separate);
    }

    #[test]
    fn habit_errors_name_the_key_and_the_fix() {
        let e = err(SimConfig {
            close_delay_ms: 50,
            ..SimConfig::default()
        });
        assert!(
            e.contains("simulator.close_delay_ms") && e.contains("close_after_stream: true"),
            "{e}"
        );
        let e = err(SimConfig {
            close_after_stream: true,
            close_delimited: true,
            ..SimConfig::default()
        });
        assert!(e.contains("simulator.close_delimited"), "{e}");
        let e = err(SimConfig {
            idle_close_ms: Some(0),
            ..SimConfig::default()
        });
        assert!(e.contains("simulator.idle_close_ms"), "{e}");
        let e = err(SimConfig {
            model: Some(" ".into()),
            ..SimConfig::default()
        });
        assert!(e.contains("simulator.model"), "{e}");
    }

    #[test]
    fn engine_keys_need_batch_slots_and_sane_values() {
        let e = err(SimConfig {
            decode_step_ms: Some(5.0),
            ..SimConfig::default()
        });
        assert!(
            e.contains("simulator.decode_step_ms") && e.contains("batch_slots"),
            "{e}"
        );
        let e = err(SimConfig {
            kv_cache_tokens: Some(100),
            ..SimConfig::default()
        });
        assert!(e.contains("simulator.kv_cache_tokens"), "{e}");
        let engine = |f: fn(&mut SimConfig)| {
            let mut c = SimConfig {
                batch_slots: Some(4),
                ..SimConfig::default()
            };
            f(&mut c);
            c
        };
        assert!(err(engine(|c| c.batch_slots = Some(0))).contains("simulator.batch_slots"));
        assert!(err(engine(|c| c.capacity = Some(2))).contains("simulator.capacity"));
        assert!(
            err(engine(|c| c.prefill_ms_per_token = Some(f64::NAN)))
                .contains("simulator.prefill_ms_per_token")
        );
        assert!(
            err(engine(|c| c.decode_ms_per_running = Some(-1.0)))
                .contains("simulator.decode_ms_per_running")
        );
        assert!(err(engine(|c| c.kv_cache_tokens = Some(0))).contains("simulator.kv_cache_tokens"));
    }

    #[test]
    fn the_habits_parse_from_yaml_keys() {
        let cfg: SimConfig = serde_json::from_value(serde_json::json!({
            "close_after_stream": true, "close_delay_ms": 20, "idle_close_ms": 500,
            "usage_chunk": "with_last_choice", "role_content_null": true, "reject_stream_options": true,
            "model": "m"
        }))
        .expect("valid keys");
        assert_eq!(cfg.usage_chunk, UsageChunk::WithLastChoice);
        assert!(cfg.validated().is_ok());
        assert!(
            serde_json::from_value::<SimConfig>(serde_json::json!({"close_after_streams": true}))
                .is_err()
        );
        assert_eq!(
            "with-last-choice".parse::<UsageChunk>(),
            Ok(UsageChunk::WithLastChoice)
        );
        assert!("last".parse::<UsageChunk>().is_err());
    }

    #[cfg(feature = "sim")]
    #[test]
    fn the_engine_takes_its_fixed_times_from_ttft_and_itl() {
        let engine = |f: fn(&mut SimConfig)| {
            let mut c = SimConfig {
                batch_slots: Some(4),
                ..SimConfig::default()
            };
            f(&mut c);
            c
        };
        let on = engine(|c| {
            c.ttft_ms = 20.0;
            c.itl_ms = 7.0;
            c.kv_cache_tokens = Some(4096);
        })
        .validated()
        .expect("valid");
        let p = on.engine_params().expect("on");
        assert_eq!((p.slots, p.prefill_ms, p.decode_step_ms), (4, 20.0, 7.0));
        assert_eq!(p.kv_cache_tokens, Some(4096));
        assert_eq!(SimConfig::default().engine_params(), None);
    }
}
