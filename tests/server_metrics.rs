//! `--server-metrics` through the real binary against the built-in simulator with its saturating engine on
//! (two batch slots, eight clients: a queue forms): the samples file holds vLLM's series, the summary's server
//! token counters equal what the client's responses reported (the simulator counts exactly what it sends), the
//! queue-depth peak is above 0. And a metrics endpoint that refuses, hangs, answers 500, answers garbage or
//! vanishes mid-run costs the run no request and no measurement: every request completes, and the failed
//! scrapes are gaps in the file and the summary.
//!
//! Nothing here bounds a time: the fake endpoints only decide what a scrape gets.
#![cfg(feature = "sim")] // starts the built-in simulator

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::Value;

const REQUESTS: u64 = 24;

fn config(dir: &Path) -> String {
    format!(
        "openai_api_base: builtin
model: m
mean_input_tokens: 60
stddev_input_tokens: 10
mean_output_tokens: 12
stddev_output_tokens: 4
num_concurrent_requests: 8
max_num_completed_requests: {REQUESTS}
results_dir: {}
simulator: {{batch_slots: 2, ttft_ms: 20, decode_step_ms: 10, prefill_ms_per_token: 0.01,
             decode_ms_per_running: 1, kv_cache_tokens: 4000}}
",
        dir.join("out").display()
    )
}

/// Runs the load test with `args` after the config; returns the summary and the samples file's lines.
fn run(dir: &Path, args: &[&str]) -> (Value, Vec<Value>) {
    let mut all = vec!["--progress", "off", "--server-metrics-interval", "100ms"];
    all.extend_from_slice(args);
    common::run_config(dir, &config(dir), &all, &[]);
    let summary = common::read_json(&dir.join("out/m_60_12_summary.json"));
    let samples = common::read_jsonl(&dir.join("out/m_60_12_server_metrics.jsonl"));
    (summary, samples)
}

/// Every request completed without an error: the scraping cost the run nothing.
fn assert_untouched(summary: &Value) {
    assert_eq!(
        summary["results_num_completed_requests"], REQUESTS,
        "{summary:#}"
    );
    assert_eq!(summary["results_number_errors"], 0, "{summary:#}");
}

fn gaps(samples: &[Value]) -> Vec<String> {
    samples
        .iter()
        .filter(|l| l["name"] == "up" && l["value"] == 0.0)
        .map(|l| l["labels"]["error"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn scrapes_the_simulator_and_its_counters_equal_the_clients_usage_counts() {
    let dir = tempfile::tempdir().unwrap();
    let (s, samples) = run(dir.path(), &["--server-metrics"]);
    assert_untouched(&s);
    // The samples: vLLM's names, a baseline before the run's start, scrapes during it, none failed.
    for name in [
        "vllm:num_requests_waiting",
        "vllm:num_requests_running",
        "vllm:kv_cache_usage_perc",
        "vllm:generation_tokens_total",
        "vllm:time_to_first_token_seconds_bucket",
    ] {
        assert!(samples.iter().any(|l| l["name"] == name), "no {name}");
    }
    let ups: Vec<&Value> = samples.iter().filter(|l| l["name"] == "up").collect();
    assert!(ups.len() >= 3, "{} scrapes", ups.len());
    assert!(
        ups[0]["t"].as_f64().unwrap() <= 0.0,
        "baseline at {}",
        ups[0]["t"]
    );
    assert!(gaps(&samples).is_empty(), "{:?}", gaps(&samples));
    let line = samples
        .iter()
        .find(|l| l["name"] == "vllm:num_requests_waiting")
        .unwrap();
    assert_eq!(line["labels"]["model_name"], "sim-model");
    assert!(line["t"].is_f64() && line["value"].is_f64(), "{line}");

    // The server's counters equal the usage each response reported to the client, exactly.
    let responses = common::read_json(&dir.path().join("out/m_60_12_individual_responses.json"));
    let sum = |key: &str| -> u64 {
        responses
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r[key].as_u64().unwrap_or_else(|| panic!("{key} in {r}")))
            .sum()
    };
    let (prompt, completion) = (sum("server_prompt_tokens"), sum("server_completion_tokens"));
    assert!(completion > REQUESTS, "{completion}");
    assert_eq!(s["results_server_generation_tokens"], completion, "{s:#}");
    assert_eq!(s["results_server_prompt_tokens"], prompt, "{s:#}");
    assert_eq!(s["results_server_requests"], REQUESTS);
    assert_eq!(s["results_client_generation_tokens"], completion);
    assert_eq!(s["results_server_warnings"], serde_json::json!([]));
    // Eight clients on two slots: a queue, seen by the server.
    assert!(
        s["results_server_requests_waiting_max"].as_f64().unwrap() > 0.0,
        "{s:#}"
    );
    assert!(
        s["results_server_requests_running_max"].as_f64().unwrap() <= 2.0,
        "{s:#}"
    );
    assert!(
        s["results_server_kv_cache_usage_max"].as_f64().unwrap() > 0.0,
        "{s:#}"
    );
    let (p50, p99) = (
        s["results_server_ttft_s_p50"].as_f64().unwrap(),
        s["results_server_ttft_s_p99"].as_f64().unwrap(),
    );
    assert!(0.0 < p50 && p50 <= p99, "{p50} {p99}");
    assert_eq!(s["results_server_ttft_s_count"], REQUESTS);
    assert_eq!(s["results_server_kind"], "vllm");
    // llmperf's keys are all still there, untouched in kind.
    assert!(s["results_ttft_s_quantiles_p50"].is_f64());
}

/// What a fake metrics endpoint does with each connection.
#[derive(Clone, Copy)]
enum Fake {
    /// Reads the request and never answers.
    Hang,
    /// Answers 500.
    Error500,
    /// Answers 200 with a body that is not the text format.
    Garbage,
}

/// A fake endpoint on a thread; returns its metrics URL.
fn fake(kind: Fake) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/metrics", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let reply: &[u8] = match kind {
                Fake::Hang => {
                    held.push(c);
                    continue;
                }
                Fake::Error500 => {
                    b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\nConnection: close\r\n\r\noops"
                }
                Fake::Garbage => {
                    b"HTTP/1.1 200 OK\r\nContent-Length: 26\r\nConnection: close\r\n\r\n<html>not metrics</html>\r\n"
                }
            };
            let _ = c.write_all(reply);
        }
    });
    url
}

#[test]
fn a_refused_hanging_failing_or_garbage_endpoint_costs_no_request_and_leaves_gaps() {
    // A port nothing listens on.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/metrics", l.local_addr().unwrap())
    };
    let cases = [
        (closed, "refused"),
        (fake(Fake::Hang), "no answer within"),
        (fake(Fake::Error500), "HTTP 500"),
        (fake(Fake::Garbage), "not the Prometheus text format"),
    ];
    for (url, why) in cases {
        let dir = tempfile::tempdir().unwrap();
        let (s, samples) = run(dir.path(), &["--server-metrics", &url]);
        assert_untouched(&s);
        let g = gaps(&samples);
        // The baseline and the last scrape at least, each a gap with its reason.
        assert!(g.len() >= 2, "{why}: {g:?}");
        assert!(
            g.iter()
                .all(|e| e.to_lowercase().contains(&why.to_lowercase())),
            "{why}: {g:?}"
        );
        assert_eq!(s["results_server_scrapes"], 0, "{why}");
        assert_eq!(s["results_server_scrape_gaps"], g.len(), "{why}");
        assert!(s["results_server_generation_tokens"].is_null(), "{why}");
        let warnings = s["results_server_warnings"].as_array().unwrap();
        assert!(
            warnings
                .iter()
                .any(|w| w.as_str().unwrap().contains("scrapes")),
            "{why}: {warnings:?}"
        );
    }
}

/// A proxy in front of the simulator's `/metrics` that answers the first scrapes and then goes away: its
/// listener closes and the connections it holds are dropped.
#[test]
fn an_endpoint_that_vanishes_mid_run_leaves_the_scrapes_before_and_gaps_after() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/metrics", listener.local_addr().unwrap());
    let sim = llmperf_actors::start_simulator(llmperf_actors::SimConfig::default(), "127.0.0.1", 0)
        .unwrap();
    let upstream = sim.base_url().replace("/v1", "");
    let served = Arc::new(AtomicUsize::new(0));
    let gone = Arc::new(AtomicBool::new(false));
    {
        let (served, gone) = (served.clone(), gone.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut c) = conn else { continue };
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf);
                let addr = upstream.trim_start_matches("http://").to_string();
                let mut up = TcpStream::connect(addr).unwrap();
                up.write_all(b"GET /metrics HTTP/1.1\r\nHost: sim\r\nConnection: close\r\n\r\n")
                    .unwrap();
                let mut body = Vec::new();
                let _ = up.read_to_end(&mut body);
                let _ = c.write_all(&body);
                if served.fetch_add(1, Ordering::SeqCst) + 1 >= 3 {
                    gone.store(true, Ordering::SeqCst);
                    return; // the listener goes with the thread
                }
            }
        });
    }
    let dir = tempfile::tempdir().unwrap();
    let (s, samples) = run(dir.path(), &["--server-metrics", &url]);
    assert_untouched(&s);
    assert!(gone.load(Ordering::SeqCst), "the proxy served {served:?}");
    let ups: Vec<&Value> = samples.iter().filter(|l| l["name"] == "up").collect();
    // The proxy answered 3 scrapes; on a busy machine one may still reach the scraper after its deadline
    // (100 ms here) and count as a gap. Every scrape after the last answered one is a gap (the proxy is gone),
    // the last one included, and the summary counts the answered ones.
    let answered: Vec<usize> = (0..ups.len()).filter(|&i| ups[i]["value"] == 1.0).collect();
    assert!((1..=3).contains(&answered.len()), "{ups:?}");
    let last = *answered.last().unwrap();
    assert!(ups[last + 1..].iter().all(|l| l["value"] == 0.0), "{ups:?}");
    assert!(ups.len() > last + 1, "{ups:?}");
    assert!(
        ups[last + 1..].iter().any(|l| l["labels"]["error"]
            .as_str()
            .unwrap_or("")
            .contains("refused")),
        "{ups:?}"
    );
    assert_eq!(s["results_server_scrapes"], answered.len());
    drop(sim);
}

#[test]
fn a_bad_metrics_url_or_interval_is_refused_before_the_run_naming_the_flag() {
    for (args, what) in [
        (
            ["--server-metrics", "ftp://host/metrics"],
            "--server-metrics",
        ),
        (
            ["--server-metrics-interval", "soon"],
            "--server-metrics-interval",
        ),
    ] {
        let o = common::bin()
            .args(["--model", "m", "--progress", "off"])
            .args(args)
            .env("OPENAI_API_BASE", "builtin")
            .output()
            .unwrap();
        assert!(!o.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(stderr.contains(what), "{args:?}: {stderr}");
    }
}
