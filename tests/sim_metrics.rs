//! The simulator's `GET /metrics` (vLLM's names and units), read with raw `std::net::TcpStream` clients and a
//! strict text-format reader: counters that equal what the responses' usage objects carried, histogram counts
//! that equal the number of requests, gauges that move with the `capacity` queue and with the saturating
//! engine's queue, batch and KV budget; and the engine freeing a slot when a client goes away.
//!
//! Timing bounds are generous (this runs on a busy two-core box): gauges are polled until they show what
//! they must, for seconds, and only orderings and bounds are asserted.
#![cfg(feature = "sim")] // starts the built-in simulator

#[path = "common/prom.rs"]
mod prom;
#[path = "common/raw_http.rs"]
mod raw_http;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use llmperf_actors::sim::{Fault, FaultRule, SimConfig, SimServer, start_in_background};
use prom::Scrape;
use raw_http::{Conn, Response, chat, post, sim};
use serde_json::{Value, json};

fn get_metrics(sim: &SimServer) -> Scrape {
    let mut c = Conn::open(sim);
    c.send(b"GET /metrics HTTP/1.1\r\nHost: sim\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    Scrape::parse(&String::from_utf8(r.body).expect("UTF-8"))
}

/// The value of a `model_name="sim-model"` series.
fn v(s: &Scrape, name: &str) -> f64 {
    s.value(name, &[("model_name", "sim-model"), ("engine", "0")])
}

/// (prompt, completion) tokens of a response's usage, whatever its shape.
fn usage(r: &Response) -> (u64, u64) {
    let n = |v: &Value| v.as_u64().expect("a count");
    if r.header("content-type") == Some("application/json") {
        let u = &r.json()["usage"];
        return match u.get("input_tokens") {
            Some(i) => (n(i), n(&u["output_tokens"])),
            None => (n(&u["prompt_tokens"]), n(&u["completion_tokens"])),
        };
    }
    let text = String::from_utf8(r.body.clone()).expect("UTF-8");
    let (mut prompt, mut completion) = (None, None);
    for data in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
        let Ok(ev) = serde_json::from_str::<Value>(data) else {
            continue;
        };
        if let Some(u) = ev.get("usage").filter(|u| !u.is_null()) {
            prompt = u.get("prompt_tokens").map(n).or(prompt);
            completion = u.get("completion_tokens").map(n).or(completion);
        }
        if let Some(i) = ev.pointer("/message/usage/input_tokens") {
            prompt = Some(n(i));
        }
        if ev["type"] == "message_delta" {
            completion = Some(n(&ev["usage"]["output_tokens"]));
        }
    }
    (
        prompt.expect("prompt tokens"),
        completion.expect("completion tokens"),
    )
}

fn request(sim: &SimServer, path: &str, body: &Value) -> Response {
    let mut c = Conn::open(sim);
    c.send(&post(path, body, ""));
    c.response()
}

#[test]
fn counters_and_histograms_match_what_the_responses_carried() {
    // Request 7 breaks off mid-stream: counted as aborted, its tokens not at all.
    let sim = sim(SimConfig {
        reasoning_tokens: 2,
        model: Some("sim-model".into()),
        faults: vec![FaultRule {
            kind: Fault::ErrorMidStream,
            every: None,
            at: vec![7],
        }],
        ..SimConfig::default()
    });
    let before = get_metrics(&sim);
    for name in ["vllm:prompt_tokens_total", "vllm:generation_tokens_total"] {
        assert_eq!(v(&before, name), 0.0, "{name}");
    }
    let prompt = "Write a few words about the sea, please.";
    let chat_body = |stream: bool| {
        json!({"model": "m", "max_tokens": 3, "stream": stream,
               "messages": [{"role": "user", "content": prompt}],
               "stream_options": {"include_usage": true}})
    };
    let completions = |stream: bool| {
        json!({"model": "m", "max_tokens": 3, "stream": stream, "prompt": prompt,
               "stream_options": {"include_usage": true}})
    };
    let messages = |stream: bool| {
        json!({"model": "m", "max_tokens": 3, "stream": stream, "system": "Be brief.",
               "messages": [{"role": "user", "content": [{"type": "text", "text": prompt}]}]})
    };
    let responses = [
        request(&sim, "/v1/chat/completions", &chat_body(true)),
        request(&sim, "/v1/chat/completions", &chat_body(false)),
        request(&sim, "/v1/completions", &completions(true)),
        request(&sim, "/v1/completions", &completions(false)),
        request(&sim, "/v1/messages", &messages(true)),
        request(&sim, "/v1/messages", &messages(false)),
    ];
    let broken = request(&sim, "/v1/chat/completions", &chat_body(true));
    assert!(String::from_utf8_lossy(&broken.body).contains("simulated error mid-stream"));
    let after = get_metrics(&sim);
    let usages: Vec<(u64, u64)> = responses.iter().map(usage).collect();
    let (prompts, completions): (u64, u64) = usages
        .iter()
        .fold((0, 0), |(p, c), (up, uc)| (p + up, c + uc));
    assert_eq!(usages[0].1, 5, "reasoning counted as output: {usages:?}");
    let delta = |name: &str| v(&after, name) - v(&before, name);
    assert_eq!(delta("vllm:prompt_tokens_total"), prompts as f64);
    assert_eq!(delta("vllm:generation_tokens_total"), completions as f64);
    let success = |s: &Scrape, reason: &str| {
        s.value(
            "vllm:request_success_total",
            &[("finished_reason", reason), ("model_name", "sim-model")],
        )
    };
    // max_tokens 3 = the answer's length: every one finished by length.
    assert_eq!(success(&after, "length") - success(&before, "length"), 6.0);
    assert_eq!(success(&after, "stop") - success(&before, "stop"), 0.0);
    assert_eq!(success(&after, "abort") - success(&before, "abort"), 1.0);
    for h in [
        "vllm:time_to_first_token_seconds",
        "vllm:request_queue_time_seconds",
        "vllm:e2e_request_latency_seconds",
        "vllm:request_time_per_output_token_seconds",
    ] {
        after.buckets(h);
        assert_eq!(delta(&format!("{h}_count")), 6.0, "{h}: one per request");
    }
    // One inter-token observation per token after the first (one token per piece here).
    let gaps: u64 = usages.iter().map(|(_, c)| c - 1).sum();
    for h in [
        "vllm:inter_token_latency_seconds",
        "vllm:time_per_output_token_seconds",
    ] {
        after.buckets(h);
        assert_eq!(delta(&format!("{h}_count")), gaps as f64, "{h}");
    }
    for (name, kind) in [
        ("vllm:num_requests_running", "gauge"),
        ("vllm:num_requests_waiting", "gauge"),
        ("vllm:kv_cache_usage_perc", "gauge"),
        ("vllm:gpu_cache_usage_perc", "gauge"),
        ("vllm:prompt_tokens_total", "counter"),
        ("vllm:request_success_total", "counter"),
        ("vllm:inter_token_latency_seconds", "histogram"),
    ] {
        assert_eq!(
            after.types.get(name).map(String::as_str),
            Some(kind),
            "{name}"
        );
    }
    assert_eq!(v(&after, "vllm:num_requests_running"), 0.0);
    assert_eq!(v(&after, "vllm:kv_cache_usage_perc"), 0.0);
    // Scrapes are not requests: the log holds the seven API requests only.
    assert_eq!(sim.received().len(), 7);
    let mut c = Conn::open(&sim);
    c.send(&post("/metrics", &json!({}), ""));
    let r = c.response();
    assert_eq!((r.status, r.header("allow")), (405, Some("GET")));
}

/// Polls `/metrics` every 10 ms for up to `within`, until `seen` says enough has been seen; returns every
/// scrape.
fn poll(sim: &SimServer, within: Duration, mut seen: impl FnMut(&Scrape) -> bool) -> Vec<Scrape> {
    let start = Instant::now();
    let mut all = Vec::new();
    while start.elapsed() < within {
        let s = get_metrics(sim);
        let done = seen(&s);
        all.push(s);
        if done {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    all
}

fn max_of(scrapes: &[Scrape], name: &str) -> f64 {
    scrapes.iter().map(|s| v(s, name)).fold(0.0, f64::max)
}

#[test]
fn without_the_engine_the_gauges_show_streams_and_the_capacity_queue() {
    let sim = start_in_background(
        SimConfig {
            capacity: Some(1),
            ttft_ms: 300.0,
            itl_ms: 0.0,
            output_tokens: Some(3),
            ..SimConfig::default()
        }
        .validated()
        .expect("valid"),
        "127.0.0.1",
        0,
    )
    .expect("simulator");
    std::thread::scope(|s| {
        let clients: Vec<_> = (0..3)
            .map(|_| s.spawn(|| request(&sim, "/v1/chat/completions", &chat(true))))
            .collect();
        let scrapes = poll(&sim, Duration::from_secs(5), |s| {
            v(s, "vllm:num_requests_waiting") >= 2.0
        });
        assert_eq!(
            max_of(&scrapes, "vllm:num_requests_waiting"),
            2.0,
            "two wait for the one slot"
        );
        assert_eq!(max_of(&scrapes, "vllm:num_requests_running"), 1.0);
        for c in clients {
            assert_eq!(c.join().expect("client").status, 200);
        }
    });
    let end = poll(&sim, Duration::from_secs(5), |s| {
        v(s, "vllm:num_requests_running") == 0.0
    });
    let last = end.last().expect("a scrape");
    assert_eq!(v(last, "vllm:num_requests_running"), 0.0);
    assert_eq!(v(last, "vllm:num_requests_waiting"), 0.0);
    assert_eq!(v(last, "vllm:time_to_first_token_seconds_count"), 3.0);
    // The last one waited for two others' 300 ms.
    assert!(v(last, "vllm:request_queue_time_seconds_sum") >= 0.5);
}

/// An engine of `slots` slots: 30 ms prefills, 20 ms decode steps (20 tokens: 410 ms alone).
fn engine(slots: usize, kv: Option<u64>) -> SimServer {
    let cfg = SimConfig {
        batch_slots: Some(slots),
        ttft_ms: 30.0,
        decode_step_ms: Some(20.0),
        kv_cache_tokens: kv,
        workers: 2,
        ..SimConfig::default()
    };
    start_in_background(cfg.validated().expect("valid"), "127.0.0.1", 0).expect("simulator")
}

#[test]
fn with_the_engine_the_queue_batch_and_kv_cache_move() {
    let sim = engine(2, Some(200));
    let body = json!({"model": "m", "max_tokens": 20, "stream": true,
                      "messages": [{"role": "user", "content": "hi"}]});
    std::thread::scope(|s| {
        let clients: Vec<_> = (0..6)
            .map(|_| s.spawn(|| request(&sim, "/v1/chat/completions", &body)))
            .collect();
        let scrapes = poll(&sim, Duration::from_secs(10), |s| {
            v(s, "vllm:time_to_first_token_seconds_count") >= 6.0
        });
        let running = max_of(&scrapes, "vllm:num_requests_running");
        assert_eq!(running, 2.0, "the batch fills its two slots, never more");
        assert!(
            max_of(&scrapes, "vllm:num_requests_waiting") >= 1.0,
            "a queue forms"
        );
        let kv = max_of(&scrapes, "vllm:kv_cache_usage_perc");
        assert!(kv > 0.0 && kv <= 1.0, "KV usage {kv}");
        for s in &scrapes {
            assert_eq!(
                v(s, "vllm:kv_cache_usage_perc"),
                v(s, "vllm:gpu_cache_usage_perc")
            );
            assert!(v(s, "vllm:num_requests_running") <= 2.0);
        }
        for c in clients {
            let r = c.join().expect("client");
            assert_eq!(r.status, 200);
            assert_eq!(content_pieces(&r), 20);
        }
    });
    let end = poll(&sim, Duration::from_secs(5), |s| {
        v(s, "vllm:num_requests_running") == 0.0 && v(s, "vllm:num_requests_waiting") == 0.0
    });
    let last = end.last().expect("a scrape");
    assert_eq!(v(last, "vllm:num_requests_running"), 0.0);
    assert_eq!(v(last, "vllm:kv_cache_usage_perc"), 0.0);
    assert_eq!(v(last, "vllm:generation_tokens_total"), 120.0);
    assert_eq!(v(last, "vllm:request_queue_time_seconds_count"), 6.0);
    // Three waves of two: the last two queued for about two waves (2 × 410 ms).
    let queued = v(last, "vllm:request_queue_time_seconds_sum");
    assert!(queued > 1.0, "queue time {queued} s in all");
    // 19 gaps of one decode step (20 ms, or 40+ with a prefill between) per request.
    let itl_count = v(last, "vllm:inter_token_latency_seconds_count");
    assert_eq!(itl_count, 6.0 * 19.0);
    let itl_mean = v(last, "vllm:inter_token_latency_seconds_sum") / itl_count;
    assert!((0.019..0.2).contains(&itl_mean), "mean ITL {itl_mean}");
}

/// The content pieces of a streamed chat response (one token each).
fn content_pieces(r: &Response) -> usize {
    let text = String::from_utf8(r.body.clone()).expect("UTF-8");
    text.lines()
        .filter(|l| l.contains("\"content\"") && !l.contains("\"role\""))
        .count()
}

#[test]
fn a_client_that_goes_away_frees_its_slot_and_its_place_in_the_queue() {
    let sim = engine(1, None);
    // 500 tokens: 10 s if it ran to its end.
    let long = json!({"model": "m", "max_tokens": 500, "stream": true,
                      "messages": [{"role": "user", "content": "hi"}]});
    // The running request's client leaves after its first bytes.
    let mut gone = TcpStream::connect(sim.addr).expect("connect");
    gone.write_all(&post("/v1/chat/completions", &long, ""))
        .expect("send");
    poll(&sim, Duration::from_secs(5), |s| {
        v(s, "vllm:num_requests_running") == 1.0
    });
    // A second one queues behind it, and its client leaves too.
    let mut queued = TcpStream::connect(sim.addr).expect("connect");
    queued
        .write_all(&post("/v1/chat/completions", &long, ""))
        .expect("send");
    let seen = poll(&sim, Duration::from_secs(5), |s| {
        v(s, "vllm:num_requests_waiting") == 1.0
    });
    assert_eq!(
        v(seen.last().expect("scrape"), "vllm:num_requests_waiting"),
        1.0
    );
    drop(queued);
    drop(gone);
    let after = poll(&sim, Duration::from_secs(5), |s| {
        v(s, "vllm:num_requests_waiting") == 0.0 && v(s, "vllm:num_requests_running") == 0.0
    });
    let last = after.last().expect("scrape");
    assert_eq!(
        v(last, "vllm:num_requests_waiting"),
        0.0,
        "the queued one left the queue"
    );
    assert_eq!(
        v(last, "vllm:num_requests_running"),
        0.0,
        "the running one left the batch"
    );
    // Both counted as aborted; the next request finds the slot free at once.
    assert_eq!(
        last.value(
            "vllm:request_success_total",
            &[("finished_reason", "abort")]
        ),
        2.0
    );
    let started = Instant::now();
    let r = request(&sim, "/v1/chat/completions", &chat(true));
    assert_eq!(r.status, 200);
    assert!(started.elapsed() < Duration::from_secs(5));
    let s = get_metrics(&sim);
    assert!(
        v(&s, "vllm:request_queue_time_seconds_sum") < 0.2,
        "no wait for a slot"
    );
}
