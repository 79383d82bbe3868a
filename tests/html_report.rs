//! The HTML report in a real browser: headless Chromium (Debian's `chromium`; `.ci/run` installs it) loads
//! each page from disk — a plain run's, a run's with server metrics (as written, and as `report DIR` rebuilds
//! it from the files), a sweep's — and the DOM it dumps after running the page's script must show the script
//! ran (`data-ready="yes"`), no script error (none caught by the page's `onerror`, no "Uncaught" in the
//! browser's console log), every expected table and chart. A screenshot is taken too, and a page with a
//! deliberate script error must be caught by the same check. Without Chromium the tests say so and pass.
#![cfg(feature = "sim")] // starts the built-in simulator

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"].into_iter().find(|b| {
        Command::new(b)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

macro_rules! need_chromium {
    () => {
        match chromium() {
            Some(b) => b,
            None => {
                eprintln!(
                    "SKIPPED: no chromium on PATH (apt-get install chromium); the HTML report was not checked in a \
                     browser"
                );
                return;
            }
        }
    };
}

/// Runs headless Chromium on `page` with `args`; returns (stdout, stderr). Fails after two minutes.
fn browse(browser: &str, page: &Path, args: &[&str]) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (out_dir.path().join("out"), out_dir.path().join("err"));
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
        ])
        .args(["--enable-logging=stderr", "--v=0"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("start chromium");
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("chromium did not finish with {page:?} in 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (
        std::fs::read_to_string(out_path).unwrap(),
        std::fs::read_to_string(err_path).unwrap(),
    )
}

/// What is wrong with `page` as the browser rendered it: script errors, the script not run, `ids` missing,
/// not `charts` inline SVG charts. Empty when all is well.
fn problems(browser: &str, page: &Path, ids: &[&str], charts: usize) -> Vec<String> {
    let (dom, log) = browse(browser, page, &["--dump-dom"]);
    let mut p = Vec::new();
    if !dom.contains("data-ready=\"yes\"") {
        p.push("the page's script did not run (no data-ready=\"yes\")".to_string());
    }
    if dom.contains("data-errors=\"yes\"") || !dom.contains("<pre id=\"js-errors\"></pre>") {
        p.push("the page caught a script error".to_string());
    }
    for line in log.lines().filter(|l| l.contains("Uncaught")) {
        p.push(format!("console: {line}"));
    }
    for id in ids {
        if !dom.contains(&format!("id=\"{id}\"")) {
            p.push(format!("no element #{id}"));
        }
    }
    if !dom.contains(&format!("data-charts=\"{charts}\"")) {
        p.push(format!("not {charts} charts"));
    }
    p
}

/// Checks `page` renders cleanly with `ids` and `charts` charts, is self-contained, and screenshots it.
fn check_page(browser: &str, page: &Path, ids: &[&str], charts: usize) {
    let html = std::fs::read_to_string(page).unwrap();
    for fetch in ["src=\"http", "href=\"http", "<link", "src=\"//", "@import"] {
        assert!(!html.contains(fetch), "{page:?} fetches something: {fetch}");
    }
    let p = problems(browser, page, ids, charts);
    assert!(p.is_empty(), "{page:?}: {p:?}");
    let png = page.with_extension("png");
    browse(
        browser,
        page,
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1200,3000",
        ],
    );
    let size = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
    assert!(size > 20_000, "screenshot of {page:?}: {size} bytes");
}

const RUN_IDS: &[&str] = &[
    "settings-table",
    "summary-table",
    "totals-table",
    "chart-latency-cdf",
    "chart-timeline",
];

fn yaml(dir: &Path, extra: &str) -> String {
    format!(
        "openai_api_base: builtin
model: m
mean_input_tokens: 60
stddev_input_tokens: 10
mean_output_tokens: 10
stddev_output_tokens: 3
num_concurrent_requests: 6
max_num_completed_requests: 18
results_dir: {}
simulator: {{batch_slots: 2, ttft_ms: 15, decode_step_ms: 5, kv_cache_tokens: 3000}}
{extra}",
        dir.join("out").display()
    )
}

fn out(dir: &Path, name: &str) -> PathBuf {
    dir.join("out").join(name)
}

#[test]
fn a_plain_runs_report_renders_with_its_tables_and_charts() {
    let browser = need_chromium!();
    let dir = tempfile::tempdir().unwrap();
    common::run_config(
        dir.path(),
        &yaml(dir.path(), ""),
        &["--progress", "off", "--output-format", "table,html"],
        &[],
    );
    let page = out(dir.path(), "m_60_10_report.html");
    check_page(browser, &page, RUN_IDS, 2);
    assert!(
        !std::fs::read_to_string(&page)
            .unwrap()
            .contains("id=\"server\"")
    );

    // The check catches a script error: the same page with one added.
    let broken = dir.path().join("broken.html");
    let html = std::fs::read_to_string(&page).unwrap();
    std::fs::write(
        &broken,
        html.replace("</body>", "<script>noSuchFunction();</script></body>"),
    )
    .unwrap();
    let p = problems(browser, &broken, RUN_IDS, 2);
    assert!(p.iter().any(|x| x.contains("script error")), "{p:?}");
    assert!(p.iter().any(|x| x.contains("console: ")), "{p:?}");
}

#[test]
fn a_run_with_server_metrics_shows_the_servers_panels_also_when_rebuilt() {
    let browser = need_chromium!();
    let dir = tempfile::tempdir().unwrap();
    common::run_config(
        dir.path(),
        &yaml(
            dir.path(),
            "server_metrics: auto\nserver_metrics_interval: 100ms\n",
        ),
        &["--progress", "off", "--output-format", "html"],
        &[],
    );
    let ids: Vec<&str> = RUN_IDS
        .iter()
        .copied()
        .chain(["server-table", "chart-server"])
        .collect();
    check_page(browser, &out(dir.path(), "m_60_10_report.html"), &ids, 3);
    // `report DIR` rebuilds it from the files, the server's samples included.
    let rebuilt = dir.path().join("rebuilt");
    let o = common::check(
        common::bin()
            .args(["report", "out", "--output-format", "html", "--out"])
            .arg(&rebuilt)
            .current_dir(dir.path())
            .output()
            .unwrap(),
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("Server metrics ("), "{stdout}");
    check_page(browser, &rebuilt.join("m_60_10_report.html"), &ids, 3);
}

#[test]
fn a_sweeps_report_has_its_latency_throughput_curve() {
    let browser = need_chromium!();
    let dir = tempfile::tempdir().unwrap();
    common::run_config(
        dir.path(),
        &yaml(dir.path(), ""),
        &[
            "--progress",
            "off",
            "--output-format",
            "html",
            "--sweep-concurrency",
            "1,4",
        ],
        &[],
    );
    check_page(
        browser,
        &out(dir.path(), "m_60_10_sweep_report.html"),
        &["sweep-table", "chart-sweep"],
        1,
    );
    for step in ["m_60_10_c1_report.html", "m_60_10_c4_report.html"] {
        assert!(out(dir.path(), step).exists(), "{step}");
    }
}
