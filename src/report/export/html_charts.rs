//! The HTML report's server panel, an SVG (plotters, like `charts.rs`): three stacked charts on one time
//! axis — the server's queue depth and running batch, its KV-cache usage, and time to first token as the
//! client measured each request (a dot at the moment its first token arrived) beside the server's mean TTFT
//! over each scrape interval (a line) — with the failed scrapes marked on the time axis of each.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::charts::{COLORS, ChartResult, err, upper};
use crate::report::store::RecordStore;
use crate::server_metrics::ServerRun;
use crate::server_metrics::roles::Role;

/// One line of a panel.
type Line = (String, Vec<(f64, f64)>, RGBColor);

/// A panel: title, y label, lines, dots (name, points), the y range's top.
struct Panel<'a> {
    title: &'a str,
    y_desc: &'a str,
    lines: Vec<Line>,
    dots: Option<(String, Vec<(f64, f64)>)>,
    ymax: f64,
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: Panel<'_>,
    (x0, x1): (f64, f64),
    gaps: &[f64],
) -> Result<(), String> {
    let mut chart = ChartBuilder::on(area)
        .caption(p.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(65)
        .build_cartesian_2d(x0..x1, 0.0..p.ymax)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("Time since start (s)")
        .y_desc(p.y_desc)
        .draw()
        .map_err(err)?;
    let mut labelled = false;
    for (name, pts, color) in p.lines {
        if pts.is_empty() {
            continue;
        }
        labelled = true;
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
            .map_err(err)?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    if let Some((name, pts)) = p.dots.filter(|d| !d.1.is_empty()) {
        labelled = true;
        let c = COLORS[3];
        chart
            .draw_series(pts.into_iter().map(|q| Circle::new(q, 2, c.filled())))
            .map_err(err)?
            .label(name)
            .legend(move |(x, y)| Circle::new((x + 10, y), 3, c.filled()));
    }
    if !gaps.is_empty() {
        labelled = true;
        let red = RGBColor(200, 0, 0);
        chart
            .draw_series(
                gaps.iter()
                    .map(|&t| PathElement::new(vec![(t, 0.0), (t, p.ymax)], red.mix(0.35))),
            )
            .map_err(err)?
            .label("failed scrape")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], red));
    }
    if labelled {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
    }
    Ok(())
}

/// Clamps each point's time into the run (the baseline scrape is taken just before the start).
fn clamp(pts: &[(f64, f64)], x1: f64) -> Vec<(f64, f64)> {
    pts.iter()
        .filter(|p| p.1.is_finite())
        .map(|&(t, v)| (t.clamp(0.0, x1), v))
        .collect()
}

/// Most client TTFT dots drawn: past it, an even spread of the requests (the panel stays readable, and its
/// memory does not grow with the run).
const CLIENT_DOTS: usize = 5_000;

/// The server panel of a run that scraped its server.
pub fn server_svg(run: &ServerRun, records: &RecordStore) -> ChartResult {
    let end = records
        .iter()
        .map(|r| r.metrics.ended_s())
        .chain(run.gauges.values().flatten().map(|p| p.0))
        .chain(run.gaps.iter().map(|g| g.t))
        .fold(0.0, f64::max);
    let x1 = upper(end);
    let gauge = |r: Role| clamp(run.gauges.get(&r).map_or(&[][..], |v| v), x1);
    let top = |pts: &[&[(f64, f64)]]| {
        upper(
            pts.iter()
                .flat_map(|p| p.iter().map(|q| q.1))
                .fold(0.0, f64::max),
        )
    };
    let (waiting, running) = (gauge(Role::Waiting), gauge(Role::Running));
    let kv = gauge(Role::KvUsage);
    let server_ttft = clamp(
        run.histograms
            .get(&Role::Ttft)
            .map_or(&[][..], |h| &h.means),
        x1,
    );
    // A dot per request, up to CLIENT_DOTS of them spread evenly over the run.
    let ok = records.iter().filter(|r| r.metrics.is_ok()).count();
    let client_ttft: Vec<(f64, f64)> = records
        .iter()
        .filter(|r| r.metrics.is_ok())
        .enumerate()
        .filter(|(i, _)| (i + 1) * CLIENT_DOTS / ok.max(1) > i * CLIENT_DOTS / ok.max(1))
        .map(|(_, r)| (r.metrics.sent_s() + r.metrics.ttft_s, r.metrics.ttft_s))
        .collect();
    let gaps: Vec<f64> = run.gaps.iter().map(|g| g.t.clamp(0.0, x1)).collect();
    let panels = [
        Panel {
            title: "Server queue: requests waiting and running",
            y_desc: "Requests",
            ymax: top(&[&waiting, &running]),
            lines: vec![
                ("waiting (queue depth)".into(), waiting, COLORS[1]),
                ("running (batch)".into(), running, COLORS[0]),
            ],
            dots: None,
        },
        Panel {
            title: "Server KV-cache usage",
            y_desc: "Fraction used",
            // The data's own range (a small cache use is still seen to move), never past full.
            ymax: top(&[&kv]).clamp(0.01, 1.05),
            lines: vec![("KV-cache usage".into(), kv, COLORS[2])],
            dots: None,
        },
        Panel {
            title: "Time to first token: client (each request) and server (mean per scrape interval)",
            y_desc: "TTFT (s)",
            ymax: top(&[&server_ttft, &client_ttft]),
            lines: vec![("server mean TTFT".into(), server_ttft, COLORS[0])],
            dots: Some(("client TTFT".into(), client_ttft)),
        },
    ];
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 1000)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let areas = root.split_evenly((3, 1));
        for (area, panel) in areas.iter().zip(panels) {
            draw_panel(area, panel, (0.0, x1), &gaps)?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}
