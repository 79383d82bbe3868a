//! End to end through the real binary against the built-in simulator (loopback only).
#![cfg(feature = "sim")] // starts the built-in simulator

mod common;

use std::path::PathBuf;

use std::process::Output;

use common::{bin, read_json, read_jsonl};

use serde_json::Value;

fn run_config(dir: &std::path::Path, yaml: &str, extra: &[&str]) -> Output {
    common::run_config(dir, yaml, extra, &[])
}

const ORIGINAL_RECORD_KEYS: [&str; 9] = [
    "error_code",
    "error_msg",
    "inter_token_latency_s",
    "ttft_s",
    "end_to_end_latency_s",
    "request_output_throughput_token_per_s",
    "number_total_tokens",
    "number_output_tokens",
    "number_input_tokens",
];

fn original_summary_keys() -> Vec<String> {
    let mut keys: Vec<String> = [
        "version",
        "name",
        "model",
        "mean_input_tokens",
        "stddev_input_tokens",
        "mean_output_tokens",
        "stddev_output_tokens",
        "num_concurrent_requests",
    ]
    .map(String::from)
    .to_vec();
    for m in [
        "inter_token_latency_s",
        "ttft_s",
        "end_to_end_latency_s",
        "request_output_throughput_token_per_s",
        "number_input_tokens",
        "number_output_tokens",
    ] {
        for q in ["p25", "p50", "p75", "p90", "p95", "p99"] {
            keys.push(format!("results_{m}_quantiles_{q}"));
        }
        for s in ["mean", "min", "max", "stddev"] {
            keys.push(format!("results_{m}_{s}"));
        }
    }
    for k in [
        "results_num_requests_started",
        "results_error_rate",
        "results_number_errors",
        "results_error_code_frequency",
        "results_mean_output_throughput_token_per_s",
        "results_num_completed_requests",
        "results_num_completed_requests_per_min",
        "timestamp",
    ] {
        keys.push(k.into());
    }
    keys
}

#[test]
fn builtin_run_writes_llmperf_files_with_true_timings_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_config(
        dir.path(),
        "openai_api_base: builtin
model: sim/llama
mean_input_tokens: 200
stddev_input_tokens: 50
mean_output_tokens: 30
stddev_output_tokens: 10
num_concurrent_requests: 4
max_num_completed_requests: 12
results_dir: out
simulator: {ttft_ms: 80, itl_ms: 15, tokens_per_chunk: 1}
",
        // The original's printed blocks, as scripts parse them.
        &["--llmperf-stdout"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Results for token benchmark for sim/llama queried with the openai api.")
    );
    assert!(
        stdout.contains("Number Of Completed Requests: 12"),
        "{stdout}"
    );

    let res = dir.path().join("out");
    let summary = read_json(&res.join("sim-llama_200_30_summary.json"));
    let keys: Vec<&String> = summary.as_object().unwrap().keys().collect();
    let want = original_summary_keys();
    assert_eq!(
        keys[..want.len()]
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>(),
        want
    );
    assert_eq!(summary["name"], "sim-llama_200_30_summary");
    assert_eq!(summary["results_num_requests_started"], 12);
    assert_eq!(summary["results_number_errors"], 0);
    assert_eq!(summary["results_num_completed_requests"], 12);
    assert_eq!(summary["results_error_code_frequency"], "{}");
    // Gaps between content chunks, pooled over all requests (the simulator's 15 ms on an idle machine; how
    // close they come is measured by the benchmarks, docs/performance.md). A busy machine delays reads and
    // bunches chunks, so only the relations to the records are asserted, after them.
    let gap = |q: &str| {
        summary[format!("results_inter_chunk_gap_s_{q}")]
            .as_f64()
            .unwrap_or_else(|| panic!("{q}: {summary:#}"))
    };

    let records = read_json(&res.join("sim-llama_200_30_individual_responses.json"));
    let records = records.as_array().unwrap();
    assert_eq!(records.len(), 12);
    for r in records {
        let keys: Vec<&String> = r.as_object().unwrap().keys().collect();
        assert_eq!(
            keys[..9].iter().map(|k| k.as_str()).collect::<Vec<_>>(),
            ORIGINAL_RECORD_KEYS
        );
    }

    // The per-request log holds the same records plus text and request config.
    let log = read_jsonl(&res.join("sim-llama_200_30_requests.jsonl"));
    assert_eq!(log.len(), 12);
    let mut indices: Vec<u64> = log.iter().map(|l| l["index"].as_u64().unwrap()).collect();
    indices.sort();
    assert_eq!(
        indices,
        (0..12).collect::<Vec<_>>(),
        "every prompt sent exactly once"
    );
    // Over all requests: the time from first to last content, and the chunks after the first.
    let (mut content_span, mut later_chunks, mut longest_span) = (0.0, 0u64, 0.0f64);
    for l in &log {
        let m = &l["metrics"];
        let max_tokens = l["request_config"]["sampling_params"]["max_tokens"]
            .as_u64()
            .unwrap();
        // The simulator streams exactly max_tokens single-token words; the count includes BOS.
        assert_eq!(
            m["number_output_tokens"].as_u64().unwrap(),
            max_tokens + 1,
            "{l}"
        );
        assert_eq!(
            m["number_total_tokens"].as_u64().unwrap(),
            max_tokens + 1 + m["number_input_tokens"].as_u64().unwrap()
        );
        assert_eq!(
            l["generated_text"].as_str().unwrap().split(' ').count() as u64,
            max_tokens
        );
        let prompt = l["request_config"]["prompt"][0].as_str().unwrap();
        assert!(prompt.starts_with(&format!(
            "Randomly stream lines from the following text with {max_tokens} output tokens."
        )));
        assert!(
            m["number_input_tokens_actual"].as_u64().unwrap()
                <= m["number_input_tokens"].as_u64().unwrap()
        );

        // Timings. The simulator sends chunk k no earlier than ttft + k·itl after the request arrived, and the
        // client's clock starts before it sends: those lower bounds are exact (1 µs for float rounding). A
        // busy machine can only add delay, so the upper bounds are generous (seconds) or orderings.
        let ttft = m["ttft_s"].as_f64().unwrap();
        let e2e = m["end_to_end_latency_s"].as_f64().unwrap();
        let ideal_e2e = 0.080 + 0.015 * (max_tokens - 1) as f64;
        assert!(
            ttft >= 0.080 - 1e-6,
            "ttft {ttft}: before the server's first token"
        );
        // The original's ITL: (last content − start) / data events; events = role + tokens + finish chunk.
        let events = m["number_stream_events"].as_u64().unwrap();
        assert_eq!(events, max_tokens + 2);
        let last_content = m["inter_token_latency_s"].as_f64().unwrap() * events as f64;
        assert!(
            last_content >= ideal_e2e - 1e-6,
            "last content {last_content}: before the server's last chunk at {ideal_e2e}"
        );
        assert!(
            ttft <= last_content && last_content <= e2e + 1e-9,
            "ttft {ttft}, last content {last_content}, e2e {e2e}"
        );
        assert!(
            e2e < ideal_e2e + 2.0,
            "e2e {e2e} vs {ideal_e2e}: seconds late"
        );
        // TPOT: (e2e − first token) / (generated − 1), the simulator's usage counting max_tokens.
        assert_eq!(m["generated_tokens"].as_u64().unwrap(), max_tokens);
        if max_tokens >= 2 {
            let tpot = m["tpot_s"].as_f64().unwrap();
            assert!(
                (tpot * (max_tokens - 1) as f64 - (e2e - ttft)).abs() < 1e-9,
                "tpot {tpot}, e2e {e2e}, ttft {ttft}"
            );
        }
        content_span += last_content - ttft;
        longest_span = longest_span.max(last_content - ttft);
        later_chunks += max_tokens - 1;
    }
    // Each request's gaps add up to its first-to-last content span, and there is at most one gap per chunk
    // after the first (fewer when a read carries several chunks): so the pooled mean is at least the spans
    // over the chunks, and no gap is longer than the longest span (gaps are stored as f32: 1e-6 relative).
    assert!(
        gap("mean") >= content_span / later_chunks as f64 * (1.0 - 1e-6),
        "gap mean {} vs {content_span} s over {later_chunks} chunks",
        gap("mean")
    );
    assert!(gap("max") <= longest_span * (1.0 + 1e-6) + 1e-9);
    assert!(gap("min") > 0.0);
    assert!(gap("quantiles_p50") <= gap("quantiles_p99"));
}

#[test]
fn failing_requests_are_recorded_with_codes_and_the_run_completes() {
    let dir = tempfile::tempdir().unwrap();
    run_config(
        dir.path(),
        "openai_api_base: builtin
model: faulty
mean_input_tokens: 100
stddev_input_tokens: 0
mean_output_tokens: 20
stddev_output_tokens: 0
num_concurrent_requests: 3
max_num_completed_requests: 20
results_dir: .
simulator:
  ttft_ms: 5
  itl_ms: 1
  faults:
    - {kind: http_500, every: 4}
    - {kind: http_429, every: 5}
    - {kind: error_mid_stream, every: 7}
    - {kind: close_mid_stream, every: 9}
",
        &[],
    );
    // Requests 4, 8, 12, 16, 20 → 500; 5, 10, 15 → 429; 7, 14 → error event; 9, 18 → cut; 8 succeed.
    let s = read_json(&dir.path().join("faulty_100_20_summary.json"));
    assert_eq!(s["results_num_requests_started"], 20);
    assert_eq!(s["results_number_errors"], 12);
    assert_eq!(s["results_num_completed_requests"], 8);
    assert_eq!(s["results_error_rate"], 0.6);
    assert_eq!(
        s["results_error_code_counts"],
        serde_json::json!({"500": 5, "429": 3, "server_error": 2, "-1": 2})
    );
    assert_eq!(s["results_number_output_tokens_min"], 21);
    let records = read_json(&dir.path().join("faulty_100_20_individual_responses.json"));
    let records = records.as_array().unwrap();
    assert_eq!(records.len(), 20);
    let with = |code: Value| records.iter().filter(move |r| r["error_code"] == code);
    for r in with(Value::from(500)) {
        assert!(
            r["error_msg"]
                .as_str()
                .unwrap()
                .contains("simulated internal server error")
        );
        assert_eq!(r["end_to_end_latency_s"], 0.0);
        assert_eq!(r["request_output_throughput_token_per_s"], 0.0);
    }
    for r in with(Value::from(429)) {
        assert!(r["error_msg"].as_str().unwrap().contains("rate limit"));
    }
    for r in with(Value::from("server_error")) {
        assert_eq!(r["error_msg"], "simulated error mid-stream");
        assert!(
            r["ttft_s"].as_f64().unwrap() > 0.0,
            "timings measured so far are kept"
        );
    }
    for r in with(Value::from(-1)) {
        assert!(r["error_msg"].as_str().unwrap().contains("stream"), "{r}");
    }
    let ok = records.iter().filter(|r| r["error_code"].is_null()).count();
    assert_eq!(ok, 8);
    let log = read_jsonl(&dir.path().join("faulty_100_20_requests.jsonl"));
    assert_eq!(log.len(), 20);
}

#[test]
fn config_matrix_runs_every_combination_without_overwriting() {
    let dir = tempfile::tempdir().unwrap();
    run_config(
        dir.path(),
        "openai_api_base: builtin
models: [a, 'b:1']
token_confs:
  input:
    - {name: S, mean: 60, stddev: 5}
  output:
    - {name: o1, mean: 5, stddev: 1}
    - {name: o2, mean: 5, stddev: 2}
max_num_completed_requests: 2
num_concurrent_requests: 2
results_dir: r
simulator: {ttft_ms: 1, itl_ms: 1}
",
        &[],
    );
    let mut names: Vec<String> = std::fs::read_dir(dir.path().join("r"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with("_summary.json"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "a_60_5_S_o1_summary.json",
            "a_60_5_S_o2_summary.json",
            "b-1_60_5_S_o1_summary.json",
            "b-1_60_5_S_o2_summary.json"
        ]
    );
}

#[test]
fn cli_flags_override_the_file_and_original_flag_names_work() {
    let dir = tempfile::tempdir().unwrap();
    run_config(
        dir.path(),
        "openai_api_base: builtin\nmodel: from-file\nresults_dir: r\nsimulator: {ttft_ms: 1, itl_ms: 1}\n",
        &[
            "--model",
            "from-cli",
            "--mean-input-tokens",
            "90",
            "--stddev-input-tokens",
            "0",
            "--mean-output-tokens",
            "7",
            "--stddev-output-tokens",
            "0",
            "--num-concurrent-requests",
            "2",
            "--timeout",
            "30",
            "--max-num-completed-requests",
            "3",
            "--additional-sampling-params",
            r#"{"temperature": 0.5}"#,
            "--llm-api",
            "openai",
            "--metadata",
            "gpu=none,run=ci",
            "--seed",
            "7",
            "--results-dir",
            "cli-out",
        ],
    );
    let s = read_json(&dir.path().join("cli-out/from-cli_90_7_summary.json"));
    assert_eq!(s["model"], "from-cli");
    assert_eq!(s["num_concurrent_requests"], 2);
    assert_eq!(s["additional_sampling_params_temperature"], 0.5);
    assert_eq!(s["gpu"], "none");
    assert_eq!(s["run"], "ci");
    assert_eq!(s["seed"], 7);
    assert_eq!(s["results_num_requests_started"], 3);
    assert_eq!(s["results_number_input_tokens_max"], 90);
    assert_eq!(s["results_number_output_tokens_max"], 8);
}

#[test]
fn environment_sets_the_endpoint_and_no_results_dir_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args([
            "--model",
            "m",
            "--max-num-completed-requests",
            "2",
            "--mean-output-tokens",
            "3",
        ])
        .env("OPENAI_API_BASE", "builtin")
        .env("LLMPERF_SIMULATOR__TTFT_MS", "1")
        .env("LLMPERF_SIMULATOR__ITL_MS", "1")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("m_550_3: 2 requests, 0 errors (0.0 %)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

fn expect_error(args: &[&str], envs: &[(&str, &str)], code: i32, needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = bin();
    c.args(args).current_dir(dir.path());
    for (k, v) in envs {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_input_gives_clear_errors_not_panics() {
    expect_error(&[], &[("OPENAI_API_BASE", "builtin")], 2, "--model");
    expect_error(&["--model", "m"], &[], 2, "OPENAI_API_BASE");
    expect_error(
        &["--model", "m", "--additional-sampling-params", "{oops"],
        &[("OPENAI_API_BASE", "builtin")],
        2,
        "additional_sampling_params",
    );
    expect_error(
        &["--model", "m", "--num-concurrent-requests", "ten"],
        &[("OPENAI_API_BASE", "builtin")],
        2,
        "--num-concurrent-requests",
    );
    expect_error(
        &["--model", "m", "--config", "missing.yml"],
        &[("OPENAI_API_BASE", "builtin")],
        2,
        "missing.yml",
    );
    // Nothing listens on port 9 of loopback.
    expect_error(
        &["--model", "m"],
        &[("OPENAI_API_BASE", "http://127.0.0.1:9/v1")],
        1,
        "cannot connect to http://127.0.0.1:9/v1",
    );
}

#[test]
fn unknown_config_keys_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let cfg: PathBuf = dir.path().join("c.yml");
    std::fs::write(&cfg, "openai_api_base: builtin\nmodel: m\nconcurrency: 3\n").unwrap();
    expect_error(
        &["--config", cfg.to_str().unwrap()],
        &[],
        2,
        "unknown field `concurrency`",
    );
}

#[test]
fn help_lists_the_original_flags() {
    let out = bin().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--model",
        "--mean-input-tokens",
        "--stddev-input-tokens",
        "--mean-output-tokens",
        "--stddev-output-tokens",
        "--num-concurrent-requests",
        "--timeout",
        "--max-num-completed-requests",
        "--additional-sampling-params",
        "--results-dir",
        "--llm-api",
        "--metadata",
        "--config",
        "--seed",
        "serve-sim",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help:\n{help}");
    }
}

#[test]
fn timeout_stops_new_requests_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_config(
        dir.path(),
        "openai_api_base: builtin
model: slow
mean_output_tokens: 2
stddev_output_tokens: 0
num_concurrent_requests: 1
max_num_completed_requests: 10
timeout: 1
results_dir: .
simulator: {ttft_ms: 400, itl_ms: 1}
",
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Test timed out before all requests could be completed."));
    let s = read_json(&dir.path().join("slow_550_2_summary.json"));
    // Each request takes at least the 400 ms to its first token, so launches come at ≥ 0, ≥ 0.4 and ≥ 0.8 s:
    // never a fourth within the 1 s timeout. How many of those three start depends on the machine's load
    // (the second needs the first done within 1 s), so the lower bound is the first alone.
    let started = s["results_num_requests_started"].as_u64().unwrap();
    assert!((1..=3).contains(&started), "started {started}");
    assert_eq!(
        s["results_num_completed_requests"].as_u64().unwrap(),
        started
    );
}

#[test]
fn server_usage_is_recorded_when_the_stream_sends_it() {
    let dir = tempfile::tempdir().unwrap();
    run_config(
        dir.path(),
        "openai_api_base: builtin
model: u
mean_input_tokens: 80
stddev_input_tokens: 0
mean_output_tokens: 9
stddev_output_tokens: 0
max_num_completed_requests: 3
results_dir: .
additional_sampling_params: {stream_options: {include_usage: true}}
simulator: {ttft_ms: 1, itl_ms: 1, tokens_per_chunk: 4}
",
        &[],
    );
    let s = read_json(&dir.path().join("u_80_9_summary.json"));
    assert_eq!(
        s["additional_sampling_params_stream_options_include_usage"],
        true
    );
    for l in read_jsonl(&dir.path().join("u_80_9_requests.jsonl")) {
        let m = &l["metrics"];
        assert_eq!(m["server_completion_tokens"], 9);
        // The simulator counts the prompt with the same tokenizer (messages joined), so the usage agrees.
        assert_eq!(m["server_prompt_tokens"], m["number_input_tokens_actual"]);
        assert_eq!(m["number_output_tokens"], 10);
        // role + ceil(9 / 4) content chunks + finish; the usage-only chunk is not an event the original saw
        assert_eq!(m["number_stream_events"], 1 + 3 + 1);
        assert_eq!(m["generated_tokens"], 9);
        assert_eq!(m["token_counts_source"], "server");
    }
}
