//! The simulator's HTTP server (actix-web), on threads of its own.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use actix_rt::time::{Instant, sleep_until};
use actix_web::{App, HttpResponse, HttpServer, dev::ServerHandle, web};
use bytes::Bytes;
use serde_json::{Value, json};

use futures_util::StreamExt;

use super::{Fault, SimConfig, WORDS, answers};
use crate::tokenizer::{TokenCount, Tokenizer};

struct SimState {
    cfg: SimConfig,
    requests: AtomicU64,
    correctness_requests: AtomicU64,
    /// Generation slots (`capacity`); requests beyond them wait, like a busy server's queue.
    slots: Option<std::sync::Arc<tokio::sync::Semaphore>>,
}

impl SimState {
    fn new(cfg: SimConfig) -> web::Data<SimState> {
        let slots = cfg
            .capacity
            .map(|n| std::sync::Arc::new(tokio::sync::Semaphore::new(n)));
        web::Data::new(SimState {
            cfg,
            requests: AtomicU64::new(0),
            correctness_requests: AtomicU64::new(0),
            slots,
        })
    }
}

/// A simulator running on its own threads; stopped when dropped.
pub struct SimServer {
    /// The address it listens on.
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
                let state = SimState::new(cfg);
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
    let state = SimState::new(cfg);
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

/// The contents of the messages, non-empty ones only, joined with newlines.
fn message_text(req: &Value) -> String {
    req.get("messages")
        .and_then(Value::as_array)
        .map(|ms| {
            ms.iter()
                .filter_map(|m| m.get("content").and_then(Value::as_str))
                .filter(|c| !c.is_empty())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// What the simulator answers: the content pieces (one per chunk) and the completion token count.
struct Answer {
    pieces: Vec<String>,
    completion_tokens: u64,
    finish_reason: &'static str,
}

fn answer(state: &SimState, req: &Value) -> Answer {
    let cfg = &state.cfg;
    if let Some(number) = answers::correctness_question(&message_text(req)) {
        let k = state.correctness_requests.fetch_add(1, Ordering::Relaxed) + 1;
        let text = answers::answer_number(number, k, cfg.wrong_answer_fraction);
        let pieces: Vec<String> = text.split_inclusive(' ').map(str::to_string).collect();
        return Answer {
            completion_tokens: pieces.len() as u64,
            pieces,
            finish_reason: "stop",
        };
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
    let per_chunk = u64::from(cfg.tokens_per_chunk);
    let pieces = (0..out.div_ceil(per_chunk))
        .map(|c| token_text(c * per_chunk, ((c + 1) * per_chunk).min(out)))
        .collect();
    Answer {
        pieces,
        completion_tokens: out,
        finish_reason: if max_tokens == Some(out) {
            "length"
        } else {
            "stop"
        },
    }
}

async fn chat(body: Bytes, state: web::Data<SimState>) -> HttpResponse {
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
    let fault = cfg.fault_for(n);
    match fault {
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
    let Answer {
        pieces,
        completion_tokens,
        finish_reason,
    } = answer(&state, &req);
    // Wait for a generation slot; the clock of this response starts when one is free.
    let permit = match &state.slots {
        Some(slots) => slots.clone().acquire_owned().await.ok(),
        None => None,
    };
    let arrived = Instant::now();
    let include_usage = req
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let stream = req.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let ttft = Duration::from_secs_f64(cfg.ttft_ms / 1000.0);
    let itl = Duration::from_secs_f64(cfg.itl_ms / 1000.0);
    // Chunk k is due at exactly ttft + k·itl after arrival: deadlines, not sleeps, so delays never add up.
    let due = move |k: usize| arrived + ttft + itl * (k as u32);
    let usage = |prompt: u64| {
        json!({"prompt_tokens": prompt, "completion_tokens": completion_tokens,
               "total_tokens": prompt + completion_tokens})
    };
    let prompt_tokens = || Tokenizer::llama().count(&message_text(&req)) as u64;
    let id = format!("chatcmpl-sim-{n}");
    if !stream {
        sleep_until(due(pieces.len().saturating_sub(1))).await;
        drop(permit);
        return HttpResponse::Ok().json(json!({
            "id": id, "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": pieces.concat()},
                         "finish_reason": finish_reason}],
            "usage": usage(prompt_tokens()),
        }));
    }
    // Every event is serialized before the first byte goes out.
    let head = format!(
        r#"{{"id":"{id}","object":"chat.completion.chunk","created":0,"model":{},"choices":[{{"index":0,"delta":"#,
        Value::from(model.as_str())
    );
    let event = |delta: Value, finish: Option<&str>| {
        let finish = finish.map_or("null".to_string(), |f| format!("\"{f}\""));
        format!("data: {head}{delta},\"finish_reason\":{finish}}}]}}\n\n")
    };
    let mut tail = event(json!({}), Some(finish_reason));
    if include_usage {
        let chunk = json!({"id": id, "object": "chat.completion.chunk", "created": 0, "choices": [],
                           "usage": usage(prompt_tokens())});
        tail.push_str(&format!("data: {chunk}\n\n"));
    }
    tail.push_str("data: [DONE]\n\n");
    let role = event(json!({"role": "assistant", "content": ""}), None);
    let mut events: Vec<String> = pieces
        .iter()
        .map(|p| event(json!({ "content": p }), None))
        .collect();
    let cut_at = events.len() / 2;
    match fault {
        Some(Fault::ErrorMidStream) => {
            let e = error_body("simulated error mid-stream", "server_error", Value::Null);
            events.truncate(cut_at);
            events.push(format!("data: {e}\n\n"));
        }
        Some(Fault::CloseMidStream) => events.truncate(cut_at),
        _ => match events.last_mut() {
            Some(last) => last.push_str(&tail),
            None => events.push(tail),
        },
    }
    let cut = fault == Some(Fault::CloseMidStream);
    let first = Bytes::from(role);
    let rest: Vec<(usize, Bytes)> = events.into_iter().map(Bytes::from).enumerate().collect();
    let timed = futures_util::stream::iter(rest).then(move |(k, bytes)| async move {
        sleep_until(due(k)).await;
        Ok::<Bytes, actix_web::Error>(bytes)
    });
    let ending = futures_util::stream::iter(cut.then(|| {
        Err(actix_web::Error::from(std::io::Error::other(
            "simulated connection cut mid-stream",
        )))
    }))
    // The slot is held until the response is done (the stream, and this closure with it, is dropped).
    .map(move |item| {
        let _slot = &permit;
        item
    });
    let body = futures_util::stream::once(async move { Ok(first) })
        .chain(timed)
        .chain(ending);
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .streaming(body)
}
