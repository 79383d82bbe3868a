//! The OpenAI client against scripted raw HTTP servers: exact bytes on the wire, split wherever we like.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use llmperf_actors::backend::openai::{OpenAiChatClient, OpenAiConfig};
use llmperf_actors::backend::{ClientResponse, HttpOptions, LlmClient, RequestConfig};
use serde_json::{Value, json};

/// What the server received: headers (lower-cased names) and the JSON body.
struct Received {
    request_line: String,
    headers: Vec<(String, String)>,
    body: Value,
}

enum Piece {
    Bytes(&'static str),
    Pause(u64),
}

/// Serves one request: replies `status` and then writes `pieces` as separate HTTP chunks.
fn serve_once(status: &'static str, pieces: Vec<Piece>) -> (String, mpsc::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request_line = String::new();
        reader.read_line(&mut request_line).unwrap();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (k, v) = line.split_once(':').unwrap();
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .map_or(0, |(_, v)| v.parse().unwrap());
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        tx.send(Received {
            request_line: request_line.trim_end().to_string(),
            headers,
            body: serde_json::from_slice(&body).unwrap(),
        })
        .unwrap();
        let mut w = stream;
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        w.write_all(head.as_bytes()).unwrap();
        for p in pieces {
            match p {
                Piece::Bytes(b) => {
                    write!(w, "{:x}\r\n{b}\r\n", b.len()).unwrap();
                    w.flush().unwrap();
                }
                Piece::Pause(ms) => std::thread::sleep(Duration::from_millis(ms)),
            }
        }
        let _ = w.write_all(b"0\r\n\r\n");
    });
    (base, rx)
}

fn config(prompt: &str) -> RequestConfig {
    let mut sampling_params = serde_json::Map::new();
    sampling_params.insert("max_tokens".into(), json!(12));
    sampling_params.insert("temperature".into(), json!(0.2));
    RequestConfig {
        model: "test-model".into(),
        prompt: (prompt.into(), 30),
        sampling_params,
        llm_api: "openai".into(),
        metadata: Default::default(),
        messages: None,
    }
}

async fn request(base: String, key: Option<&str>) -> ClientResponse {
    let http = HttpOptions {
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(5),
        max_line_bytes: 1 << 20,
        ..HttpOptions::default()
    };
    let client = OpenAiChatClient::new(OpenAiConfig::chat(base, key.map(String::from), http));
    client.llm_request(config("Say hi")).await
}

#[actix::test]
async fn framing_variants_split_reads_usage_and_done() {
    use Piece::*;
    let (base, rx) = serve_once(
        "200 OK",
        vec![
            Bytes(": keep-alive\r\n\r\n"),
            Bytes(
                "event: message\r\ndata:{\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\r\n\r\n",
            ),
            Bytes("data: {\"choices\":[{\"delta\":{\"content\":\"Hel"),
            Pause(30),
            Bytes("lo\"}}]}\r"),
            Bytes("\n\r\n"),
            Pause(60),
            Bytes(
                "data: {\"choices\":[{\"delta\":{\"content\":\" w\\u00f6r\"},\"finish_reason\":null}]}\n\n\
                 data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
            ),
            Bytes(
                "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}\n\n",
            ),
            Bytes("data: [DONE]\n\n"),
        ],
    );
    let r = request(base, Some("sk-test")).await;
    assert_eq!(r.measured.error, None);
    assert_eq!(r.generated_text, "Hello wör");
    let t = &r.measured.timings;
    assert_eq!(
        t.data_events, 4,
        "role, two content and finish chunks; not the usage-only chunk, which the original never asked for"
    );
    let first = t.first_content_s.unwrap();
    let last = t.last_content_s.unwrap();
    // Exact lower bounds from the request's start: the server writes the rest of the first content after a
    // 30 ms pause and the second content after another 60 ms. Not `last - first >= 60 ms`: a client delayed
    // past the second pause reads both at once.
    assert!(
        first >= 0.030,
        "the first content completes after the 30 ms pause: {first}"
    );
    assert!(
        last >= 0.090 && last >= first,
        "the second content after both pauses: {first} {last}"
    );
    assert!(t.end_s >= last);
    assert_eq!(r.measured.usage.prompt_tokens, Some(5));
    assert_eq!(r.measured.usage.completion_tokens, Some(2));

    let got = rx.recv().unwrap();
    assert_eq!(got.request_line, "POST /v1/chat/completions HTTP/1.1");
    let header = |k: &str| {
        got.headers
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("authorization"), Some("Bearer sk-test"));
    assert_eq!(header("content-type"), Some("application/json"));
    assert_eq!(
        header("accept-encoding"),
        Some("identity"),
        "no compression of the stream"
    );
    assert_eq!(
        got.body,
        json!({
            "model": "test-model",
            "messages": [{"role": "system", "content": ""}, {"role": "user", "content": "Say hi"}],
            "stream": true,
            "max_tokens": 12,
            "temperature": 0.2,
        })
    );
}

#[actix::test]
async fn error_object_mid_stream_keeps_the_code_and_message() {
    use Piece::*;
    let (base, _rx) = serve_once(
        "200 OK",
        vec![
            Bytes("data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"),
            Bytes(
                "data: {\"error\":{\"message\":\"Rate limited\",\"code\":\"rate_limit_exceeded\"}}\n\n",
            ),
        ],
    );
    let r = request(base, None).await;
    assert_eq!(
        r.measured.error,
        Some((json!("rate_limit_exceeded"), "Rate limited".to_string()))
    );
    assert!(r.measured.timings.first_content_s.is_some());
}

#[actix::test]
async fn stream_closed_before_done_is_an_error() {
    let (base, _rx) = serve_once(
        "200 OK",
        vec![Piece::Bytes(
            "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n",
        )],
    );
    let r = request(base, None).await;
    let (code, msg) = r.measured.error.unwrap();
    assert_eq!(code, json!(-1));
    assert!(msg.contains("before [DONE]"), "{msg}");
}

#[actix::test]
async fn http_error_status_keeps_the_body() {
    let (base, rx) = serve_once(
        "503 Service Unavailable",
        vec![Piece::Bytes("{\"error\":\"overloaded, try later\"}")],
    );
    let r = request(base, None).await;
    assert_eq!(
        r.measured.error,
        Some((
            json!(503),
            "{\"error\":\"overloaded, try later\"}".to_string()
        ))
    );
    let got = rx.recv().unwrap();
    assert!(
        got.headers.iter().all(|(k, _)| k != "authorization"),
        "no key, no header"
    );
}

#[actix::test]
async fn connection_refused_is_a_transport_error() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    drop(listener);
    let r = request(base, None).await;
    let (code, msg) = r.measured.error.unwrap();
    assert_eq!(code, json!(-1));
    assert!(msg.contains("connect"), "{msg}");
}
