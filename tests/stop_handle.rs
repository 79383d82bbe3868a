//! A `StopHandle` stops the runs it was passed to and no others: two runs in one process (each with its own
//! actix system, real actors and its own built-in simulator), stopping one leaves the other sending.
#![cfg(feature = "sim")] // starts the built-in simulator

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use llmperf_actors::{Error, RunOptions, RunSummary, Settings, StopHandle};

const REQUESTS: u64 = 10_000;

/// A long run of `model` into `dir`: ~0.3 s requests, two at a time, far more than the test lets finish.
fn settings(model: &str, dir: &Path) -> Settings {
    let mut settings = Settings::builder()
        .model(model)
        .openai_api_base("builtin")
        .mean_input_tokens(60)
        .stddev_input_tokens(0)
        .mean_output_tokens(20)
        .stddev_output_tokens(0)
        .num_concurrent_requests(2)
        .max_num_completed_requests(REQUESTS)
        .timeout(Duration::from_secs(600))
        .grace_period(Duration::from_secs(1))
        .results_dir(dir)
        .build()
        .expect("settings");
    settings.simulator.ttft_ms = 20.0;
    settings.simulator.itl_ms = 15.0;
    settings
}

fn log_path(dir: &Path, model: &str) -> PathBuf {
    dir.join(format!("{model}_60_20_requests.jsonl"))
}

fn records(dir: &Path, model: &str) -> usize {
    std::fs::read_to_string(log_path(dir, model)).map_or(0, |t| t.lines().count())
}

/// Waits (generously) until the run has recorded more than `n` requests.
fn wait_for_more_than(dir: &Path, model: &str, n: usize) {
    let t0 = Instant::now();
    while records(dir, model) <= n {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "{model}: no more than {n} records after 120 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start(
    model: &'static str,
    dir: &Path,
    stop: &StopHandle,
) -> JoinHandle<Result<Vec<RunSummary>, Error>> {
    let settings = settings(model, dir);
    let options = RunOptions::new().stop_handle(stop.clone());
    std::thread::spawn(move || llmperf_actors::run_load_tests_with(&settings, &options))
}

#[test]
fn stopping_one_run_leaves_the_other_running() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (stop_a, stop_b) = (StopHandle::new(), StopHandle::new());
    let a = start("runa", tmp.path(), &stop_a);
    let b = start("runb", tmp.path(), &stop_b);
    // Both are sending.
    wait_for_more_than(tmp.path(), "runa", 0);
    wait_for_more_than(tmp.path(), "runb", 0);

    stop_a.stop();
    let a = a.join().expect("run a").expect("run a's result");
    assert_eq!(a.len(), 1);
    let a = &a[0].stats;
    assert!(a.num_requests_started < REQUESTS, "run a was not stopped");
    assert!(!stop_b.is_stopped());

    // Run b keeps recording requests after run a has stopped and returned.
    let b_then = records(tmp.path(), "runb");
    wait_for_more_than(tmp.path(), "runb", b_then + 3);
    assert!(!b.is_finished());

    stop_b.stop();
    let b = b.join().expect("run b").expect("run b's result");
    let b = &b[0].stats;
    assert!(b.num_requests_started < REQUESTS, "run b was not stopped");
    assert!(b.num_requests_started as usize > b_then + 3);
    // A stop by call is no signal: the binary's exit code stays 0.
    assert_eq!((stop_a.signal(), stop_a.exit_code()), (None, None));
}

#[test]
fn a_run_given_a_stopped_handle_does_not_start() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let stop = StopHandle::new();
    stop.stop();
    let options = RunOptions::new().stop_handle(stop);
    let summaries =
        llmperf_actors::run_load_tests_with(&settings("early", tmp.path()), &options).expect("run");
    assert!(summaries.is_empty());
    assert_eq!(records(tmp.path(), "early"), 0);
}
