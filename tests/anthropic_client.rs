//! The Anthropic client against a scripted raw HTTP server: `event:` lines, `ping`, CRLF and events split
//! across reads exactly as written here; HTTP errors keep Anthropic's error body.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use llmperf_actors::backend::anthropic::{AnthropicClient, AnthropicConfig};
use llmperf_actors::backend::{HttpOptions, LlmClient, RequestConfig};
use serde_json::{Value, json};

/// Serves one request with `status`, writing `pieces` as separate HTTP chunks (`None` = a 30 ms pause);
/// sends back the request line, the lower-cased headers and the body.
/// The request line, the lower-cased headers and the JSON body the server received.
type Received = (String, Vec<(String, String)>, Value);

fn serve_once(
    status: &'static str,
    pieces: Vec<Option<&'static str>>,
) -> (String, mpsc::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
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
        let body: Value = serde_json::from_slice(&body).unwrap();
        tx.send((request_line.trim_end().to_string(), headers, body))
            .unwrap();
        let mut w = stream;
        let ctype = if status.starts_with("200") {
            "text/event-stream"
        } else {
            "application/json"
        };
        write!(
            w,
            "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        .unwrap();
        for p in pieces {
            match p {
                Some(b) => {
                    write!(w, "{:x}\r\n{b}\r\n", b.len()).unwrap();
                    w.flush().unwrap();
                }
                None => std::thread::sleep(Duration::from_millis(30)),
            }
        }
        let _ = w.write_all(b"0\r\n\r\n");
    });
    (base, rx)
}

async fn request(base: String) -> llmperf_actors::backend::ClientResponse {
    let client = AnthropicClient::new(AnthropicConfig {
        base_url: base,
        api_key: Some("sk-ant-test".into()),
        http: HttpOptions {
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(5),
            headers: vec![("anthropic-beta".into(), "tools-2024".into())],
            ..HttpOptions::default()
        },
    });
    let mut sampling_params = serde_json::Map::new();
    sampling_params.insert("max_tokens".into(), json!(16));
    sampling_params.insert("temperature".into(), json!(0.3));
    client
        .llm_request(RequestConfig {
            model: "claude-test".into(),
            prompt: ("Say hi".into(), 3),
            sampling_params,
            llm_api: "anthropic".into(),
            metadata: Default::default(),
            messages: None,
        })
        .await
}

#[actix::test]
async fn event_lines_ping_and_split_reads() {
    let (base, rx) = serve_once(
        "200 OK",
        vec![
            Some(
                "event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\r\n\r\n",
            ),
            Some("event: ping\r\ndata: {\"type\": \"ping\"}\r\n\r\n"),
            Some(
                "event: content_block_start\r\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\r\n\r\n",
            ),
            None,
            Some("event: content_block_del"),
            Some(
                "ta\r\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\r",
            ),
            Some("\n\r\n"),
            None,
            Some(
                "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" th\\u00e9re\"}}\n\n\
                  event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
            ),
            Some(
                "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\n",
            ),
            Some("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"),
        ],
    );
    let r = request(base).await;
    assert_eq!(r.measured.error, None);
    assert_eq!(r.generated_text, "Hi thére");
    let t = &r.measured.timings;
    assert_eq!(t.data_events, 2);
    let (first, last) = (t.first_content_s.unwrap(), t.last_content_s.unwrap());
    // The server writes the first text after one 30 ms pause and the second after another: exact lower bounds
    // from the request's start. Not `last - first >= 30 ms`: a client delayed past the second pause reads
    // both texts at once.
    assert!(first >= 0.030, "first text after the first pause: {first}");
    assert!(
        last >= 0.060 && last >= first,
        "second text after both pauses: {first} {last}"
    );
    assert_eq!(r.measured.usage.prompt_tokens, Some(9));
    assert_eq!(r.measured.usage.completion_tokens, Some(2));

    let (line, headers, body) = rx.recv().unwrap();
    assert_eq!(line, "POST /v1/messages HTTP/1.1");
    let h = |k: &str| {
        headers
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(h("x-api-key"), Some("sk-ant-test"));
    assert_eq!(h("anthropic-version"), Some("2023-06-01"));
    assert_eq!(h("anthropic-beta"), Some("tools-2024"), "custom header");
    assert_eq!(h("accept"), Some("text/event-stream"));
    assert_eq!(h("authorization"), None);
    assert_eq!(
        body,
        json!({"model": "claude-test", "max_tokens": 16,
               "messages": [{"role": "user", "content": "Say hi"}], "stream": true, "temperature": 0.3})
    );
}

#[actix::test]
async fn http_errors_keep_anthropics_error_body() {
    let err =
        "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}";
    let (base, _rx) = serve_once("529 Site Overloaded", vec![Some(err)]);
    let r = request(base).await;
    assert_eq!(r.measured.error, Some((json!(529), err.to_string())));
}

#[actix::test]
async fn a_stream_cut_before_message_stop_is_an_error() {
    let (base, _rx) = serve_once(
        "200 OK",
        vec![Some(
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"a\"}}\n\n",
        )],
    );
    let r = request(base).await;
    let (code, msg) = r.measured.error.unwrap();
    assert_eq!(code, json!(-1));
    assert!(msg.contains("message_stop"), "{msg}");
    assert_eq!(r.generated_text, "a");
}
