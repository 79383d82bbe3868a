//! `<base>_capacity.svg`: the latency–throughput curve of a capacity search. One point per step at its
//! achieved throughput (completed requests/s): each quantile target's estimate with its interval as a bar, the
//! targets as dashed lines, passing steps filled and failing ones hollow, and the capacity's interval shaded.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::judge::Verdict;
use super::report::CapacityReport;

const COLORS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
];

/// One step on the chart: x, the estimate, its interval, whether it passed.
type Point = (f64, f64, Option<f64>, Option<f64>, bool);

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The chart as an SVG document.
pub fn capacity_svg(report: &CapacityReport) -> Result<String, String> {
    let steps: Vec<_> = report
        .steps
        .iter()
        .filter(|s| s.achieved_rate.is_some())
        .collect();
    let names: Vec<String> = report
        .steps
        .first()
        .map(|s| s.quantiles.iter().map(|q| q.name.clone()).collect())
        .unwrap_or_default();
    let x = |s: &super::report::StepRow| s.achieved_rate.unwrap_or(0.0);
    let xmax = steps.iter().map(|s| x(s)).fold(0.0, f64::max);
    let mut ymax = 0.0f64;
    for s in &steps {
        for q in &s.quantiles {
            for v in [q.estimate_s, q.ci_high_s, Some(q.target_s)]
                .into_iter()
                .flatten()
            {
                ymax = ymax.max(v);
            }
        }
    }
    // Keep the targets readable beside a saturated step's huge latencies.
    let target_max = steps
        .first()
        .map(|s| s.quantiles.iter().map(|q| q.target_s).fold(0.0, f64::max))
        .unwrap_or(0.0);
    let ymax = ymax.min(target_max * 4.0).max(target_max * 1.2).max(1e-3);
    let xmax = if xmax > 0.0 { xmax * 1.1 } else { 1.0 };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 540)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "Latency vs throughput, capacity search under {}",
                    report.slo
                ),
                ("sans-serif", 20),
            )
            .margin(15)
            .x_label_area_size(50)
            .y_label_area_size(65)
            .build_cartesian_2d(0.0..xmax, 0.0..ymax)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("Achieved throughput (completed requests/s)")
            .y_desc("Latency (s)")
            .draw()
            .map_err(err)?;
        if report.search == super::search::SearchKind::Rate
            && let (Some(lo), Some(hi)) = (report.ci_low, report.ci_high)
        {
            // The capacity's interval, in offered req/s (≈ achieved below saturation).
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(lo, 0.0), (hi.min(xmax), ymax)],
                    RGBColor(200, 200, 200).mix(0.4).filled(),
                )))
                .map_err(err)?
                .label("capacity interval")
                .legend(|(x, y)| {
                    Rectangle::new(
                        [(x, y - 5), (x + 20, y + 5)],
                        RGBColor(200, 200, 200).filled(),
                    )
                });
        }
        for (i, name) in names.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let pts: Vec<Point> = steps
                .iter()
                .filter_map(|s| {
                    let q = s.quantiles.iter().find(|q| &q.name == name)?;
                    Some((
                        x(s),
                        q.estimate_s?.min(ymax),
                        q.ci_low_s,
                        q.ci_high_s,
                        s.decision == Verdict::Pass,
                    ))
                })
                .collect();
            let mut line: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.1)).collect();
            line.sort_by(|a, b| a.0.total_cmp(&b.0));
            chart
                .draw_series(LineSeries::new(line, color.stroke_width(2)))
                .map_err(err)?
                .label(name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(pts.iter().map(|p| {
                    let lo = p.2.unwrap_or(0.0).min(ymax);
                    let hi = p.3.unwrap_or(ymax).min(ymax);
                    PathElement::new(vec![(p.0, lo), (p.0, hi)], color.stroke_width(1))
                }))
                .map_err(err)?;
            chart
                .draw_series(pts.iter().map(|p| {
                    let style = if p.4 {
                        color.filled()
                    } else {
                        color.stroke_width(2)
                    };
                    Circle::new((p.0, p.1), 5, style)
                }))
                .map_err(err)?;
            if let Some(t) = steps
                .first()
                .and_then(|s| s.quantiles.iter().find(|q| &q.name == name))
                .map(|q| q.target_s)
            {
                chart
                    .draw_series(DashedLineSeries::new(
                        vec![(0.0, t), (xmax, t)],
                        6,
                        4,
                        color.stroke_width(1),
                    ))
                    .map_err(err)?;
            }
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

/// Writes the chart as `<base>_capacity.svg` into `dir`; returns its path.
pub fn write_svg(report: &CapacityReport, dir: &Path, base: &str) -> std::io::Result<PathBuf> {
    let svg = capacity_svg(report).map_err(std::io::Error::other)?;
    let path = dir.join(format!("{base}_capacity.svg"));
    crate::report::export::write_atomically(&path, svg.as_bytes())?;
    Ok(path)
}
