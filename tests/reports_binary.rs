//! Reports through the real binary against the built-in simulator: the table after the original's summary,
//! CSV and SVG charts from a fixture run, plain (escape-free) output when piped, `report DIR` reproducing the
//! run's summary, `--baseline` deltas, a crashed run's torn log, and the config keys.
#![cfg(feature = "sim")] // starts the built-in simulator

mod common;

use std::path::Path;

use common::{bin, check, run_config};

const YAML: &str = "openai_api_base: builtin
model: sim
mean_input_tokens: 60
stddev_input_tokens: 5
mean_output_tokens: 8
stddev_output_tokens: 2
max_num_completed_requests: 12
num_concurrent_requests: 3
results_dir: r
";

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The printed report without the files written (paths differ between a run and `report`): a run lists
/// them at the end, `report` after each `Wrote`.
fn without_paths(text: &str) -> String {
    let text = text.split("\nFiles written").next().unwrap_or(text);
    text.lines()
        .filter(|l| !l.starts_with("Wrote "))
        .collect::<Vec<_>>()
        .join("\n")
        .trim_end()
        .to_string()
}

fn svg_texts(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc = roxmltree::Document::parse(&text)
        .unwrap_or_else(|e| panic!("{} is not XML: {e}", path.display()));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(|t| t.trim().to_string()))
        .collect()
}

#[test]
fn fixture_run_writes_table_csv_and_charts_and_report_reproduces_it() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!("{YAML}simulator: {{ttft_ms: 5, itl_ms: 2}}\n");
    let out = run_config(
        dir.path(),
        &yaml,
        &["--charts", "--csv", "--llmperf-stdout"],
        &[],
    );
    let text = stdout(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    // Piped: plain text, no escape codes, a plain progress line on stderr.
    assert!(!text.contains("\x1b["), "escape codes on stdout:\n{text}");
    assert!(!err.contains("\x1b["), "escape codes on stderr:\n{err}");
    assert!(
        err.contains("sim_60_8: 12/12 requests, 0 in flight, 0 errors"),
        "{err}"
    );
    // The original's block (--llmperf-stdout), then the totals and the table.
    let original = text.find("Number Of Completed Requests: 12").unwrap();
    let table = text
        .find("sim_60_8: 12 requests, 0 errors (0.0 %)")
        .unwrap();
    assert!(original < table, "{text}");
    assert!(text.contains("| TTFT (ms)"), "{text}");
    assert!(text.contains("\nFiles written ("), "{text}");

    let r = dir.path().join("r");
    let csv = std::fs::read_to_string(r.join("sim_60_8_requests.csv")).unwrap();
    assert_eq!(csv.lines().count(), 13);
    assert!(csv.starts_with("index,error_code,error_msg,inter_token_latency_s,ttft_s,"));
    let summary_csv = std::fs::read_to_string(r.join("sim_60_8_summary_table.csv")).unwrap();
    assert!(summary_csv.lines().any(|l| l.starts_with("ttft_s,")));

    for (file, labels) in [
        (
            "sim_60_8_latency_cdf.svg",
            &[
                "Latency (s)",
                "Requests at or below (%)",
                "TTFT",
                "End-to-end latency",
            ][..],
        ),
        (
            "sim_60_8_itl_histogram.svg",
            &["Inter-token latency (ms)", "Requests", "ITL"][..],
        ),
        (
            "sim_60_8_timeline.svg",
            &[
                "Time since start (s)",
                "Output tokens/s",
                "Requests in flight",
                "In flight",
            ][..],
        ),
    ] {
        let texts = svg_texts(&r.join(file));
        for l in labels {
            assert!(
                texts.iter().any(|t| t == l),
                "{file}: no {l:?} in {texts:?}"
            );
        }
    }

    // `report` rebuilds the same summary and table from the files, and the CSV and charts elsewhere.
    let rebuilt = check(
        bin()
            .args(["report", "r", "--out", "again"])
            .current_dir(dir.path())
            .output()
            .unwrap(),
    );
    let rebuilt_text = stdout(&rebuilt);
    assert_eq!(without_paths(&rebuilt_text), without_paths(&text));
    assert!(!rebuilt_text.contains("\x1b["));
    let again = dir.path().join("again");
    assert_eq!(
        std::fs::read_to_string(again.join("sim_60_8_requests.csv")).unwrap(),
        csv
    );
    svg_texts(&again.join("sim_60_8_timeline.svg"));
}

#[test]
fn baseline_comparison_shows_the_change_per_metric() {
    let dir = tempfile::tempdir().unwrap();
    run_config(
        dir.path(),
        &format!("{YAML}simulator: {{ttft_ms: 5, itl_ms: 1}}\n"),
        &["--results-dir", "base", "--progress", "off"],
        &[],
    );
    run_config(
        dir.path(),
        &format!("{YAML}simulator: {{ttft_ms: 300, itl_ms: 1}}\n"),
        &["--results-dir", "slow", "--progress", "off"],
        &[],
    );
    let out = check(
        bin()
            .args([
                "report",
                "slow",
                "--baseline",
                "base",
                "--output-format",
                "table",
            ])
            .current_dir(dir.path())
            .output()
            .unwrap(),
    );
    let text = stdout(&out);
    assert!(
        text.contains("Compared with the baseline sim_60_8"),
        "{text}"
    );
    let row = text
        .lines()
        .find(|l| l.starts_with("| TTFT (ms)") && l.contains('%'))
        .unwrap_or_else(|| panic!("no TTFT comparison row:\n{text}"));
    // | TTFT (ms) | baseline p50 | p50 | change | baseline p99 | p99 | change |
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    let before: f64 = cells[2].parse().unwrap();
    let after: f64 = cells[3].parse().unwrap();
    // The slow run's TTFT is at least the server's 300 ms (exact); the baseline's 5 ms server would need
    // most of its requests 300 ms late on a busy machine to reach it.
    assert!(after >= 300.0 && after > before, "{row}");
    assert!(
        cells[4].starts_with('+') && cells[4].ends_with('%'),
        "{row}"
    );
    // Table only: nothing written.
    assert!(!dir.path().join("slow/sim_60_8_requests.csv").exists());
}

#[test]
fn report_reads_a_crashed_runs_log_and_skips_its_torn_last_line() {
    let dir = tempfile::tempdir().unwrap();
    run_config(
        dir.path(),
        &format!("{YAML}simulator: {{ttft_ms: 2, itl_ms: 1}}\n"),
        &["--progress", "off"],
        &[],
    );
    // What a crash leaves: the log only, its last line cut short.
    let crashed = dir.path().join("crashed");
    std::fs::create_dir(&crashed).unwrap();
    let log = std::fs::read_to_string(dir.path().join("r/sim_60_8_requests.jsonl")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    let mut torn = lines[..10].join("\n");
    torn.push('\n');
    torn.push_str(&lines[10][..lines[10].len() / 2]);
    std::fs::write(crashed.join("sim_60_8_requests.jsonl"), torn).unwrap();
    let out = check(
        bin()
            .args(["report", "crashed"])
            .current_dir(dir.path())
            .output()
            .unwrap(),
    );
    let text = stdout(&out);
    assert!(text.contains("was incomplete"), "{text}");
    assert!(text.contains("Number Of Completed Requests: 10"), "{text}");
    assert!(crashed.join("sim_60_8_latency_cdf.svg").exists());
    assert!(crashed.join("sim_60_8_requests.csv").exists());
}

#[test]
fn config_keys_choose_the_outputs_and_flags_override_them() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "{YAML}simulator: {{ttft_ms: 1, itl_ms: 1}}\noutput_format: [csv, charts]\nprogress: plain\n"
    );
    let out = run_config(dir.path(), &yaml, &["--no-charts"], &[]);
    let text = stdout(&out);
    // No table (not in the list), no original block (no --llmperf-stdout): only the files written.
    assert!(!text.contains("Number Of Completed Requests"), "{text}");
    assert!(!text.contains("| TTFT (ms)"), "{text}");
    assert!(text.starts_with("\nFiles written ("), "{text}");
    let r = dir.path().join("r");
    assert!(r.join("sim_60_8_requests.csv").exists());
    assert!(!r.join("sim_60_8_latency_cdf.svg").exists());

    let bad = bin()
        .args(["--model", "m", "--output-format", "pdf"])
        .env("OPENAI_API_BASE", "builtin")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown output format 'pdf'"));
}

#[test]
fn a_run_longer_than_memory_holds_spills_its_records_and_keeps_exact_statistics() {
    // 5,000 requests: more than the 4,096 records a run keeps in memory, so most of them are read back from
    // the spill file by every output.
    let dir = tempfile::tempdir().unwrap();
    let yaml = "openai_api_base: builtin
model: sim
mean_input_tokens: 20
stddev_input_tokens: 2
mean_output_tokens: 3
stddev_output_tokens: 1
max_num_completed_requests: 5000
num_concurrent_requests: 16
results_dir: r
simulator: {ttft_ms: 1, itl_ms: 0}
";
    check(run_config(
        dir.path(),
        yaml,
        &["--csv", "--charts", "--progress", "off"],
        &[],
    ));
    let r = dir.path().join("r");
    let base = "sim_20_3";
    let log = common::read_jsonl(&r.join(format!("{base}_requests.jsonl")));
    assert_eq!(log.len(), 5000);
    let summary = common::read_json(&r.join(format!("{base}_summary.json")));
    assert_eq!(summary["results_num_requests_started"], 5000);
    // Every metric's statistics equal the sort-based ones over the log's own records, exactly.
    let ok: Vec<&serde_json::Value> = log
        .iter()
        .map(|l| &l["metrics"])
        .filter(|m| m["error_code"].is_null())
        .collect();
    assert_eq!(summary["results_num_completed_requests"], ok.len());
    for name in [
        "ttft_s",
        "end_to_end_latency_s",
        "inter_token_latency_s",
        "number_output_tokens",
    ] {
        let values = ok.iter().filter_map(|m| m[name].as_f64());
        let want = llmperf_actors::metrics::SeriesStats::of(values);
        let key = |k: &str| summary[format!("results_{name}_{k}")].as_f64().unwrap();
        for (label, v) in &want.quantiles {
            assert_eq!(
                key(&format!("quantiles_{label}")),
                v.unwrap(),
                "{name} {label}"
            );
        }
        assert_eq!(key("quantiles_p999"), want.p999.unwrap(), "{name} p999");
        assert_eq!(key("mean"), want.mean.unwrap(), "{name} mean");
        assert_eq!(key("min"), want.min.unwrap(), "{name} min");
        assert_eq!(key("max"), want.max.unwrap(), "{name} max");
        assert_eq!(key("stddev"), want.stddev.unwrap(), "{name} stddev");
    }
    // The streamed outputs hold every record, in the log's order.
    let individual = common::read_json(&r.join(format!("{base}_individual_responses.json")));
    let individual = individual.as_array().unwrap();
    assert_eq!(individual.len(), 5000);
    assert_eq!(individual[4999], log[4999]["metrics"]);
    let csv = std::fs::read_to_string(r.join(format!("{base}_requests.csv"))).unwrap();
    assert_eq!(csv.lines().count(), 5001);
    assert!(
        csv.lines()
            .last()
            .unwrap()
            .starts_with(&log[4999]["index"].to_string())
    );
    let cdf = svg_texts(&r.join(format!("{base}_latency_cdf.svg")));
    let title = format!("Latency distribution ({} successful requests)", ok.len());
    assert!(cdf.contains(&title), "{cdf:?}");
}
