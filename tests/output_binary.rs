//! What a person reads, through the real binary against the built-in simulator (docs/output.md): the demo's
//! length, the original's blocks only with --llmperf-stdout, --quiet, a run where everything failed, warnings
//! only when deserved, the progress flags on every subcommand and the progress totals of a multi-turn run.
#![cfg(feature = "sim")] // starts the built-in simulator

mod common;

use std::path::Path;
use std::process::Output;

use common::{bin, check};

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A fast one-run configuration: 4 requests of a few tokens.
const SMALL: &str = "openai_api_base: builtin
model: sim-model
mean_input_tokens: 60
stddev_input_tokens: 0
mean_output_tokens: 6
stddev_output_tokens: 0
num_concurrent_requests: 2
max_num_completed_requests: 4
simulator: {ttft_ms: 5, itl_ms: 1}
";

fn run(dir: &Path, yaml: &str, args: &[&str]) -> Output {
    let cfg = dir.join("config.yml");
    std::fs::write(&cfg, yaml).unwrap();
    bin()
        .arg("--config")
        .arg(&cfg)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn the_demo_prints_under_60_lines_and_no_undeserved_warning() {
    let dir = tempfile::tempdir().unwrap();
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("settings/config.yml");
    let out = check(
        bin()
            .arg("--config")
            .arg(&config)
            .arg("--results-dir")
            .arg(dir.path())
            .output()
            .unwrap(),
    );
    let (stdout, _) = text(&out);
    let lines = stdout.lines().count();
    assert!(lines < 60, "{lines} lines:\n{stdout}");
    // One table per run, the table across runs, the file list.
    assert_eq!(stdout.matches("| TTFT (ms)").count(), 4, "{stdout}");
    assert!(stdout.contains("All runs"), "{stdout}");
    assert!(stdout.contains("Files written (16):"), "{stdout}");
    // The original's blocks are not printed by default …
    assert!(!stdout.contains("Results for token benchmark"), "{stdout}");
    assert!(!stdout.contains("p25 = "), "{stdout}");
    // … and the simulator's outputs are the lengths asked for, on a closed loop: no warning is deserved.
    assert!(!stdout.contains("max_tokens"), "{stdout}");
    assert!(!stdout.contains("Warning"), "{stdout}");
}

#[test]
fn llmperf_stdout_adds_the_original_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let plain = check(run(dir.path(), SMALL, &[]));
    let (stdout, _) = text(&plain);
    assert!(!stdout.contains("Results for token benchmark"), "{stdout}");
    assert!(!stdout.contains("    p25 = "), "{stdout}");
    let raw = check(run(dir.path(), SMALL, &["--llmperf-stdout"]));
    let (stdout, _) = text(&raw);
    assert!(
        stdout.contains("Results for token benchmark for sim-model queried with the openai api."),
        "{stdout}"
    );
    assert!(stdout.contains("ttft_s\n    p25 = "), "{stdout}");
    assert!(
        stdout.contains("Number Of Completed Requests: 4"),
        "{stdout}"
    );
    // The table still follows, once.
    assert_eq!(stdout.matches("| TTFT (ms)").count(), 1, "{stdout}");
    // The config key does the same.
    let keyed = check(run(
        dir.path(),
        &format!("{SMALL}llmperf_stdout: true\n"),
        &[],
    ));
    assert!(text(&keyed).0.contains("Number Of Completed Requests: 4"));
}

#[test]
fn quiet_prints_only_the_files_written() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let out = check(
        bin()
            .arg("--config")
            .arg({
                let cfg = dir.path().join("config.yml");
                std::fs::write(&cfg, SMALL).unwrap();
                cfg
            })
            .args(["--quiet", "--results-dir"])
            .arg(&results)
            .env_remove("RUST_LOG")
            .output()
            .unwrap(),
    );
    let (stdout, stderr) = text(&out);
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines[0], "Files written (4):", "{stdout}");
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[1].contains("sim-model_60_6_{summary.json,"),
        "{stdout}"
    );
    // No progress, no INFO log lines.
    assert!(!stderr.contains("INFO"), "{stderr}");
    assert!(!stderr.contains("requests,"), "{stderr}");
}

#[test]
fn a_404_run_names_the_url_shows_the_body_and_prints_no_nan() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = SMALL.replace(
        "simulator: {ttft_ms: 5, itl_ms: 1}",
        "simulator: {ttft_ms: 5, itl_ms: 1, faults: [{kind: http_404, every: 1}]}",
    );
    // Every request fails: the exit status is not this test's business.
    let out = run(dir.path(), &yaml, &["--progress", "off"]);
    let (stdout, stderr) = text(&out);
    assert!(!stdout.contains("nan"), "{stdout}");
    assert!(
        stdout.contains("Every request failed (codes {404: 4}"),
        "{stdout}"
    );
    assert!(
        stdout.contains("HTTP 404 from POST http://127.0.0.1:")
            && stdout.contains("/v1/chat/completions, body: "),
        "{stdout}"
    );
    assert!(stdout.contains("simulated model not found"), "{stdout}");
    assert!(stdout.contains("check the API base"), "{stdout}");
    assert_eq!(stdout.matches("Warning:").count(), 1, "{stdout}");
    assert!(stdout.lines().count() < 12, "{stdout}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn an_open_loop_at_5_per_second_gets_no_pacing_warning() {
    let dir = tempfile::tempdir().unwrap();
    let out = check(run(
        dir.path(),
        SMALL,
        &[
            "--request-rate",
            "5",
            "--max-num-completed-requests",
            "10",
            "--progress",
            "off",
            "--results-dir",
            "out",
        ],
    ));
    let (stdout, _) = text(&out);
    assert!(stdout.contains("Request rate: target 5 req/s"), "{stdout}");
    // 5 req/s is easy for the client; a machine busy enough can still hold it back. The warning must then say
    // so, and only then: it fires exactly when the records show requests that went out late (more than 50 ms,
    // at least 2 and over 5 % of them).
    let records: Vec<serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(
            dir.path()
                .join("out/sim-model_60_6_individual_responses.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let late = records
        .iter()
        .filter(|m| m["dispatch_delay_s"].as_f64().unwrap() > 0.05)
        .count();
    let fell_behind = late >= 2 && late * 20 > records.len();
    assert_eq!(
        stdout.contains("fell behind"),
        fell_behind,
        "{late} late: {stdout}"
    );
    assert_eq!(
        stdout.matches("Warning").count(),
        usize::from(fell_behind),
        "{stdout}"
    );
}

#[test]
fn multi_turn_progress_counts_requests() {
    let dir = tempfile::tempdir().unwrap();
    let out = check(run(
        dir.path(),
        SMALL,
        &[
            "--multi-turn",
            "3",
            "--max-num-completed-requests",
            "2",
            "--progress",
            "plain",
        ],
    ));
    let (stdout, stderr) = text(&out);
    // 2 conversations of 3 turns: 6 requests, and the last progress line says so.
    let last = stderr
        .lines()
        .rfind(|l| l.contains(" requests, "))
        .unwrap_or_else(|| panic!("no progress line:\n{stderr}"));
    assert!(last.contains(": 6/6 requests, 0 in flight"), "{last}");
    assert!(stdout.contains("TTFT p50 by turn (ms): 1: "), "{stdout}");
}

#[test]
fn correctness_takes_the_output_flags() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yml");
    std::fs::write(&cfg, SMALL).unwrap();
    let out = check(
        bin()
            .args(["correctness", "--config"])
            .arg(&cfg)
            .args(["--progress", "off", "--max-num-completed-requests", "4"])
            .output()
            .unwrap(),
    );
    let (stdout, _) = text(&out);
    assert!(
        stdout
            .contains("sim-model_correctness: 4 requests, 0 errors (0.0 %), 0 mismatched (0.0 %)"),
        "{stdout}"
    );
    assert!(!stdout.contains("Error rate: "), "{stdout}");
    let raw = check(
        bin()
            .args(["correctness", "--config"])
            .arg(&cfg)
            .args([
                "--quiet",
                "--llmperf-stdout",
                "--max-num-completed-requests",
                "2",
            ])
            .output()
            .unwrap(),
    );
    // --quiet wins: nothing but errors and the files (none here: no results directory).
    assert_eq!(text(&raw).0, "");
}

#[test]
fn the_max_tokens_warning_fires_only_where_the_cap_cut_answers() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    // Dataset prompts have answers of their own length; the simulator stops every one at max_tokens.
    let dataset = check(run(
        dir.path(),
        SMALL,
        &[
            "--dataset",
            fixtures.join("prompts.jsonl").to_str().unwrap(),
            "--progress",
            "off",
        ],
    ));
    let (stdout, _) = text(&dataset);
    assert_eq!(
        stdout.matches("responses stopped at max_tokens").count(),
        1,
        "{stdout}"
    );
    // ShareGPT with the recorded answers' lengths: the lengths asked for, nothing to say.
    let asked = check(run(
        dir.path(),
        SMALL,
        &[
            "--dataset",
            fixtures.join("sharegpt.json").to_str().unwrap(),
            "--dataset-output-lengths",
            "--progress",
            "off",
        ],
    ));
    let (stdout, _) = text(&asked);
    assert!(!stdout.contains("max_tokens"), "{stdout}");
}
