//! Interrupted is not failed, through the real binary against the built-in simulator: after SIGINT / SIGTERM
//! the requests cancelled in flight are counted apart from errors (summary, table, advice), the run file and
//! the summary say the run was interrupted, by what and when, and `report DIR` says so too. After `kill -9`,
//! `report DIR` derives the elapsed time and throughputs from the per-request log, as `merge` does, and says
//! the run did not finish.
#![cfg(feature = "sim")] // starts the built-in simulator

mod common;

use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{bin, read_json};

/// 200 requests, 4 at a time, ~0.3 s each; every 3rd one stalls (so some are in flight at the signal and
/// are cancelled after the 1 s grace period).
fn start(dir: &Path) -> Child {
    start_with(dir, "[{kind: stall, every: 3}]")
}

/// [`start`] with these simulator faults.
fn start_with(dir: &Path, faults: &str) -> Child {
    let yaml = format!(
        "openai_api_base: builtin
model: intr
mean_input_tokens: 60
stddev_input_tokens: 0
mean_output_tokens: 20
stddev_output_tokens: 0
num_concurrent_requests: 4
max_num_completed_requests: 200
results_dir: out
grace_period: 1
idle_timeout: 60
simulator:
  ttft_ms: 20
  itl_ms: 15
  stall_ms: 60000
  faults: {faults}
"
    );
    std::fs::write(dir.join("config.yml"), yaml).unwrap();
    bin()
        .args(["--config", "config.yml", "--progress", "off"])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn log_lines(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("out/intr_60_20_requests.jsonl"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// Waits until the run has recorded at least `n` requests.
fn wait_for_records(dir: &Path, n: usize) {
    let t0 = Instant::now();
    while log_lines(dir) < n {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the run never got going"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Waits (at most a minute) for the child to exit.
fn wait(mut child: Child) -> Output {
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > Duration::from_secs(60) {
            child.kill().ok();
            panic!("the binary did not exit within a minute");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// The value cell of the totals table's row `label`.
fn total(text: &str, label: &str) -> Option<String> {
    // The run's totals line: `NAME: N requests, E errors (P %)[, C cancelled (…)], S s | R req/s, O output
    // tok/s, I input tok/s | K new connections`.
    let line = text
        .lines()
        .find(|l| l.contains(" requests, ") && l.contains(" errors ("))?;
    let (_, rest) = line.split_once(": ")?;
    let parts: Vec<&str> = rest.split([',', '|']).map(str::trim).collect();
    let find = |suffix: &str| {
        parts
            .iter()
            .find(|p| p.ends_with(suffix))
            .map(|p| p.trim_end_matches(suffix).trim().to_string())
    };
    match label {
        "Errors" => parts
            .iter()
            .find(|p| p.contains(" errors ("))
            .map(|p| p.replacen(" errors", "", 1)),
        "Cancelled" => parts
            .iter()
            .find(|p| p.contains(" cancelled"))
            .and_then(|p| p.split_whitespace().next())
            .map(str::to_string),
        "Elapsed (s)" => find(" s"),
        "Output throughput (tok/s)" => find(" output tok/s"),
        "Request throughput (req/s)" => find(" req/s"),
        _ => None,
    }
}

#[test]
fn after_sigterm_cancelled_requests_are_not_errors_and_the_files_say_the_run_was_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let child = start(dir.path());
    wait_for_records(dir.path(), 3);
    let before = now_unix();
    // SAFETY: a signal to a child we spawned and have not reaped.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    let out = wait(child);
    let after = now_unix();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let all = format!(
        "stdout:\n{text}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(143), "{all}");

    let summary = read_json(&dir.path().join("out/intr_60_20_summary.json"));
    let cancelled = summary["results_number_cancelled"].as_u64().unwrap();
    assert!(cancelled >= 1, "{summary:#}");
    assert_eq!(summary["results_number_errors"], 0);
    assert_eq!(summary["results_error_rate"], 0.0);
    assert_eq!(summary["results_error_code_frequency"], "{}");
    assert_eq!(summary["complete"], false);
    assert_eq!(summary["interrupted"]["signal"], "SIGTERM");
    let at = summary["interrupted"]["at_unix_s"].as_f64().unwrap();
    assert!(before - 1.0 <= at && at <= after, "{before} {at} {after}");
    assert!(summary["interrupted"]["after_s"].as_f64().unwrap() > 0.0);

    let run = read_json(&dir.path().join("out/intr_60_20_run.json"));
    assert_eq!(run["complete"], false);
    assert_eq!(run["interrupted"], summary["interrupted"]);
    // The run ended gracefully: its window is final.
    assert!(run["elapsed_s"].as_f64().unwrap() > 0.0, "{run:#}");

    // The table and the advice: cancelled apart, no endpoint advice.
    assert_eq!(
        total(&text, "Errors").as_deref(),
        Some("0 (0.0 %)"),
        "{all}"
    );
    assert_eq!(
        total(&text, "Cancelled"),
        Some(cancelled.to_string()),
        "{all}"
    );
    assert!(
        text.contains("were cancelled; they are not errors"),
        "{all}"
    );
    assert!(!text.contains("check the endpoint"), "{all}");
    assert!(text.contains("interrupted by SIGTERM"), "{all}");

    // `report DIR` tells the same story from the files.
    let rebuilt = bin()
        .args(["report", "out", "--output-format", "table"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let again = String::from_utf8_lossy(&rebuilt.stdout);
    assert!(rebuilt.status.success(), "{again}");
    assert!(
        again.contains("Note: The run was interrupted by SIGTERM"),
        "{again}"
    );
    assert_eq!(
        total(&again, "Cancelled"),
        Some(cancelled.to_string()),
        "{again}"
    );
    assert_eq!(
        total(&again, "Errors").as_deref(),
        Some("0 (0.0 %)"),
        "{again}"
    );
}

#[test]
fn report_on_a_killed_run_takes_its_window_from_the_log_and_says_it_did_not_finish() {
    let dir = tempfile::tempdir().unwrap();
    // No stalls: the run keeps recording until it is killed.
    let mut child = start_with(dir.path(), "[]");
    wait_for_records(dir.path(), 12);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // What the log holds (a line torn by the kill is skipped, by `report` as here).
    let log = std::fs::read_to_string(dir.path().join("out/intr_60_20_requests.jsonl")).unwrap();
    let recorded = llmperf_actors::report::parse_log(&log).unwrap().0.len();
    let run = read_json(&dir.path().join("out/intr_60_20_run.json"));
    assert_eq!(run["complete"], false);
    assert_eq!(
        run["elapsed_s"], 0.0,
        "the file written at the start: {run:#}"
    );
    assert_eq!(run.get("interrupted"), None);

    let out = bin()
        .args(["report", "out", "--output-format", "table"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("Note: intr_60_20 did not finish (the process was killed")
            && text.contains(&format!(
                "from the {recorded} requests in its per-request log"
            )),
        "{text}"
    );
    // 12+ requests of ~0.3 s, 4 at a time: at least 0.6 s, and throughputs above zero.
    let elapsed: f64 = total(&text, "Elapsed (s)").unwrap().parse().unwrap();
    assert!(elapsed >= 0.6, "{text}");
    let throughput: f64 = total(&text, "Output throughput (tok/s)")
        .unwrap()
        .parse()
        .unwrap();
    assert!(throughput > 0.0, "{text}");
    let req_s: f64 = total(&text, "Request throughput (req/s)")
        .unwrap()
        .parse()
        .unwrap();
    assert!(req_s > 0.0, "{text}");

    // The same window `merge` takes from the same files.
    let merged = dir.path().join("merged");
    let m = bin()
        .arg("merge")
        .arg(dir.path().join("out"))
        .arg("--results-dir")
        .arg(&merged)
        .output()
        .unwrap();
    assert!(m.status.success(), "{}", String::from_utf8_lossy(&m.stderr));
    let summary = read_json(&merged.join("intr_60_20_summary.json"));
    let merged_elapsed = summary["results_elapsed_s"].as_f64().unwrap();
    assert!(
        (merged_elapsed - elapsed).abs() < 0.01,
        "{merged_elapsed} vs {elapsed}"
    );
}
