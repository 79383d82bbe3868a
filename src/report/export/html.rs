//! One self-contained HTML report per run, `B_report.html` (`--output-format html`, also from `report DIR`),
//! and one per sweep, `G_sweep_report.html`: everything inline — styles, the charts as inline SVG (drawn by
//! `charts.rs` and `html_charts.rs`), a few lines of script — so the file opens offline, mailed or archived,
//! with nothing fetched. Sections, each with an id a test (or a reader's script) can find:
//!
//! - `#settings` (`#settings-table`): what ran — model, API, concurrency or rate, lengths, limits, seed;
//! - `#summary` (`#summary-table`, `#totals-table`): every metric's quantiles, mean, min and max, then the
//!   counts, error rate and throughputs;
//! - `#latency` (`#chart-latency-cdf`): the TTFT and end-to-end latency CDFs;
//! - `#over-time` (`#chart-timeline`): output throughput and requests in flight over the run;
//! - `#server` (`#server-table`, `#chart-server`), when the run scraped its server: the server's counts and
//!   latencies beside the client's, and its queue depth, KV-cache usage and TTFT on the run's time axis.
//!
//! The script only reports itself: it sets `data-ready="yes"` on `<body>` when it has run, and writes any
//! script error into `#js-errors`, so a headless browser's DOM dump shows that the page rendered cleanly.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use super::charts::{ChartResult, latency_cdf_svg, timeline_svg};
use super::html_charts::server_svg;
use super::sweep::{SweepStepRow, SweepSummary, sweep_svg};
use super::{Exported, Exporter, write_atomically};
use crate::Error;
use crate::report::result::RunReport;
use crate::report::stats::Metric;
use crate::server_metrics::roles::Role;
use crate::server_metrics::summary::{ClientCounts, warnings};

const STYLE: &str = "body{font-family:sans-serif;margin:2em auto;max-width:1150px;color:#222}\
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:right}\
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}figure{margin:1em 0}\
figure svg{max-width:100%;height:auto}.warn{color:#a00}#js-errors{color:#a00;font-weight:bold}";

/// Reports script errors into the page, then marks it ready.
const SCRIPT_HEAD: &str = "<script>window.onerror=function(m,s,l){var e=document.getElementById('js-errors');\
if(e){e.textContent+='Uncaught '+m+' (line '+l+')\\n';}document.body.setAttribute('data-errors','yes');};\
</script>";
const SCRIPT_END: &str = "<script>(function(){var n=document.querySelectorAll('figure svg').length;\
document.body.setAttribute('data-charts',String(n));document.body.setAttribute('data-ready','yes');})();\
</script>";

/// HTML-escapes text.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A number as a reader wants it: integers whole, large values to 0.1, small ones to 4 decimals.
fn num(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() && x.fract() == 0.0 => format!("{x:.0}"),
        Some(x) if x.is_finite() && x.abs() >= 100.0 => format!("{x:.1}"),
        Some(x) if x.is_finite() => format!("{x:.4}"),
        _ => "–".into(),
    }
}

/// A page: head, the body's sections, the closing script.
fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style>\
         {SCRIPT_HEAD}</head>\n<body data-ready=\"no\"><h1>{}</h1><pre id=\"js-errors\"></pre>\n{body}{SCRIPT_END}\
         </body></html>\n",
        esc(title),
        esc(title)
    )
}

/// A figure holding an inline SVG, or a note saying why it could not be drawn.
fn figure(id: &str, svg: ChartResult) -> String {
    match svg {
        Ok(svg) => {
            let start = svg.find("<svg").unwrap_or(0);
            format!("<figure id=\"{id}\">{}</figure>\n", &svg[start..])
        }
        Err(e) => format!(
            "<p class=\"warn\" id=\"{id}\">chart not drawn: {}</p>\n",
            esc(&e)
        ),
    }
}

/// A two-column table.
fn pairs_table(id: &str, rows: &[(String, String)]) -> String {
    let mut t = format!("<table id=\"{id}\">");
    for (k, v) in rows {
        let _ = write!(t, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
    }
    t.push_str("</table>\n");
    t
}

fn settings_section(r: &RunReport) -> String {
    let d = &r.description;
    let p = &d.params;
    let mut rows = vec![
        ("model".to_string(), p.model.clone()),
        ("API".into(), p.llm_api.clone()),
        ("concurrency".into(), p.num_concurrent_requests.to_string()),
        (
            "requests (max)".into(),
            p.max_num_completed_requests.to_string(),
        ),
        (
            "input tokens (mean ± sd)".into(),
            format!("{} ± {}", p.mean_input_tokens, p.stddev_input_tokens),
        ),
        (
            "output tokens (mean ± sd)".into(),
            format!("{} ± {}", p.mean_output_tokens, p.stddev_output_tokens),
        ),
        ("timeout (s)".into(), p.timeout_s.to_string()),
        ("seed".into(), p.seed.to_string()),
        ("requests sent".into(), r.window.launched.to_string()),
        ("elapsed (s)".into(), num(Some(r.window.elapsed_s))),
    ];
    if let Some(rate) = d.target_request_rate {
        rows.push(("target request rate (/s)".into(), rate.to_string()));
    }
    if let Some(step) = &d.sweep {
        rows.push((
            "sweep".into(),
            format!("{} step {}", step.group, step.value),
        ));
    }
    if !p.additional_sampling_params.is_empty() {
        rows.push((
            "additional sampling params".into(),
            serde_json::Value::Object(p.additional_sampling_params.clone()).to_string(),
        ));
    }
    format!(
        "<section id=\"settings\"><h2>Run settings</h2>{}</section>\n",
        pairs_table("settings-table", &rows)
    )
}

fn summary_section(r: &RunReport) -> String {
    let s = &r.stats;
    let mut t = String::from(
        "<table id=\"summary-table\"><tr><th>metric</th><th>p50</th><th>p90</th><th>p99</th><th>mean</th>\
         <th>min</th><th>max</th></tr>",
    );
    for m in Metric::ALL {
        let x = s.series(m);
        if x.mean.is_none() {
            continue;
        }
        let _ = write!(
            t,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            m.name(),
            num(x.p50()),
            num(x.p90()),
            num(x.p99()),
            num(x.mean),
            num(x.min),
            num(x.max)
        );
    }
    t.push_str("</table>\n");
    let totals = [
        ("requests started", s.num_requests_started.to_string()),
        ("completed", s.num_completed_requests.to_string()),
        ("errors", s.number_errors.to_string()),
        ("error rate", num(Some(s.error_rate))),
        (
            "output throughput (tokens/s)",
            num(Some(s.mean_output_throughput_token_per_s)),
        ),
        (
            "request throughput (/s)",
            num(Some(s.load.request_throughput_per_s)),
        ),
        (
            "completed requests per minute",
            num(Some(s.num_completed_requests_per_min)),
        ),
    ]
    .map(|(k, v)| (k.to_string(), v));
    format!(
        "<section id=\"summary\"><h2>Summary</h2>{t}{}</section>\n",
        pairs_table("totals-table", &totals)
    )
}

fn server_section(r: &RunReport) -> String {
    let Some(run) = &r.server else {
        return String::new();
    };
    let c = ClientCounts::of(&r.records);
    let counter = |role: Role| {
        run.counters
            .get(&role)
            .copied()
            .filter(|_| run.scrapes >= 2)
    };
    let mut rows = vec![
        (
            "endpoint".to_string(),
            format!(
                "{} ({})",
                run.url,
                run.server.map_or("no known metric names", |s| s.name())
            ),
        ),
        (
            "scrapes / failed".into(),
            format!("{} / {}", run.scrapes, run.gaps.len()),
        ),
        (
            "prompt tokens: server / client".into(),
            format!("{} / {}", num(counter(Role::PromptTokens)), c.prompt_tokens),
        ),
        (
            "generated tokens: server / client".into(),
            format!(
                "{} / {}",
                num(counter(Role::GenerationTokens)),
                c.generation_tokens
            ),
        ),
        (
            "requests: server / client".into(),
            format!("{} / {}", num(counter(Role::Requests)), c.requests),
        ),
    ];
    for (role, what) in [
        (Role::Waiting, "queue depth"),
        (Role::Running, "running batch"),
        (Role::KvUsage, "KV-cache usage"),
    ] {
        if let Some((max, mean)) = run.gauge_max_mean(role) {
            rows.push((
                format!("{what}: peak / mean"),
                format!("{} / {}", num(Some(max)), num(Some(mean))),
            ));
        }
    }
    let client_ttft = r.stats.series(Metric::Ttft);
    if let Some(d) = run.histograms.get(&Role::Ttft).and_then(|h| h.delta()) {
        rows.push((
            "TTFT p50 / p99 (s): server / client".into(),
            format!(
                "{} / {} — {} / {}",
                num(d.quantile(0.5)),
                num(d.quantile(0.99)),
                num(client_ttft.p50()),
                num(client_ttft.p99())
            ),
        ));
    }
    if let Some(d) = run.histograms.get(&Role::QueueTime).and_then(|h| h.delta()) {
        rows.push((
            "server queue time p50 / p99 (s)".into(),
            format!("{} / {}", num(d.quantile(0.5)), num(d.quantile(0.99))),
        ));
    }
    let mut out = format!(
        "<section id=\"server\"><h2>Server metrics</h2>{}",
        pairs_table("server-table", &rows)
    );
    for w in warnings(run, &c) {
        let _ = write!(out, "<p class=\"warn\">warning: {}</p>", esc(&w));
    }
    out.push_str(&figure("chart-server", server_svg(run, &r.records)));
    out.push_str("</section>\n");
    out
}

/// The HTML page of one run.
pub fn run_html(r: &RunReport) -> String {
    let open_loop = r.stats.load.target_request_rate.is_some();
    let body = [
        settings_section(r),
        summary_section(r),
        format!(
            "<section id=\"latency\"><h2>Latency</h2>{}</section>\n",
            figure("chart-latency-cdf", latency_cdf_svg(&r.records, open_loop))
        ),
        format!(
            "<section id=\"over-time\"><h2>Throughput and requests in flight</h2>{}</section>\n",
            figure("chart-timeline", timeline_svg(&r.records))
        ),
        server_section(r),
    ]
    .concat();
    page(
        &format!("{} — llmperf-actors report", r.description.summary_name()),
        &body,
    )
}

/// The HTML page of a sweep: its steps' table and the latency–throughput curve.
pub fn sweep_html(group: &str, summary: &SweepSummary) -> String {
    let what = summary.sweep.as_deref().unwrap_or("step");
    let mut t = format!(
        "<table id=\"sweep-table\"><tr><th>{}</th><th>requests</th><th>error rate</th><th>output tokens/s</th>\
         <th>TTFT p50</th><th>TTFT p99</th><th>E2E p50</th><th>E2E p99</th></tr>",
        esc(what)
    );
    let row = |s: &SweepStepRow| {
        format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            s.value,
            s.requests,
            num(s.error_rate),
            num(s.output_token_throughput_token_per_s),
            num(s.ttft_s_p50),
            num(s.ttft_s_p99),
            num(s.end_to_end_latency_s_p50),
            num(s.end_to_end_latency_s_p99)
        )
    };
    for s in &summary.steps {
        t.push_str(&row(s));
    }
    t.push_str("</table>\n");
    if let Some(why) = &summary.stopped_early {
        let _ = write!(t, "<p class=\"warn\">stopped early: {}</p>", esc(why));
    }
    let body = format!(
        "<section id=\"sweep\"><h2>Steps</h2>{t}</section>\n<section id=\"curve\"><h2>Latency vs throughput</h2>{}\
         </section>\n",
        figure("chart-sweep", sweep_svg(&summary.steps, what))
    );
    page(&format!("{group} sweep — llmperf-actors report"), &body)
}

/// Writes a sweep's page into `dir`; returns its path.
pub fn write_sweep_html(
    dir: &Path,
    group: &str,
    summary: &SweepSummary,
) -> std::io::Result<PathBuf> {
    let path = dir.join(format!("{group}_sweep_report.html"));
    write_atomically(&path, sweep_html(group, summary).as_bytes())?;
    Ok(path)
}

/// The exporter of `B_report.html`. A page it cannot write is logged and skipped (an extra, like charts).
#[derive(Debug, Clone)]
pub struct HtmlReport {
    dir: PathBuf,
}

impl HtmlReport {
    /// Into `dir`.
    pub fn new(dir: &Path) -> HtmlReport {
        HtmlReport {
            dir: dir.to_path_buf(),
        }
    }
}

impl Exporter for HtmlReport {
    fn run(&mut self, report: &RunReport, out: &mut Exported) -> Result<(), Error> {
        let base_name = &report.description.base_name;
        let path = self.dir.join(format!("{base_name}_report.html"));
        match write_atomically(&path, run_html(report).as_bytes()) {
            Ok(()) => out.files.push(path),
            Err(e) => log::error!("writing the HTML report of {base_name}: {e}"),
        }
        Ok(())
    }
}
