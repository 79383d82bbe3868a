//! The OpenAI chat-completions streaming client (`--llm-api openai`, spec §6.2), over awc.
//!
//! Request: `POST {base}/chat/completions` with `Authorization: Bearer {key}` and
//! `{"model", "messages": [{"role": "system", "content": ""}, {"role": "user", "content": prompt}],
//! "stream": true}` updated with the sampling params (the empty system message is kept for compatibility).
//!
//! Timing: the clock starts before the connection is made, as in the original. Every network read is
//! timestamped when it arrives; each SSE data event in it counts towards K (the original ITL divisor); a
//! non-empty `delta.content` is a content chunk (first → TTFT). Reading stops at `data: [DONE]`.
//!
//! Errors, each a record with a code and a message: HTTP status ≥ 400 (code = status, message = body), an
//! `error` object in the stream (code = its `code`, else its `type`, else -1), and -1 for everything on the
//! transport side (connect failure, timeouts, a stream cut short, malformed chunks).

use std::borrow::Cow;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};

use super::sse::SseFramer;
use super::{ClientResponse, LlmClient, RequestConfig};
use crate::metrics::{Measured, StreamTimings, Usage};

/// Largest error body kept in `error_msg`.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// The API base, e.g. `http://localhost:8000/v1`; `chat/completions` is appended.
    pub base_url: String,
    /// Sent as `Authorization: Bearer …` when non-empty.
    pub api_key: Option<String>,
    /// TCP (and TLS) connect timeout.
    pub connect_timeout: Duration,
    /// Longest wait for the response headers, and for each read of the stream after them.
    pub read_timeout: Duration,
    /// Longest SSE line accepted.
    pub max_line_bytes: usize,
}

impl OpenAiConfig {
    /// The full chat-completions URL: base + `/` (if missing) + `chat/completions`.
    pub fn url(&self) -> String {
        let sep = if self.base_url.ends_with('/') {
            ""
        } else {
            "/"
        };
        format!("{}{sep}chat/completions", self.base_url)
    }
}

/// A streaming OpenAI chat-completions client with its own connection pool.
pub struct OpenAiChatClient {
    http: awc::Client,
    cfg: Rc<OpenAiConfig>,
    url: Rc<str>,
}

impl OpenAiChatClient {
    /// Builds the client; call it on the arbiter that will use it (`awc::Client` is not `Send`).
    pub fn new(cfg: OpenAiConfig) -> Self {
        let connector = awc::Connector::new()
            .timeout(cfg.connect_timeout)
            .handshake_timeout(cfg.connect_timeout)
            .limit(0);
        let http = awc::Client::builder()
            .connector(connector)
            .timeout(cfg.read_timeout)
            .add_default_header((
                awc::http::header::USER_AGENT,
                concat!("llmperf-actors/", env!("CARGO_PKG_VERSION")),
            ))
            .finish();
        let url: Rc<str> = cfg.url().into();
        OpenAiChatClient {
            http,
            cfg: Rc::new(cfg),
            url,
        }
    }
}

impl LlmClient for OpenAiChatClient {
    fn llm_request(&self, config: RequestConfig) -> LocalBoxFuture<'static, ClientResponse> {
        let http = self.http.clone();
        let cfg = self.cfg.clone();
        let url = self.url.clone();
        Box::pin(async move {
            let started = Instant::now();
            let mut body = json!({
                "model": config.model,
                "messages": [
                    {"role": "system", "content": ""},
                    {"role": "user", "content": config.prompt.0},
                ],
                "stream": true,
            });
            if let Value::Object(map) = &mut body {
                for (k, v) in config.sampling_params {
                    map.insert(k, v);
                }
            }
            let mut req = http.post(&*url);
            if let Some(key) = cfg.api_key.as_deref().filter(|k| !k.is_empty()) {
                req =
                    req.insert_header((awc::http::header::AUTHORIZATION, format!("Bearer {key}")));
            }
            let mut state = StreamState::new(started);
            let result = stream_request(req, &body, &cfg, &mut state).await;
            state.finish(result)
        })
    }
}

/// What has been read so far.
struct StreamState {
    started: Instant,
    timings: StreamTimings,
    usage: Usage,
    text: String,
    done: bool,
    finished: bool,
}

type Failure = (Value, String);

fn transport(msg: impl Into<String>) -> Failure {
    (Value::from(-1), msg.into())
}

impl StreamState {
    fn new(started: Instant) -> Self {
        StreamState {
            started,
            timings: StreamTimings::default(),
            usage: Usage::default(),
            text: String::new(),
            done: false,
            finished: false,
        }
    }

    fn finish(mut self, result: Result<(), Failure>) -> ClientResponse {
        self.timings.end_s = self.started.elapsed().as_secs_f64();
        ClientResponse {
            started: self.started,
            measured: Measured {
                timings: self.timings,
                usage: self.usage,
                error: result.err(),
            },
            generated_text: self.text,
        }
    }

    /// Handles one SSE data payload that arrived at `at` seconds. `Ok(false)` means the stream is complete.
    fn on_data(&mut self, data: &str, at: f64) -> Result<bool, Failure> {
        if data.trim() == "[DONE]" {
            self.done = true;
            return Ok(false);
        }
        self.timings.data_events += 1;
        let chunk: Chunk = serde_json::from_str(data).map_err(|e| {
            let shown: String = data.chars().take(200).collect();
            transport(format!("malformed JSON chunk ({e}): {shown}"))
        })?;
        if let Some(err) = chunk.error {
            return Err(stream_error(err));
        }
        if let Some(u) = chunk.usage {
            self.usage = Usage {
                prompt_tokens: u.prompt_tokens,
                completion_tokens: u.completion_tokens,
            };
        }
        if let Some(choice) = chunk.choices.into_iter().flatten().next() {
            if choice.finish_reason.is_some() {
                self.finished = true;
            }
            let content = choice.delta.and_then(|d| d.content).unwrap_or_default();
            if !content.is_empty() {
                if self.timings.first_content_s.is_none() {
                    self.timings.first_content_s = Some(at);
                }
                self.timings.last_content_s = Some(at);
                self.text.push_str(&content);
            }
        }
        Ok(true)
    }
}

async fn stream_request(
    req: awc::ClientRequest,
    body: &Value,
    cfg: &OpenAiConfig,
    state: &mut StreamState,
) -> Result<(), Failure> {
    let mut resp = req.send_json(body).await.map_err(|e| match e {
        awc::error::SendRequestError::Timeout => transport(format!(
            "timeout: no response headers within {:?}",
            cfg.read_timeout
        )),
        awc::error::SendRequestError::Connect(c) => transport(format!("connect error: {c}")),
        other => transport(format!("request failed: {other}")),
    })?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.body().limit(MAX_ERROR_BODY).await;
        let msg = match body {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => format!("HTTP {status}; body unreadable: {e}"),
        };
        return Err((Value::from(status.as_u16()), msg));
    }
    let mut framer = SseFramer::new(cfg.max_line_bytes);
    let mut failure = None;
    loop {
        let next = actix_rt::time::timeout(cfg.read_timeout, resp.next()).await;
        let at = state.started.elapsed().as_secs_f64();
        let chunk = match next {
            Err(_) => {
                return Err(transport(format!(
                    "timeout: no data for {:?} after {} events",
                    cfg.read_timeout, state.timings.data_events
                )));
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(transport(format!("stream broken: {e}"))),
            Ok(Some(Ok(bytes))) => bytes,
        };
        let mut keep_going = true;
        framer
            .feed(&chunk, |ev| match state.on_data(&ev.data, at) {
                Ok(more) => {
                    keep_going = more;
                    more
                }
                Err(f) => {
                    failure = Some(f);
                    keep_going = false;
                    false
                }
            })
            .map_err(|e| transport(format!("bad event stream: {e}")))?;
        if let Some(f) = failure.take() {
            return Err(f);
        }
        if !keep_going {
            drain(&mut resp).await;
            return Ok(());
        }
    }
    let at = state.started.elapsed().as_secs_f64();
    if let Some(ev) = framer
        .finish()
        .map_err(|e| transport(format!("bad event stream: {e}")))?
    {
        state.on_data(&ev.data, at)?;
    }
    if state.done || state.finished {
        Ok(())
    } else {
        Err(transport(format!(
            "stream closed before [DONE] after {} events",
            state.timings.data_events
        )))
    }
}

/// Reads what is left after `[DONE]` so the connection can go back to the pool; gives up quickly.
async fn drain<S>(resp: &mut awc::ClientResponse<S>)
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, awc::error::PayloadError>> + Unpin,
{
    while let Ok(Some(Ok(_))) =
        actix_rt::time::timeout(Duration::from_millis(20), resp.next()).await
    {}
}

/// `{"error": {...}}` in the stream: code from `code`, else `type`, else -1; message from `message`.
fn stream_error(err: Value) -> Failure {
    let code = match (&err.get("code"), &err.get("type")) {
        (Some(c), _) if !c.is_null() => (*c).clone(),
        (_, Some(t)) if t.is_string() => (*t).clone(),
        _ => Value::from(-1),
    };
    let msg = match err.get("message").and_then(Value::as_str) {
        Some(m) => m.to_string(),
        None => err.to_string(),
    };
    (code, msg)
}

#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(default, borrow)]
    choices: Option<Vec<Choice<'a>>>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(default, borrow)]
    delta: Option<Delta<'a>>,
    #[serde(default)]
    finish_reason: Option<Value>,
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct WireUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> StreamState {
        StreamState::new(Instant::now())
    }

    #[test]
    fn url_building() {
        let mut c = OpenAiConfig {
            base_url: "http://h:1/v1".into(),
            api_key: None,
            connect_timeout: Duration::from_secs(1),
            read_timeout: Duration::from_secs(1),
            max_line_bytes: 1024,
        };
        assert_eq!(c.url(), "http://h:1/v1/chat/completions");
        c.base_url.push('/');
        assert_eq!(c.url(), "http://h:1/v1/chat/completions");
    }

    #[test]
    fn content_role_usage_and_done_chunks() {
        let mut s = state();
        let role = r#"{"choices":[{"delta":{"role":"assistant"},"finish_reason":null}]}"#;
        assert!(s.on_data(role, 0.1).unwrap());
        assert!(
            s.on_data(r#"{"choices":[{"delta":{"content":"Hi"}}]}"#, 0.2)
                .unwrap()
        );
        assert!(
            s.on_data(r#"{"choices":[{"delta":{"content":" \"there\""}}]}"#, 0.3)
                .unwrap()
        );
        assert!(
            s.on_data(r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#, 0.4)
                .unwrap()
        );
        let usage =
            r#"{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}"#;
        assert!(s.on_data(usage, 0.5).unwrap());
        assert!(!s.on_data("[DONE]", 0.6).unwrap());
        assert_eq!(s.text, "Hi \"there\"");
        assert_eq!(s.timings.first_content_s, Some(0.2));
        assert_eq!(s.timings.last_content_s, Some(0.3));
        assert_eq!(s.timings.data_events, 5);
        assert_eq!(s.usage.prompt_tokens, Some(7));
        assert_eq!(s.usage.completion_tokens, Some(3));
        assert!(s.done && s.finished);
    }

    #[test]
    fn stream_error_objects() {
        let mut s = state();
        let e = s
            .on_data(r#"{"error":{"message":"overloaded","code":503}}"#, 0.1)
            .unwrap_err();
        assert_eq!(e, (Value::from(503), "overloaded".to_string()));
        let e = s
            .on_data(
                r#"{"error":{"message":"slow down","type":"rate_limit","code":null}}"#,
                0.1,
            )
            .unwrap_err();
        assert_eq!(e, (Value::from("rate_limit"), "slow down".to_string()));
        let e = s.on_data(r#"{"error":"plain"}"#, 0.1).unwrap_err();
        assert_eq!(e.0, Value::from(-1));
    }

    #[test]
    fn malformed_json_is_an_error_with_the_payload() {
        let e = state().on_data("{not json", 0.1).unwrap_err();
        assert_eq!(e.0, Value::from(-1));
        assert!(e.1.contains("{not json"), "{}", e.1);
    }
}
