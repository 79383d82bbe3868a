//! The fault matrix, end to end through the real binary: one run against the built-in simulator in which
//! every fault kind hits exactly two requests. Each faulty request must be one record with its own
//! `error_code` / `error_kind`, `started = ok + errors` exactly, the good requests measure as on a healthy
//! server, and the run finishes in bounded time (the stalls and the trickle are cut by the timeouts).
#![cfg(feature = "sim")] // starts the built-in simulator

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

/// (fault, expected error_code, expected error_kind); `None` for the two that are not errors.
const MATRIX: [(&str, Option<(i64, &str)>); 19] = [
    ("http_400", Some((400, "http_status"))),
    ("http_401", Some((401, "http_status"))),
    ("http_404", Some((404, "http_status"))),
    ("http_429", Some((429, "http_status"))),
    ("http_500", Some((500, "http_status"))),
    ("http_503", Some((503, "http_status"))),
    ("redirect", Some((307, "http_redirect"))),
    // error_mid_stream: the code is the stream error's type (a string), checked apart.
    ("error_mid_stream", Some((0, "stream_error"))),
    // The connection closes without the body's end (no chunked terminator): a broken stream, whatever the load.
    ("close_mid_stream", Some((-1, "stream_reset"))),
    ("reset_mid_stream", Some((-1, "stream_reset"))),
    ("close_before_done", Some((-1, "incomplete_stream"))),
    ("stall", Some((-1, "idle_timeout"))),
    ("slow_trickle", Some((-1, "request_timeout"))),
    ("malformed_json", Some((-1, "malformed_chunk"))),
    ("invalid_utf8", Some((-1, "invalid_utf8"))),
    ("huge_line", Some((-1, "line_too_long"))),
    ("never_answer", Some((-1, "first_byte_timeout"))),
    ("split_utf8", None),
    ("framing_variants", None),
];

const REQUESTS: usize = 52;
const OUTPUT_TOKENS: u64 = 10;
const TTFT_S: f64 = 0.02;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_llmperf-actors"));
    for (k, _) in std::env::vars() {
        if k.starts_with("OPENAI_") || k.starts_with("LLMPERF_") || k.starts_with("ANTHROPIC_") {
            c.env_remove(k);
        }
    }
    c.env("RUST_LOG", "error");
    c
}

fn config(api: &str) -> String {
    let faults: Vec<String> = MATRIX
        .iter()
        .enumerate()
        .map(|(i, (kind, _))| format!("    - {{kind: {kind}, at: [{}, {}]}}", 2 * i + 1, 2 * i + 2))
        .collect();
    format!(
        "openai_api_base: builtin
anthropic_base_url: builtin
anthropic_api_key: not-needed
llm_api: {api}
model: fault-matrix
mean_input_tokens: 60
stddev_input_tokens: 0
mean_output_tokens: {OUTPUT_TOKENS}
stddev_output_tokens: 0
num_concurrent_requests: 8
max_num_completed_requests: {REQUESTS}
timeout: 60
results_dir: out
first_byte_timeout: 1
idle_timeout: 1
request_timeout: 3
max_line_bytes: 1048576
simulator:
  ttft_ms: {}
  itl_ms: 2
  output_tokens: {OUTPUT_TOKENS}
  stall_ms: 60000
  trickle_ms: 50
  huge_line_bytes: 2000000
  faults:
{}
",
        TTFT_S * 1000.0,
        faults.join("\n")
    )
}

fn read_json(p: &Path) -> Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn run_matrix(api: &str, stream_error_code: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.yml"), config(api)).unwrap();
    let t0 = Instant::now();
    let out = bin()
        .args(["--config", "config.yml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let took = t0.elapsed();
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Bounded: the longest faults are cut by the 3 s request timeout (a few seconds in all on an idle
    // machine), not by the simulator's 60 s stall; 30 s leaves a busy machine room.
    assert!(
        took < Duration::from_secs(30),
        "{api}: the run took {took:?}"
    );

    let base = dir.path().join("out/fault-matrix_60_10");
    let summary = read_json(&base.with_file_name("fault-matrix_60_10_summary.json"));
    let records = read_json(&base.with_file_name("fault-matrix_60_10_individual_responses.json"));
    let records = records.as_array().unwrap();
    let log =
        std::fs::read_to_string(base.with_file_name("fault-matrix_60_10_requests.jsonl")).unwrap();

    // Nothing lost, nothing counted twice.
    let errors = MATRIX.iter().filter(|(_, e)| e.is_some()).count() as u64 * 2;
    let ok = REQUESTS as u64 - errors;
    assert_eq!(records.len(), REQUESTS, "{api}");
    assert_eq!(log.lines().count(), REQUESTS, "{api}");
    assert_eq!(summary["results_num_requests_started"], REQUESTS as u64);
    assert_eq!(
        summary["results_number_errors"], errors,
        "{api}: {summary:#}"
    );
    assert_eq!(summary["results_num_completed_requests"], ok, "{api}");

    // Each fault has its own code or kind, and the summary counts both.
    let mut want_kinds: Map<String, Value> = Map::new();
    let mut want_codes: Map<String, Value> = Map::new();
    for (_, e) in MATRIX.iter() {
        if let Some((code, kind)) = e {
            let n = want_kinds.get(*kind).and_then(Value::as_u64).unwrap_or(0);
            want_kinds.insert(kind.to_string(), json!(n + 2));
            let code = if *kind == "stream_error" {
                stream_error_code.to_string()
            } else {
                code.to_string()
            };
            let n = want_codes.get(&code).and_then(Value::as_u64).unwrap_or(0);
            want_codes.insert(code, json!(n + 2));
        }
    }
    let mut got_kinds = summary["results_error_kind_counts"]
        .as_object()
        .unwrap()
        .clone();
    got_kinds.sort_keys();
    want_kinds.sort_keys();
    assert_eq!(got_kinds, want_kinds, "{api}");
    let mut got_codes = summary["results_error_code_counts"]
        .as_object()
        .unwrap()
        .clone();
    got_codes.sort_keys();
    want_codes.sort_keys();
    assert_eq!(got_codes, want_codes, "{api}");

    for r in records {
        match r["error_kind"].as_str() {
            Some(kind) => {
                let msg = r["error_msg"].as_str().unwrap();
                assert!(
                    !msg.is_empty() && msg.len() < 70_000,
                    "{api} {kind}: {msg:.200}"
                );
                assert_eq!(r["end_to_end_latency_s"], 0.0);
            }
            None => {
                // The good requests (split UTF-8 and framing variants included) measure as on a healthy server.
                assert!(r["error_code"].is_null(), "{r}");
                assert_eq!(r["number_output_tokens"], OUTPUT_TOKENS + 1, "{api}: {r}");
                let ttft = r["ttft_s"].as_f64().unwrap();
                assert!((TTFT_S..TTFT_S + 1.0).contains(&ttft), "{api}: ttft {ttft}");
                assert!(r["end_to_end_latency_s"].as_f64().unwrap() >= ttft);
            }
        }
    }
}

#[test]
fn every_fault_is_one_record_with_its_own_code_or_kind_openai() {
    run_matrix("openai", "server_error");
}

#[test]
fn every_fault_is_one_record_with_its_own_code_or_kind_anthropic() {
    run_matrix("anthropic", "overloaded_error");
}

/// One request through the OpenAI chat client with these options.
async fn one_request(
    base: String,
    http: llmperf_actors::HttpOptions,
    max_tokens: u64,
) -> llmperf_actors::ClientResponse {
    use llmperf_actors::{LlmClient, OpenAiChatClient, OpenAiConfig, RequestConfig};
    let client = OpenAiChatClient::new(OpenAiConfig::chat(base, None, http));
    let mut sampling_params = Map::new();
    sampling_params.insert("max_tokens".into(), json!(max_tokens));
    client
        .llm_request(RequestConfig {
            model: "m".into(),
            prompt: ("hello".into(), 1),
            sampling_params,
            llm_api: "openai".into(),
            metadata: Map::new(),
            messages: None,
        })
        .await
}

#[actix_rt::test]
async fn a_response_past_the_size_cap_is_an_error_not_a_crash() {
    let sim = llmperf_actors::start_simulator(
        llmperf_actors::SimConfig {
            ttft_ms: 0.0,
            itl_ms: 0.0,
            ..Default::default()
        },
        "127.0.0.1",
        0,
    )
    .unwrap();
    let http = llmperf_actors::HttpOptions {
        max_response_bytes: 4096,
        ..Default::default()
    };
    let r = one_request(sim.base_url(), http.clone(), 500).await;
    assert_eq!(
        r.measured.error_kind,
        Some(llmperf_actors::ErrorKind::ResponseTooLarge),
        "{:?}",
        r.measured.error
    );
    // A small answer is fine with the same cap.
    let r = one_request(sim.base_url(), http, 3).await;
    assert_eq!(r.measured.error, None);
}

#[actix_rt::test]
async fn nothing_listening_is_a_connect_error() {
    // A port that was free a moment ago: the connection is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let http = llmperf_actors::HttpOptions {
        connect_timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let r = one_request(format!("http://127.0.0.1:{port}/v1"), http, 3).await;
    assert_eq!(
        r.measured.error_kind,
        Some(llmperf_actors::ErrorKind::Connect),
        "{:?}",
        r.measured.error
    );
    assert_eq!(r.measured.error.unwrap().0, -1);
}
