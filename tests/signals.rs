//! Graceful shutdown through the real binary: SIGINT and SIGTERM during a run stop launching, give requests in
//! flight the grace period, record the rest as cancelled and write complete, valid files; a second signal
//! exits at once; SIGKILL leaves a per-request log the readers accept.
#![cfg(feature = "sim")] // starts the built-in simulator

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use llmperf_actors::report::parse_log;
use serde_json::Value;

const REQUESTS: u64 = 200;
const CONCURRENCY: u64 = 4;

/// Starts a run against the built-in simulator: ~0.3 s requests, every 3rd one stalled (so some are in
/// flight when the grace period ends).
fn start(dir: &Path) -> Child {
    start_with(dir, "")
}

/// [`start`], with more configuration lines.
fn start_with(dir: &Path, extra_yaml: &str) -> Child {
    start_config(dir, 1, extra_yaml)
}

/// [`start_with`], with a grace period of `grace_s` seconds.
fn start_config(dir: &Path, grace_s: u64, extra_yaml: &str) -> Child {
    let yaml = format!(
        "openai_api_base: builtin
model: sig
mean_input_tokens: 60
stddev_input_tokens: 0
mean_output_tokens: 20
stddev_output_tokens: 0
num_concurrent_requests: {CONCURRENCY}
max_num_completed_requests: {REQUESTS}
results_dir: out
grace_period: {grace_s}
idle_timeout: 60
simulator:
  ttft_ms: 20
  itl_ms: 15
  stall_ms: 60000
  faults: [{{kind: stall, every: 3}}]
{extra_yaml}"
    );
    std::fs::write(dir.join("config.yml"), yaml).unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_llmperf-actors"));
    for (k, _) in std::env::vars() {
        if k.starts_with("OPENAI_") || k.starts_with("LLMPERF_") {
            c.env_remove(k);
        }
    }
    c.env("RUST_LOG", "warn")
        .args(["--config", "config.yml"])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn log_path(dir: &Path) -> PathBuf {
    dir.join("out/sig_60_20_requests.jsonl")
}

/// Waits until the run has recorded at least `n` requests (so it is sending).
fn wait_for_records(dir: &Path, n: usize) {
    let t0 = Instant::now();
    loop {
        let lines = std::fs::read_to_string(log_path(dir))
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if lines >= n {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the run never got going"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: sending a signal to a child process we spawned and have not reaped.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, sig) };
    assert_eq!(rc, 0);
}

/// Waits for the child to exit, at most `limit`; returns its exit code, stdout and stderr.
fn wait(mut child: Child, limit: Duration) -> (i32, String, String) {
    let t0 = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if t0.elapsed() > limit {
            child.kill().ok();
            panic!("the binary did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn read_json(p: &Path) -> Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn signal_name(sig: i32) -> &'static str {
    if sig == libc::SIGINT {
        "SIGINT"
    } else {
        "SIGTERM"
    }
}

fn graceful(sig: i32, expected_exit: i32) {
    graceful_with(sig, expected_exit, "", REQUESTS);
}

/// `requests`: how many requests the whole run would send.
fn graceful_with(sig: i32, expected_exit: i32, extra_yaml: &str, requests: u64) {
    let dir = tempfile::tempdir().unwrap();
    let child = start_with(dir.path(), extra_yaml);
    wait_for_records(dir.path(), 3);
    let sent = Instant::now();
    signal(&child, sig);
    let (code, stdout, stderr) = wait(child, Duration::from_secs(20));
    // Grace period 1 s, then the files: well under the time the rest of the run would take.
    assert!(sent.elapsed() < Duration::from_secs(10));
    assert_eq!(code, expected_exit, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains("launching no more requests"), "{stderr}");

    let out = dir.path().join("out");
    let summary = read_json(&out.join("sig_60_20_summary.json"));
    let records = read_json(&out.join("sig_60_20_individual_responses.json"));
    let records = records.as_array().unwrap();
    read_json(&out.join("sig_60_20_run.json"));
    let (lines, torn) = parse_log(&std::fs::read_to_string(log_path(dir.path())).unwrap()).unwrap();
    assert!(!torn);
    assert_eq!(lines.len(), records.len());

    let started = summary["results_num_requests_started"].as_u64().unwrap();
    let ok = summary["results_num_completed_requests"].as_u64().unwrap();
    let errors = summary["results_number_errors"].as_u64().unwrap();
    let cancelled = summary["results_number_cancelled"].as_u64().unwrap();
    assert_eq!(started, ok + errors + cancelled);
    assert_eq!(started, records.len() as u64);
    assert!(started < requests, "the run was not stopped: {started}");
    // The stalled requests in flight at the signal were recorded as cancelled: not errors.
    assert_eq!(
        summary["results_error_kind_counts"]["cancelled"].as_u64(),
        Some(cancelled)
    );
    assert!(
        (1..=CONCURRENCY).contains(&cancelled),
        "{cancelled} cancelled: {summary:#}"
    );
    assert_eq!(errors, 0, "{summary:#}");
    assert_eq!(summary["results_error_rate"], 0.0);
    assert_eq!(summary["complete"], false);
    assert_eq!(summary["interrupted"]["signal"], signal_name(sig));
    for r in records {
        if r["error_kind"] == "cancelled" {
            assert_eq!(r["error_code"], -1);
            assert!(r["error_msg"].as_str().unwrap().starts_with("cancelled"));
        }
    }
}

#[test]
fn sigint_stops_the_run_and_writes_complete_files() {
    graceful(libc::SIGINT, 130);
}

#[test]
fn sigterm_stops_the_run_and_writes_complete_files() {
    graceful(libc::SIGTERM, 143);
}

#[test]
fn sigint_stops_a_multi_turn_run_the_same_way() {
    // 200 conversations of 3 turns, run by the launcher's conversation source.
    graceful_with(libc::SIGINT, 130, "multi_turn: 3\n", 3 * REQUESTS);
}

#[test]
fn after_the_timeout_a_multi_turn_run_gives_turns_in_flight_the_grace_period() {
    // No signal: the 1 s timeout stops new turns, the stalled turns in flight get the 1 s grace period and are
    // recorded as cancelled (a multi-turn run used to wait for them however long they took: here, 60 s).
    let dir = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let child = start_with(dir.path(), "multi_turn: 3\ntimeout: 1\n");
    let (code, stdout, stderr) = wait(child, Duration::from_secs(30));
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains("Test timed out before all requests could be completed."),
        "{stdout}"
    );
    let summary = read_json(&dir.path().join("out/sig_60_20_summary.json"));
    let cancelled = summary["results_error_kind_counts"]["cancelled"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        (1..=CONCURRENCY).contains(&cancelled),
        "{cancelled} cancelled: {summary:#}"
    );
    // Cancelled, not errors; and a timeout is not an interruption.
    assert_eq!(summary["results_number_errors"].as_u64(), Some(0));
    assert_eq!(
        summary["results_number_cancelled"].as_u64(),
        Some(cancelled)
    );
    assert_eq!(summary["complete"], true);
    assert_eq!(summary["interrupted"], Value::Null);
}

#[test]
fn a_second_sigint_exits_at_once_leaving_a_readable_log() {
    let dir = tempfile::tempdir().unwrap();
    // A 60 s grace period: stopped gracefully, the run would wait that long for its stalled requests, so an
    // exit within seconds of the second signal is that signal's doing, however busy the machine.
    let mut child = start_config(dir.path(), 60, "");
    wait_for_records(dir.path(), 3);
    // Read stderr as it comes, to send the second signal only once the first was handled (two sent close
    // together may be delivered as one).
    let stderr = child.stderr.take().unwrap();
    let (acknowledged, first_handled) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap_or_default();
            if line.contains("launching no more requests") {
                let _ = acknowledged.send(());
            }
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    signal(&child, libc::SIGINT);
    if first_handled.recv_timeout(Duration::from_secs(30)).is_err() {
        child.kill().ok();
        panic!("the first SIGINT was not acknowledged within 30 s");
    }
    let sent = Instant::now();
    signal(&child, libc::SIGINT);
    let (code, _, _) = wait(child, Duration::from_secs(30));
    let stderr = reader.join().unwrap();
    assert!(
        sent.elapsed() < Duration::from_secs(10),
        "{:?}\n{stderr}",
        sent.elapsed()
    );
    assert_eq!(code, 130, "{stderr}");
    assert!(stderr.contains("again: exiting now"), "{stderr}");
    let (lines, _) = parse_log(&std::fs::read_to_string(log_path(dir.path())).unwrap()).unwrap();
    assert!(lines.len() >= 3);
}

#[test]
fn after_sigkill_the_log_is_readable() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = start(dir.path());
    wait_for_records(dir.path(), 5);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let text = std::fs::read_to_string(log_path(dir.path())).unwrap();
    let (lines, _) = parse_log(&text).unwrap();
    assert!(lines.len() >= 5);
    for (_, v) in &lines {
        assert!(v["metrics"].is_object() && v["index"].is_u64(), "{v}");
    }
    // A torn last line (as a kill in the middle of a write leaves) is skipped, not an error.
    let torn = format!("{text}{{\"index\": 99, \"metr");
    let (again, was_torn) = parse_log(&torn).unwrap();
    assert!(was_torn);
    assert_eq!(again.len(), lines.len());

    // `merge` takes the killed run (its run file, written at the start, says it is incomplete), torn line and
    // all, and summarizes every request the log holds.
    let run_file = read_json(&dir.path().join("out/sig_60_20_run.json"));
    assert_eq!(run_file["complete"], false);
    std::fs::write(log_path(dir.path()), &torn).unwrap();
    let merged = dir.path().join("merged");
    let out = Command::new(env!("CARGO_BIN_EXE_llmperf-actors"))
        .env("RUST_LOG", "warn")
        .arg("merge")
        .arg(dir.path().join("out"))
        .arg("--results-dir")
        .arg(&merged)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("incomplete") && stderr.contains("did not finish"),
        "{stderr}"
    );
    let summary = read_json(&merged.join("sig_60_20_summary.json"));
    assert_eq!(summary["results_num_requests_started"], lines.len() as u64);
}
