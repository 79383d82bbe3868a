//! Per-request records and summary statistics, with LLMPerf's formulas (spec §6, §13). Pure: numbers in,
//! numbers out.
//!
//! | key | formula |
//! |---|---|
//! | `ttft_s` | first content chunk − request start (0 when no content arrived) |
//! | `end_to_end_latency_s` | stream end − request start (0 for an errored request, as the original) |
//! | `inter_token_latency_s` | (last content chunk − start) / K, K = SSE data events (compat, spec §12.2) |
//! | `number_output_tokens` | T = Llama tokens of the generated text, BOS included |
//! | `request_output_throughput_token_per_s` | T / e2e (0 when e2e = 0) |
//! | `number_total_tokens` | P + T |
//! | `generated_tokens` (extra) | n = the server's `usage.completion_tokens` when it sent one, else the tokenizer's count of the answer and the reasoning without its special tokens (BOS) |
//! | `prompt_tokens` (extra) | the server's `usage.prompt_tokens` when sent (the prompt as the server evaluated it, chat template included), else `number_input_tokens_actual` |
//! | `token_counts_source` (extra) | `"server"` when `generated_tokens` is the server's count, else `"tokenizer"` |
//! | `generation_throughput_token_per_s` (extra) | n / e2e (0 when e2e = 0) |
//! | `tpot_s` (extra) | (e2e − first token of any kind) / (n − 1); null when n < 2 or errored |
//! | `tokenizer_generated_tokens` (extra) | the tokenizer's count of the answer and the reasoning without special tokens, when it counted them (null with `--use-server-token-counts`) |
//! | `new_connection`, `connect_s` (extra) | whether the request opened a connection; seconds spent connecting (null when it reused one) |
//! | `pre_send_s` (extra) | from the client taking the request to its first byte written: building the body, a pool checkout, `connect_s`; every time above starts after it (null when the client does not say, e.g. a request that never got a connection) |
//! | `dispatch_delay_s` (extra) | actual start − scheduled start |
//! | `scheduled_ttft_s`, `scheduled_end_to_end_latency_s` (extra) | dispatch delay + `pre_send_s` + ttft / e2e: from the scheduled send (null if errored) |
//! | `ttft_any_s` (extra) | first streamed token of any kind, reasoning included − request start (null when none) |
//! | `number_reasoning_tokens` (extra) | tokens of the reasoning text, no special tokens (0 when none) |
//! | `server_reasoning_tokens` (extra) | the server's `completion_tokens_details.reasoning_tokens`, when sent |
//! | `output_tokens_source` (extra) | `"tokenizer"`, or `"server"` when `number_output_tokens` is the server's `usage` |

use crate::error_kind::ErrorKind;
use serde::Serialize;
use serde_json::Value;

/// How long a request took, as measured by a client. All durations in seconds from the request's start.
/// A client fills it with a [`StreamTimer`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct StreamTimings {
    /// First non-empty content (answer) chunk.
    pub first_content_s: Option<f64>,
    /// First non-empty chunk of any kind: reasoning or answer.
    #[serde(default)]
    pub first_token_s: Option<f64>,
    /// Last non-empty content chunk.
    pub last_content_s: Option<f64>,
    /// When the stream ended (or failed).
    pub end_s: f64,
    /// SSE data events received (K, the original ITL divisor), `[DONE]` excluded.
    pub data_events: u64,
    /// Gaps between successive network reads that carried answer content, in seconds (pooled across requests
    /// into the inter-chunk gap distribution; not kept per request).
    #[serde(skip)]
    pub chunk_gaps_s: Vec<f32>,
    /// Whether the request opened a new connection (`None`: the client does not say).
    #[serde(default)]
    pub new_connection: Option<bool>,
    /// Seconds spent connecting (TCP, and TLS for https) when it opened one; `None` when it reused one.
    #[serde(default)]
    pub connect_s: Option<f64>,
    /// Seconds from the client taking the request to its first byte written (the start of every time above);
    /// `None` when the client does not say.
    #[serde(default)]
    pub pre_send_s: Option<f64>,
}

/// Token counts the server reported in a `usage` object, when it sent one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Usage {
    /// `usage.prompt_tokens`.
    pub prompt_tokens: Option<u64>,
    /// `usage.completion_tokens`.
    pub completion_tokens: Option<u64>,
    /// `completion_tokens_details.reasoning_tokens` (OpenAI-shaped), when sent; part of `completion_tokens`.
    #[serde(default)]
    pub reasoning_tokens: Option<u64>,
}

/// The per-request record, serialized with the original's keys in the original's order, then our extras.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Metrics {
    /// `null` on success; the HTTP status, the stream's `error.code`, or -1 for transport errors.
    pub error_code: Option<Value>,
    /// `""` on success; the response body, the stream's `error.message` or the transport error.
    pub error_msg: String,
    /// (last content chunk − start) / SSE data events (the original's definition).
    pub inter_token_latency_s: f64,
    /// First content chunk − start, in seconds.
    pub ttft_s: f64,
    /// Stream end − start, in seconds; 0 for an errored request.
    pub end_to_end_latency_s: f64,
    /// Output tokens / end-to-end latency.
    pub request_output_throughput_token_per_s: f64,
    /// Input (target) + output tokens.
    pub number_total_tokens: u64,
    /// Tokens of the generated text, BOS included.
    pub number_output_tokens: u64,
    /// The prompt's target length P.
    pub number_input_tokens: u64,
    // ---- extras, after the original keys ----
    /// The real token count of the prompt that was sent (BOS included).
    pub number_input_tokens_actual: u64,
    /// Time per output token after the first: (e2e − ttft) / (generated tokens − 1).
    pub tpot_s: Option<f64>,
    /// SSE data events received (the original ITL divisor).
    pub number_stream_events: u64,
    /// `usage.prompt_tokens` / `usage.completion_tokens` from the server, when sent.
    pub server_prompt_tokens: Option<u64>,
    /// `usage.completion_tokens` from the server, when sent.
    pub server_completion_tokens: Option<u64>,
    /// Seconds from the start of the run to when this request was due (its schedule; in a closed loop, when
    /// it was sent).
    pub scheduled_start_s: f64,
    /// Seconds from the start of the run to when the client started this request.
    pub actual_start_s: f64,
    /// `actual_start_s − scheduled_start_s`: how late the request went out (queueing, a busy client).
    pub dispatch_delay_s: f64,
    /// TTFT as a user who arrived at the scheduled time felt it: `dispatch_delay_s + ttft_s`; null if errored.
    pub scheduled_ttft_s: Option<f64>,
    /// End-to-end latency from the scheduled start: `dispatch_delay_s + end_to_end_latency_s`; null if
    /// errored.
    pub scheduled_end_to_end_latency_s: Option<f64>,
    /// Part of the warm-up: kept in the log, left out of the statistics.
    pub warmup: bool,
    /// Time to the first streamed token of any kind (reasoning included); `ttft_s` is the first answer token.
    #[serde(default)]
    pub ttft_any_s: Option<f64>,
    /// Tokens of the reasoning text (no special tokens), counted with the chosen tokenizer.
    #[serde(default)]
    pub number_reasoning_tokens: u64,
    /// Where `number_output_tokens` comes from: `"tokenizer"` or `"server"` (`--use-server-token-counts`).
    #[serde(default = "tokenizer_source")]
    pub output_tokens_source: String,
    /// `usage.completion_tokens_details.reasoning_tokens` from the server, when sent (reasoning models that do
    /// not stream their reasoning report only this).
    #[serde(default)]
    pub server_reasoning_tokens: Option<u64>,
    /// The dataset line's `id`, when it has one (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_id: Option<Value>,
    /// Multi-turn: the conversation this request belongs to (0-based; absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<u64>,
    /// Multi-turn: the turn within its conversation (1-based; absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<u64>,
    /// Why the request failed, a stable name from [`ErrorKind`] (`null` on success): tells apart the
    /// transport failures that all share `error_code` -1.
    #[serde(default)]
    pub error_kind: Option<String>,
    /// Output tokens for the standard metrics: the server's `usage.completion_tokens` when it sent one, else
    /// the tokenizer's count of the answer and reasoning text without special tokens.
    #[serde(default)]
    pub generated_tokens: u64,
    /// Input tokens for the standard metrics: the server's `usage.prompt_tokens` when sent (chat template
    /// included), else `number_input_tokens_actual`.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Where `generated_tokens` comes from: `"server"` or `"tokenizer"`.
    #[serde(default = "tokenizer_source")]
    pub token_counts_source: String,
    /// `generated_tokens / end_to_end_latency_s` (0 for an errored request).
    #[serde(default)]
    pub generation_throughput_token_per_s: f64,
    /// The tokenizer's count of the answer and reasoning text without special tokens, when it counted them:
    /// compared with the server's count.
    #[serde(default)]
    pub tokenizer_generated_tokens: Option<u64>,
    /// Whether the request opened a new connection (`null` when the client does not say).
    #[serde(default)]
    pub new_connection: Option<bool>,
    /// Seconds spent connecting (TCP, and TLS for https) when it opened one; `null` when it reused one.
    #[serde(default)]
    pub connect_s: Option<f64>,
    /// Seconds from the client taking the request to its first byte written (body, pool checkout,
    /// `connect_s`); the request's times start after it. `null` when the client does not say.
    #[serde(default)]
    pub pre_send_s: Option<f64>,
}

fn tokenizer_source() -> String {
    OutputCount::TOKENIZER.to_string()
}

/// The output token count of one request, and how many of those tokens were generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputCount {
    /// T, `number_output_tokens`.
    pub tokens: u64,
    /// Generated tokens: T without the special tokens the tokenizer adds (BOS), or the server's count.
    pub generated: u64,
    /// [`OutputCount::TOKENIZER`] or [`OutputCount::SERVER`].
    pub source: &'static str,
    /// Reasoning tokens counted by the tokenizer (no special tokens); 0 when there was no reasoning text.
    pub reasoning: u64,
}

impl OutputCount {
    /// Counted with the tokenizer.
    pub const TOKENIZER: &'static str = "tokenizer";
    /// Taken from the server's `usage`.
    pub const SERVER: &'static str = "server";

    /// A tokenizer count `t` whose tokenizer adds `special` tokens to every text (1 for Llama's BOS).
    pub fn tokenizer(t: u64, special: u64) -> Self {
        OutputCount {
            tokens: t,
            generated: t.saturating_sub(special),
            source: Self::TOKENIZER,
            reasoning: 0,
        }
    }

    /// With `n` reasoning tokens counted by the tokenizer.
    pub fn with_reasoning(mut self, n: u64) -> Self {
        self.reasoning = n;
        self
    }

    /// The server's `usage.completion_tokens`.
    pub fn server(n: u64) -> Self {
        OutputCount {
            tokens: n,
            generated: n,
            source: Self::SERVER,
            reasoning: 0,
        }
    }
}

impl Metrics {
    /// Whether the request succeeded (`error_code` is null).
    pub fn is_ok(&self) -> bool {
        self.error_code.is_none()
    }

    /// When its first byte was written, seconds from the run's start: where `ttft_s` and
    /// `end_to_end_latency_s` count from (`actual_start_s` + `pre_send_s`).
    pub fn sent_s(&self) -> f64 {
        self.actual_start_s + self.pre_send_s.unwrap_or(0.0)
    }

    /// When it ended, seconds from the run's start (an errored request, whose e2e is 0: when it was sent).
    pub fn ended_s(&self) -> f64 {
        self.sent_s() + self.end_to_end_latency_s.max(0.0)
    }
}

/// What a client measured, before tokens are counted.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// When content arrived and the stream ended.
    pub timings: StreamTimings,
    /// What the server reported in `usage`, if anything.
    pub usage: Usage,
    /// `(error_code, error_msg)` when the request failed.
    pub error: Option<(Value, String)>,
    /// Why it failed, when the client knows; `None` is guessed from the code ([`ErrorKind::guess`]).
    pub error_kind: Option<ErrorKind>,
}

/// Turns a client's measurements into the per-request record.
///
/// `output_tokens` is T counted by the Llama tokenizer (BOS included), `target_input` is P, `actual_input` the
/// real prompt count; `start` holds when the request was due and when it went out, in seconds from the run's
/// start.
pub fn compute_metrics(
    m: &Measured,
    output_tokens: u64,
    target_input: u64,
    actual_input: u64,
    start: StartTimes,
) -> Metrics {
    compute_metrics_counted(
        m,
        OutputCount::tokenizer(output_tokens, 1),
        target_input,
        actual_input,
        start,
    )
}

/// [`compute_metrics`] with the output count given explicitly (any tokenizer, or the server's count, and the
/// reasoning tokens).
pub fn compute_metrics_counted(
    m: &Measured,
    output: OutputCount,
    target_input: u64,
    actual_input: u64,
    start: StartTimes,
) -> Metrics {
    let output_tokens = output.tokens;
    let t = &m.timings;
    let ttft = t.first_content_s.unwrap_or(0.0);
    let (e2e, error_code, error_msg) = match &m.error {
        None => (t.end_s, None, String::new()),
        Some((code, msg)) => (0.0, Some(code.clone()), msg.clone()),
    };
    let pre_send = t.pre_send_s.unwrap_or(0.0);
    let itl = match (t.last_content_s, t.data_events) {
        (Some(last), k) if k > 0 && output_tokens > 0 => last / k as f64,
        _ => 0.0,
    };
    let throughput = if e2e > 0.0 {
        output_tokens as f64 / e2e
    } else {
        0.0
    };
    let error_kind = m.error.as_ref().map(|(code, _)| {
        m.error_kind
            .unwrap_or_else(|| ErrorKind::guess(code))
            .as_str()
            .to_string()
    });
    let ok = error_code.is_none();
    // The standard counts: the server's when it sent them; the tokenizer's (no special tokens, reasoning
    // included, as a server counts it) otherwise.
    let tokenizer_generated =
        (output.source == OutputCount::TOKENIZER).then_some(output.generated + output.reasoning);
    let (generated, source) = match (m.usage.completion_tokens, tokenizer_generated) {
        (Some(n), _) => (n, OutputCount::SERVER),
        (None, Some(n)) => (n, OutputCount::TOKENIZER),
        (None, None) => (output.generated, output.source),
    };
    let first_token = t.first_token_s.or(t.first_content_s);
    let tpot = match first_token {
        Some(first) if ok && generated >= 2 => Some((e2e - first) / (generated - 1) as f64),
        _ => None,
    };
    Metrics {
        error_code,
        error_msg,
        inter_token_latency_s: itl,
        ttft_s: ttft,
        end_to_end_latency_s: e2e,
        request_output_throughput_token_per_s: throughput,
        number_total_tokens: target_input + output_tokens,
        number_output_tokens: output_tokens,
        number_input_tokens: target_input,
        number_input_tokens_actual: actual_input,
        tpot_s: tpot,
        number_stream_events: t.data_events,
        server_prompt_tokens: m.usage.prompt_tokens,
        server_completion_tokens: m.usage.completion_tokens,
        scheduled_start_s: start.scheduled_s,
        actual_start_s: start.actual_s,
        dispatch_delay_s: start.dispatch_delay_s(),
        scheduled_ttft_s: ok.then(|| start.dispatch_delay_s() + pre_send + ttft),
        scheduled_end_to_end_latency_s: ok.then(|| start.dispatch_delay_s() + pre_send + e2e),
        warmup: false,
        ttft_any_s: first_token,
        number_reasoning_tokens: output.reasoning,
        output_tokens_source: output.source.to_string(),
        error_kind,
        server_reasoning_tokens: m.usage.reasoning_tokens,
        dataset_id: None,
        conversation_id: None,
        turn: None,
        generated_tokens: generated,
        prompt_tokens: m.usage.prompt_tokens.unwrap_or(actual_input),
        token_counts_source: source.to_string(),
        generation_throughput_token_per_s: if e2e > 0.0 {
            generated as f64 / e2e
        } else {
            0.0
        },
        tokenizer_generated_tokens: tokenizer_generated,
        new_connection: t.new_connection,
        connect_s: t.connect_s,
        pre_send_s: t.pre_send_s,
    }
}

/// When a request was due and when it was sent, in seconds from the run's start.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StartTimes {
    /// When it was due (its schedule; equal to `actual_s` in a closed loop).
    pub scheduled_s: f64,
    /// When the client started it.
    pub actual_s: f64,
}

impl StartTimes {
    /// A request sent when it was due (closed loop).
    pub fn unscheduled(actual_s: f64) -> StartTimes {
        StartTimes {
            scheduled_s: actual_s,
            actual_s,
        }
    }

    /// `actual − scheduled`, never negative (a request cannot leave before it is due; clocks may jitter).
    pub fn dispatch_delay_s(&self) -> f64 {
        (self.actual_s - self.scheduled_s).max(0.0)
    }
}

mod exact;
mod series;
mod slo;
mod timer;

pub use exact::{ExactSum, exact_series_stats};
pub use series::{PooledSeries, QUANTILES, SeriesStats, quantile, sample_stddev};
pub use slo::{Slo, parse_seconds};
pub use timer::StreamTimer;

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(first: Option<f64>, last: Option<f64>, end: f64, k: u64) -> Measured {
        Measured {
            timings: StreamTimings {
                first_content_s: first,
                first_token_s: first,
                last_content_s: last,
                end_s: end,
                data_events: k,

                ..StreamTimings::default()
            },
            usage: Usage::default(),
            error: None,
            error_kind: None,
        }
    }

    #[test]
    fn metrics_follow_the_original_formulas() {
        // 11 generated tokens + BOS = 12, 13 data events, content from 0.2 s to 1.2 s, end at 1.25 s.
        let m = compute_metrics(
            &measured(Some(0.2), Some(1.2), 1.25, 13),
            12,
            550,
            510,
            StartTimes {
                scheduled_s: 2.5,
                actual_s: 3.0,
            },
        );
        assert_eq!(m.ttft_s, 0.2);
        assert_eq!(m.end_to_end_latency_s, 1.25);
        assert!((m.inter_token_latency_s - 1.2 / 13.0).abs() < 1e-12);
        assert!((m.request_output_throughput_token_per_s - 12.0 / 1.25).abs() < 1e-12);
        assert_eq!(m.number_total_tokens, 562);
        assert_eq!(m.number_input_tokens, 550);
        assert!((m.tpot_s.unwrap() - 1.05 / 10.0).abs() < 1e-12);
        assert!(m.is_ok());
        assert_eq!(m.dispatch_delay_s, 0.5);
        assert_eq!(m.scheduled_ttft_s, Some(0.7));
        assert_eq!(m.scheduled_end_to_end_latency_s, Some(1.75));
    }

    #[test]
    fn errored_requests_keep_timings_but_have_zero_e2e_and_throughput() {
        let mut ms = measured(Some(0.3), Some(0.5), 0.9, 4);
        ms.error = Some((Value::from(500), "boom".into()));
        let m = compute_metrics(&ms, 5, 100, 90, StartTimes::unscheduled(0.0));
        assert_eq!(m.error_code, Some(Value::from(500)));
        assert_eq!(m.error_msg, "boom");
        assert_eq!(m.end_to_end_latency_s, 0.0);
        assert_eq!(m.request_output_throughput_token_per_s, 0.0);
        assert_eq!(m.ttft_s, 0.3);
        assert_eq!(m.tpot_s, None);
        assert!(!m.is_ok());
        assert_eq!(m.scheduled_ttft_s, None);
    }

    #[test]
    fn server_counts_and_reasoning_timing() {
        let mut ms = measured(Some(0.5), Some(1.5), 1.5, 10);
        ms.timings.first_token_s = Some(0.1);
        let m = compute_metrics_counted(
            &ms,
            OutputCount::server(11),
            100,
            90,
            StartTimes::unscheduled(0.0),
        );
        assert_eq!(m.number_output_tokens, 11);
        assert_eq!(m.output_tokens_source, "server");
        assert_eq!((m.ttft_s, m.ttft_any_s), (0.5, Some(0.1)));
        // 11 generated tokens (the server counts reasoning too), none of them special, after the first token
        // of any kind: (1.5 − 0.1) / 10
        assert!((m.tpot_s.unwrap() - 0.14).abs() < 1e-12);
        let m = compute_metrics_counted(
            &ms,
            OutputCount::tokenizer(11, 0),
            100,
            90,
            StartTimes::unscheduled(0.0),
        );
        assert_eq!(m.output_tokens_source, "tokenizer");
        assert_eq!(
            (m.generated_tokens, m.token_counts_source.as_str()),
            (11, "tokenizer")
        );
        assert!((m.tpot_s.unwrap() - 0.14).abs() < 1e-12);
        // The server's usage, when sent, is what the standard counts use; the llmperf key keeps T.
        ms.usage.completion_tokens = Some(21);
        ms.usage.prompt_tokens = Some(120);
        let m = compute_metrics_counted(
            &ms,
            OutputCount::tokenizer(12, 1).with_reasoning(9),
            100,
            90,
            StartTimes::unscheduled(0.0),
        );
        assert_eq!(m.number_output_tokens, 12);
        assert_eq!((m.generated_tokens, m.prompt_tokens), (21, 120));
        assert_eq!(m.token_counts_source, "server");
        assert_eq!(m.tokenizer_generated_tokens, Some(11 + 9));
        assert_eq!(m.number_reasoning_tokens, 9);
        assert!((m.tpot_s.unwrap() - 1.4 / 20.0).abs() < 1e-12);
        assert!((m.generation_throughput_token_per_s - 21.0 / 1.5).abs() < 1e-12);
    }

    #[test]
    fn no_content_and_no_events_do_not_divide_by_zero() {
        let m = compute_metrics(
            &measured(None, None, 0.4, 0),
            1,
            100,
            90,
            StartTimes::unscheduled(0.0),
        );
        assert_eq!(m.inter_token_latency_s, 0.0);
        assert_eq!(m.ttft_s, 0.0);
        assert_eq!(m.tpot_s, None);
    }

    #[test]
    fn record_keys_are_in_the_original_order() {
        let m = compute_metrics(
            &measured(Some(0.1), Some(0.2), 0.3, 3),
            4,
            10,
            9,
            StartTimes::unscheduled(0.0),
        );
        let v = serde_json::to_value(&m).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(
            &keys[..9],
            [
                "error_code",
                "error_msg",
                "inter_token_latency_s",
                "ttft_s",
                "end_to_end_latency_s",
                "request_output_throughput_token_per_s",
                "number_total_tokens",
                "number_output_tokens",
                "number_input_tokens"
            ]
        );
    }
}
