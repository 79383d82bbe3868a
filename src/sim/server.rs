//! The simulator's HTTP server (actix-web), on threads of its own: the routes for the three API shapes, the
//! request counter that drives faults, and a record of what each request carried (for tests).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use actix_rt::time::{Instant, sleep_until};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, dev::ServerHandle, web};
use bytes::Bytes;
use serde_json::Value;

use futures_util::StreamExt;

use super::wire::{Reply, Shape, anthropic_error, openai_error};
use super::{Fault, SimConfig, WORDS, answers};
use crate::tokenizer::{TokenCount, Tokenizer};

/// How many received requests the simulator remembers (the oldest are dropped first).
const RECORDED_REQUESTS: usize = 1_000;

/// What one request carried, as the simulator received it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedRequest {
    /// The request path, e.g. `/v1/messages`.
    pub path: String,
    /// Header names (lower-case) and values, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The JSON body (`null` if it was not JSON).
    pub body: Value,
}

impl ReceivedRequest {
    /// The value of header `name` (case-insensitive), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct SimState {
    cfg: SimConfig,
    requests: AtomicU64,
    correctness_requests: AtomicU64,
    received: Mutex<VecDeque<ReceivedRequest>>,
    /// Generation slots (`capacity`); requests beyond them wait, like a busy server's queue.
    slots: Option<std::sync::Arc<tokio::sync::Semaphore>>,
    /// `timing_log`, opened for appending (each response writes its line in one call).
    timing_log: Option<std::sync::Arc<std::fs::File>>,
}

/// One streamed response's ground-truth timings, written to the timing log when the body is dropped.
struct TimingRecord {
    log: std::sync::Arc<std::fs::File>,
    n: u64,
    /// When the handler first saw the request (the offsets below are from this).
    arrived: Instant,
    arrived_unix_us: u128,
    /// Requests served earlier on the same connection (0: the request opened it).
    earlier_on_connection: u64,
    first_content: Option<Instant>,
    last_item: Option<Instant>,
    items: u64,
}

impl TimingRecord {
    /// Notes that the body handed one more piece to the HTTP encoder (item 0 is the role chunk, sent at once;
    /// item 1 is the first content piece).
    fn saw_item(&mut self) {
        let now = Instant::now();
        self.items += 1;
        if self.items == 2 {
            self.first_content = Some(now);
        }
        self.last_item = Some(now);
    }
}

impl Drop for TimingRecord {
    fn drop(&mut self) {
        use std::io::Write;
        let us = |t: Option<Instant>| {
            t.map_or(-1.0, |t| {
                t.saturating_duration_since(self.arrived).as_secs_f64() * 1e6
            })
        };
        let line = format!(
            "{} {} {:.1} {:.1} {} {}\n",
            self.n,
            self.arrived_unix_us,
            us(self.first_content),
            us(self.last_item),
            self.items,
            self.earlier_on_connection
        );
        // One write per line on an O_APPEND file: lines from different workers never interleave.
        let _ = (&*self.log).write_all(line.as_bytes());
    }
}

impl SimState {
    fn new(cfg: SimConfig) -> std::io::Result<web::Data<SimState>> {
        // Prompt counts (usage, Messages, non-streaming replies) need the tokenizer: parse it before listening,
        // so no request's simulated timings include the parse.
        Tokenizer::llama().preload();
        let slots = cfg
            .capacity
            .map(|n| std::sync::Arc::new(tokio::sync::Semaphore::new(n)));
        let timing_log = match &cfg.timing_log {
            Some(path) => Some(std::sync::Arc::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            )),
            None => None,
        };
        Ok(web::Data::new(SimState {
            cfg,
            requests: AtomicU64::new(0),
            correctness_requests: AtomicU64::new(0),
            received: Mutex::new(VecDeque::new()),
            slots,
            timing_log,
        }))
    }

    fn record(&self, req: &HttpRequest, body: &Value) {
        let headers = req
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let Ok(mut log) = self.received.lock() else {
            return;
        };
        if log.len() == RECORDED_REQUESTS {
            log.pop_front();
        }
        log.push_back(ReceivedRequest {
            path: req.path().to_string(),
            headers,
            body: body.clone(),
        });
    }
}

/// A simulator running on its own threads; stopped when dropped.
pub struct SimServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
    state: web::Data<SimState>,
}

impl SimServer {
    /// The API base to give a client, e.g. `http://127.0.0.1:41234/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The requests received so far (the last 1 000), oldest first.
    pub fn received(&self) -> Vec<ReceivedRequest> {
        self.state
            .received
            .lock()
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
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
            .route("/chat/completions", web::post().to(chat))
            .route("/v1/completions", web::post().to(completions))
            .route("/completions", web::post().to(completions))
            .route("/v1/messages", web::post().to(messages))
            .route("/messages", web::post().to(messages));
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
                let state = match SimState::new(cfg) {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return Ok(());
                    }
                };
                let configure = app_config(state.clone());
                let server = HttpServer::new(move || App::new().configure(configure.clone()))
                    .workers(workers)
                    .on_connect(super::faults::ConnFd::on_connect)
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
                let _ = tx.send(Ok((addr, running.handle(), state)));
                running.await
            });
            if let Err(e) = result {
                log::error!("simulator stopped: {e}");
            }
        })?;
    let (addr, handle, state) = rx
        .recv()
        .map_err(|_| std::io::Error::other("simulator thread exited before listening"))??;
    Ok(SimServer {
        addr,
        handle,
        thread: Some(thread),
        state,
    })
}

/// Runs the simulator in the foreground until Ctrl-C (the `serve-sim` subcommand).
pub async fn serve_foreground(cfg: SimConfig, host: &str, port: u16) -> std::io::Result<()> {
    let workers = cfg.workers;
    let state = SimState::new(cfg)?;
    let configure = app_config(state);
    let server = HttpServer::new(move || App::new().configure(configure.clone()))
        .workers(workers)
        .on_connect(super::faults::ConnFd::on_connect)
        .shutdown_timeout(1)
        .bind((host, port))?;
    for a in server.addrs() {
        println!(
            "llmperf-actors simulator listening on http://{a}/v1 \
             (/chat/completions, /completions, /messages)"
        );
    }
    server.run().await
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

/// `n` tokens cut into pieces of `per_chunk`.
fn pieces(n: u64, per_chunk: u64) -> Vec<String> {
    (0..n.div_ceil(per_chunk))
        .map(|c| token_text(c * per_chunk, ((c + 1) * per_chunk).min(n)))
        .collect()
}

/// The text of a content field: a string, or Anthropic's list of `{type: text, text}` blocks.
fn content_text(c: &Value) -> String {
    match c {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The prompt text: the non-empty message contents (and Anthropic's `system`) joined with newlines, or the
/// completions `prompt`.
fn prompt_text(req: &Value) -> String {
    if let Some(p) = req.get("prompt") {
        return content_text(p);
    }
    let system = req.get("system").map(content_text);
    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("content").map(content_text));
    system
        .into_iter()
        .chain(messages)
        .filter(|c| !c.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// What the simulator answers: the content pieces (one per chunk) and the answer's token count.
struct Answer {
    pieces: Vec<String>,
    tokens: u64,
    finish_reason: &'static str,
}

fn answer(state: &SimState, req: &Value) -> Answer {
    let cfg = &state.cfg;
    if let Some(number) = answers::correctness_question(&prompt_text(req)) {
        let k = state.correctness_requests.fetch_add(1, Ordering::Relaxed) + 1;
        let text = answers::answer_number(number, k, cfg.wrong_answer_fraction);
        let pieces: Vec<String> = text.split_inclusive(' ').map(str::to_string).collect();
        return Answer {
            tokens: pieces.len() as u64,
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
    Answer {
        pieces: pieces(out, u64::from(cfg.tokens_per_chunk)),
        tokens: out,
        finish_reason: if max_tokens == Some(out) {
            "length"
        } else {
            "stop"
        },
    }
}

async fn chat(req: HttpRequest, body: Bytes, state: web::Data<SimState>) -> HttpResponse {
    respond(Shape::Chat, req, body, state).await
}

async fn completions(req: HttpRequest, body: Bytes, state: web::Data<SimState>) -> HttpResponse {
    respond(Shape::Completions, req, body, state).await
}

async fn messages(req: HttpRequest, body: Bytes, state: web::Data<SimState>) -> HttpResponse {
    respond(Shape::Messages, req, body, state).await
}

/// An error response in the shape's format.
fn error_response(shape: Shape, status: u16, message: &str, openai_kind: &str) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    let body = match shape {
        Shape::Messages => {
            let kind = match status.as_u16() {
                400 => "invalid_request_error",
                429 => "rate_limit_error",
                _ => "api_error",
            };
            anthropic_error(message, kind)
        }
        _ => openai_error(message, openai_kind),
    };
    let mut r = HttpResponse::build(status);
    if matches!(status.as_u16(), 429 | 503) {
        r.insert_header(("Retry-After", "1"));
    }
    r.json(body)
}

async fn respond(
    shape: Shape,
    http: HttpRequest,
    body: Bytes,
    state: web::Data<SimState>,
) -> HttpResponse {
    // The timing log's clock starts here, when the handler first sees the request: the simulator's own work
    // (parsing, answering) is part of the time to first token it reports.
    let received = Instant::now();
    let n = state.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let earlier_on_connection = http
        .conn_data::<super::faults::ConnRequests>()
        .map_or(0, super::faults::ConnRequests::next);
    let cfg = &state.cfg;
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            state.record(&http, &Value::Null);
            let msg = format!("request body is not JSON: {e}");
            return error_response(shape, 400, &msg, "invalid_request_error");
        }
    };
    state.record(&http, &req);
    let Some(model) = req.get("model").and_then(Value::as_str).map(str::to_string) else {
        let msg = "you must provide a model parameter";
        return error_response(shape, 400, msg, "invalid_request_error");
    };
    if shape == Shape::Messages && req.get("max_tokens").and_then(Value::as_u64).is_none() {
        return error_response(shape, 400, "max_tokens: Field required", "");
    }
    let fault = cfg.fault_for(n);
    let credential = http
        .headers()
        .get("x-api-key")
        .or_else(|| http.headers().get("authorization"))
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_start_matches("Bearer ").to_string());
    if let Some(resp) =
        super::faults::early_response(shape, fault, cfg, credential.as_deref(), error_response)
            .await
    {
        return resp;
    }
    let Answer {
        pieces: answer_pieces,
        tokens,
        finish_reason,
    } = answer(&state, &req);
    let per_chunk = u64::from(cfg.tokens_per_chunk);
    let reasoning = match shape {
        Shape::Completions => Vec::new(),
        _ => pieces(cfg.reasoning_tokens, per_chunk),
    };
    let reasoning_tokens = if reasoning.is_empty() {
        0
    } else {
        cfg.reasoning_tokens
    };
    let include_usage = req
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let stream = req.get("stream").and_then(Value::as_bool).unwrap_or(false);
    // Wait for a generation slot; the clock of this response starts when one is free.
    let permit = match &state.slots {
        Some(slots) => slots.clone().acquire_owned().await.ok(),
        None => None,
    };
    let arrived = Instant::now();
    let mut timing = state.timing_log.clone().map(|log| TimingRecord {
        log,
        n,
        arrived: received,
        arrived_unix_us: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros()),
        earlier_on_connection,
        first_content: None,
        last_item: None,
        items: 0,
    });
    let ttft = Duration::from_secs_f64(cfg.ttft_ms / 1000.0);
    let itl = Duration::from_secs_f64(cfg.itl_ms / 1000.0);
    // Chunk k is due at exactly ttft + k·itl after arrival: deadlines, not sleeps, so delays never add up.
    let due = move |k: usize| arrived + ttft + itl * (k as u32);
    let needs_prompt_count = include_usage || shape == Shape::Messages || !stream;
    let prompt_tokens = if needs_prompt_count {
        Tokenizer::llama().count(&prompt_text(&req)) as u64
    } else {
        0
    };
    let reply = Reply {
        // A multi-byte character for `split_utf8` to split (in the id, so the answer text stays the same).
        id: if fault == Some(Fault::SplitUtf8) {
            format!("sim-{n}-café")
        } else {
            format!("sim-{n}")
        },
        model: &model,
        reasoning,
        answer: answer_pieces,
        finish_reason,
        prompt_tokens,
        completion_tokens: reasoning_tokens + tokens,
        reasoning_tokens,
        include_usage,
    };
    if !stream {
        let pieces = reply.reasoning.len() + reply.answer.len();
        sleep_until(due(pieces.saturating_sub(1))).await;
        drop(permit);
        return HttpResponse::Ok().json(super::wire::whole(shape, &reply));
    }
    let script = reply.script(shape, fault);
    let fd = http
        .conn_data::<super::faults::ConnFd>()
        .copied()
        .filter(|_| fault == Some(Fault::ResetMidStream));
    let body = super::faults::body(script, fault, cfg, due, shape, fd)
        // The slot is held until the response is done (the stream, and this closure with it, is dropped).
        .map(move |item| {
            let _slot = &permit;
            if let Some(t) = timing.as_mut() {
                t.saw_item();
            }
            item
        });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .streaming(body)
}
