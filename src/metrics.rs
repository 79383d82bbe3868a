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
//! | `tpot_s` (extra) | (e2e − ttft) / (n − 1), n = generated tokens (T minus the tokenizer's special tokens, or the server's count); null when n < 2 or errored |
//! | `ttft_any_s` (extra) | first streamed token of any kind, reasoning included − request start (null when none) |
//! | `number_reasoning_tokens` (extra) | tokens of the reasoning text, no special tokens (0 when none) |
//! | `server_reasoning_tokens` (extra) | the server's `completion_tokens_details.reasoning_tokens`, when sent |
//! | `output_tokens_source` (extra) | `"tokenizer"`, or `"server"` when `number_output_tokens` is the server's `usage` |

use serde::Serialize;
use serde_json::Value;

/// How long a request took, as measured by a client. All durations in seconds from the request's start.
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
}

/// Token counts the server reported in a `usage` object, when it sent one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Usage {
    pub prompt_tokens: Option<u64>,
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
    pub error_msg: String,
    pub inter_token_latency_s: f64,
    pub ttft_s: f64,
    pub end_to_end_latency_s: f64,
    pub request_output_throughput_token_per_s: f64,
    pub number_total_tokens: u64,
    pub number_output_tokens: u64,
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
    pub server_completion_tokens: Option<u64>,
    /// Seconds from the start of the run to the start of this request.
    pub start_offset_s: f64,
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
}

impl OutputCount {
    pub const TOKENIZER: &'static str = "tokenizer";
    pub const SERVER: &'static str = "server";

    /// A tokenizer count `t` whose tokenizer adds `special` tokens to every text (1 for Llama's BOS).
    pub fn tokenizer(t: u64, special: u64) -> Self {
        OutputCount {
            tokens: t,
            generated: t.saturating_sub(special),
            source: Self::TOKENIZER,
        }
    }

    /// The server's `usage.completion_tokens`.
    pub fn server(n: u64) -> Self {
        OutputCount {
            tokens: n,
            generated: n,
            source: Self::SERVER,
        }
    }
}

impl Metrics {
    pub fn is_ok(&self) -> bool {
        self.error_code.is_none()
    }
}

/// What a client measured, before tokens are counted.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    pub timings: StreamTimings,
    pub usage: Usage,
    /// `(error_code, error_msg)` when the request failed.
    pub error: Option<(Value, String)>,
}

/// Turns a client's measurements into the per-request record.
///
/// `output_tokens` is T counted by the Llama tokenizer (BOS included), `target_input` is P, `actual_input` the
/// real prompt count.
pub fn compute_metrics(
    m: &Measured,
    output_tokens: u64,
    target_input: u64,
    actual_input: u64,
    start_offset_s: f64,
) -> Metrics {
    compute_metrics_counted(
        m,
        OutputCount::tokenizer(output_tokens, 1),
        target_input,
        actual_input,
        start_offset_s,
    )
}

/// [`compute_metrics`] with the output count given explicitly (any tokenizer, or the server's count).
/// `number_reasoning_tokens` is left at 0 for the caller to set.
pub fn compute_metrics_counted(
    m: &Measured,
    output: OutputCount,
    target_input: u64,
    actual_input: u64,
    start_offset_s: f64,
) -> Metrics {
    let output_tokens = output.tokens;
    let t = &m.timings;
    let ttft = t.first_content_s.unwrap_or(0.0);
    let (e2e, error_code, error_msg) = match &m.error {
        None => (t.end_s, None, String::new()),
        Some((code, msg)) => (0.0, Some(code.clone()), msg.clone()),
    };
    let itl = match (t.last_content_s, t.data_events) {
        (Some(last), k) if k > 0 && output_tokens > 0 => last / k as f64,
        _ => 0.0,
    };
    let throughput = if e2e > 0.0 {
        output_tokens as f64 / e2e
    } else {
        0.0
    };
    let generated = output.generated;
    let tpot = (error_code.is_none() && generated >= 2 && t.first_content_s.is_some())
        .then(|| (e2e - ttft) / (generated - 1) as f64);
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
        start_offset_s,
        ttft_any_s: t.first_token_s.or(t.first_content_s),
        number_reasoning_tokens: 0,
        output_tokens_source: output.source.to_string(),
        server_reasoning_tokens: m.usage.reasoning_tokens,
    }
}

/// Quantile with linear interpolation between closest ranks (numpy/pandas default, "R-7"): position
/// h = (n − 1)·q. `sorted` must be sorted ascending and non-empty.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Sample standard deviation (ddof = 1); `None` for fewer than two values (the original's NaN).
pub fn sample_stddev(values: &[f64]) -> Option<f64> {
    if values.len() < 2 {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let ss: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
    Some((ss / (n - 1.0)).sqrt())
}

/// The quantile labels and levels LLMPerf reports.
pub const QUANTILES: [(&str, f64); 6] = [
    ("p25", 0.25),
    ("p50", 0.5),
    ("p75", 0.75),
    ("p90", 0.9),
    ("p95", 0.95),
    ("p99", 0.99),
];

/// The statistics of one metric over the successful requests. Every field is `None` when there are none.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SeriesStats {
    pub quantiles: Vec<(&'static str, Option<f64>)>,
    pub mean: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub stddev: Option<f64>,
}

impl SeriesStats {
    /// Statistics of `values`; NaNs are dropped first, as pandas does.
    pub fn of(values: impl IntoIterator<Item = f64>) -> SeriesStats {
        let mut v: Vec<f64> = values.into_iter().filter(|x| !x.is_nan()).collect();
        v.sort_by(f64::total_cmp);
        let nonempty = !v.is_empty();
        SeriesStats {
            quantiles: QUANTILES
                .iter()
                .map(|&(label, q)| (label, nonempty.then(|| quantile(&v, q))))
                .collect(),
            mean: nonempty.then(|| v.iter().sum::<f64>() / v.len() as f64),
            min: v.first().copied(),
            max: v.last().copied(),
            stddev: sample_stddev(&v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_linearly_like_numpy() {
        // numpy.quantile([1, 2, 3, 4, 10], q) for the six levels:
        let v = [1.0, 2.0, 3.0, 4.0, 10.0];
        let want = [2.0, 3.0, 4.0, 7.6, 8.8, 9.76];
        for ((_, q), w) in QUANTILES.iter().zip(want) {
            assert!((quantile(&v, *q) - w).abs() < 1e-12, "q={q}");
        }
        assert_eq!(quantile(&[5.0], 0.99), 5.0);
        // numpy.quantile(range(1, 101), 0.99) == 99.01
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        assert!((quantile(&hundred, 0.99) - 99.01).abs() < 1e-9);
        assert!((quantile(&hundred, 0.25) - 25.75).abs() < 1e-9);
    }

    #[test]
    fn stddev_is_the_sample_stddev() {
        // statistics.stdev([2, 4, 4, 4, 5, 5, 7, 9]) == 2.138089935299395
        let v = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert!((sample_stddev(&v).unwrap() - 2.138089935299395).abs() < 1e-12);
        assert_eq!(sample_stddev(&[1.0]), None);
        assert_eq!(sample_stddev(&[]), None);
    }

    #[test]
    fn series_stats_drop_nan_and_handle_empty() {
        let s = SeriesStats::of([3.0, f64::NAN, 1.0, 2.0]);
        assert_eq!(s.min, Some(1.0));
        assert_eq!(s.max, Some(3.0));
        assert_eq!(s.mean, Some(2.0));
        assert_eq!(s.quantiles[1], ("p50", Some(2.0)));
        let e = SeriesStats::of([]);
        assert!(
            e.mean.is_none() && e.stddev.is_none() && e.quantiles.iter().all(|(_, v)| v.is_none())
        );
    }

    fn measured(first: Option<f64>, last: Option<f64>, end: f64, k: u64) -> Measured {
        Measured {
            timings: StreamTimings {
                first_content_s: first,
                first_token_s: first,
                last_content_s: last,
                end_s: end,
                data_events: k,
            },
            usage: Usage::default(),
            error: None,
        }
    }

    #[test]
    fn metrics_follow_the_original_formulas() {
        // 11 generated tokens + BOS = 12, 13 data events, content from 0.2 s to 1.2 s, end at 1.25 s.
        let m = compute_metrics(&measured(Some(0.2), Some(1.2), 1.25, 13), 12, 550, 510, 3.0);
        assert_eq!(m.ttft_s, 0.2);
        assert_eq!(m.end_to_end_latency_s, 1.25);
        assert!((m.inter_token_latency_s - 1.2 / 13.0).abs() < 1e-12);
        assert!((m.request_output_throughput_token_per_s - 12.0 / 1.25).abs() < 1e-12);
        assert_eq!(m.number_total_tokens, 562);
        assert_eq!(m.number_input_tokens, 550);
        assert!((m.tpot_s.unwrap() - 1.05 / 10.0).abs() < 1e-12);
        assert!(m.is_ok());
    }

    #[test]
    fn errored_requests_keep_timings_but_have_zero_e2e_and_throughput() {
        let mut ms = measured(Some(0.3), Some(0.5), 0.9, 4);
        ms.error = Some((Value::from(500), "boom".into()));
        let m = compute_metrics(&ms, 5, 100, 90, 0.0);
        assert_eq!(m.error_code, Some(Value::from(500)));
        assert_eq!(m.error_msg, "boom");
        assert_eq!(m.end_to_end_latency_s, 0.0);
        assert_eq!(m.request_output_throughput_token_per_s, 0.0);
        assert_eq!(m.ttft_s, 0.3);
        assert_eq!(m.tpot_s, None);
        assert!(!m.is_ok());
    }

    #[test]
    fn server_counts_and_reasoning_timing() {
        let mut ms = measured(Some(0.5), Some(1.5), 1.5, 10);
        ms.timings.first_token_s = Some(0.1);
        let m = compute_metrics_counted(&ms, OutputCount::server(11), 100, 90, 0.0);
        assert_eq!(m.number_output_tokens, 11);
        assert_eq!(m.output_tokens_source, "server");
        assert_eq!((m.ttft_s, m.ttft_any_s), (0.5, Some(0.1)));
        // 11 generated tokens, none of them special: (1.5 − 0.5) / 10
        assert!((m.tpot_s.unwrap() - 0.1).abs() < 1e-12);
        let m = compute_metrics_counted(&ms, OutputCount::tokenizer(11, 0), 100, 90, 0.0);
        assert_eq!(m.output_tokens_source, "tokenizer");
        assert!((m.tpot_s.unwrap() - 0.1).abs() < 1e-12);
    }

    #[test]
    fn no_content_and_no_events_do_not_divide_by_zero() {
        let m = compute_metrics(&measured(None, None, 0.4, 0), 1, 100, 90, 0.0);
        assert_eq!(m.inter_token_latency_s, 0.0);
        assert_eq!(m.ttft_s, 0.0);
        assert_eq!(m.tpot_s, None);
    }

    #[test]
    fn record_keys_are_in_the_original_order() {
        let m = compute_metrics(&measured(Some(0.1), Some(0.2), 0.3, 3), 4, 10, 9, 0.0);
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
