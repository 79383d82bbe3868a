//! The other APIs end to end through the real binary: Anthropic Messages, OpenAI completions and Vertex AI
//! against the simulator, reasoning timing, server token counts, custom headers and credentials (asserted on
//! what the server received, and never written to results or logs), and `--tokenizer`.
#![cfg(feature = "sim")] // starts the built-in simulator

use std::path::Path;
use std::process::{Command, Output};

use llmperf_actors::sim::{SimConfig, start_in_background};
use serde_json::{Value, json};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_llmperf-actors"));
    // Tests must not pick up a developer's endpoints, keys or settings.
    for (k, _) in std::env::vars() {
        if ["OPENAI_", "LLMPERF_", "ANTHROPIC_", "GCLOUD_", "VERTEXAI_"]
            .iter()
            .any(|p| k.starts_with(p))
        {
            c.env_remove(k);
        }
    }
    c.env("RUST_LOG", "warn");
    c
}

fn run(dir: &Path, yaml: &str, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let cfg = dir.join("config.yml");
    std::fs::write(&cfg, yaml).unwrap();
    let mut c = bin();
    c.arg("--config").arg(&cfg).args(args).current_dir(dir);
    for (k, v) in envs {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn read_json(p: &Path) -> Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap()
}

fn read_jsonl(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a u64: {v}"))
}

fn max_tokens(line: &Value) -> u64 {
    u(&line["request_config"]["sampling_params"]["max_tokens"])
}

#[test]
fn anthropic_end_to_end_with_usage_and_timings() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        "llm_api: anthropic
anthropic_base_url: builtin
model: claude-sim
mean_input_tokens: 120
stddev_input_tokens: 0
mean_output_tokens: 12
stddev_output_tokens: 4
num_concurrent_requests: 3
max_num_completed_requests: 6
results_dir: out
simulator: {ttft_ms: 60, itl_ms: 8}
",
        &["--llmperf-stdout"],
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("queried with the anthropic api"),
        "{stdout}"
    );
    let res = dir.path().join("out");
    let s = read_json(&res.join("claude-sim_120_12_summary.json"));
    assert_eq!(s["llm_api"], "anthropic");
    assert_eq!(s["results_num_completed_requests"], 6);
    assert_eq!(s["results_number_errors"], 0);
    for l in read_jsonl(&res.join("claude-sim_120_12_requests.jsonl")) {
        let m = &l["metrics"];
        let n = max_tokens(&l);
        assert_eq!(u(&m["number_output_tokens"]), n + 1, "{l}");
        assert_eq!(u(&m["server_completion_tokens"]), n, "message_delta usage");
        assert_eq!(
            m["server_prompt_tokens"], m["number_input_tokens_actual"],
            "message_start usage"
        );
        assert_eq!(u(&m["number_stream_events"]), n, "K = text deltas");
        assert_eq!(
            l["generated_text"].as_str().unwrap().split(' ').count() as u64,
            n
        );
        // The simulator sends text delta k no earlier than 60 + 8·k ms after the request arrived, and the
        // client's clock starts before it sends: exact lower bounds (1 µs for float rounding). A busy machine
        // only adds delay: the upper bound is generous, seconds.
        let ttft = m["ttft_s"].as_f64().unwrap();
        assert!(ttft >= 0.060 - 1e-6, "ttft {ttft}");
        assert_eq!(m["ttft_any_s"], m["ttft_s"], "no reasoning");
        let e2e = m["end_to_end_latency_s"].as_f64().unwrap();
        let ideal = 0.060 + 0.008 * (n - 1) as f64;
        assert!(ttft <= e2e, "ttft {ttft}, e2e {e2e}");
        assert!(
            e2e >= ideal - 1e-6 && e2e < ideal + 2.0,
            "e2e {e2e} vs {ideal}"
        );
        assert_eq!(m["output_tokens_source"], "tokenizer");
    }
}

#[test]
fn anthropic_errors_are_recorded_with_anthropic_codes() {
    let dir = tempfile::tempdir().unwrap();
    run(
        dir.path(),
        "llm_api: anthropic
anthropic_base_url: builtin
model: c
mean_input_tokens: 60
stddev_input_tokens: 0
mean_output_tokens: 10
stddev_output_tokens: 0
num_concurrent_requests: 2
max_num_completed_requests: 10
results_dir: .
simulator:
  ttft_ms: 2
  itl_ms: 1
  faults:
    - {kind: http_500, every: 3}
    - {kind: error_mid_stream, every: 4}
    - {kind: close_mid_stream, every: 5}
",
        &[],
        &[],
    );
    // 3, 6, 9 → HTTP 500; 4, 8 → `event: error`; 5, 10 → cut; 1, 2, 7 succeed.
    let s = read_json(&dir.path().join("c_60_10_summary.json"));
    assert_eq!(
        s["results_error_code_counts"],
        json!({"500": 3, "overloaded_error": 2, "-1": 2})
    );
    assert_eq!(s["results_num_completed_requests"], 3);
    let records = read_json(&dir.path().join("c_60_10_individual_responses.json"));
    for r in records.as_array().unwrap() {
        let msg = r["error_msg"].as_str().unwrap();
        match &r["error_code"] {
            Value::Null => assert_eq!(r["number_output_tokens"], 11),
            c if c == 500 => assert!(msg.contains("\"api_error\""), "{msg}"),
            c if c == "overloaded_error" => {
                assert_eq!(msg, "simulated error mid-stream");
                assert!(r["ttft_s"].as_f64().unwrap() > 0.0);
            }
            // The connection closes without the chunked terminator: a broken stream, whatever the load.
            c if c == -1 => {
                assert_eq!(r["error_kind"], "stream_reset", "{r}");
                assert!(msg.contains("stream broken"), "{msg}");
            }
            other => panic!("unexpected code {other}"),
        }
    }
}

#[test]
fn completions_end_to_end_with_and_without_server_token_counts() {
    let yaml = "llm_api: openai-completions
openai_api_base: builtin
model: base-model
mean_input_tokens: 80
stddev_input_tokens: 0
mean_output_tokens: 9
stddev_output_tokens: 3
max_num_completed_requests: 4
results_dir: .
simulator: {ttft_ms: 2, itl_ms: 1, tokens_per_chunk: 2}
";
    for server in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let args: &[&str] = if server {
            &["--use-server-token-counts", "--llmperf-stdout"]
        } else {
            &["--llmperf-stdout"]
        };
        let out = run(dir.path(), yaml, args, &[]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("queried with the openai-completions api"));
        for l in read_jsonl(&dir.path().join("base-model_80_9_requests.jsonl")) {
            let m = &l["metrics"];
            let n = max_tokens(&l);
            assert_eq!(
                l["generated_text"].as_str().unwrap().split(' ').count() as u64,
                n
            );
            let chunks = n.div_ceil(2);
            // Usage is asked for by default; only the llmperf keys' source changes with the flag.
            assert_eq!(m["server_reasoning_tokens"], 0);
            assert_eq!(u(&m["server_completion_tokens"]), n);
            assert_eq!(u(&m["generated_tokens"]), n);
            assert_eq!(m["token_counts_source"], "server");
            assert_eq!(
                u(&m["number_stream_events"]),
                chunks + 1,
                "+ finish; the usage-only chunk is not counted"
            );
            if server {
                assert_eq!(u(&m["number_output_tokens"]), n);
                assert_eq!(m["output_tokens_source"], "server");
            } else {
                assert_eq!(u(&m["number_output_tokens"]), n + 1);
                assert_eq!(m["output_tokens_source"], "tokenizer");
            }
        }
    }
}

#[test]
fn reasoning_is_timed_and_counted_apart_from_the_answer() {
    for (api, base_key) in [
        ("openai", "openai_api_base"),
        ("anthropic", "anthropic_base_url"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let yaml = format!(
            "llm_api: {api}
{base_key}: builtin
model: thinker
mean_input_tokens: 60
stddev_input_tokens: 0
mean_output_tokens: 10
stddev_output_tokens: 0
num_concurrent_requests: 2
max_num_completed_requests: 4
results_dir: .
simulator: {{ttft_ms: 50, itl_ms: 5, reasoning_tokens: 20}}
"
        );
        run(dir.path(), &yaml, &[], &[]);
        for l in read_jsonl(&dir.path().join("thinker_60_10_requests.jsonl")) {
            let m = &l["metrics"];
            let any = m["ttft_any_s"].as_f64().unwrap();
            let ttft = m["ttft_s"].as_f64().unwrap();
            let e2e = m["end_to_end_latency_s"].as_f64().unwrap();
            // Reasoning chunk 0 goes out no earlier than 50 ms after the request arrived; the answer starts with
            // chunk 20, no earlier than 50 + 20 × 5 = 150 ms; the last answer chunk (29) at 195 ms. Those lower
            // bounds are exact (1 µs for float rounding); a busy machine only adds delay, so above them only
            // orderings (a read may carry reasoning and answer at once) and a generous bound, seconds.
            assert!(any >= 0.050 - 1e-6, "{api}: ttft_any {any}");
            assert!(ttft >= 0.150 - 1e-6, "{api}: ttft {ttft}");
            assert!(any <= ttft && ttft <= e2e, "{api}: {any} {ttft} {e2e}");
            assert!(
                (0.195 - 1e-6..0.195 + 2.0).contains(&e2e),
                "{api}: e2e {e2e}"
            );
            assert_eq!(u(&m["number_reasoning_tokens"]), 20, "{api}");
            // The answer alone is the generated text: 10 words, 11 tokens with BOS.
            assert_eq!(u(&m["number_output_tokens"]), 11, "{api}");
            assert_eq!(l["generated_text"].as_str().unwrap().split(' ').count(), 10);
        }
        let s = read_json(&dir.path().join("thinker_60_10_summary.json"));
        assert_eq!(s["results_number_reasoning_tokens_mean"], 20.0, "{api}");
        // Reasoning is timed apart: 100 ms of server time separate the two first tokens, so on average they
        // differ even on a busy machine (equal only if every request read both in one go).
        let mean_any = s["results_ttft_any_s_mean"].as_f64().unwrap();
        assert!(mean_any < s["results_ttft_s_mean"].as_f64().unwrap());
    }
}

/// Every file under `dir`, as text.
fn all_files_text(dir: &Path) -> String {
    let mut text = String::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            text.push_str(&all_files_text(&p));
        } else {
            text.push_str(&String::from_utf8_lossy(&std::fs::read(&p).unwrap()));
        }
    }
    text
}

#[test]
fn headers_and_credentials_reach_the_server_and_never_the_logs_or_results() {
    let sim = start_in_background(
        SimConfig {
            ttft_ms: 1.0,
            itl_ms: 1.0,
            ..SimConfig::default()
        },
        "127.0.0.1",
        0,
    )
    .unwrap();
    let v1 = sim.base_url();
    let root = format!("http://{}", sim.addr);
    let common = "model: m
mean_input_tokens: 60
stddev_input_tokens: 0
mean_output_tokens: 5
stddev_output_tokens: 0
num_concurrent_requests: 2
max_num_completed_requests: 2
results_dir: out
";
    struct Case<'a> {
        api: &'a str,
        extra_yaml: &'a str,
        args: Vec<&'a str>,
        envs: Vec<(&'a str, &'a str)>,
        path: &'a str,
        secret: &'a str,
    }
    let cases = [
        Case {
            api: "openai",
            extra_yaml: "",
            args: vec![
                "--header",
                "X-Gateway-Token: gw-SECRET-111",
                "--header",
                "X-Team: perf",
            ],
            envs: vec![
                ("OPENAI_API_BASE", &v1),
                ("OPENAI_API_KEY", "sk-SECRET-openai"),
            ],
            path: "/v1/chat/completions",
            secret: "sk-SECRET-openai",
        },
        Case {
            api: "openai-completions",
            extra_yaml: "headers: ['X-Gateway-Token: gw-SECRET-111', 'X-Team: perf']\n",
            args: vec![],
            envs: vec![
                ("OPENAI_API_BASE", &v1),
                ("OPENAI_API_KEY", "sk-SECRET-completions"),
            ],
            path: "/v1/completions",
            secret: "sk-SECRET-completions",
        },
        Case {
            api: "anthropic",
            extra_yaml: "headers: {X-Gateway-Token: gw-SECRET-111, X-Team: perf}\n",
            args: vec![],
            // The base without /v1, as ANTHROPIC_BASE_URL is usually given.
            envs: vec![
                ("ANTHROPIC_BASE_URL", &root),
                ("ANTHROPIC_API_KEY", "sk-ant-SECRET"),
            ],
            path: "/v1/messages",
            secret: "sk-ant-SECRET",
        },
        Case {
            api: "vertexai",
            extra_yaml: "",
            args: vec![
                "--header",
                "X-Gateway-Token: gw-SECRET-111",
                "--header",
                "X-Team: perf",
            ],
            envs: vec![
                ("VERTEXAI_BASE_URL", &v1),
                ("GCLOUD_ACCESS_TOKEN", "ya29.SECRET-token"),
            ],
            path: "/v1/chat/completions",
            secret: "ya29.SECRET-token",
        },
    ];
    for case in cases {
        let dir = tempfile::tempdir().unwrap();
        let before = sim.received().len();
        let yaml = format!("llm_api: {}\n{common}{}", case.api, case.extra_yaml);
        let cfg = dir.path().join("config.yml");
        std::fs::write(&cfg, yaml).unwrap();
        let mut c = bin();
        c.arg("--config")
            .arg(&cfg)
            .args(&case.args)
            .current_dir(dir.path())
            .env("RUST_LOG", "debug");
        for (k, v) in &case.envs {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {stderr}", case.api);
        let got: Vec<_> = sim.received().into_iter().skip(before).collect();
        assert_eq!(got.len(), 2, "{}", case.api);
        for r in &got {
            let api = case.api;
            assert_eq!(r.path, case.path, "{api}");
            assert_eq!(r.header("x-gateway-token"), Some("gw-SECRET-111"), "{api}");
            assert_eq!(r.header("x-team"), Some("perf"), "{api}");
            assert_eq!(r.header("content-type"), Some("application/json"), "{api}");
            assert!(
                r.header("user-agent")
                    .unwrap()
                    .starts_with("llmperf-actors/")
            );
            let bearer = format!("Bearer {}", case.secret);
            match api {
                "anthropic" => {
                    assert_eq!(r.header("x-api-key"), Some(case.secret));
                    assert_eq!(r.header("anthropic-version"), Some("2023-06-01"));
                    assert_eq!(r.header("authorization"), None);
                    assert!(r.body.get("system").is_none(), "no empty system prompt");
                    assert_eq!(r.body["max_tokens"], 5, "the sampled max_tokens");
                    assert_eq!(r.body["stream"], true);
                    let msgs = r.body["messages"].as_array().unwrap();
                    assert_eq!(msgs.len(), 1);
                    assert_eq!(msgs[0]["role"], "user");
                }
                "vertexai" => {
                    assert_eq!(r.header("authorization"), Some(bearer.as_str()));
                    let msgs = r.body["messages"].as_array().unwrap();
                    assert_eq!(msgs.len(), 1, "no empty system message for Vertex");
                }
                "openai-completions" => {
                    assert_eq!(r.header("authorization"), Some(bearer.as_str()));
                    assert!(r.body["prompt"].is_string());
                    assert!(r.body.get("messages").is_none());
                }
                _ => {
                    assert_eq!(r.header("authorization"), Some(bearer.as_str()));
                    assert_eq!(
                        r.body["messages"][0],
                        json!({"role": "system", "content": ""})
                    );
                }
            }
        }
        assert!(
            stderr.contains("client: ClientSpec")
                && stderr.to_ascii_lowercase().contains("x-gateway-token"),
            "debug logging is on and shows the client settings, header names included: {stderr}"
        );
        // The results dir only: the config file written above holds header values on purpose.
        let files = all_files_text(&dir.path().join("out"));
        for (what, text) in [
            ("stdout", &*stdout),
            ("stderr", &*stderr),
            ("files", &*files),
        ] {
            assert!(
                !text.contains(case.secret),
                "{}: the key is in {what}",
                case.api
            );
            assert!(
                !text.contains("gw-SECRET-111"),
                "{}: a header value is in {what}",
                case.api
            );
        }
        assert!(files.contains("\"generated_text\""), "results were written");
    }
}

fn expect_error(args: &[&str], envs: &[(&str, &str)], needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = bin();
    c.args(args).current_dir(dir.path());
    for (k, v) in envs {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn missing_credentials_and_bad_flags_are_named() {
    let m = ["--model", "m"];
    let with = |extra: &[&'static str]| [&m[..], extra].concat();
    expect_error(&with(&["--llm-api", "vertexai"]), &[], "GCLOUD_PROJECT_ID");
    expect_error(
        &with(&["--llm-api", "vertexai"]),
        &[("GCLOUD_PROJECT_ID", "p")],
        "GCLOUD_REGION",
    );
    expect_error(
        &with(&["--llm-api", "vertexai"]),
        &[("GCLOUD_PROJECT_ID", "p"), ("GCLOUD_REGION", "us-central1")],
        "GCLOUD_ACCESS_TOKEN",
    );
    expect_error(&with(&["--llm-api", "anthropic"]), &[], "ANTHROPIC_API_KEY");
    expect_error(
        &with(&["--llm-api", "litellm"]),
        &[("OPENAI_API_BASE", "builtin")],
        "openai-completions",
    );
    expect_error(
        &with(&["--header", "no-colon"]),
        &[("OPENAI_API_BASE", "builtin")],
        "--header",
    );
    expect_error(
        &with(&["--tokenizer", "nowhere/tokenizer.json"]),
        &[("OPENAI_API_BASE", "builtin")],
        "nowhere/tokenizer.json",
    );
}

#[test]
fn a_tokenizer_file_changes_the_counts_end_to_end() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/wordlevel-tokenizer.json"
    );
    let yaml = "openai_api_base: builtin
model: w
mean_input_tokens: 100
stddev_input_tokens: 0
mean_output_tokens: 8
stddev_output_tokens: 2
max_num_completed_requests: 3
results_dir: .
simulator: {ttft_ms: 1, itl_ms: 1}
";
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), yaml, &["--tokenizer", fixture], &[]);
    for l in read_jsonl(&dir.path().join("w_100_8_requests.jsonl")) {
        let m = &l["metrics"];
        // One token per simulator word and no BOS (the Llama default counts max_tokens + 1).
        assert_eq!(u(&m["number_output_tokens"]), max_tokens(&l), "{l}");
        // The prompt budget is spent in the file's tokens: one per word or punctuation run.
        let prompt = l["request_config"]["prompt"][0].as_str().unwrap();
        let words = prompt
            .split(|c: char| !c.is_alphanumeric() && c != '_')
            .filter(|w| !w.is_empty())
            .count() as u64;
        let actual = u(&m["number_input_tokens_actual"]);
        assert!(
            actual >= words && actual <= 100,
            "{actual} vs {words} words"
        );
    }
}

#[test]
fn server_counts_include_the_reasoning_the_server_reports() {
    let dir = tempfile::tempdir().unwrap();
    run(
        dir.path(),
        "openai_api_base: builtin
model: r
mean_input_tokens: 60
stddev_input_tokens: 0
mean_output_tokens: 10
stddev_output_tokens: 0
max_num_completed_requests: 2
results_dir: .
use_server_token_counts: true
simulator: {ttft_ms: 1, itl_ms: 1, reasoning_tokens: 20}
",
        &[],
        &[],
    );
    for l in read_jsonl(&dir.path().join("r_60_10_requests.jsonl")) {
        let m = &l["metrics"];
        // usage.completion_tokens counts reasoning + answer, as servers do; its details say how much reasoning.
        assert_eq!(u(&m["number_output_tokens"]), 30);
        assert_eq!(m["output_tokens_source"], "server");
        assert_eq!(u(&m["server_reasoning_tokens"]), 20);
        assert_eq!(
            u(&m["number_reasoning_tokens"]),
            20,
            "streamed reasoning, tokenized"
        );
        assert_eq!(u(&m["number_total_tokens"]), 60 + 30);
    }
}

#[test]
fn keys_stay_out_of_error_paths_trace_logs_and_debug_output() {
    // Every failure the client records, with the most verbose logging there is. The 2 s idle timeout cuts the
    // 5 s stall and leaves the other requests (1 ms chunks) seconds to spare on a busy machine: exactly the
    // nine faults fail.
    let dir = tempfile::tempdir().unwrap();
    let yaml = "openai_api_base: builtin
openai_api_key: sk-SECRET-config-key
model: m
mean_input_tokens: 60
stddev_input_tokens: 0
mean_output_tokens: 5
stddev_output_tokens: 0
num_concurrent_requests: 4
max_num_completed_requests: 16
results_dir: out
idle_timeout: 2
headers: {X-Gateway-Token: gw-SECRET-222}
simulator:
  ttft_ms: 1
  itl_ms: 1
  stall_ms: 5000
  faults:
    - {kind: http_401, at: [1]}
    - {kind: http_500, at: [2]}
    - {kind: error_mid_stream, at: [3]}
    - {kind: reset_mid_stream, at: [4]}
    - {kind: malformed_json, at: [5]}
    - {kind: invalid_utf8, at: [6]}
    - {kind: redirect, at: [7]}
    - {kind: stall, at: [8]}
    - {kind: close_before_done, at: [9]}
";
    let cfg = dir.path().join("config.yml");
    std::fs::write(&cfg, yaml).unwrap();
    let out = bin()
        .arg("--config")
        .arg(&cfg)
        .args(["--header", "Authorization: Bearer sk-SECRET-header"])
        .current_dir(dir.path())
        .env("RUST_LOG", "trace")
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr:.5000}");
    let s = read_json(&dir.path().join("out/m_60_5_summary.json"));
    assert_eq!(s["results_number_errors"], 9, "{s:#}");
    // The simulator's 401 echoes the key it was sent, as some servers do; the record shows it redacted.
    let records = read_json(&dir.path().join("out/m_60_5_individual_responses.json"));
    let r401 = records
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["error_code"] == 401)
        .expect("the 401 record");
    assert!(
        r401["error_msg"]
            .as_str()
            .unwrap()
            .contains("incorrect API key provided: ***"),
        "{r401}"
    );
    let files = all_files_text(&dir.path().join("out"));
    for (what, text) in [
        ("stdout", &*stdout),
        ("stderr", &*stderr),
        ("files", &*files),
    ] {
        for secret in ["sk-SECRET-config-key", "gw-SECRET-222", "sk-SECRET-header"] {
            assert!(!text.contains(secret), "{secret} is in {what}");
        }
    }

    // Configuration errors that involve a credential do not echo it.
    for (args, needle) in [
        (vec!["--header", "X-Token sk-SECRET-no-colon"], "--header"),
        (vec!["--header", "Bad Name: sk-SECRET-bad-name"], "header"),
    ] {
        let out = bin()
            .args(["--model", "m", "--max-num-completed-requests", "1"])
            .args(&args)
            .env("OPENAI_API_BASE", "builtin")
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{all}");
        assert!(all.contains(needle), "{all}");
        assert!(!all.contains("SECRET"), "the value is echoed: {all}");
    }

    // What a panic or an `{:?}` would print: the settings and the client spec redact keys and header values.
    let env: std::collections::HashMap<String, String> = [
        ("OPENAI_API_BASE", "builtin"),
        ("OPENAI_API_KEY", "sk-SECRET-env"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let settings = llmperf_actors::Settings::builder()
        .model("m")
        .header("X-Gateway-Token", "gw-SECRET-333")
        .env(env)
        .build()
        .unwrap();
    let debug = format!("{settings:?} {settings:#?}");
    assert!(!debug.contains("SECRET"), "{debug}");
}
