//! The simulator's routes and answers: the three API shapes (`POST /v1/chat/completions`, `/v1/completions`,
//! `/v1/messages`, each also without `/v1`), the model list (`GET /v1/models`, `/models`), vLLM's metrics
//! (`GET /metrics`), 404 for an unknown path and 405 for a known path with the wrong method; the request
//! counter that drives faults, the generation slots (`capacity`) or the engine (`batch_slots`), and a record
//! of what each request carried (for tests; scrapes of `/metrics` are not recorded).
//!
//! A request is recorded ([`SimServer::received`](super::SimServer::received)) once it has been read in full
//! and matched a route — whatever the answer (an error, a fault) — and only then: a request left unread in a
//! connection the server closes, or sent to an unknown path, is not.

use std::sync::atomic::Ordering;

use serde_json::{Value, json};
use tokio::time::{Instant, sleep_until};

use super::faults::{EarlyAnswer, Stream};
use super::generate::{self, Begun, Due, Outcome, Timing};
use super::http::Request;
use super::metrics::{Finished, GaugeValues};
use super::response::Response;
use super::state::SimState;
use super::timing::TimingRecord;
use super::wire::{Reply, Shape, anthropic_error, openai_error};
use super::{Fault, WORDS, answers};
use crate::tokenizer::{TokenCount, Tokenizer};

/// The model `GET /v1/models` lists when `simulator.model` is not set.
const DEFAULT_MODEL: &str = "sim-model";

/// Answers one request read in full; `earlier_on_connection` requests came before it on its connection.
pub(super) async fn handle(
    state: &SimState,
    req: &Request,
    earlier_on_connection: u64,
) -> Response {
    let (route, allowed) = match req.path.as_str() {
        "/v1/chat/completions" | "/chat/completions" => (Some(Shape::Chat), "POST"),
        "/v1/completions" | "/completions" => (Some(Shape::Completions), "POST"),
        "/v1/messages" | "/messages" => (Some(Shape::Messages), "POST"),
        "/v1/models" | "/models" => (None, "GET"),
        "/metrics" if req.method == "GET" => return metrics(state),
        _ => {
            let msg = format!("Invalid URL ({} {})", req.method, req.path);
            if req.path == "/metrics" {
                let msg = format!("Method Not Allowed: {} /metrics (use GET)", req.method);
                return Response::json(405, &openai_error(&msg, "invalid_request_error"))
                    .header("Allow", "GET");
            }
            return Response::json(404, &openai_error(&msg, "invalid_request_error"));
        }
    };
    if req.method != allowed {
        let msg = format!(
            "Method Not Allowed: {} {} (use {allowed})",
            req.method, req.path
        );
        return Response::json(405, &openai_error(&msg, "invalid_request_error"))
            .header("Allow", allowed);
    }
    match route {
        Some(shape) => respond(shape, state, req, earlier_on_connection).await,
        None => {
            state.record(req, &Value::Null);
            let id = state.cfg.model.as_deref().unwrap_or(DEFAULT_MODEL);
            Response::json(
                200,
                &json!({"object": "list", "data": [
                    {"id": id, "object": "model", "created": 0, "owned_by": "llmperf-actors-sim"}]}),
            )
        }
    }
}

/// `GET /metrics`: vLLM's metrics in the Prometheus text format (not recorded as a received request).
fn metrics(state: &SimState) -> Response {
    let gauges = match &state.engine {
        Some(engine) => engine.gauges(),
        None => GaugeValues {
            running: state.metrics.generating.load(Ordering::Relaxed),
            waiting: state.metrics.queued.load(Ordering::Relaxed),
            kv_usage: 0.0,
        },
    };
    let model = state.cfg.model.as_deref().unwrap_or(DEFAULT_MODEL);
    Response::text(
        200,
        "text/plain; version=0.0.4; charset=utf-8",
        state.metrics.render(model, gauges),
    )
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

/// What the simulator answers: the content pieces (one per chunk), the running total of tokens at the end of
/// each, and the answer's token count.
struct Answer {
    pieces: Vec<String>,
    ends: Vec<u64>,
    tokens: u64,
    finish_reason: &'static str,
}

/// The running totals of tokens at the end of each of the pieces of `n` tokens cut into `per_chunk`.
fn piece_ends(n: u64, per_chunk: u64) -> Vec<u64> {
    (1..=n.div_ceil(per_chunk))
        .map(|c| (c * per_chunk).min(n))
        .collect()
}

fn answer(state: &SimState, req: &Value) -> Answer {
    let cfg = &state.cfg;
    if let Some(number) = answers::correctness_question(&prompt_text(req)) {
        let k = state.correctness_requests.fetch_add(1, Ordering::Relaxed) + 1;
        let text = answers::answer_number(number, k, cfg.wrong_answer_fraction);
        let pieces: Vec<String> = text.split_inclusive(' ').map(str::to_string).collect();
        return Answer {
            tokens: pieces.len() as u64,
            ends: (1..=pieces.len() as u64).collect(),
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
        ends: piece_ends(out, u64::from(cfg.tokens_per_chunk)),
        tokens: out,
        finish_reason: if max_tokens == Some(out) {
            "length"
        } else {
            "stop"
        },
    }
}

/// An error response in the shape's format.
fn error_response(shape: Shape, status: u16, message: &str, openai_kind: &str) -> Response {
    let body = match shape {
        Shape::Messages => {
            let kind = match status {
                400 => "invalid_request_error",
                429 => "rate_limit_error",
                _ => "api_error",
            };
            anthropic_error(message, kind)
        }
        _ => openai_error(message, openai_kind),
    };
    let r = Response::json(status, &body);
    if matches!(status, 429 | 503) {
        r.header("Retry-After", "1")
    } else {
        r
    }
}

async fn respond(
    shape: Shape,
    state: &SimState,
    http: &Request,
    earlier_on_connection: u64,
) -> Response {
    // The timing log's clock starts here, when the request has been read: the simulator's own work (parsing,
    // answering) is part of the time to first token it reports.
    let received = Instant::now();
    let n = state.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let cfg = &state.cfg;
    let req: Value = match serde_json::from_slice(&http.body) {
        Ok(v) => v,
        Err(e) => {
            state.record(http, &Value::Null);
            let msg = format!("request body is not JSON: {e}");
            return error_response(shape, 400, &msg, "invalid_request_error");
        }
    };
    state.record(http, &req);
    if cfg.reject_stream_options && req.get("stream_options").is_some() {
        let msg = "Unrecognized request argument supplied: stream_options";
        return match shape {
            Shape::Messages => error_response(shape, 400, msg, ""),
            _ => Response::json(
                400,
                &json!({"error": {"message": msg, "type": "invalid_request_error",
                                   "param": "stream_options", "code": null}}),
            ),
        };
    }
    let Some(model) = req.get("model").and_then(Value::as_str).map(str::to_string) else {
        let msg = "you must provide a model parameter";
        return error_response(shape, 400, msg, "invalid_request_error");
    };
    if shape == Shape::Messages && req.get("max_tokens").and_then(Value::as_u64).is_none() {
        return error_response(shape, 400, "max_tokens: Field required", "");
    }
    let fault = cfg.fault_for(n);
    let credential = http
        .header("x-api-key")
        .or_else(|| http.header("authorization"))
        .map(|v| v.trim_start_matches("Bearer ").to_string());
    match super::faults::early_answer(shape, fault, cfg, credential.as_deref()).await {
        Some(EarlyAnswer::Error {
            status,
            message,
            kind,
        }) => return error_response(shape, status, &message, kind),
        Some(EarlyAnswer::Redirect(to)) => return Response::empty(307).header("Location", to),
        None => {}
    }
    let Answer {
        pieces: answer_pieces,
        ends: answer_ends,
        tokens,
        finish_reason,
    } = answer(state, &req);
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
    // Reasoning pieces first, then the answer's: where each piece ends, in tokens of the whole output.
    let ends: Vec<u64> = piece_ends(reasoning_tokens, per_chunk)
        .into_iter()
        .chain(answer_ends.iter().map(|e| reasoning_tokens + e))
        .collect();
    let include_usage = req
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let stream = req.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let completion_tokens = reasoning_tokens + tokens;
    // The prompt is always counted: `GET /metrics` adds it up, whether or not the usage is sent.
    let count_prompt = || Tokenizer::llama().count(&prompt_text(&req)) as u64;
    let mut begun = match generate::begin(state, count_prompt, completion_tokens, ends).await {
        Ok(b) => b,
        Err(msg) => return error_response(shape, 400, &msg, "invalid_request_error"),
    };
    let timing = state
        .timing_log
        .clone()
        .filter(|_| stream)
        .map(|log| TimingRecord::new(log, n, received, earlier_on_connection));
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
        prompt_tokens: begun.prompt_tokens,
        completion_tokens,
        reasoning_tokens,
        include_usage,
        usage_chunk: cfg.usage_chunk,
        role_content_null: cfg.role_content_null,
    };
    let pieces = reply.reasoning.len() + reply.answer.len();
    let record = Finished {
        prompt_tokens: begun.prompt_tokens,
        completion_tokens,
        finish_reason,
        received,
        admitted: begun.admitted.unwrap_or(received),
        pieces: Vec::new(),
    };
    // Only the stream faults that still deliver the whole response leave it finished.
    let finishes = matches!(
        fault,
        None | Some(Fault::SplitUtf8 | Fault::FramingVariants | Fault::SlowTrickle)
    );
    if !stream {
        let mut outcome = Outcome::new(state, &mut begun, record, pieces, true);
        match (&begun.timing, begun.ticket.as_mut()) {
            (Timing::Engine { total, .. }, Some(ticket)) => {
                if ticket.produced(*total).await.is_none() {
                    return error_response(shape, 503, "simulator stopping", "server_error");
                }
            }
            (timing, _) => {
                if let Due::At(at) = timing.due(pieces.saturating_sub(1))
                    && at > Instant::now()
                {
                    sleep_until(at).await;
                }
            }
        }
        outcome.complete(begun.ticket.as_mut());
        drop(begun);
        return Response::json(200, &super::wire::whole(shape, &reply));
    }
    let script = reply.script(shape, fault);
    let outcome = Outcome::new(state, &mut begun, record, pieces, finishes);
    let Begun {
        timing: due,
        ticket,
        slot,
        ..
    } = begun;
    // The slot (or the engine's ticket) is held, and the timing record kept, until the response is done (the
    // stream is dropped).
    Response::stream(Stream {
        steps: super::faults::plan(script, fault, cfg, |k| due.due(k), shape),
        timing,
        slot,
        ticket,
        outcome: Some(Box::new(outcome)),
    })
}
