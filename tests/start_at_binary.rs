//! `--start-at` through the real binary against the built-in simulator: the first request is not sent before
//! the given wall-clock time; a time already past starts at once with a warning; a bad value is an error that
//! names the flag (or the environment variable, or the config key) and the accepted forms.
#![cfg(feature = "sim")] // starts the built-in simulator

mod common;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn small_run(dir: &Path) -> std::process::Command {
    let mut c = common::bin();
    c.args([
        "--model",
        "m",
        "--max-num-completed-requests",
        "4",
        "--num-concurrent-requests",
        "2",
        "--mean-output-tokens",
        "5",
        "--stddev-output-tokens",
        "1",
        "--progress",
        "off",
    ])
    .arg("--results-dir")
    .arg(dir)
    .env("OPENAI_API_BASE", "builtin")
    .env("LLMPERF_SIMULATOR__TTFT_MS", "2")
    .env("LLMPERF_SIMULATOR__ITL_MS", "1");
    c
}

/// The wall-clock start of the earliest request of the run in `dir`, Unix seconds.
fn first_request_start(dir: &Path) -> f64 {
    let find = |suffix: &str| {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(suffix))
            .unwrap_or_else(|| panic!("no *{suffix} in {}", dir.display()))
    };
    let run = common::read_json(&find("_run.json"));
    let records = common::read_jsonl(&find("_requests.jsonl"));
    assert_eq!(records.len(), 4, "every request is recorded");
    let first = records
        .iter()
        .map(|r| r["metrics"]["actual_start_s"].as_f64().unwrap())
        .fold(f64::INFINITY, f64::min);
    run["start_unix_s"].as_f64().unwrap() + first
}

#[test]
fn no_request_starts_before_start_at() {
    let dir = tempfile::tempdir().unwrap();
    // Two seconds ahead: without the wait, the first request would go out well before (the run's setup
    // takes a fraction of that); however slow the machine, a correct wait never starts early.
    let at = unix_now() + 2.0;
    let out = common::check(
        small_run(dir.path())
            .args(["--start-at", &format!("{at:.3}")])
            .env("RUST_LOG", "info")
            .output()
            .unwrap(),
    );
    let first = first_request_start(dir.path());
    // 1 ms for the rounding of `at` to three decimals and of the Unix-seconds arithmetic.
    assert!(
        first >= at - 0.001,
        "first request at {first:.4}, before start_at {at:.4}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("before the first request") || stderr.contains("starting now"),
        "the wait is logged: {stderr}"
    );
}

#[test]
fn a_start_time_in_the_past_starts_at_once_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let before = unix_now();
    // From the environment, as the Kubernetes Job sets it, in RFC 3339.
    let out = common::check(
        small_run(dir.path())
            .env("LLMPERF_START_AT", "2001-09-09T01:46:40Z")
            .output()
            .unwrap(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("start_at 1000000000.000 (Unix seconds) was")
            && stderr.contains("starting now"),
        "{stderr}"
    );
    assert!(first_request_start(dir.path()) >= before);
}

#[test]
fn a_bad_start_time_names_the_flag_the_variable_or_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yml");
    std::fs::write(&cfg, "start_at: '12:00'\n").unwrap();
    let cases: [(&str, std::process::Command); 3] = [
        ("--start-at", {
            let mut c = small_run(dir.path());
            c.args(["--start-at", "tomorrow"]);
            c
        }),
        ("LLMPERF_START_AT", {
            let mut c = small_run(dir.path());
            c.env("LLMPERF_START_AT", "2026-05-01T12:00:00");
            c
        }),
        ("start_at", {
            let mut c = small_run(dir.path());
            c.arg("--config").arg(&cfg);
            c
        }),
    ];
    for (name, mut c) in cases {
        let out = c.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(name), "{name}: {stderr}");
        assert!(
            stderr.contains("2026-05-01T12:00:00Z") && stderr.contains("Unix seconds"),
            "{name}: the message shows the accepted forms: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert!(
        std::fs::read_dir(dir.path()).unwrap().count() == 1,
        "nothing but the config file was written"
    );
}

#[test]
fn sigterm_during_the_wait_starts_nothing_and_exits_143() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    // Far enough ahead that the signal always comes first; the test does not wait for it.
    let at = unix_now() + 600.0;
    let mut child = small_run(dir.path())
        .args(["--start-at", &format!("{at:.0}")])
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Signal once the process says it is waiting (an ordering, not a sleep).
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let mut line = String::new();
    while !seen.contains("before the first request") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "exited early: {seen}"
        );
        seen.push_str(&line);
    }
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    let status = child.wait().unwrap();
    std::io::Read::read_to_string(&mut stderr, &mut seen).unwrap();
    assert_eq!(status.code(), Some(143), "{seen}");
    assert!(seen.contains("not started (stopped by a signal)"), "{seen}");
    assert_eq!(
        std::fs::read_dir(dir.path()).map_or(0, |d| d.count()),
        0,
        "no run started, so no file is written"
    );
}
