//! A raw HTTP/1.1 client for the simulator's byte-level tests (`sim_http.rs`, `sim_habits.rs`): requests
//! written by hand on a `std::net::TcpStream`, responses read by hand — nothing of our HTTP client — and a
//! simulator with no delays and three output tokens.
#![allow(dead_code)] // each test file uses its own subset

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use llmperf_actors::sim::{SimConfig, SimServer, start_in_background};
use serde_json::{Value, json};

pub fn sim(cfg: SimConfig) -> SimServer {
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
pub fn chat(stream: bool) -> Value {
    json!({"model": "m", "max_tokens": 3, "stream": stream,
           "messages": [{"role": "user", "content": "hi"}],
           "stream_options": {"include_usage": true}})
}

/// `POST path` with a JSON body and `extra` header lines (each ending in CRLF).
pub fn post(path: &str, body: &Value, extra: &str) -> Vec<u8> {
    let body = body.to_string();
    format!(
        "POST {path} HTTP/1.1\r\nHost: sim\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// The SSE data payloads: JSON values, and the string "[DONE]".
    pub fn events(&self) -> Vec<Value> {
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
pub struct Conn {
    pub s: TcpStream,
    pub buf: Vec<u8>,
}

impl Conn {
    pub fn open(sim: &SimServer) -> Conn {
        let s = TcpStream::connect(sim.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        Conn { s, buf: Vec::new() }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).expect("write");
    }

    /// Reads what comes; 0 at the end of the stream.
    pub fn fill(&mut self) -> usize {
        let mut b = [0u8; 16384];
        let n = self.s.read(&mut b).expect("read");
        self.buf.extend_from_slice(&b[..n]);
        n
    }

    pub fn take(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(self.fill() > 0, "the connection ended early");
        }
        self.buf.drain(..n).collect()
    }

    /// One line, without its CRLF.
    pub fn line(&mut self) -> String {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.take(i + 2);
                return String::from_utf8_lossy(&line[..i]).into_owned();
            }
            assert!(self.fill() > 0, "the connection ended inside a line");
        }
    }

    /// A status line and headers.
    pub fn head(&mut self) -> (u16, Vec<(String, String)>) {
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
    pub fn response(&mut self) -> Response {
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
    pub fn next_read(&mut self) -> std::io::Result<usize> {
        assert!(self.buf.is_empty(), "unread bytes: {:?}", self.buf);
        let mut b = [0u8; 64];
        self.s.read(&mut b)
    }
}
