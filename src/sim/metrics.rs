//! The simulator's `GET /metrics`: vLLM's Prometheus metrics, by vLLM's names, types, units, help texts and
//! histogram buckets (vLLM's `vllm/v1/metrics/loggers.py`, `PrometheusStatLogger`, v0.10–v0.12), labelled
//! `engine="0"` and `model_name` (the model `GET /v1/models` lists), in the Prometheus text exposition format
//! (version 0.0.4: `# HELP`, `# TYPE`, counters as `…_total`, histograms as cumulative `…_bucket{le=…}`,
//! `…_count`, `…_sum`).
//!
//! - Gauges: `vllm:num_requests_running`, `vllm:num_requests_waiting` — with the engine, the batch and its
//!   queue; without it, the responses being generated and the requests waiting for a `capacity` slot;
//!   `vllm:kv_cache_usage_perc` and the older `vllm:gpu_cache_usage_perc` — with the engine and a KV budget,
//!   the tokens reserved over the budget (0 to 1), else 0.
//! - Counters, exact: `vllm:prompt_tokens_total` and `vllm:generation_tokens_total` add the `prompt_tokens`
//!   and `completion_tokens` of each response that finished (the counts its usage reports, whether or not it
//!   was asked for); `vllm:request_success_total{finished_reason}` counts `stop` and `length` finishes, and
//!   `abort` for a streamed response that did not finish (a stream fault, a client gone) — whose tokens are
//!   not counted.
//! - Histograms, one observation per finished request unless said: `vllm:time_to_first_token_seconds` (from
//!   the moment the request had been read to its first streamed piece), `vllm:inter_token_latency_seconds`
//!   and the deprecated `vllm:time_per_output_token_seconds` (the same observations: one per streamed piece
//!   after the first, the gap to the previous one), `vllm:request_time_per_output_token_seconds`
//!   (`(last − first) / (N − 1)`, 0 for `N ≤ 1`), `vllm:request_queue_time_seconds` (read → admitted into the
//!   batch, or → a `capacity` slot), `vllm:e2e_request_latency_seconds` (read → last piece).
//!
//! Times are the server's: when each piece was produced (its due time, or the engine step that made its last
//! token), not when the socket took it. Counters and histograms change when a response's last piece is handed
//! to the socket, so a client that has read a whole response sees it counted.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use tokio::time::Instant;

/// vLLM's TTFT buckets, seconds.
const TTFT_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
];
/// vLLM's inter-token and time-per-output-token buckets, seconds.
const TPOT_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
    40.0, 80.0,
];
/// vLLM's request-latency buckets (end to end, queue time), seconds.
const REQUEST_BUCKETS: &[f64] = &[
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0,
    480.0, 960.0, 1920.0, 7680.0,
];

/// A cumulative histogram.
#[derive(Debug, Clone)]
struct Histogram {
    bounds: &'static [f64],
    /// Observations ≤ each bound (not yet cumulative), then the overflow.
    counts: Vec<u64>,
    sum: f64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
        }
    }

    fn observe(&mut self, v: f64) {
        let i = self.bounds.partition_point(|b| *b < v);
        self.counts[i] += 1;
        self.sum += v;
    }
}

/// The histograms, in their exposition order.
#[derive(Debug)]
struct Histograms {
    ttft: Histogram,
    itl: Histogram,
    request_tpot: Histogram,
    queue: Histogram,
    e2e: Histogram,
}

/// What one finished response contributes: its counts and the times of its life, the pieces in order.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Finished {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// `stop` or `length`.
    pub finish_reason: &'static str,
    /// When the request had been read.
    pub received: Instant,
    /// When it was admitted into the batch (or got its `capacity` slot).
    pub admitted: Instant,
    /// When each streamed piece (or, without streaming, each piece of the answer) was produced.
    pub pieces: Vec<Instant>,
}

/// The simulator's metrics: counters, histograms, and the gauges kept without the engine.
#[derive(Debug)]
pub(super) struct Metrics {
    prompt_tokens: AtomicU64,
    generation_tokens: AtomicU64,
    /// stop, length, abort.
    success: [AtomicU64; 3],
    histograms: Mutex<Histograms>,
    /// Without the engine: responses being generated.
    pub generating: AtomicUsize,
    /// Without the engine: requests waiting for a `capacity` slot.
    pub queued: AtomicUsize,
}

/// The gauges at the moment of a scrape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct GaugeValues {
    pub running: usize,
    pub waiting: usize,
    pub kv_usage: f64,
}

const REASONS: [&str; 3] = ["stop", "length", "abort"];

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            prompt_tokens: AtomicU64::new(0),
            generation_tokens: AtomicU64::new(0),
            success: Default::default(),
            histograms: Mutex::new(Histograms {
                ttft: Histogram::new(TTFT_BUCKETS),
                itl: Histogram::new(TPOT_BUCKETS),
                request_tpot: Histogram::new(TPOT_BUCKETS),
                queue: Histogram::new(REQUEST_BUCKETS),
                e2e: Histogram::new(REQUEST_BUCKETS),
            }),
            generating: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
        }
    }
}

/// Seconds from `a` to `b` (0 if `b` is earlier).
fn secs(a: Instant, b: Instant) -> f64 {
    b.saturating_duration_since(a).as_secs_f64()
}

impl Metrics {
    /// Counts a response that finished.
    pub fn finished(&self, f: &Finished) {
        let reason = REASONS
            .iter()
            .position(|r| *r == f.finish_reason)
            .unwrap_or(0);
        // Everything under the lock a scrape takes: it sees a request counted with all its observations, or not.
        let mut h = self
            .histograms
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.prompt_tokens
            .fetch_add(f.prompt_tokens, Ordering::Relaxed);
        self.generation_tokens
            .fetch_add(f.completion_tokens, Ordering::Relaxed);
        h.queue.observe(secs(f.received, f.admitted));
        if let Some(first) = f.pieces.first() {
            h.ttft.observe(secs(f.received, *first));
        }
        for w in f.pieces.windows(2) {
            h.itl.observe(secs(w[0], w[1]));
        }
        let last = f.pieces.last().copied().unwrap_or(f.admitted);
        let tpot = match (f.pieces.first(), f.completion_tokens) {
            (Some(first), n) if n > 1 => secs(*first, last) / (n - 1) as f64,
            _ => 0.0,
        };
        h.request_tpot.observe(tpot);
        h.e2e.observe(secs(f.received, last));
        self.success[reason].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a streamed response that did not finish.
    pub fn aborted(&self) {
        self.success[2].fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text for `model`, with the gauges `g`.
    pub fn render(&self, model: &str, g: GaugeValues) -> String {
        let h = self
            .histograms
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let labels = format!("engine=\"0\",model_name=\"{}\"", escape(model));
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: f64| {
            header(&mut out, name, kind, help);
            let _ = writeln!(out, "{name}{{{labels}}} {}", float(value));
        };
        metric(
            "vllm:num_requests_running",
            "gauge",
            "Number of requests in model execution batches.",
            g.running as f64,
        );
        metric(
            "vllm:num_requests_waiting",
            "gauge",
            "Number of requests waiting to be processed.",
            g.waiting as f64,
        );
        metric(
            "vllm:kv_cache_usage_perc",
            "gauge",
            "KV-cache usage. 1 means 100 percent usage.",
            g.kv_usage,
        );
        metric(
            "vllm:gpu_cache_usage_perc",
            "gauge",
            "GPU KV-cache usage. 1 means 100 percent usage.DEPRECATED: Use vllm:kv_cache_usage_perc instead.",
            g.kv_usage,
        );
        metric(
            "vllm:prompt_tokens_total",
            "counter",
            "Number of prefill tokens processed.",
            self.prompt_tokens.load(Ordering::Relaxed) as f64,
        );
        metric(
            "vllm:generation_tokens_total",
            "counter",
            "Number of generation tokens processed.",
            self.generation_tokens.load(Ordering::Relaxed) as f64,
        );
        let name = "vllm:request_success_total";
        header(
            &mut out,
            name,
            "counter",
            "Count of successfully processed requests.",
        );
        for (i, reason) in REASONS.iter().enumerate() {
            let n = self.success[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}{{{labels},finished_reason=\"{reason}\"}} {}",
                float(n as f64)
            );
        }
        let histograms: [(&str, &str, &Histogram); 6] = [
            (
                "vllm:time_to_first_token_seconds",
                "Histogram of time to first token in seconds.",
                &h.ttft,
            ),
            (
                "vllm:inter_token_latency_seconds",
                "Histogram of inter-token latency in seconds.",
                &h.itl,
            ),
            (
                "vllm:time_per_output_token_seconds",
                "Histogram of time per output token in seconds.DEPRECATED: Use vllm:inter_token_latency_seconds instead.",
                &h.itl,
            ),
            (
                "vllm:request_time_per_output_token_seconds",
                "Histogram of time_per_output_token_seconds per request.",
                &h.request_tpot,
            ),
            (
                "vllm:request_queue_time_seconds",
                "Histogram of time spent in WAITING phase for request.",
                &h.queue,
            ),
            (
                "vllm:e2e_request_latency_seconds",
                "Histogram of e2e request latency in seconds.",
                &h.e2e,
            ),
        ];
        for (name, help, hist) in histograms {
            histogram(&mut out, name, help, &labels, hist);
        }
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn histogram(out: &mut String, name: &str, help: &str, labels: &str, h: &Histogram) {
    header(out, name, "histogram", help);
    let mut cumulative = 0;
    for (i, le) in h
        .bounds
        .iter()
        .map(|b| float(*b))
        .chain(std::iter::once("+Inf".to_string()))
        .enumerate()
    {
        cumulative += h.counts[i];
        // Labels in name order, as prometheus_client writes them.
        let (engine, model) = labels.split_once(',').unwrap_or((labels, ""));
        let _ = writeln!(
            out,
            "{name}_bucket{{{engine},le=\"{le}\",{model}}} {}",
            float(cumulative as f64)
        );
    }
    let _ = writeln!(out, "{name}_count{{{labels}}} {}", float(cumulative as f64));
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", float(h.sum));
}

/// A sample value as Prometheus' Python client writes it (`3.0`, `0.25`, `+Inf`).
fn float(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else if v.is_nan() {
        "NaN".to_string()
    } else {
        format!("{v:?}")
    }
}

/// A label value escaped for the text format (backslash, double quote, line feed).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn gauges() -> GaugeValues {
        GaugeValues {
            running: 2,
            waiting: 3,
            kv_usage: 0.5,
        }
    }

    /// The value of the sample line that starts with `series ` (the whole series, labels included).
    fn sample(text: &str, series: &str) -> f64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
            .unwrap_or_else(|| panic!("no {series} in\n{text}"));
        line.rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .expect("a number")
    }

    #[test]
    fn finished_requests_are_counted_and_observed() {
        let m = Metrics::default();
        let t0 = Instant::now();
        let ms = |x: u64| t0 + Duration::from_millis(x);
        m.finished(&Finished {
            prompt_tokens: 12,
            completion_tokens: 3,
            finish_reason: "length",
            received: t0,
            admitted: ms(100),
            pieces: vec![ms(300), ms(320), ms(340)],
        });
        m.aborted();
        let text = m.render("m\"x", gauges());
        let l = r#"engine="0",model_name="m\"x""#;
        assert_eq!(
            sample(&text, &format!("vllm:num_requests_running{{{l}}}")),
            2.0
        );
        assert_eq!(
            sample(&text, &format!("vllm:num_requests_waiting{{{l}}}")),
            3.0
        );
        assert_eq!(
            sample(&text, &format!("vllm:kv_cache_usage_perc{{{l}}}")),
            0.5
        );
        assert_eq!(
            sample(&text, &format!("vllm:prompt_tokens_total{{{l}}}")),
            12.0
        );
        assert_eq!(
            sample(&text, &format!("vllm:generation_tokens_total{{{l}}}")),
            3.0
        );
        let success = |r: &str| {
            sample(
                &text,
                &format!("vllm:request_success_total{{{l},finished_reason=\"{r}\"}}"),
            )
        };
        assert_eq!(
            (success("stop"), success("length"), success("abort")),
            (0.0, 1.0, 1.0)
        );
        let ttft = "vllm:time_to_first_token_seconds";
        assert_eq!(sample(&text, &format!("{ttft}_count{{{l}}}")), 1.0);
        assert!((sample(&text, &format!("{ttft}_sum{{{l}}}")) - 0.3).abs() < 1e-9);
        let bucket = |name: &str, le: &str| {
            sample(
                &text,
                &format!("{name}_bucket{{engine=\"0\",le=\"{le}\",model_name=\"m\\\"x\"}}"),
            )
        };
        assert_eq!(bucket(ttft, "0.25"), 0.0);
        assert_eq!(bucket(ttft, "0.5"), 1.0);
        assert_eq!(bucket(ttft, "+Inf"), 1.0);
        let itl = "vllm:inter_token_latency_seconds";
        assert_eq!(sample(&text, &format!("{itl}_count{{{l}}}")), 2.0);
        assert_eq!(bucket(itl, "0.01"), 0.0);
        assert_eq!(bucket(itl, "0.025"), 2.0);
        assert_eq!(bucket("vllm:time_per_output_token_seconds", "+Inf"), 2.0);
        assert!(
            (sample(
                &text,
                &format!("vllm:request_time_per_output_token_seconds_sum{{{l}}}")
            ) - 0.02)
                .abs()
                < 1e-9
        );
        assert!(
            (sample(
                &text,
                &format!("vllm:request_queue_time_seconds_sum{{{l}}}")
            ) - 0.1)
                .abs()
                < 1e-9
        );
        assert!(
            (sample(
                &text,
                &format!("vllm:e2e_request_latency_seconds_sum{{{l}}}")
            ) - 0.34)
                .abs()
                < 1e-9
        );
    }

    #[test]
    fn every_metric_has_help_and_type_and_counters_end_in_total() {
        let text = Metrics::default().render("sim-model", gauges());
        let mut typed = std::collections::HashMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("name and type");
                typed.insert(name.to_string(), kind.to_string());
                assert!(text.contains(&format!("# HELP {name} ")), "{name}");
                if kind == "counter" {
                    assert!(name.ends_with("_total"), "{name}");
                }
            } else if !line.starts_with("# HELP ") {
                assert!(!line.starts_with('#'), "{line}");
                let name = line.split('{').next().expect("a name");
                let family = ["_bucket", "_count", "_sum"]
                    .iter()
                    .find_map(|s| {
                        name.strip_suffix(s)
                            .filter(|f| typed.get(*f).is_some_and(|k| k == "histogram"))
                    })
                    .unwrap_or(name);
                assert!(typed.contains_key(family), "{line}: no TYPE before it");
            }
        }
        assert_eq!(typed.len(), 13);
        assert_eq!(float(1.0), "1.0");
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(0.075), "0.075");
    }
}
