//! The real-server habits the simulator can reproduce, each checked byte by byte with raw
//! `std::net::TcpStream` clients (nothing of our HTTP client): `close_after_stream` (with and without
//! `close_delay_ms`), `idle_close_ms`, `close_delimited`, `usage_chunk`, `role_content_null`,
//! `reject_stream_options`.
//!
//! Timing bounds are generous (this runs on a busy two-core box): lower bounds that the server's own sleeps
//! guarantee, and 20 s read timeouts that only a hang would reach.
#![cfg(feature = "sim")] // starts the built-in simulator

#[path = "common/raw_http.rs"]
mod raw_http;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use llmperf_actors::sim::{SimConfig, UsageChunk};
use raw_http::{Conn, chat, post, sim};
use serde_json::{Value, json};

#[test]
fn close_after_stream_closes_right_after_the_terminator_while_advertising_keep_alive() {
    let sim = sim(SimConfig {
        close_after_stream: true,
        ..SimConfig::default()
    });
    let mut c = Conn::open(&sim);
    // A whole response keeps the connection (and advertises it too).
    c.send(&post("/v1/chat/completions", &chat(false), ""));
    let whole = c.response();
    assert_eq!(whole.header("connection"), Some("keep-alive"));
    c.send(&post("/v1/chat/completions", &chat(true), ""));
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), Some("keep-alive"));
    assert_eq!(r.header("keep-alive"), Some("timeout=5, max=100"));
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.events().last(), Some(&Value::from("[DONE]")));
    // The terminator was the last byte: the server closes without reading anything more.
    assert_eq!(c.next_read().expect("a clean close"), 0);
    assert_eq!(sim.connections(), 1);
    assert_eq!(sim.received().len(), 2);
}

#[test]
fn close_delay_answers_a_request_on_the_reused_connection_with_a_reset() {
    let delay = Duration::from_millis(1000);
    let sim = sim(SimConfig {
        close_after_stream: true,
        close_delay_ms: delay.as_millis() as u64,
        ..SimConfig::default()
    });
    let mut c = Conn::open(&sim);
    // Before the request: the server sends the terminator after it, so closes no earlier than `delay` after
    // this, however late this thread reads (a reading taken after the response would count the lateness).
    let requested = Instant::now();
    c.send(&post("/v1/chat/completions", &chat(true), ""));
    let r = c.response();
    assert_eq!(r.header("connection"), Some("keep-alive"));
    // The client reuses the connection it was told is alive; the server closes it without reading.
    c.send(&post("/v1/chat/completions", &chat(true), ""));
    match c.next_read() {
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
        // Only if this thread stalled past the delay before writing: the close came first.
        Ok(n) => assert_eq!(n, 0),
    }
    // The close waited for the delay (a lower bound the server's own sleep guarantees).
    assert!(
        requested.elapsed() >= delay,
        "closed after {:?}",
        requested.elapsed()
    );
    let received = sim.received();
    assert_eq!(received.len(), 1, "the unread request is not received");
    assert_eq!(sim.connections(), 1);
}

#[test]
fn idle_close_closes_a_waiting_connection_silently() {
    let idle = Duration::from_millis(300);
    let sim = sim(SimConfig {
        idle_close_ms: Some(idle.as_millis() as u64),
        ..SimConfig::default()
    });
    let mut c = Conn::open(&sim);
    // Before the request: the connection's idle time starts after the response, so the close comes no
    // earlier than `idle` after this, however late this thread reads.
    let requested = Instant::now();
    c.send(&post("/v1/chat/completions", &chat(true), ""));
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), None, "nothing announces it");
    assert_eq!(c.next_read().expect("a clean close"), 0);
    assert!(
        requested.elapsed() >= idle,
        "closed after {:?}",
        requested.elapsed()
    );
    // A connection that never sends a request is closed the same way.
    let mut quiet = Conn::open(&sim);
    assert_eq!(quiet.next_read().expect("a clean close"), 0);
    assert_eq!(sim.connections(), 2);
    assert_eq!(sim.received().len(), 1);
}

#[test]
fn close_delimited_streams_end_at_the_close_with_the_whole_stream() {
    let plain = sim(SimConfig::default());
    let mut c = Conn::open(&plain);
    c.send(&post("/v1/chat/completions", &chat(true), ""));
    let chunked = c.response();

    let sim = sim(SimConfig {
        close_delimited: true,
        ..SimConfig::default()
    });
    let mut c = Conn::open(&sim);
    // A whole response still has a length, and the connection stays open after it.
    c.send(&post("/v1/chat/completions", &chat(false), ""));
    let whole = c.response();
    assert!(whole.header("content-length").is_some());
    c.send(&post("/v1/chat/completions", &chat(true), ""));
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), None);
    assert_eq!(r.header("transfer-encoding"), None);
    assert_eq!(r.header("connection"), Some("close"));
    // The same events as the chunked stream (the id differs: it is the simulator's second request).
    let text = String::from_utf8(r.body.clone()).expect("UTF-8");
    let want = String::from_utf8(chunked.body).expect("UTF-8");
    assert_eq!(text.replace("sim-2", "sim-1"), want);
    assert!(text.ends_with("data: [DONE]\n\n"));
    assert_eq!(sim.connections(), 1);
}

#[test]
fn usage_goes_in_a_chunk_of_its_own_or_on_the_finish_chunk() {
    for (placement, path, body) in [
        (UsageChunk::Separate, "/v1/chat/completions", chat(true)),
        (
            UsageChunk::WithLastChoice,
            "/v1/chat/completions",
            chat(true),
        ),
        (
            UsageChunk::WithLastChoice,
            "/v1/completions",
            json!({"model": "m", "prompt": "p", "max_tokens": 3, "stream": true,
                   "stream_options": {"include_usage": true}}),
        ),
    ] {
        let sim = sim(SimConfig {
            usage_chunk: placement,
            ..SimConfig::default()
        });
        let mut c = Conn::open(&sim);
        c.send(&post(path, &body, ""));
        let events = c.response().events();
        let chunks: Vec<&Value> = events.iter().filter(|e| e.is_object()).collect();
        let with_usage: Vec<&&Value> = chunks.iter().filter(|e| e.get("usage").is_some()).collect();
        assert_eq!(with_usage.len(), 1, "{path}: {events:?}");
        let usage_chunk = with_usage[0];
        assert_eq!(usage_chunk["usage"]["completion_tokens"], 3);
        let last_with_choices = chunks
            .iter()
            .rev()
            .find(|e| e["choices"].as_array().is_some_and(|c| !c.is_empty()))
            .expect("a finish chunk");
        assert_eq!(last_with_choices["choices"][0]["finish_reason"], "length");
        match placement {
            UsageChunk::Separate => {
                assert_eq!(usage_chunk["choices"], json!([]));
                assert!(last_with_choices.get("usage").is_none());
            }
            UsageChunk::WithLastChoice => {
                assert_eq!(*usage_chunk, *last_with_choices, "{path}");
                assert!(chunks.iter().all(|e| e["choices"] != json!([])), "{path}");
            }
        }
        assert_eq!(events.last(), Some(&Value::from("[DONE]")));
    }
}

#[test]
fn the_role_chunk_content_is_empty_or_null() {
    for (null, want) in [(false, json!("")), (true, Value::Null)] {
        let sim = sim(SimConfig {
            role_content_null: null,
            ..SimConfig::default()
        });
        let mut c = Conn::open(&sim);
        c.send(&post("/v1/chat/completions", &chat(true), ""));
        let events = c.response().events();
        let delta = &events[0]["choices"][0]["delta"];
        assert_eq!(delta["role"], "assistant");
        assert_eq!(delta.get("content"), Some(&want), "{delta}");
    }
}

#[test]
fn reject_stream_options_names_the_field() {
    let sim = sim(SimConfig {
        reject_stream_options: true,
        ..SimConfig::default()
    });
    let mut c = Conn::open(&sim);
    c.send(&post("/v1/chat/completions", &chat(true), ""));
    let r = c.response();
    assert_eq!(r.status, 400);
    let err = r.json();
    assert_eq!(
        err,
        json!({"error": {"message": "Unrecognized request argument supplied: stream_options",
                         "type": "invalid_request_error", "param": "stream_options", "code": null}})
    );
    // The client drops the field and goes on, on the same connection.
    let mut body = chat(true);
    body.as_object_mut()
        .expect("object")
        .remove("stream_options");
    c.send(&post("/v1/chat/completions", &body, ""));
    let r = c.response();
    assert_eq!(r.status, 200);
    assert!(r.events().iter().all(|e| e.get("usage").is_none()));
    assert_eq!(sim.received().len(), 2);
    assert_eq!(sim.connections(), 1);
}
