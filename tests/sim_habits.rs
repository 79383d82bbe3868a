//! The simulator's own HTTP/1.1 server and the real-server habits it can reproduce, checked byte by byte with
//! raw `std::net::TcpStream` clients (nothing of our HTTP client): keep-alive and its reuse, `Connection:
//! close`, HTTP/1.0, `Expect: 100-continue`, chunked request bodies, 404/405/400/413, `GET /v1/models`, the
//! two mid-stream cuts (FIN and RST), and each habit — `close_after_stream` (with and without
//! `close_delay_ms`), `idle_close_ms`, `close_delimited`, `usage_chunk`, `role_content_null`,
//! `reject_stream_options`.
//!
//! Timing bounds are generous (this runs on a busy two-core box): lower bounds that the server's own sleeps
//! guarantee, and 20 s read timeouts that only a hang would reach.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use llmperf_actors::sim::{
    Fault, FaultRule, SimConfig, SimServer, UsageChunk, start_in_background,
};
use serde_json::{Value, json};

fn sim(cfg: SimConfig) -> SimServer {
    let cfg = SimConfig {
        ttft_ms: 0.0,
        itl_ms: 0.0,
        output_tokens: Some(3),
        ..cfg
    }
    .validated()
    .expect("valid config");
    start_in_background(cfg, "127.0.0.1", 0).expect("simulator starts")
}

/// A streamed chat request asking for usage.
fn chat(stream: bool) -> Value {
    json!({"model": "m", "max_tokens": 3, "stream": stream,
           "messages": [{"role": "user", "content": "hi"}],
           "stream_options": {"include_usage": true}})
}

/// `POST path` with a JSON body and `extra` header lines (each ending in CRLF).
fn post(path: &str, body: &Value, extra: &str) -> Vec<u8> {
    let body = body.to_string();
    format!(
        "POST {path} HTTP/1.1\r\nHost: sim\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// The SSE data payloads: JSON values, and the string "[DONE]".
    fn events(&self) -> Vec<Value> {
        let text = String::from_utf8(self.body.clone()).expect("UTF-8");
        assert!(
            text.ends_with("\n\n"),
            "ends with a complete event: {text:?}"
        );
        text.split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| {
                let data = e.strip_prefix("data: ").expect("a data event");
                serde_json::from_str(data).unwrap_or_else(|_| Value::from(data))
            })
            .collect()
    }
}

/// A raw client connection that reads responses by hand.
struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn open(sim: &SimServer) -> Conn {
        let s = TcpStream::connect(sim.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        Conn { s, buf: Vec::new() }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).expect("write");
    }

    /// Reads what comes; 0 at the end of the stream.
    fn fill(&mut self) -> usize {
        let mut b = [0u8; 16384];
        let n = self.s.read(&mut b).expect("read");
        self.buf.extend_from_slice(&b[..n]);
        n
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(self.fill() > 0, "the connection ended early");
        }
        self.buf.drain(..n).collect()
    }

    /// One line, without its CRLF.
    fn line(&mut self) -> String {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.take(i + 2);
                return String::from_utf8_lossy(&line[..i]).into_owned();
            }
            assert!(self.fill() > 0, "the connection ended inside a line");
        }
    }

    /// A status line and headers.
    fn head(&mut self) -> (u16, Vec<(String, String)>) {
        let status_line = self.line();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("status line {status_line:?}"));
        assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
        let mut headers = Vec::new();
        loop {
            let line = self.line();
            if line.is_empty() {
                return (status, headers);
            }
            let (n, v) = line.split_once(':').expect("a header line");
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }

    /// A whole response, its body read as its headers say: chunked, by length, or to the end of the stream.
    fn response(&mut self) -> Response {
        let (status, headers) = self.head();
        let mut r = Response {
            status,
            headers,
            body: Vec::new(),
        };
        if r.header("transfer-encoding") == Some("chunked") {
            loop {
                let size = usize::from_str_radix(&self.line(), 16).expect("chunk size");
                if size == 0 {
                    assert_eq!(self.line(), "", "no trailers, then the end");
                    break;
                }
                r.body.extend(self.take(size));
                assert_eq!(self.take(2), b"\r\n");
            }
        } else if let Some(n) = r.header("content-length") {
            let n = n.parse().expect("length");
            r.body = self.take(n);
        } else {
            while self.fill() > 0 {}
            r.body = std::mem::take(&mut self.buf);
        }
        r
    }

    /// What the next read says: `Ok(0)` when the server closed the connection, an error on a reset.
    fn next_read(&mut self) -> std::io::Result<usize> {
        assert!(self.buf.is_empty(), "unread bytes: {:?}", self.buf);
        let mut b = [0u8; 64];
        self.s.read(&mut b)
    }
}

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
    c.send(&post("/v1/chat/completions", &chat(true), ""));
    let r = c.response();
    let terminator_read = Instant::now();
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
        terminator_read.elapsed() >= delay / 2,
        "closed after {:?}",
        terminator_read.elapsed()
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
    c.send(&post("/v1/chat/completions", &chat(true), ""));
    let r = c.response();
    let done = Instant::now();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), None, "nothing announces it");
    assert_eq!(c.next_read().expect("a clean close"), 0);
    assert!(
        done.elapsed() >= idle / 2,
        "closed after {:?}",
        done.elapsed()
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
