//! Charts as SVG files (plotters' SVG backend; no fonts, no browser), written into the results directory:
//!
//! - `B_latency_cdf.svg`: cumulative distribution of TTFT and end-to-end latency over the successful
//!   measured requests (plus the latencies from the scheduled send in an open loop);
//! - `B_itl_histogram.svg`: histogram of the per-request inter-token latency;
//! - `B_timeline.svg`: output token throughput (each request's tokens spread evenly between its first token
//!   and its end) and requests in flight (from each record's `actual_start_s` to its end) over the run.
//!
//! Every chart is drawn in memory that does not grow with the run: the records are walked (some are on
//! disk, [`RecordStore`]); the CDFs come from fixed-memory histograms (three significant digits), and past
//! [`EXACT_IN_FLIGHT`] requests the in-flight line is the average per time bin rather than every step.
//!
//! The sweep's chart is drawn by the sweep's exporter (`sweep.rs`) with the helpers here.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::{Exported, Exporter, write_atomically};
use crate::Error;
use crate::metrics::PooledSeries;
use crate::report::records::RunRecord;
use crate::report::result::RunReport;
use crate::report::store::RecordStore;

/// Up to this many measured requests, the in-flight line has every step; past it, the time-weighted average
/// per bin (the steps would take memory in proportion to the run).
pub const EXACT_IN_FLIGHT: usize = 10_000;

/// The size of a one-panel chart.
pub(super) const SIZE: (u32, u32) = (900, 540);
/// The series' colors, in order.
pub(super) const COLORS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
];

/// An SVG document, or why it could not be drawn.
pub(super) type ChartResult = Result<String, String>;

/// A drawing error as text.
pub(super) fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Rounds an axis' upper end up a little so the data does not touch the frame.
pub(super) fn upper(max: f64) -> f64 {
    if max.is_finite() && max > 0.0 {
        max * 1.05
    } else {
        1.0
    }
}

fn measured_ok(records: &RecordStore) -> impl Iterator<Item = Cow<'_, RunRecord>> {
    records
        .iter()
        .filter(|r| !r.metrics.warmup && r.metrics.is_ok())
}

/// A named CDF: (seconds, % of requests at or below) steps.
type Series = (&'static str, Vec<(f64, f64)>);

/// The CDF of `values` (seconds; non-finite ones left out), from a fixed-memory histogram.
fn cdf_of(values: impl Iterator<Item = f64>) -> Vec<(f64, f64)> {
    let mut hist = PooledSeries::default();
    values
        .filter(|v| v.is_finite())
        .for_each(|v| hist.record(v));
    hist.cdf()
}

/// One CDF panel: `series` share the x axis (seconds) and a color each, starting at `color`.
fn cdf_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    series: Vec<Series>,
    color: usize,
) -> Result<(), String> {
    let xmax = series
        .iter()
        .flat_map(|(_, v)| v.iter().map(|p| p.0))
        .fold(0.0, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..upper(xmax), 0.0..100.0)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("Latency (s)")
        .y_desc("Requests at or below (%)")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()
        .map_err(|e| e.to_string())?;
    for (i, (name, points)) in series.into_iter().enumerate() {
        let c = COLORS[(color + i) % COLORS.len()];
        chart
            .draw_series(LineSeries::new(points, c.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// The latency CDF chart: TTFT (left) and end-to-end latency (right), each from the actual send and, in an
/// open loop, from the scheduled send.
pub fn latency_cdf_svg(records: &RecordStore, open_loop: bool) -> ChartResult {
    let ok = measured_ok(records).count();
    let mut ttft: Vec<Series> = vec![(
        "TTFT",
        cdf_of(measured_ok(records).map(|r| r.metrics.ttft_s)),
    )];
    let mut e2e: Vec<Series> = vec![(
        "End-to-end latency",
        cdf_of(measured_ok(records).map(|r| r.metrics.end_to_end_latency_s)),
    )];
    if open_loop {
        ttft.push((
            "TTFT from scheduled send",
            cdf_of(measured_ok(records).filter_map(|r| r.metrics.scheduled_ttft_s)),
        ));
        e2e.push((
            "E2E from scheduled send",
            cdf_of(measured_ok(records).filter_map(|r| r.metrics.scheduled_end_to_end_latency_s)),
        ));
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1100, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let root = root
            .titled(
                &format!("Latency distribution ({ok} successful requests)"),
                ("sans-serif", 22),
            )
            .map_err(err)?;
        let (left, right) = root.split_horizontally(550);
        cdf_panel(&left, "Time to first token", ttft, 0)?;
        cdf_panel(&right, "End-to-end latency", e2e, 2)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// The inter-token latency histogram.
pub fn itl_histogram_svg(records: &RecordStore) -> ChartResult {
    let values = || {
        measured_ok(records)
            .map(|r| r.metrics.inter_token_latency_s * 1e3)
            .filter(|v| v.is_finite())
    };
    let (n, lo, hi) = values().fold(
        (0usize, f64::INFINITY, f64::NEG_INFINITY),
        |(n, a, b), v| (n + 1, a.min(v), b.max(v)),
    );
    let (lo, hi) = if n == 0 {
        (0.0, 1.0)
    } else if hi - lo < 1e-9 {
        ((lo - 0.5).max(0.0), hi + 0.5)
    } else {
        (lo, hi)
    };
    let bins = ((n as f64).sqrt().ceil() as usize).clamp(1, 40);
    let width = (hi - lo) / bins as f64;
    let mut counts = vec![0u32; bins];
    for v in values() {
        let b = (((v - lo) / width) as usize).min(bins - 1);
        counts[b] += 1;
    }
    let ymax = counts.iter().copied().max().unwrap_or(0) as f64;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Inter-token latency per request (original definition)",
                ("sans-serif", 22),
            )
            .margin(15)
            .x_label_area_size(50)
            .y_label_area_size(65)
            .build_cartesian_2d(lo..hi, 0.0..upper(ymax))
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("Inter-token latency (ms)")
            .y_desc("Requests")
            .y_labels((ymax as usize + 1).clamp(2, 11))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()
            .map_err(err)?;
        let color = COLORS[0];
        chart
            .draw_series(counts.iter().enumerate().map(|(i, &c)| {
                let x0 = lo + i as f64 * width;
                Rectangle::new([(x0, 0.0), (x0 + width, f64::from(c))], color.filled())
            }))
            .map_err(err)?;
        chart
            .draw_series(counts.iter().enumerate().map(|(i, &c)| {
                let x0 = lo + i as f64 * width;
                Rectangle::new(
                    [(x0, 0.0), (x0 + width, f64::from(c))],
                    WHITE.stroke_width(1),
                )
            }))
            .map_err(err)?
            .label("ITL")
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], color.filled()));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Output tokens per second in bins of `bin` seconds over `[0, end)`: each successful request's tokens spread
/// evenly between its first token and its end.
pub fn throughput_bins(records: &RecordStore, end: f64, bin: f64) -> Vec<(f64, f64)> {
    let n = ((end / bin).ceil() as usize).max(1);
    let mut tokens = vec![0.0; n];
    for r in measured_ok(records) {
        let m = &r.metrics;
        let a = m.sent_s() + m.ttft_s;
        let b = m.ended_s();
        let t = m.number_output_tokens as f64;
        if b <= a {
            let i = ((b / bin) as usize).min(n - 1);
            tokens[i] += t;
            continue;
        }
        let rate = t / (b - a);
        let first = (a / bin) as usize;
        let last = ((b / bin) as usize).min(n - 1);
        for (i, slot) in tokens.iter_mut().enumerate().take(last + 1).skip(first) {
            let lo = (i as f64 * bin).max(a);
            let hi = ((i + 1) as f64 * bin).min(b);
            if hi > lo {
                *slot += rate * (hi - lo);
            }
        }
    }
    tokens
        .into_iter()
        .enumerate()
        .map(|(i, t)| ((i as f64 + 0.5) * bin, t / bin))
        .collect()
}

/// Requests in flight over time, as the steps of a step function: `(time, in flight from then on)`.
pub fn in_flight_steps(records: &RecordStore) -> Vec<(f64, f64)> {
    let mut events: Vec<(f64, i64)> = Vec::new();
    for r in records.iter().filter(|r| !r.metrics.warmup) {
        let m = &r.metrics;
        let start = m.actual_start_s;
        let end = m.ended_s();
        events.push((start, 1));
        events.push((end, -1));
    }
    // Ends before starts at the same instant, so a back-to-back handover does not count twice.
    events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut level = 0i64;
    let mut pts = vec![(0.0, 0.0)];
    for (t, d) in events {
        pts.push((t, level as f64));
        level += d;
        pts.push((t, level as f64));
    }
    pts
}

/// Requests in flight averaged over bins of `bin` seconds over `[0, end)`: `(bin middle, mean in flight)`,
/// each request counted for the part of the bin it was in flight.
pub fn in_flight_bins(records: &RecordStore, end: f64, bin: f64) -> Vec<(f64, f64)> {
    let n = ((end / bin).ceil() as usize).max(1);
    let mut busy = vec![0.0; n];
    for r in records.iter().filter(|r| !r.metrics.warmup) {
        let (a, b) = (r.metrics.actual_start_s, r.metrics.ended_s());
        let first = ((a / bin).max(0.0) as usize).min(n - 1);
        let last = ((b / bin).max(0.0) as usize).min(n - 1);
        for (i, slot) in busy.iter_mut().enumerate().take(last + 1).skip(first) {
            let lo = (i as f64 * bin).max(a);
            let hi = ((i + 1) as f64 * bin).min(b);
            if hi > lo {
                *slot += hi - lo;
            }
        }
    }
    busy.into_iter()
        .enumerate()
        .map(|(i, t)| ((i as f64 + 0.5) * bin, t / bin))
        .collect()
}

/// The timeline chart: output throughput (top) and requests in flight (bottom).
pub fn timeline_svg(records: &RecordStore) -> ChartResult {
    let end = records
        .iter()
        .filter(|r| !r.metrics.warmup)
        .map(|r| r.metrics.ended_s())
        .fold(0.0, f64::max);
    let end = upper(end);
    let bin = (end / 60.0).max(0.05);
    let tput = throughput_bins(records, end, bin);
    let measured = records.iter().filter(|r| !r.metrics.warmup).count();
    let (flight, flight_label) = if measured <= EXACT_IN_FLIGHT {
        (in_flight_steps(records), "In flight".to_string())
    } else {
        (
            in_flight_bins(records, end, bin),
            format!("In flight (mean per {bin:.2} s bin)"),
        )
    };
    let tmax = tput.iter().map(|p| p.1).fold(0.0, f64::max);
    let fmax = flight.iter().map(|p| p.1).fold(0.0, f64::max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (SIZE.0, 720)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (top, bottom) = root.split_vertically(360);
        let mut c1 = ChartBuilder::on(&top)
            .caption("Output token throughput over time", ("sans-serif", 22))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(65)
            .build_cartesian_2d(0.0..end, 0.0..upper(tmax))
            .map_err(err)?;
        c1.configure_mesh()
            .x_desc("Time since start (s)")
            .y_desc("Output tokens/s")
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()
            .map_err(err)?;
        let color = COLORS[0];
        c1.draw_series(LineSeries::new(tput, color.stroke_width(2)))
            .map_err(err)?
            .label(format!("Output throughput ({bin:.2} s bins)"))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        c1.configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
        let mut c2 = ChartBuilder::on(&bottom)
            .caption("Requests in flight over time", ("sans-serif", 22))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(65)
            .build_cartesian_2d(0.0..end, 0.0..upper(fmax))
            .map_err(err)?;
        c2.configure_mesh()
            .x_desc("Time since start (s)")
            .y_desc("Requests in flight")
            .y_labels((fmax as usize + 1).clamp(2, 11))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()
            .map_err(err)?;
        let color = COLORS[1];
        c2.draw_series(LineSeries::new(flight, color.stroke_width(2)))
            .map_err(err)?
            .label(flight_label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        c2.configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Writes the chart `svg` as `dir/name`; returns its path.
pub(super) fn write(dir: &Path, name: String, svg: ChartResult) -> std::io::Result<PathBuf> {
    let svg = svg.map_err(std::io::Error::other)?;
    let path = dir.join(name);
    write_atomically(&path, svg.as_bytes())?;
    Ok(path)
}

/// Writes a run's three charts into `dir`; returns their paths.
pub fn write_run_charts(
    dir: &Path,
    base_name: &str,
    records: &RecordStore,
    open_loop: bool,
) -> std::io::Result<Vec<PathBuf>> {
    Ok(vec![
        write(
            dir,
            format!("{base_name}_latency_cdf.svg"),
            latency_cdf_svg(records, open_loop),
        )?,
        write(
            dir,
            format!("{base_name}_itl_histogram.svg"),
            itl_histogram_svg(records),
        )?,
        write(
            dir,
            format!("{base_name}_timeline.svg"),
            timeline_svg(records),
        )?,
    ])
}

/// The exporter of a run's three charts into a directory. A chart it cannot write is logged and skipped.
#[derive(Debug, Clone)]
pub struct Charts {
    dir: PathBuf,
}

impl Charts {
    /// Into `dir`.
    pub fn new(dir: &Path) -> Charts {
        Charts {
            dir: dir.to_path_buf(),
        }
    }
}

impl Exporter for Charts {
    fn run(&mut self, report: &RunReport, out: &mut Exported) -> Result<(), Error> {
        let base_name = &report.description.base_name;
        let open_loop = report.stats.load.target_request_rate.is_some();
        match write_run_charts(&self.dir, base_name, &report.records, open_loop) {
            Ok(files) => out.files.extend(files),
            Err(e) => log::error!("writing the charts of {base_name}: {e}"),
        }
        Ok(())
    }
}
