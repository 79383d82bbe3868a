//! The simulator's HTTP server (actix-web), on threads of its own.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use actix_rt::time::{Instant, sleep_until};
use actix_web::{App, HttpResponse, HttpServer, dev::ServerHandle, web};
use bytes::Bytes;
use serde_json::{Value, json};

use super::{Fault, SimConfig, WORDS};
use crate::tokenizer::{TokenCount, Tokenizer};

struct SimState {
    cfg: SimConfig,
    requests: AtomicU64,
}

/// A simulator running on its own threads; stopped when dropped.
pub struct SimServer {
    pub addr: SocketAddr,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl SimServer {
    /// The API base to give a client, e.g. `http://127.0.0.1:41234/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        if let Some(t) = self.thread.take() {
            // Stopping needs a runtime to poll the returned future; the server's own thread provides it.
            std::thread::spawn(move || {
                actix_rt::System::new().block_on(handle.stop(false));
            })
            .join()
            .ok();
            t.join().ok();
        }
    }
}

fn app_config(
    state: web::Data<SimState>,
) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    move |c: &mut web::ServiceConfig| {
        c.app_data(state.clone())
            .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
            .route("/v1/chat/completions", web::post().to(chat))
            .route("/chat/completions", web::post().to(chat));
    }
}

/// Starts the simulator on `host:port` (0 = any free port) in a background thread and returns once it listens.
pub fn start_in_background(cfg: SimConfig, host: &str, port: u16) -> std::io::Result<SimServer> {
    let (tx, rx) = std::sync::mpsc::channel();
    let host = host.to_string();
    let thread = std::thread::Builder::new()
        .name("llmperf-sim".into())
        .spawn(move || {
            let result = actix_rt::System::new().block_on(async move {
                let workers = cfg.workers;
                let state = web::Data::new(SimState {
                    cfg,
                    requests: AtomicU64::new(0),
                });
                let configure = app_config(state);
                let server = HttpServer::new(move || App::new().configure(configure.clone()))
                    .workers(workers)
                    .disable_signals()
                    .shutdown_timeout(1)
                    .bind((host.as_str(), port));
                let server = match server {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return Ok(());
                    }
                };
                let addr = server.addrs()[0];
                let running = server.run();
                let _ = tx.send(Ok((addr, running.handle())));
                running.await
            });
            if let Err(e) = result {
                log::error!("simulator stopped: {e}");
            }
        })?;
    let (addr, handle) = rx
        .recv()
        .map_err(|_| std::io::Error::other("simulator thread exited before listening"))??;
    Ok(SimServer {
        addr,
        handle,
        thread: Some(thread),
    })
}

/// Runs the simulator in the foreground until Ctrl-C (the `serve-sim` subcommand).
pub async fn serve_foreground(cfg: SimConfig, host: &str, port: u16) -> std::io::Result<()> {
    let workers = cfg.workers;
    let state = web::Data::new(SimState {
        cfg,
        requests: AtomicU64::new(0),
    });
    let configure = app_config(state);
    let server = HttpServer::new(move || App::new().configure(configure.clone()))
        .workers(workers)
        .shutdown_timeout(1)
        .bind((host, port))?;
    for a in server.addrs() {
        println!("llmperf-actors simulator listening on http://{a}/v1");
    }
    server.run().await
}

fn error_body(message: &str, kind: &str, code: Value) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

/// The text of output tokens `from..to`: each token is a word preceded by a space, except token 0.
fn token_text(from: u64, to: u64) -> String {
    let mut s = String::new();
    for i in from..to {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(WORDS[(i % WORDS.len() as u64) as usize]);
    }
    s
}

async fn chat(body: Bytes, state: web::Data<SimState>) -> HttpResponse {
    let arrived = Instant::now();
    let n = state.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let cfg = &state.cfg;
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return HttpResponse::BadRequest().json(error_body(
                &format!("request body is not JSON: {e}"),
                "invalid_request_error",
                Value::Null,
            ));
        }
    };
    let Some(model) = req.get("model").and_then(Value::as_str).map(str::to_string) else {
        return HttpResponse::BadRequest().json(error_body(
            "you must provide a model parameter",
            "invalid_request_error",
            Value::Null,
        ));
    };
    match cfg.fault_for(n) {
        Some(Fault::Http500) => {
            return HttpResponse::InternalServerError().json(error_body(
                "simulated internal server error",
                "server_error",
                Value::Null,
            ));
        }
        Some(Fault::Http429) => {
            return HttpResponse::TooManyRequests()
                .insert_header(("Retry-After", "1"))
                .json(error_body(
                    "simulated rate limit",
                    "rate_limit_exceeded",
                    Value::Null,
                ));
        }
        _ => {}
    }
    let max_tokens = req
        .get("max_tokens")
        .or_else(|| req.get("max_completion_tokens"))
        .and_then(Value::as_u64);
    let out = match (cfg.output_tokens, max_tokens) {
        (Some(fixed), Some(m)) => fixed.min(m),
        (Some(fixed), None) => fixed,
        (None, Some(m)) => m,
        (None, None) => cfg.default_output_tokens,
    };
    let finish_reason = if max_tokens == Some(out) {
        "length"
    } else {
        "stop"
    };
    let include_usage = req
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let stream = req.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let per_chunk = u64::from(cfg.tokens_per_chunk);
    let chunks = out.div_ceil(per_chunk);
    let ttft = Duration::from_secs_f64(cfg.ttft_ms / 1000.0);
    let itl = Duration::from_secs_f64(cfg.itl_ms / 1000.0);
    let due = move |k: u64| arrived + ttft + itl * (k as u32);
    let usage = |prompt: u64| json!({"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out});
    let prompt_tokens = || {
        let text: String = req
            .get("messages")
            .and_then(Value::as_array)
            .map(|ms| {
                ms.iter()
                    .filter_map(|m| m.get("content").and_then(Value::as_str))
                    .filter(|c| !c.is_empty())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default();
        Tokenizer::llama().count(&text) as u64
    };
    let id = format!("chatcmpl-sim-{n}");
    if !stream {
        sleep_until(due(chunks.saturating_sub(1))).await;
        return HttpResponse::Ok().json(json!({
            "id": id, "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": token_text(0, out)},
                         "finish_reason": finish_reason}],
            "usage": usage(prompt_tokens()),
        }));
    }
    let usage_value = include_usage.then(|| usage(prompt_tokens()));
    let head = format!(
        r#"{{"id":"{id}","object":"chat.completion.chunk","created":0,"model":{},"choices":[{{"index":0,"delta":"#,
        Value::from(model.as_str())
    );
    let fault = cfg.fault_for(n);
    let cut_at = chunks / 2;
    let event = move |delta: Value, finish: Option<&str>| {
        let finish = finish.map_or("null".to_string(), |f| format!("\"{f}\""));
        format!("data: {head}{delta},\"finish_reason\":{finish}}}]}}\n\n")
    };
    // Step 0 is the role chunk; step k ≥ 1 is content chunk k − 1; the last one carries the tail.
    let body = futures_util::stream::unfold(0u64, move |k| {
        let event = event.clone();
        let usage_value = usage_value.clone();
        let id = id.clone();
        async move {
            if k > chunks {
                return None;
            }
            if k == 0 {
                let mut s = event(json!({"role": "assistant", "content": ""}), None);
                if chunks == 0 {
                    s.push_str(&tail(&event, &id, finish_reason, usage_value.as_ref()));
                }
                return Some((Ok::<Bytes, actix_web::Error>(Bytes::from(s)), k + 1));
            }
            let c = k - 1;
            if c == cut_at {
                match fault {
                    Some(Fault::ErrorMidStream) => {
                        let e =
                            error_body("simulated error mid-stream", "server_error", Value::Null);
                        return Some((Ok(Bytes::from(format!("data: {e}\n\n"))), chunks + 1));
                    }
                    Some(Fault::CloseMidStream) => {
                        let e = std::io::Error::other("simulated connection cut mid-stream");
                        return Some((Err(e.into()), chunks + 1));
                    }
                    _ => {}
                }
            }
            sleep_until(due(c)).await;
            let from = c * per_chunk;
            let to = (from + per_chunk).min(out);
            let mut s = event(json!({"content": token_text(from, to)}), None);
            if k == chunks {
                s.push_str(&tail(&event, &id, finish_reason, usage_value.as_ref()));
            }
            Some((Ok(Bytes::from(s)), k + 1))
        }
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .streaming(body)
}

/// Finish chunk, optional usage chunk, `[DONE]`.
fn tail(
    event: &impl Fn(Value, Option<&str>) -> String,
    id: &str,
    finish_reason: &str,
    usage: Option<&Value>,
) -> String {
    let mut s = event(json!({}), Some(finish_reason));
    if let Some(u) = usage {
        let chunk = json!({"id": id, "object": "chat.completion.chunk", "created": 0, "choices": [], "usage": u});
        s.push_str(&format!("data: {chunk}\n\n"));
    }
    s.push_str("data: [DONE]\n\n");
    s
}
