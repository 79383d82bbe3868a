//! Sweeps: one run per concurrency or request rate, and a summary across the steps — a table on stdout, the
//! JSON file `G_sweep_summary.json` and, with charts, `G_sweep_latency_vs_throughput.svg` (latency
//! quantiles against output throughput, one point per step) — that shows
//! where throughput stops growing and latency starts to climb. [`SweepExporter`] collects the steps of one
//! sweep `G` from their typed statistics, and stops the sweep early when a step passes a limit.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use plotters::prelude::*;

use super::charts::{self, COLORS, ChartResult, SIZE, err, upper};
use super::{Exported, Exporter, io_error, to_json_indent4, write_atomically};
use crate::Error;
use crate::report::description::{SweepKind, SweepStep};
use crate::report::result::RunReport;
use crate::report::stats::Metric;

/// When a sweep stops early.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SweepLimits {
    /// After a step whose error rate is above this fraction.
    pub max_error_rate: Option<f64>,
    /// After a step whose p99 end-to-end latency from the scheduled start is above this, in seconds.
    pub max_e2e_p99_s: Option<f64>,
}

/// One step in the sweep summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SweepStepRow {
    /// The step's concurrency or rate.
    pub value: f64,
    /// The step's summary name.
    pub name: String,
    /// Recorded requests.
    pub requests: u64,
    /// Errored / recorded.
    pub error_rate: Option<f64>,
    /// Achieved request rate (open loop).
    pub achieved_request_rate: Option<f64>,
    /// Successful requests per second.
    pub request_throughput_per_s: Option<f64>,
    /// Output tokens per second (the original's aggregate).
    pub output_token_throughput_token_per_s: Option<f64>,
    /// TTFT p50, seconds.
    pub ttft_s_p50: Option<f64>,
    /// TTFT p90.
    pub ttft_s_p90: Option<f64>,
    /// TTFT p99.
    pub ttft_s_p99: Option<f64>,
    /// TTFT p99 from the scheduled start.
    pub scheduled_ttft_s_p99: Option<f64>,
    /// Inter-token latency p50.
    pub inter_token_latency_s_p50: Option<f64>,
    /// TPOT p50.
    pub tpot_s_p50: Option<f64>,
    /// End-to-end latency p50.
    pub end_to_end_latency_s_p50: Option<f64>,
    /// End-to-end latency p99.
    pub end_to_end_latency_s_p99: Option<f64>,
    /// Good requests per second (with goodput targets).
    pub goodput_request_rate: Option<f64>,
}

impl SweepStepRow {
    /// The row of the run `report`, step `value`.
    pub fn of(value: f64, report: &RunReport) -> SweepStepRow {
        let s = &report.stats;
        let l = &s.load;
        SweepStepRow {
            value,
            name: report.description.summary_name(),
            requests: s.num_requests_started,
            error_rate: Some(s.error_rate),
            achieved_request_rate: l.achieved_request_rate,
            request_throughput_per_s: Some(l.request_throughput_per_s),
            output_token_throughput_token_per_s: Some(s.mean_output_throughput_token_per_s),
            ttft_s_p50: s.series(Metric::Ttft).p50(),
            ttft_s_p90: s.series(Metric::Ttft).p90(),
            ttft_s_p99: s.series(Metric::Ttft).p99(),
            scheduled_ttft_s_p99: s.series(Metric::ScheduledTtft).p99(),
            inter_token_latency_s_p50: s.series(Metric::InterTokenLatency).p50(),
            tpot_s_p50: s.series(Metric::Tpot).p50(),
            end_to_end_latency_s_p50: s.series(Metric::EndToEndLatency).p50(),
            end_to_end_latency_s_p99: s.series(Metric::EndToEndLatency).p99(),
            goodput_request_rate: l.goodput_request_rate,
        }
    }
}

/// The content of `G_sweep_summary.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SweepSummary {
    /// `G_sweep_summary`.
    pub name: String,
    /// What was swept: `concurrency` or `request_rate`.
    pub sweep: Option<String>,
    /// The steps run, in order.
    pub steps: Vec<SweepStepRow>,
    /// Why the sweep stopped before its last step, if it did.
    pub stopped_early: Option<String>,
}

impl SweepSummary {
    /// Reads a sweep summary file; `None` if it is not one.
    pub fn read(path: &Path) -> Option<SweepSummary> {
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
    }
}

/// The exporter of one sweep: fed each run, it keeps the steps of its group; at the end it prints the table
/// and writes the summary (and chart) into the results directory, if there is one.
#[derive(Debug, Clone)]
pub struct SweepExporter {
    group: String,
    kind: SweepKind,
    limits: SweepLimits,
    steps: Vec<SweepStepRow>,
    stopped: Option<String>,
    dir: Option<PathBuf>,
    /// Also draw the latency-vs-throughput chart.
    chart: bool,
    /// Also write the sweep's HTML page.
    html: bool,
}

impl SweepExporter {
    /// The sweep `step` belongs to, its files into `dir`.
    pub fn new(step: &SweepStep, limits: SweepLimits, dir: Option<&Path>) -> SweepExporter {
        SweepExporter {
            group: step.group.clone(),
            kind: step.kind,
            limits,
            steps: Vec::new(),
            stopped: None,
            dir: dir.map(Path::to_path_buf),
            chart: false,
            html: false,
        }
    }

    /// Draws `G_sweep_latency_vs_throughput.svg` beside the sweep summary when `on`.
    pub fn with_chart(mut self, on: bool) -> SweepExporter {
        self.chart = on;
        self
    }

    /// Writes `G_sweep_report.html` (`html.rs`) beside the sweep summary when `on`.
    pub fn with_html(mut self, on: bool) -> SweepExporter {
        self.html = on;
        self
    }

    /// The sweep's name.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// Whether a limit ended the sweep.
    pub fn stopped(&self) -> bool {
        self.stopped.is_some()
    }

    /// Why a step ends the sweep, if it does: its error rate or its p99 scheduled end-to-end latency passed
    /// its limit (the latter wins when both do).
    fn stop_reason(&self, value: f64, report: &RunReport) -> Option<String> {
        let finite = |v: Option<f64>| v.filter(|x| x.is_finite());
        let s = &report.stats;
        let mut why = None;
        if let (Some(limit), Some(rate)) = (self.limits.max_error_rate, finite(Some(s.error_rate)))
            && rate > limit
        {
            why = Some(format!("error rate {rate} passed {limit} at {value}"));
        }
        let p99 = finite(s.series(Metric::ScheduledEndToEndLatency).p99());
        if let (Some(limit), Some(p99)) = (self.limits.max_e2e_p99_s, p99)
            && p99 > limit
        {
            why = Some(format!(
                "p99 end-to-end latency {p99:.3} s passed {limit} s at {value}"
            ));
        }
        why
    }

    /// The sweep summary.
    pub fn summary(&self) -> SweepSummary {
        SweepSummary {
            name: format!("{}_sweep_summary", self.group),
            sweep: Some(self.kind.name().to_string()),
            steps: self.steps.clone(),
            stopped_early: self.stopped.clone(),
        }
    }

    /// The table printed at the end of a sweep.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let kind = self.kind.name();
        let _ = writeln!(out, "\nSweep {} by {kind}:", self.group);
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
        let f = |v: Option<f64>| {
            v.filter(|x| x.is_finite())
                .map_or("-".to_string(), |x| format!("{x:.3}"))
        };
        for st in &self.steps {
            let _ = writeln!(
                out,
                "{:>12} {:>9} {:>10} {:>12} {:>10} {:>10} {:>10} {:>10} {:>10} {:>7}",
                f(Some(st.value)),
                f(st.request_throughput_per_s),
                f(st.achieved_request_rate),
                f(st.output_token_throughput_token_per_s),
                f(st.ttft_s_p50),
                f(st.ttft_s_p99),
                f(st.tpot_s_p50),
                f(st.end_to_end_latency_s_p50),
                f(st.end_to_end_latency_s_p99),
                f(st.error_rate),
            );
        }
        let _ = writeln!(out, "(latencies in seconds)");
        if let Some(why) = &self.stopped {
            let _ = writeln!(out, "Sweep stopped early: {why}");
        }
        out
    }
}

impl Exporter for SweepExporter {
    fn run(&mut self, report: &RunReport, _: &mut Exported) -> Result<(), Error> {
        let Some(step) = &report.description.sweep else {
            return Ok(());
        };
        if step.group != self.group {
            return Ok(());
        }
        self.steps.push(SweepStepRow::of(step.value, report));
        if let Some(why) = self.stop_reason(step.value, report) {
            self.stopped = Some(why);
        }
        Ok(())
    }

    /// Prints the table and writes `G_sweep_summary.json` (and the chart); nothing without steps.
    fn finish(&mut self, out: &mut Exported) -> Result<(), Error> {
        if self.steps.is_empty() {
            return Ok(());
        }
        out.text.push_str(&self.table());
        if let Some(dir) = &self.dir {
            let group = &self.group;
            let path = dir.join(format!("{group}_sweep_summary.json"));
            write_atomically(&path, &to_json_indent4(&self.summary()))
                .map_err(io_error(format!("writing {}", path.display())))?;
            out.files.push(path);
            if self.chart {
                match write_sweep_chart(dir, group, &self.steps, self.kind.name()) {
                    Ok(p) => out.files.push(p),
                    Err(e) => log::error!("writing the sweep chart of {group}: {e}"),
                }
            }
            if self.html {
                match super::html::write_sweep_html(dir, group, &self.summary()) {
                    Ok(p) => out.files.push(p),
                    Err(e) => log::error!("writing the sweep report of {group}: {e}"),
                }
            }
        }
        self.steps.clear();
        Ok(())
    }
}

/// The sweep chart from the sweep's steps: latency quantiles (y) against output throughput (x).
pub fn sweep_svg(steps: &[SweepStepRow], what: &str) -> ChartResult {
    type Quantile = fn(&SweepStepRow) -> Option<f64>;
    let quantiles: [(&str, Quantile); 4] = [
        ("TTFT p50", |s| s.ttft_s_p50),
        ("TTFT p99", |s| s.ttft_s_p99),
        ("E2E p50", |s| s.end_to_end_latency_s_p50),
        ("E2E p99", |s| s.end_to_end_latency_s_p99),
    ];
    let finite = |v: Option<f64>| v.filter(|x| x.is_finite());
    let series: Vec<(&str, Vec<(f64, f64)>)> = quantiles
        .into_iter()
        .map(|(name, y)| {
            let pts = steps
                .iter()
                .filter_map(|s| {
                    Some((
                        finite(s.output_token_throughput_token_per_s)?,
                        finite(y(s))?,
                    ))
                })
                .collect();
            (name, pts)
        })
        .collect();
    let xmax = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.0))
        .fold(0.0, f64::max);
    let ymax = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.1))
        .fold(0.0, f64::max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("Latency vs throughput (sweep by {what})"),
                ("sans-serif", 22),
            )
            .margin(15)
            .x_label_area_size(50)
            .y_label_area_size(65)
            .build_cartesian_2d(0.0..upper(xmax), 0.0..upper(ymax))
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("Output throughput (tokens/s)")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_desc("Latency (s)")
            .draw()
            .map_err(err)?;
        for (i, (name, pts)) in series.into_iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(err)?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(pts.into_iter().map(|p| Circle::new(p, 4, color.filled())))
                .map_err(err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Writes a sweep's chart into `dir`; returns its path.
pub fn write_sweep_chart(
    dir: &Path,
    group: &str,
    steps: &[SweepStepRow],
    what: &str,
) -> std::io::Result<PathBuf> {
    charts::write(
        dir,
        format!("{group}_sweep_latency_vs_throughput.svg"),
        sweep_svg(steps, what),
    )
}
