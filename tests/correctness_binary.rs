//! `llmperf-actors correctness` end to end through the real binary against the built-in simulator.
#![cfg(feature = "sim")] // starts the built-in simulator

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::read_json as json;

/// Runs `correctness --config config.yml EXTRA` in `dir` with `yaml` as the config.
fn run(dir: &Path, yaml: &str, extra: &[&str]) -> Output {
    std::fs::write(dir.join("config.yml"), yaml).unwrap();
    let mut c = common::bin();
    c.args(["correctness", "--config", "config.yml"])
        .args(extra)
        .env("RUST_LOG", "error")
        .current_dir(dir);
    common::check(c.output().unwrap())
}

const BASE: &str = "openai_api_base: builtin
model: sim/numbers
results_dir: out
correctness:
  num_concurrent_requests: 4
  max_num_completed_requests: 20
";

#[test]
fn all_correct_answers_give_no_mismatches_and_the_original_files() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!("{BASE}simulator: {{ttft_ms: 2, itl_ms: 1}}\n");
    // The original's printed block, as scripts parse it.
    let out = run(dir.path(), &yaml, &["--llmperf-stdout"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "Results for llm correctness test for sim/numbers queried with the openai api."
        )
    );
    assert!(stdout.contains("Errors: 0, Error rate: 0.0"), "{stdout}");
    assert!(
        stdout.contains("Mismatched: 0, Mismatch rate: 0.0"),
        "{stdout}"
    );
    assert!(stdout.contains("Completed: 20"));
    assert!(stdout.contains("Completed without errors: 20"));

    let s = json(&dir.path().join("out/sim-numbers_correctness_summary.json"));
    let keys: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys[..12],
        [
            "version",
            "name",
            "number_errors",
            "num_mismatched_requests",
            "error_rate",
            "mismatch_rate",
            "num_completed_requests",
            "num_non_errored_requests",
            "model",
            "num_concurrent_requests",
            "llm_api",
            "timestamp"
        ]
    );
    assert_eq!(s["name"], "sim-numbers_correctness_summary");
    assert_eq!(s["num_completed_requests"], 20);
    assert_eq!(s["num_concurrent_requests"], 4);

    let records = json(
        &dir.path()
            .join("out/sim-numbers_correctness_individual_responses.json"),
    );
    let records = records.as_array().unwrap();
    assert_eq!(records.len(), 20);
    let mut numbers = Vec::new();
    for r in records {
        let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys[..3], ["metrics", "generated_text", "request_config"]);
        let cfg = &r["request_config"];
        let n = cfg["metadata"]["rnd_number"].as_u64().unwrap();
        numbers.push(n);
        assert_eq!(cfg["prompt"][1], 0);
        let prompt = cfg["prompt"][0].as_str().unwrap();
        assert!(prompt.starts_with("Convert the following sequence of words into a number: "));
        assert!(prompt.ends_with(".\nPrint the number first."));
        assert_eq!(
            cfg["sampling_params"],
            serde_json::json!({"temperature": 0.0})
        );
        assert_eq!(r["outcome"], "match");
        assert!(r["metrics"]["error_code"].is_null());
    }
    // Seed 11111 draws what Python's random.seed(11111); random.randint(0, 10000) draws.
    numbers.sort();
    for n in [5388, 431, 5849, 5906, 6565] {
        assert!(
            numbers.binary_search(&n).is_ok(),
            "{n} missing from {numbers:?}"
        );
    }
}

#[test]
fn a_known_wrong_fraction_gives_that_many_mismatches() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!("{BASE}simulator: {{ttft_ms: 2, itl_ms: 1, wrong_answer_fraction: 0.25}}\n");
    let out = run(dir.path(), &yaml, &["--seed", "7"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The default output: the counts with formatted rates, then the answers (the original's block needs
    // --llmperf-stdout).
    assert!(
        stdout.contains(
            "sim-numbers_correctness: 20 requests, 0 errors (0.0 %), 5 mismatched (25.0 %), 15 answered correctly"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("Mismatch rate"), "{stdout}");
    assert!(stdout.contains("Mismatched requests:"));
    let s = json(&dir.path().join("out/sim-numbers_correctness_summary.json"));
    assert_eq!(s["num_mismatched_requests"], 5);
    assert_eq!(s["number_errors"], 0);
    assert_eq!(s["seed"], 7);
    let records = json(
        &dir.path()
            .join("out/sim-numbers_correctness_individual_responses.json"),
    );
    for r in records.as_array().unwrap() {
        let n = r["request_config"]["metadata"]["rnd_number"]
            .as_u64()
            .unwrap();
        let text = r["generated_text"].as_str().unwrap();
        if r["outcome"] == "mismatch" {
            // The simulator's wrong answers are n + 1; the listing shows expected vs got.
            assert!(
                stdout.contains(&format!("expected {n}, got: {text}")),
                "{stdout}"
            );
        }
    }
}

#[test]
fn an_erroring_endpoint_gives_errors_not_mismatches() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "{BASE}simulator:\n  ttft_ms: 2\n  itl_ms: 1\n  faults: [{{kind: http_500, every: 2}}, {{kind: close_mid_stream, every: 5}}]\n"
    );
    let out = run(dir.path(), &yaml, &["--llmperf-stdout"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // 2, 4, …, 20 → 500 (10); 5, 15 → cut (2); the other 8 answer correctly.
    assert!(stdout.contains("Errors: 12, Error rate: 0.6"), "{stdout}");
    assert!(
        stdout.contains("Mismatched: 0, Mismatch rate: 0.0"),
        "{stdout}"
    );
    assert!(stdout.contains("Completed without errors: 8"), "{stdout}");
    assert!(stdout.contains("Errored requests:"));
    let s = json(&dir.path().join("out/sim-numbers_correctness_summary.json"));
    assert_eq!(s["number_errors"], 12);
    assert_eq!(s["num_mismatched_requests"], 0);
    assert_eq!(s["mismatch_rate_of_non_errored"], 0.0);
}

#[test]
fn flags_override_the_section_and_the_count_is_never_exceeded() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!("{BASE}simulator: {{ttft_ms: 2, itl_ms: 1}}\n");
    run(
        dir.path(),
        &yaml,
        &[
            "--model",
            "other",
            "--num-concurrent-requests",
            "10",
            "--max-num-completed-requests",
            "13",
            "--additional-sampling-params",
            r#"{"top_p": 0.9}"#,
            "--metadata",
            "suite=nightly",
            "--results-dir",
            "r2",
        ],
    );
    let s = json(&dir.path().join("r2/other_correctness_summary.json"));
    assert_eq!(
        s["num_completed_requests"], 13,
        "no overshoot past the maximum"
    );
    assert_eq!(s["num_concurrent_requests"], 10);
    assert_eq!(s["additional_sampling_params_top_p"], 0.9);
    assert_eq!(s["suite"], "nightly");
    let lines =
        std::fs::read_to_string(dir.path().join("r2/other_correctness_requests.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 13);
}

#[test]
fn timeout_flags_apply_to_the_correctness_test() {
    // Every 4th request stalls for a minute; --request-timeout 2 fails those within 2 s, and leaves the others
    // (a few ms each) seconds to spare on a busy machine, so exactly the five stalls fail.
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "{BASE}simulator:\n  ttft_ms: 2\n  itl_ms: 1\n  stall_ms: 60000\n  faults: [{{kind: stall, every: 4}}]\n"
    );
    let started = std::time::Instant::now();
    run(dir.path(), &yaml, &["--request-timeout", "2"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    let s = json(&dir.path().join("out/sim-numbers_correctness_summary.json"));
    assert_eq!(s["number_errors"], 5);
    let log = std::fs::read_to_string(
        dir.path()
            .join("out/sim-numbers_correctness_requests.jsonl"),
    )
    .unwrap();
    let kinds: Vec<String> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter_map(|v| v["metrics"]["error_kind"].as_str().map(String::from))
        .collect();
    assert_eq!(kinds, vec!["request_timeout"; 5]);
}

#[test]
fn help_lists_the_original_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_llmperf-actors"))
        .args(["correctness", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--model",
        "--num-concurrent-requests",
        "--timeout",
        "--max-num-completed-requests",
        "--additional-sampling-params",
        "--results-dir",
        "--llm-api",
        "--metadata",
        "--seed",
        "--config",
        "[default: 50]",
    ] {
        assert!(help.contains(flag), "{flag} missing:\n{help}");
    }
}
