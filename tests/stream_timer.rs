//! A custom client that times its stream with `StreamTimer` gets the same timing fields as the built-in
//! client: the same requests, through the real actors, against one simulator streaming reasoning and then
//! the answer. This client speaks HTTP/1.0 over a bare socket and frames the events itself, so nothing of the
//! built-in client's reading is shared — only the recorder.
#![cfg(feature = "sim")] // starts the built-in simulator

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use futures_util::future::LocalBoxFuture;
use llmperf_actors::backend::sse::SseFramer;
use llmperf_actors::{
    ClientFactory, ClientResponse, LlmClient, Measured, RequestConfig, Settings, SimConfig,
    StreamTimer, Usage,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Streams chat completions from `addr` over HTTP/1.0 (a close-delimited body), timing with `StreamTimer`.
struct RawSseClient {
    addr: SocketAddr,
}

impl LlmClient for RawSseClient {
    fn llm_request(&self, config: RequestConfig) -> LocalBoxFuture<'static, ClientResponse> {
        let addr = self.addr;
        Box::pin(async move {
            let mut timer = StreamTimer::start();
            let (mut text, mut reasoning) = (String::new(), String::new());
            let result = stream(addr, &config, &mut timer, &mut text, &mut reasoning).await;
            ClientResponse {
                started: timer.started(),
                measured: Measured {
                    timings: timer.finish(),
                    usage: Usage::default(),
                    error: result.err().map(|e| (Value::from(-1), e)),
                    error_kind: None,
                },
                generated_text: text,
                reasoning_text: reasoning,
            }
        })
    }
}

async fn stream(
    addr: SocketAddr,
    config: &RequestConfig,
    timer: &mut StreamTimer,
    text: &mut String,
    reasoning: &mut String,
) -> Result<(), String> {
    let body = json!({
        "model": config.model,
        "messages": [{"role": "user", "content": config.prompt_text()}],
        "stream": true,
        "max_tokens": config.max_tokens(),
    })
    .to_string();
    let mut socket = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    timer.connection(true, Some(timer.now_s()));
    let request = format!(
        "POST /v1/chat/completions HTTP/1.0\r\nHost: sim\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    socket
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut framer = SseFramer::new(1 << 20);
    let (mut head, mut in_body, mut done) = (Vec::new(), false, false);
    let mut buf = vec![0u8; 64 * 1024];
    while !done {
        let n = socket.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        // Every event of one read arrived when the read completed.
        let at = timer.now_s();
        let mut bytes = &buf[..n];
        if !in_body {
            head.extend_from_slice(bytes);
            let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            in_body = true;
            head.drain(..end + 4);
            bytes = &head;
        }
        framer
            .feed(bytes, |ev| {
                if ev.data.trim() == "[DONE]" {
                    done = true;
                    return false;
                }
                let Ok(chunk) = serde_json::from_str::<Value>(&ev.data) else {
                    return true;
                };
                timer.data_event();
                let delta = &chunk["choices"][0]["delta"];
                if let Some(r) = delta["reasoning_content"].as_str() {
                    timer.reasoning(r, at);
                    reasoning.push_str(r);
                }
                if let Some(c) = delta["content"].as_str() {
                    timer.content(c, at);
                    text.push_str(c);
                }
                true
            })
            .map_err(|e| e.to_string())?;
        if in_body {
            head.clear();
        }
    }
    if done {
        Ok(())
    } else {
        Err("stream closed before [DONE]".into())
    }
}

fn settings(base: &str, dir: &Path) -> Settings {
    Settings::builder()
        .model("sim-model")
        .openai_api_base(base)
        .mean_input_tokens(50)
        .stddev_input_tokens(0)
        .mean_output_tokens(12)
        .stddev_output_tokens(0)
        .num_concurrent_requests(2)
        .max_num_completed_requests(6)
        .results_dir(dir)
        .build()
        .expect("settings")
}

fn records(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("sim-model_50_12_individual_responses.json"))
        .expect("individual responses");
    serde_json::from_str::<Vec<Value>>(&text).expect("json")
}

/// The timing fields `StreamTimer` fills, checked set and ordered.
fn timing_fields(r: &Value) -> (u64, f64, f64, f64, f64) {
    let f = |k: &str| r[k].as_f64().unwrap_or_else(|| panic!("{k} unset in {r}"));
    let k = r["number_stream_events"].as_u64().expect("K");
    let (any, ttft, itl, e2e) = (
        f("ttft_any_s"),
        f("ttft_s"),
        f("inter_token_latency_s"),
        f("end_to_end_latency_s"),
    );
    assert!(r["error_code"].is_null(), "{r}");
    assert!(0.0 < any && any < ttft && ttft < e2e, "{r}");
    assert!(itl > 0.0 && r["tpot_s"].as_f64().is_some(), "{r}");
    (k, any, ttft, itl, e2e)
}

#[test]
fn a_custom_client_with_the_timer_gets_the_built_in_clients_fields() {
    let sim = llmperf_actors::start_simulator(
        SimConfig {
            ttft_ms: 20.0,
            itl_ms: 5.0,
            reasoning_tokens: 4,
            ..SimConfig::default()
        },
        "127.0.0.1",
        0,
    )
    .expect("simulator");
    let (builtin_dir, custom_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let builtin = llmperf_actors::run(&settings(&sim.base_url(), builtin_dir.path())).expect("run");
    let addr = sim.addr;
    let factory: ClientFactory =
        Arc::new(move || Box::new(RawSseClient { addr }) as Box<dyn LlmClient>);
    let custom =
        llmperf_actors::run_with_client(&settings(&sim.base_url(), custom_dir.path()), factory)
            .expect("run");

    let (a, b) = (records(builtin_dir.path()), records(custom_dir.path()));
    assert_eq!((a.len(), b.len()), (6, 6));
    for (x, y) in a.iter().zip(&b) {
        let (kx, ..) = timing_fields(x);
        let (ky, ..) = timing_fields(y);
        // The same stream: a role chunk, 4 reasoning chunks, 12 answer chunks, the finish chunk.
        assert_eq!(kx, ky, "K differs:\n{x}\n{y}");
        assert_eq!(x["number_reasoning_tokens"], y["number_reasoning_tokens"]);
    }
    // The pooled gaps between answer chunks come from both.
    for s in [&builtin[0].stats, &custom[0].stats] {
        let gaps = s.load.inter_chunk_gap_s.as_ref().expect("chunk gaps");
        assert!(gaps.min.expect("gaps") > 0.0, "{gaps:?}");
    }
}
