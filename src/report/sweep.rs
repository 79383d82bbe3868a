//! Sweeps: one run per concurrency or request rate, and a summary across the steps — a JSON file
//! (`B_sweep_summary.json`) and a table on stdout — that shows where throughput stops growing and latency
//! starts to climb.

use std::fmt::Write;
use std::path::Path;

use serde_json::{Map, Value, json};

use super::description::SweepKind;
use super::llmperf::{RunSummary, to_json_indent4};

/// The steps of the sweep in progress.
#[derive(Debug, Default)]
pub struct SweepProgress {
    group: Option<String>,
    kind: Option<SweepKind>,
    steps: Vec<Value>,
    stopped: Option<String>,
    /// Also draw the latency-vs-throughput chart when finishing.
    chart: bool,
}

/// Keys copied from each step's summary into the sweep summary.
const STEP_KEYS: [(&str, &str); 14] = [
    ("requests", "results_num_requests_started"),
    ("error_rate", "results_error_rate"),
    ("achieved_request_rate", "results_achieved_request_rate"),
    (
        "request_throughput_per_s",
        "results_request_throughput_per_s",
    ),
    (
        "output_token_throughput_token_per_s",
        "results_mean_output_throughput_token_per_s",
    ),
    ("ttft_s_p50", "results_ttft_s_quantiles_p50"),
    ("ttft_s_p90", "results_ttft_s_quantiles_p90"),
    ("ttft_s_p99", "results_ttft_s_quantiles_p99"),
    (
        "scheduled_ttft_s_p99",
        "results_scheduled_ttft_s_quantiles_p99",
    ),
    (
        "inter_token_latency_s_p50",
        "results_inter_token_latency_s_quantiles_p50",
    ),
    ("tpot_s_p50", "results_tpot_s_quantiles_p50"),
    (
        "end_to_end_latency_s_p50",
        "results_end_to_end_latency_s_quantiles_p50",
    ),
    (
        "end_to_end_latency_s_p99",
        "results_end_to_end_latency_s_quantiles_p99",
    ),
    ("goodput_request_rate", "results_goodput_request_rate"),
];

impl SweepProgress {
    /// A new sweep named `group`.
    pub fn start(group: &str, kind: SweepKind) -> SweepProgress {
        SweepProgress {
            group: Some(group.to_string()),
            kind: Some(kind),
            ..Default::default()
        }
    }

    /// Draws `G_sweep_latency_vs_throughput.svg` beside the sweep summary when `on`.
    pub fn with_chart(mut self, on: bool) -> SweepProgress {
        self.chart = on;
        self
    }

    /// The sweep's name, if one is in progress.
    pub fn group(&self) -> Option<&str> {
        self.group.as_deref()
    }

    /// Whether a stop condition ended the sweep.
    pub fn stopped(&self) -> bool {
        self.stopped.is_some()
    }

    /// Adds a step; stops the sweep if the step's error rate or p99 scheduled e2e latency passes its limit.
    pub fn record(
        &mut self,
        value: f64,
        run: &RunSummary,
        max_error_rate: Option<f64>,
        max_e2e_p99_s: Option<f64>,
    ) {
        let s = &run.summary;
        let mut step = Map::new();
        step.insert("value".into(), json!(value));
        step.insert("name".into(), s["name"].clone());
        for (key, from) in STEP_KEYS {
            step.insert(key.into(), s.get(from).cloned().unwrap_or(Value::Null));
        }
        self.steps.push(Value::Object(step));
        let get = |k: &str| s.get(k).and_then(Value::as_f64);
        if let (Some(limit), Some(rate)) = (max_error_rate, get("results_error_rate"))
            && rate > limit
        {
            self.stopped = Some(format!("error rate {rate} passed {limit} at {value}"));
        }
        if let (Some(limit), Some(p99)) = (
            max_e2e_p99_s,
            get("results_scheduled_end_to_end_latency_s_quantiles_p99"),
        ) && p99 > limit
        {
            self.stopped = Some(format!(
                "p99 end-to-end latency {p99:.3} s passed {limit} s at {value}"
            ));
        }
    }

    /// The sweep summary object.
    pub fn summary(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(
            "name".into(),
            json!(format!(
                "{}_sweep_summary",
                self.group.clone().unwrap_or_default()
            )),
        );
        m.insert("sweep".into(), json!(self.kind.map(SweepKind::name)));
        m.insert("steps".into(), Value::Array(self.steps.clone()));
        m.insert("stopped_early".into(), json!(self.stopped));
        m
    }

    /// The table printed at the end of a sweep.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let kind = self.kind.map_or("step", SweepKind::name);
        let _ = writeln!(
            out,
            "\nSweep {} by {kind}:",
            self.group.as_deref().unwrap_or("")
        );
        let _ = writeln!(
            out,
            "{:>12} {:>9} {:>10} {:>12} {:>10} {:>10} {:>10} {:>10} {:>10} {:>7}",
            kind,
            "req/s",
            "achieved",
            "out tok/s",
            "ttft p50",
            "ttft p99",
            "tpot p50",
            "e2e p50",
            "e2e p99",
            "errors"
        );
        let f = |v: &Value, scale: f64| {
            v.as_f64()
                .map_or("-".to_string(), |x| format!("{:.3}", x * scale))
        };
        for st in &self.steps {
            let _ = writeln!(
                out,
                "{:>12} {:>9} {:>10} {:>12} {:>10} {:>10} {:>10} {:>10} {:>10} {:>7}",
                f(&st["value"], 1.0),
                f(&st["request_throughput_per_s"], 1.0),
                f(&st["achieved_request_rate"], 1.0),
                f(&st["output_token_throughput_token_per_s"], 1.0),
                f(&st["ttft_s_p50"], 1.0),
                f(&st["ttft_s_p99"], 1.0),
                f(&st["tpot_s_p50"], 1.0),
                f(&st["end_to_end_latency_s_p50"], 1.0),
                f(&st["end_to_end_latency_s_p99"], 1.0),
                f(&st["error_rate"], 1.0),
            );
        }
        let _ = writeln!(out, "(latencies in seconds)");
        if let Some(why) = &self.stopped {
            let _ = writeln!(out, "Sweep stopped early: {why}");
        }
        out
    }

    /// Prints the table and writes `B_sweep_summary.json` into `dir` (if any); a no-op without steps.
    pub fn finish(&mut self, dir: Option<&Path>) -> Result<(), crate::Error> {
        if self.steps.is_empty() {
            return Ok(());
        }
        print!("{}", self.table());
        if let (Some(dir), Some(group)) = (dir, &self.group) {
            let path = dir.join(format!("{group}_sweep_summary.json"));
            super::write_atomically(&path, &to_json_indent4(&self.summary())).map_err(|e| {
                crate::Error::Io {
                    what: format!("writing {}", path.display()),
                    source: e,
                }
            })?;
            println!("Wrote {}", path.display());
            if self.chart {
                let kind = self.kind.map_or("step", SweepKind::name);
                match super::charts::write_sweep_chart(dir, group, &self.steps, kind) {
                    Ok(p) => println!("Wrote {}", p.display()),
                    Err(e) => log::error!("writing the sweep chart of {group}: {e}"),
                }
            }
        }
        self.steps.clear();
        Ok(())
    }
}
