//! The simulator's own HTTP/1.1 server, checked byte by byte with raw `std::net::TcpStream` clients (nothing of
//! our HTTP client): keep-alive and its reuse, `Connection: close`, HTTP/1.0, `Expect: 100-continue`, chunked
//! request bodies, 404/405/400/413, `GET /v1/models`, the two mid-stream cuts (FIN and RST). The server's
//! habits are in `sim_habits.rs`.
//!
//! Timing bounds are generous (this runs on a busy two-core box): 20 s read timeouts that only a hang would
//! reach.
#![cfg(feature = "sim")] // starts the built-in simulator

#[path = "common/raw_http.rs"]
mod raw_http;

use std::io::{ErrorKind, Read};
use std::time::Duration;

use llmperf_actors::sim::{Fault, FaultRule, SimConfig};
use raw_http::{Conn, chat, post, sim};
use serde_json::{Value, json};

#[test]
fn keep_alive_reuses_one_connection_by_default() {
    let sim = sim(SimConfig {
        workers: 2,
        ..SimConfig::default()
    });
    let mut c = Conn::open(&sim);
    c.send(&post("/v1/chat/completions", &chat(true), ""));
    let first = c.response();
    assert_eq!(first.status, 200);
    assert_eq!(first.header("content-type"), Some("text/event-stream"));
    assert_eq!(first.header("cache-control"), Some("no-cache"));
    assert_eq!(first.header("transfer-encoding"), Some("chunked"));
    assert_eq!(
        first.header("connection"),
        None,
        "HTTP/1.1 keeps alive silently"
    );
    assert_eq!(first.events().last(), Some(&Value::from("[DONE]")));
    c.send(&post("/v1/chat/completions", &chat(false), ""));
    let second = c.response();
    assert_eq!(second.status, 200);
    assert!(second.header("content-length").is_some());
    assert_eq!(
        second.json()["choices"][0]["message"]["content"],
        "the of and"
    );
    c.send(&post(
        "/v1/completions",
        &json!({"model": "m", "prompt": "p", "stream": true}),
        "",
    ));
    assert_eq!(c.response().status, 200);
    assert_eq!(sim.connections(), 1);
    assert_eq!(sim.received().len(), 3);
    // Still open: nothing comes unasked.
    c.s.set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let e = c.next_read().expect_err("no close");
    assert!(
        matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{e}"
    );
}

#[test]
fn a_client_connection_close_is_honoured() {
    for cfg in [
        SimConfig::default(),
        SimConfig {
            close_after_stream: true,
            ..SimConfig::default()
        },
    ] {
        let sim = sim(cfg);
        let mut c = Conn::open(&sim);
        c.send(&post(
            "/v1/chat/completions",
            &chat(true),
            "Connection: close\r\n",
        ));
        let r = c.response();
        assert_eq!(r.header("connection"), Some("close"));
        assert_eq!(r.header("keep-alive"), None);
        assert_eq!(c.next_read().expect("a clean close"), 0);
    }
}

#[test]
fn expect_100_continue_is_answered_before_the_body() {
    let sim = sim(SimConfig::default());
    let mut c = Conn::open(&sim);
    let body = chat(false).to_string();
    c.send(
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: sim\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    let (status, _) = c.head();
    assert_eq!(status, 100);
    c.send(body.as_bytes());
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(sim.received()[0].body, chat(false));
}

#[test]
fn a_chunked_request_body_is_decoded() {
    let sim = sim(SimConfig::default());
    let mut c = Conn::open(&sim);
    let body = chat(true).to_string();
    let (a, b) = body.split_at(10);
    c.send(
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: sim\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x};ext=1\r\n{b}\r\n0\r\n\r\n",
            a.len(),
            b.len()
        )
        .as_bytes(),
    );
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(sim.received()[0].body, chat(true));
    assert_eq!(
        sim.received()[0].header("transfer-encoding"),
        Some("chunked")
    );
}

#[test]
fn http_1_0_gets_close_delimited_streams_and_keep_alive_only_when_asked() {
    let sim = sim(SimConfig::default());
    let body = chat(true).to_string();
    let mut c = Conn::open(&sim);
    c.send(
        format!(
            "POST /v1/chat/completions HTTP/1.0\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("transfer-encoding"), None);
    assert_eq!(r.header("content-length"), None);
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(r.events().last(), Some(&Value::from("[DONE]")));

    // Asked for keep-alive, a whole response keeps the connection.
    let body = chat(false).to_string();
    let req = format!(
        "POST /v1/chat/completions HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut c = Conn::open(&sim);
    c.send(req.as_bytes());
    let r = c.response();
    assert_eq!(r.header("connection"), Some("keep-alive"));
    assert!(r.header("content-length").is_some());
    c.send(&req.replace("Connection: keep-alive\r\n", "").into_bytes());
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(c.next_read().expect("a clean close"), 0);
    assert_eq!(sim.connections(), 2);
}

#[test]
fn unknown_paths_and_wrong_methods_are_json_errors_on_a_live_connection() {
    let sim = sim(SimConfig::default());
    let mut c = Conn::open(&sim);
    c.send(&post("/v2/nothing", &chat(false), ""));
    let r = c.response();
    assert_eq!(r.status, 404);
    assert!(r.json()["error"]["message"].as_str().is_some());
    c.send(b"GET /v1/chat/completions HTTP/1.1\r\nHost: sim\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    c.send(&post("/v1/models", &json!({}), ""));
    let r = c.response();
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET"));
    assert!(sim.received().is_empty(), "not routed, not received");
    c.send(&post("/chat/completions", &chat(false), ""));
    assert_eq!(c.response().status, 200);
    assert_eq!(sim.connections(), 1);
}

#[test]
fn models_lists_the_configured_model_or_sim_model() {
    for (model, want) in [(None, "sim-model"), (Some("llama-3-8b"), "llama-3-8b")] {
        let sim = sim(SimConfig {
            model: model.map(str::to_string),
            ..SimConfig::default()
        });
        let mut c = Conn::open(&sim);
        for path in ["/v1/models", "/models"] {
            c.send(format!("GET {path} HTTP/1.1\r\nHost: sim\r\n\r\n").as_bytes());
            let r = c.response();
            assert_eq!(r.status, 200);
            assert_eq!(r.header("content-type"), Some("application/json"));
            assert_eq!(
                r.json(),
                json!({"object": "list", "data": [{"id": want, "object": "model", "created": 0,
                                                   "owned_by": "llmperf-actors-sim"}]})
            );
        }
        assert_eq!(sim.received().len(), 2);
    }
}

#[test]
fn bad_requests_are_refused_and_closed() {
    let sim = sim(SimConfig::default());
    let mut c = Conn::open(&sim);
    c.send(b"THIS IS NOT HTTP\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 400);
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(c.next_read().expect("a clean close"), 0);

    let mut c = Conn::open(&sim);
    c.send(b"POST /v1/chat/completions HTTP/1.1\r\nHost: sim\r\nContent-Length: 67108865\r\n\r\n{");
    let r = c.response();
    assert_eq!(r.status, 413);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(sim.received().is_empty());
}

#[test]
fn close_mid_stream_is_a_fin_and_reset_mid_stream_a_reset() {
    let sim = sim(SimConfig {
        output_tokens: Some(10),
        faults: vec![
            FaultRule {
                kind: Fault::CloseMidStream,
                every: None,
                at: vec![1],
            },
            FaultRule {
                kind: Fault::ResetMidStream,
                every: None,
                at: vec![2],
            },
        ],
        ..SimConfig::default()
    });
    for fin in [true, false] {
        let mut c = Conn::open(&sim);
        c.send(&post(
            "/v1/chat/completions",
            &json!({"model": "m", "max_tokens": 10, "stream": true}),
            "",
        ));
        let (status, headers) = c.head();
        assert_eq!(status, 200);
        assert!(headers.contains(&("transfer-encoding".into(), "chunked".into())));
        // Read until the connection ends: chunks, never the terminator.
        let mut end = Ok(0);
        loop {
            let mut b = [0u8; 4096];
            match c.s.read(&mut b) {
                Ok(0) => break,
                Ok(n) => c.buf.extend_from_slice(&b[..n]),
                Err(e) => {
                    end = Err(e);
                    break;
                }
            }
        }
        let body = String::from_utf8_lossy(&c.buf);
        assert!(
            !body.contains("[DONE]") && !body.ends_with("0\r\n\r\n"),
            "{body}"
        );
        if fin {
            assert!(end.is_ok(), "a clean close: {end:?}");
            assert!(
                body.contains("\"content\""),
                "half the tokens first: {body}"
            );
        } else {
            let e = end.expect_err("a reset");
            assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
        }
    }
}
