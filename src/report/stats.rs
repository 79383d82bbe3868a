//! LLMPerf's summary statistics (spec §6.4) and ours beside them, computed from the per-request records.
//! Pure: records in, typed statistics out. Every output — the llmperf JSON, the tables, CSV, charts, sweeps,
//! `report DIR`, `--baseline` — reads these fields; nothing reads a summary back by key.

use std::collections::BTreeMap;

use serde_json::Value;

use super::store::RecordStore;
pub use super::turns::TurnTtft;
use crate::metrics::{Metrics, SeriesStats, Slo, exact_series_stats};

/// A metric summarized over the successful requests: the original's six, then ours. Its [`Metric::name`] is
/// the per-request record's key (and the summary's `results_{name}_…` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// `inter_token_latency_s`.
    InterTokenLatency,
    /// `ttft_s`.
    Ttft,
    /// `end_to_end_latency_s`.
    EndToEndLatency,
    /// `request_output_throughput_token_per_s`.
    RequestOutputThroughput,
    /// `number_input_tokens`.
    InputTokens,
    /// `number_output_tokens`.
    OutputTokens,
    /// `tpot_s`.
    Tpot,
    /// `number_input_tokens_actual`.
    InputTokensActual,
    /// `prompt_tokens`.
    PromptTokens,
    /// `generated_tokens`.
    GeneratedTokens,
    /// `generation_throughput_token_per_s`.
    GenerationThroughput,
    /// `connect_s`.
    Connect,
    /// `scheduled_ttft_s`.
    ScheduledTtft,
    /// `scheduled_end_to_end_latency_s`.
    ScheduledEndToEndLatency,
    /// `dispatch_delay_s`.
    DispatchDelay,
    /// `ttft_any_s`.
    TtftAny,
    /// `number_reasoning_tokens`.
    ReasoningTokens,
}

impl Metric {
    /// How many of [`Metric::ALL`], from the first, are the original's metrics (spec §6.4).
    pub const ORIGINAL: usize = 6;

    /// Every metric: the original's, in its order, then ours, in the order the summary writes them.
    pub const ALL: [Metric; 17] = [
        Metric::InterTokenLatency,
        Metric::Ttft,
        Metric::EndToEndLatency,
        Metric::RequestOutputThroughput,
        Metric::InputTokens,
        Metric::OutputTokens,
        Metric::Tpot,
        Metric::InputTokensActual,
        Metric::PromptTokens,
        Metric::GeneratedTokens,
        Metric::GenerationThroughput,
        Metric::Connect,
        Metric::ScheduledTtft,
        Metric::ScheduledEndToEndLatency,
        Metric::DispatchDelay,
        Metric::TtftAny,
        Metric::ReasoningTokens,
    ];

    /// The record's key, e.g. `ttft_s`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::InterTokenLatency => "inter_token_latency_s",
            Metric::Ttft => "ttft_s",
            Metric::EndToEndLatency => "end_to_end_latency_s",
            Metric::RequestOutputThroughput => "request_output_throughput_token_per_s",
            Metric::InputTokens => "number_input_tokens",
            Metric::OutputTokens => "number_output_tokens",
            Metric::Tpot => "tpot_s",
            Metric::InputTokensActual => "number_input_tokens_actual",
            Metric::PromptTokens => "prompt_tokens",
            Metric::GeneratedTokens => "generated_tokens",
            Metric::GenerationThroughput => "generation_throughput_token_per_s",
            Metric::Connect => "connect_s",
            Metric::ScheduledTtft => "scheduled_ttft_s",
            Metric::ScheduledEndToEndLatency => "scheduled_end_to_end_latency_s",
            Metric::DispatchDelay => "dispatch_delay_s",
            Metric::TtftAny => "ttft_any_s",
            Metric::ReasoningTokens => "number_reasoning_tokens",
        }
    }

    /// Whether its values are token counts (integers; the summary writes their min and max as integers).
    pub fn is_integer(self) -> bool {
        matches!(
            self,
            Metric::InputTokens
                | Metric::OutputTokens
                | Metric::InputTokensActual
                | Metric::PromptTokens
                | Metric::GeneratedTokens
                | Metric::ReasoningTokens
        )
    }

    /// Its value in one record; `None` where the record has none (e.g. no TPOT for a one-token answer).
    pub fn of(self, m: &Metrics) -> Option<f64> {
        Some(match self {
            Metric::InterTokenLatency => m.inter_token_latency_s,
            Metric::Ttft => m.ttft_s,
            Metric::EndToEndLatency => m.end_to_end_latency_s,
            Metric::RequestOutputThroughput => m.request_output_throughput_token_per_s,
            Metric::InputTokens => m.number_input_tokens as f64,
            Metric::OutputTokens => m.number_output_tokens as f64,
            Metric::Tpot => return m.tpot_s,
            Metric::InputTokensActual => m.number_input_tokens_actual as f64,
            Metric::PromptTokens => m.prompt_tokens as f64,
            Metric::GeneratedTokens => m.generated_tokens as f64,
            Metric::GenerationThroughput => m.generation_throughput_token_per_s,
            Metric::Connect => return m.connect_s,
            Metric::ScheduledTtft => return m.scheduled_ttft_s,
            Metric::ScheduledEndToEndLatency => return m.scheduled_end_to_end_latency_s,
            Metric::DispatchDelay => m.dispatch_delay_s,
            Metric::TtftAny => return m.ttft_any_s,
            Metric::ReasoningTokens => m.number_reasoning_tokens as f64,
        })
    }
}

/// Statistics of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// Each metric's statistics over the successful measured requests, in [`Metric::ALL`]'s order.
    pub series: Vec<(Metric, SeriesStats)>,
    /// Recorded results, successful or not (the original's `num_requests_started`).
    pub num_requests_started: u64,
    /// Requests that failed: a non-null error code, the cancelled ones left out.
    pub number_errors: u64,
    /// Requests still in flight when the run was stopped (a signal, or `--timeout` plus the grace period),
    /// recorded as cancelled (error kind `cancelled`): neither successes nor errors.
    pub number_cancelled: u64,
    /// `number_errors / (num_requests_started − number_cancelled)`: the failures among the requests that
    /// finished (0 when none did).
    pub error_rate: f64,
    /// Error code (as JSON) → count over the errored requests (not the cancelled ones), most frequent first.
    pub error_codes: Vec<(Value, u64)>,
    /// Kind (see [`crate::ErrorKind`]) → count over every request that did not succeed, `cancelled` included,
    /// most frequent first (ties by name).
    pub error_kinds: Vec<(String, u64)>,
    /// Σ output tokens of successful requests / wall time (an aggregate, despite the name).
    pub mean_output_throughput_token_per_s: f64,
    /// Successful requests.
    pub num_completed_requests: u64,
    /// Successful requests per minute of wall time.
    pub num_completed_requests_per_min: f64,
    /// Wall time of the run, in seconds.
    pub elapsed_s: f64,
    /// Load-mode statistics (rates, dispatch, goodput, warm-up).
    pub load: LoadStats,
    /// Multi-turn runs: TTFT by turn (empty otherwise). Merge and `report DIR` leave it out (they never
    /// wrote or printed it).
    pub ttft_by_turn: Vec<TurnTtft>,
}

/// What a run targeted, for the statistics that compare against it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LoadOptions {
    /// Open loop: the target request rate.
    pub target_request_rate: Option<f64>,
    /// Goodput targets.
    pub slo: Slo,
    /// Requests that waited for a free slot (from the launcher).
    pub queued: usize,
    /// Output tokens are counted with a tokenizer the user chose (`--tokenizer`).
    pub custom_tokenizer: bool,
}

/// Statistics beside LLMPerf's: achieved rate, dispatch lag, throughputs, goodput, warm-up.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadStats {
    /// The target rate, in an open loop.
    pub target_request_rate: Option<f64>,
    /// (requests − 1) / (last actual start − first actual start), over the measured requests.
    pub achieved_request_rate: Option<f64>,
    /// Successful requests per second of the measured window.
    pub request_throughput_per_s: f64,
    /// Σ `prompt_tokens` (the server's count when sent) of successful requests per second.
    pub input_token_throughput_token_per_s: f64,
    /// Σ `generated_tokens` (the server's count when sent) of successful requests per second.
    pub output_token_throughput_token_per_s: f64,
    /// Successful requests whose `generated_tokens` is the server's count, and all successful requests.
    pub server_counted: (u64, u64),
    /// Requests that opened a connection.
    pub new_connections: u64,
    /// Output tokens are counted with a tokenizer the user chose (`--tokenizer`).
    pub custom_tokenizer: bool,
    /// Requests that went out more than 1 ms after they were due.
    pub late_dispatches: u64,
    /// The largest dispatch delay, seconds.
    pub max_dispatch_delay_s: f64,
    /// Requests that waited for a free slot.
    pub queued: u64,
    /// Warm-up requests, left out of every statistic.
    pub warmup_requests: u64,
    /// The goodput targets, as text (`ttft=0.5s,…`); `None` without targets.
    pub slo: Option<String>,
    /// Good requests / measured requests (errored ones count as not good).
    pub goodput_fraction: Option<f64>,
    /// Good requests per second of the measured window.
    pub goodput_request_rate: Option<f64>,
    /// Σ `usage.completion_tokens` over successful requests that reported it.
    pub server_output_tokens: Option<u64>,
    /// Σ tokenizer output tokens (answer and reasoning, special tokens excluded) / Σ server output tokens, over
    /// the successful requests that have both.
    pub output_tokens_vs_server_ratio: Option<f64>,
    /// Gaps between content chunks, pooled across the successful measured requests (filled in by the
    /// collector, which sees the chunk timings).
    pub inter_chunk_gap_s: Option<SeriesStats>,
}

/// Computes the summary statistics over `records` for a run that lasted `elapsed_s` seconds.
pub fn summarize(records: &[Metrics], elapsed_s: f64) -> Stats {
    summarize_with(records, elapsed_s, &LoadOptions::default())
}

/// [`summarize`], with the run's targets. Warm-up records are left out of everything.
pub fn summarize_with(all: &[Metrics], elapsed_s: f64, opts: &LoadOptions) -> Stats {
    summarize_visits(|visit| all.iter().for_each(visit), elapsed_s, opts)
}

/// [`summarize_with`] over the records of a [`RecordStore`] (part of them on disk): a few passes over them,
/// nothing kept per record.
pub fn summarize_store(store: &RecordStore, elapsed_s: f64, opts: &LoadOptions) -> Stats {
    summarize_visits(
        |visit| store.iter().for_each(|r| visit(&r.metrics)),
        elapsed_s,
        opts,
    )
}

/// The statistics of records visited again and again: each call of `each` must hand its sink every record
/// (warm-up included) in the same order. One pass counts; the quantiles take a few more
/// ([`exact_series_stats`]); memory does not grow with the records.
pub fn summarize_visits(
    each: impl Fn(&mut dyn FnMut(&Metrics)),
    elapsed_s: f64,
    opts: &LoadOptions,
) -> Stats {
    let mut c = Counts::default();
    each(&mut |m| c.add(m, opts));
    // One series per metric, then TTFT of each turn of a multi-turn run.
    let turns: Vec<u64> = c.turns.keys().copied().collect();
    let mut all_series = exact_series_stats(Metric::ALL.len() + turns.len(), |sink| {
        each(&mut |m| {
            if m.warmup || !m.is_ok() {
                return;
            }
            for (i, metric) in Metric::ALL.iter().enumerate() {
                if let Some(v) = metric.of(m) {
                    sink(i, v);
                }
            }
            if let Some(t) = m.turn.and_then(|t| turns.binary_search(&t).ok()) {
                sink(Metric::ALL.len() + t, m.ttft_s);
            }
        })
    });
    let by_turn = all_series.split_off(Metric::ALL.len());
    let series = Metric::ALL.iter().copied().zip(all_series).collect();
    let ttft_by_turn = turns
        .iter()
        .zip(by_turn)
        .map(|(&turn, ttft)| TurnTtft {
            turn,
            ttft,
            count: c.turns[&turn],
        })
        .collect();
    let mut error_codes: Vec<(Value, u64)> = c.codes.into_values().collect();
    error_codes.sort_by_key(|c| std::cmp::Reverse(c.1));
    let mut error_kinds: Vec<(String, u64)> = c.kinds.into_iter().collect();
    error_kinds.sort_by_key(|c| std::cmp::Reverse(c.1));
    let (started, ok) = (c.measured, c.ok);
    let errors = started - ok - c.cancelled;
    let finished = started - c.cancelled;
    let per_s = |x: f64| if elapsed_s > 0.0 { x / elapsed_s } else { 0.0 };
    let achieved = (started >= 2 && c.last_start > c.first_start)
        .then(|| (started - 1) as f64 / (c.last_start - c.first_start));
    let load = LoadStats {
        target_request_rate: opts.target_request_rate,
        achieved_request_rate: achieved,
        request_throughput_per_s: per_s(ok as f64),
        input_token_throughput_token_per_s: per_s(c.prompt_tokens as f64),
        output_token_throughput_token_per_s: per_s(c.generated_tokens as f64),
        custom_tokenizer: opts.custom_tokenizer,
        server_counted: (c.server_counted, ok),
        new_connections: c.new_connections,
        late_dispatches: c.late_dispatches,
        max_dispatch_delay_s: c.max_dispatch_delay_s,
        queued: opts.queued as u64,
        warmup_requests: c.warmup,
        slo: (!opts.slo.is_empty()).then(|| opts.slo.to_string()),
        goodput_fraction: (!opts.slo.is_empty() && started > 0)
            .then(|| c.good as f64 / started as f64),
        goodput_request_rate: (!opts.slo.is_empty()).then(|| per_s(c.good as f64)),
        server_output_tokens: (c.server_reports > 0).then_some(c.server_output_tokens),
        output_tokens_vs_server_ratio: (c.both_server > 0)
            .then(|| c.both_counted as f64 / c.both_server as f64),
        inter_chunk_gap_s: None,
    };
    Stats {
        series,
        num_requests_started: started,
        number_errors: errors,
        number_cancelled: c.cancelled,
        error_rate: if finished > 0 {
            errors as f64 / finished as f64
        } else {
            0.0
        },
        error_codes,
        error_kinds,
        mean_output_throughput_token_per_s: per_s(c.output_tokens as f64),
        num_completed_requests: ok,
        num_completed_requests_per_min: per_s(ok as f64) * 60.0,
        elapsed_s,
        load,
        ttft_by_turn,
    }
}

/// What one pass over the records counts (everything but the metrics' series).
#[derive(Default)]
struct Counts {
    warmup: u64,
    /// Measured (non-warm-up) records, any outcome.
    measured: u64,
    ok: u64,
    cancelled: u64,
    /// Error code (as JSON text) → the code and how many errored requests had it (not the cancelled).
    codes: BTreeMap<String, (Value, u64)>,
    /// Kind → how many measured requests that did not succeed had it (`unknown` when none is named).
    kinds: BTreeMap<String, u64>,
    first_start: f64,
    last_start: f64,
    good: u64,
    /// Σ over successful requests.
    output_tokens: u64,
    prompt_tokens: u64,
    generated_tokens: u64,
    server_counted: u64,
    server_reports: u64,
    server_output_tokens: u64,
    /// Σ tokenizer and server counts over the successful requests that have both.
    both_counted: u64,
    both_server: u64,
    new_connections: u64,
    late_dispatches: u64,
    max_dispatch_delay_s: f64,
    /// Turn → successful measured requests of that turn.
    turns: BTreeMap<u64, usize>,
}

impl Counts {
    fn add(&mut self, m: &Metrics, opts: &LoadOptions) {
        if m.warmup {
            self.warmup += 1;
            return;
        }
        if self.measured == 0 {
            (self.first_start, self.last_start) = (f64::INFINITY, f64::NEG_INFINITY);
        }
        self.measured += 1;
        self.first_start = self.first_start.min(m.actual_start_s);
        self.last_start = self.last_start.max(m.actual_start_s);
        self.new_connections += u64::from(m.new_connection == Some(true));
        self.late_dispatches += u64::from(m.dispatch_delay_s > 0.001);
        self.max_dispatch_delay_s = self.max_dispatch_delay_s.max(m.dispatch_delay_s);
        let cancelled = is_cancelled(m);
        self.cancelled += u64::from(cancelled);
        if !m.is_ok() {
            let kind = m.error_kind.as_deref().unwrap_or("unknown");
            match self.kinds.get_mut(kind) {
                Some(n) => *n += 1,
                None => {
                    self.kinds.insert(kind.to_string(), 1);
                }
            }
        }
        if let Some(code) = m.error_code.as_ref().filter(|_| !cancelled) {
            self.codes
                .entry(code.to_string())
                .or_insert((code.clone(), 0))
                .1 += 1;
        }
        if !m.is_ok() {
            return;
        }
        self.ok += 1;
        self.good += u64::from(opts.slo.met(m));
        self.output_tokens += m.number_output_tokens;
        self.prompt_tokens += m.prompt_tokens;
        self.generated_tokens += m.generated_tokens;
        self.server_counted +=
            u64::from(m.token_counts_source == crate::metrics::OutputCount::SERVER);
        if let Some(n) = m.server_completion_tokens {
            self.server_reports += 1;
            self.server_output_tokens += n;
        }
        // Like with like: the tokenizer's count without its special tokens, reasoning included, against the
        // server's, over the requests that have both.
        if let (Some(t), Some(s)) = (m.tokenizer_generated_tokens, m.server_completion_tokens) {
            self.both_counted += t;
            self.both_server += s;
        }
        if let Some(t) = m.turn {
            *self.turns.entry(t).or_insert(0) += 1;
        }
    }
}

/// Whether a record is of a request the run cancelled (not an error).
pub(crate) fn is_cancelled(m: &Metrics) -> bool {
    m.error_kind.as_deref() == Some(crate::ErrorKind::Cancelled.as_str())
}

impl LoadStats {
    /// Where the standard token counts come from: `server`, `tokenizer`, or `mixed` (some of each).
    pub fn token_counts_source(&self) -> &'static str {
        match self.server_counted {
            (0, _) => "tokenizer",
            (s, n) if s == n => "server",
            _ => "mixed",
        }
    }
}

impl Stats {
    /// The statistics of `metric`.
    pub fn series(&self, metric: Metric) -> &SeriesStats {
        let (m, s) = &self.series[metric as usize];
        debug_assert_eq!(*m, metric, "series are kept in Metric::ALL's order");
        s
    }

    /// The error-code frequency in the original's style, a Python dict literal: `{500: 2, 'rate_limit': 1}`.
    pub fn error_code_frequency(&self) -> String {
        let items: Vec<String> = self
            .error_codes
            .iter()
            .map(|(code, n)| match code {
                Value::String(s) => format!("'{s}': {n}"),
                other => format!("{other}: {n}"),
            })
            .collect();
        format!("{{{}}}", items.join(", "))
    }
}

/// Records for the statistics' tests (and the summary's).
#[cfg(test)]
pub(crate) mod testing {
    use crate::metrics::{Measured, Metrics, StartTimes, StreamTimings, Usage, compute_metrics};
    use serde_json::Value;

    /// A record with TTFT `ttft`, end-to-end latency `e2e`, `tokens` output tokens, and an error code.
    pub(crate) fn record(ttft: f64, e2e: f64, tokens: u64, error: Option<i64>) -> Metrics {
        let m = Measured {
            timings: StreamTimings {
                first_content_s: Some(ttft),
                first_token_s: Some(ttft),
                last_content_s: Some(e2e),
                end_s: e2e,
                data_events: tokens,

                ..StreamTimings::default()
            },
            usage: Usage::default(),
            error: error.map(|c| (Value::from(c), "err".to_string())),
            error_kind: None,
        };
        compute_metrics(&m, tokens, 100, 95, StartTimes::unscheduled(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::testing::record;
    use super::*;

    #[test]
    fn counts_errors_and_completed() {
        let recs = vec![
            record(0.1, 1.0, 11, None),
            record(0.2, 2.0, 21, None),
            record(0.3, 0.5, 1, Some(500)),
            record(0.3, 0.5, 1, Some(429)),
            record(0.3, 0.5, 1, Some(500)),
        ];
        let s = summarize(&recs, 10.0);
        assert_eq!(s.num_requests_started, 5);
        assert_eq!(s.number_errors, 3);
        assert_eq!(s.num_completed_requests, 2);
        assert!((s.error_rate - 0.6).abs() < 1e-12);
        assert_eq!(s.error_code_frequency(), "{500: 2, 429: 1}");
        assert!((s.mean_output_throughput_token_per_s - 3.2).abs() < 1e-12);
        assert!((s.num_completed_requests_per_min - 12.0).abs() < 1e-12);
        assert_eq!(s.series[1].0, Metric::Ttft);
        assert_eq!(
            s.series(Metric::Ttft).max,
            Some(0.2),
            "errored requests are not in the stats"
        );
    }

    #[test]
    fn cancelled_requests_are_neither_successes_nor_errors() {
        let cancelled = || {
            let mut m = record(0.0, 0.0, 0, Some(-1));
            m.error_kind = Some("cancelled".into());
            m
        };
        let recs = vec![
            record(0.1, 1.0, 11, None),
            record(0.1, 1.0, 11, None),
            record(0.1, 1.0, 11, None),
            record(0.3, 0.5, 1, Some(500)),
            cancelled(),
            cancelled(),
        ];
        let s = summarize(&recs, 10.0);
        assert_eq!(s.num_requests_started, 6);
        assert_eq!(
            (
                s.num_completed_requests,
                s.number_errors,
                s.number_cancelled
            ),
            (3, 1, 2)
        );
        assert!(
            (s.error_rate - 0.25).abs() < 1e-12,
            "1 of the 4 that finished"
        );
        assert_eq!(s.error_code_frequency(), "{500: 1}");
        assert!(
            s.error_kinds
                .iter()
                .any(|(k, n)| k == "cancelled" && *n == 2)
        );
        let all_cancelled = summarize(&[cancelled()], 1.0);
        assert_eq!(
            (all_cancelled.number_errors, all_cancelled.error_rate),
            (0, 0.0)
        );
    }
}
