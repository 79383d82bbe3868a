//! The native Anthropic Messages streaming client (`--llm-api anthropic`).
//!
//! Request: `POST {url}` where url = the base (default `https://api.anthropic.com`, `ANTHROPIC_BASE_URL`) with
//! trailing `/` removed, then `/v1/messages` — or just `/messages` when the base already ends in `/v1` (so a
//! gateway's `…/v1` base works too). Headers `x-api-key: {key}` (when set), `anthropic-version: 2023-06-01`,
//! `content-type: application/json`, `accept: text/event-stream`, then the custom headers. Body
//! `{"model", "max_tokens", "messages": [{"role": "user", "content": prompt}], "stream": true}` updated with the
//! sampling params. `max_tokens` is required by the API: the request's sampled `max_tokens`, else
//! [`DEFAULT_MAX_TOKENS`] (the correctness test sends none). No `system` field is sent (the original's empty
//! system prompt would be rejected).
//!
//! Stream (`event:` + `data:` pairs): `message_start` (`message.usage.input_tokens`), `content_block_start`,
//! `ping` (ignored), `content_block_delta` — `text_delta` (`delta.text`) is answer text, `thinking_delta`
//! (`delta.thinking`) is reasoning — `content_block_stop`, `message_delta` (`usage.output_tokens`),
//! `message_stop` (the end), and `error` (code = `error.type`, message = `error.message`). Unknown event types
//! are ignored, as Anthropic asks of clients. TTFT is taken at the first non-empty `text_delta`; K (the ITL
//! divisor) counts the non-empty `text_delta` events, as the original's litellm path counted only chunks with
//! content. A stream that closes before `message_stop` is an error.

use std::borrow::Cow;
use std::rc::Rc;
use std::time::Instant;

use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};

use super::http::HttpClient;
use super::lenient;
use super::sse::SseEvent;
use super::stream::{self, Failure, HttpOptions, StreamState, WireFormat, transport};
use super::{ClientResponse, LlmClient, RequestConfig};

/// The API version header sent with every request.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// The public API base.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// `max_tokens` when the request has none (the API requires it).
pub const DEFAULT_MAX_TOKENS: u64 = 1024;

/// Where and how to connect.
#[derive(Clone, Default)]
pub struct AnthropicConfig {
    /// e.g. `https://api.anthropic.com`; see the module docs for how the URL is formed.
    pub base_url: String,
    /// Sent as `x-api-key` when non-empty.
    pub api_key: Option<String>,
    /// Timeouts, extra headers, TLS.
    pub http: HttpOptions,
}

impl AnthropicConfig {
    /// The Messages URL for the base.
    pub fn url(&self) -> String {
        let base = self.base_url.trim_end_matches('/');
        if base.ends_with("/v1") {
            format!("{base}/messages")
        } else {
            format!("{base}/v1/messages")
        }
    }

    /// The request body for `config`.
    pub fn body(config: RequestConfig) -> Value {
        let max_tokens = config
            .sampling_param("max_tokens")
            .cloned()
            .unwrap_or_else(|| Value::from(DEFAULT_MAX_TOKENS));
        let (system, messages) = match &config.messages {
            Some(m) => split_system(m),
            None => (
                None,
                vec![json!({"role": "user", "content": config.prompt.0})],
            ),
        };
        let mut body = json!({
            "model": config.model,
            "max_tokens": max_tokens,
            "messages": messages,
            "stream": true,
        });
        if let Some(system) = system {
            body["system"] = Value::from(system);
        }
        stream::merge_params(&mut body, config.sampling_params);
        body
    }
}

/// Anthropic's shape of an OpenAI message list: system messages joined into the `system` text, the
/// user/assistant turns kept in order (other roles are sent as user turns).
fn split_system(messages: &[Value]) -> (Option<String>, Vec<Value>) {
    let mut system = Vec::new();
    let mut turns = Vec::new();
    for m in messages {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("user");
        match role {
            "system" | "developer" => system.push(super::message_text(m)),
            "assistant" => {
                turns.push(json!({"role": "assistant", "content": super::message_text(m)}))
            }
            _ => turns.push(json!({"role": "user", "content": super::message_text(m)})),
        }
    }
    ((!system.is_empty()).then(|| system.join("\n\n")), turns)
}

/// A streaming Anthropic Messages client with its own connection pool.
pub struct AnthropicClient {
    http: Rc<Result<HttpClient, String>>,
    cfg: Rc<AnthropicConfig>,
}

impl AnthropicClient {
    /// Builds the client; call it on the thread that will use it (its connection pool is not `Send`).
    pub fn new(cfg: AnthropicConfig) -> Self {
        AnthropicClient {
            http: Rc::new(cfg.http.http_client(&cfg.url())),
            cfg: Rc::new(cfg),
        }
    }
}

impl LlmClient for AnthropicClient {
    fn llm_request(&self, config: RequestConfig) -> LocalBoxFuture<'static, ClientResponse> {
        let http = self.http.clone();
        let cfg = self.cfg.clone();
        Box::pin(async move {
            let started = Instant::now();
            let body = AnthropicConfig::body(config);
            let mut headers = vec![
                ("anthropic-version", ANTHROPIC_VERSION),
                ("Accept", "text/event-stream"),
            ];
            if let Some(key) = cfg.api_key.as_deref().filter(|k| !k.is_empty()) {
                headers.push(("x-api-key", key));
            }
            let headers = cfg.http.with_custom_headers(headers);
            let mut wire = AnthropicWire::default();
            stream::execute(&http, &headers, &body, &cfg.http, started, &mut wire).await
        })
    }
}

/// Reads Anthropic Messages events.
#[derive(Debug, Default)]
pub struct AnthropicWire {
    stopped: bool,
}

impl WireFormat for AnthropicWire {
    fn on_event(
        &mut self,
        ev: &SseEvent,
        at: f64,
        state: &mut StreamState,
    ) -> Result<bool, Failure> {
        let malformed = |e: serde_json::Error| {
            let shown: String = ev.data.chars().take(200).collect();
            transport(format!("malformed JSON event ({e}): {shown}"))
        };
        // Fields of an unexpected type read as absent; JSON that is not an object has none of them.
        let v: Event = match serde_json::from_str(&ev.data) {
            Ok(v) => v,
            Err(e) => {
                serde_json::from_str::<IgnoredAny>(&ev.data).map_err(malformed)?;
                log::trace!("an Anthropic event that is not an object: {e}");
                Event::default()
            }
        };
        // The `event:` line names the type; the payload repeats it as `type`.
        let kind = ev.event.as_deref().or(v.kind.as_deref()).unwrap_or("");
        match kind {
            "message_start" => {
                if let Some(n) = v.message.and_then(|m| m.usage).and_then(|u| u.input_tokens) {
                    state.usage.prompt_tokens = Some(n);
                }
            }
            "content_block_start" => {
                let block = v.content_block.unwrap_or_default();
                if let Some(t) = block.thinking {
                    state.reasoning(&t, at);
                }
                if let Some(t) = block.text.filter(|t| !t.is_empty()) {
                    state.timer.data_event();
                    state.answer(&t, at);
                }
            }
            "content_block_delta" => {
                let delta = v.delta.unwrap_or_default();
                match delta.kind.as_deref() {
                    Some("text_delta") => {
                        let t = delta.text.unwrap_or_default();
                        if !t.is_empty() {
                            state.timer.data_event();
                            state.answer(&t, at);
                        }
                    }
                    Some("thinking_delta") => {
                        state.reasoning(&delta.thinking.unwrap_or_default(), at)
                    }
                    _ => {} // signature_delta, input_json_delta, …
                }
            }
            "message_delta" => {
                let usage = v.usage.unwrap_or_default();
                if let Some(n) = usage.output_tokens {
                    state.usage.completion_tokens = Some(n);
                }
                if let Some(n) = usage.input_tokens {
                    state.usage.prompt_tokens = Some(n);
                }
            }
            "message_stop" => {
                self.stopped = true;
                return Ok(false);
            }
            "error" => {
                // Rare: read whole, so any shape of error object is reported.
                let v: Value = serde_json::from_str(&ev.data).map_err(malformed)?;
                let err = v.get("error").unwrap_or(&v);
                let code = err
                    .get("type")
                    .filter(|t| t.is_string())
                    .cloned()
                    .unwrap_or(Value::from(-1));
                let msg = err
                    .get("message")
                    .and_then(Value::as_str)
                    .map_or_else(|| err.to_string(), str::to_string);
                return Err((code, msg));
            }
            _ => {} // ping, content_block_stop, and event types added later
        }
        Ok(true)
    }

    fn on_close(&self, state: &StreamState) -> Result<(), Failure> {
        if self.stopped {
            Ok(())
        } else {
            Err(transport(format!(
                "stream closed before message_stop after {} content events",
                state.timings().data_events
            )))
        }
    }
}

/// What an event is read for; everything else is skipped without being built. Text borrows from the event
/// when it has no escapes. A field of another type than expected reads as absent, as a lookup in the JSON
/// tree would.
#[derive(Deserialize, Default)]
struct Event<'a> {
    #[serde(rename = "type", default, borrow, deserialize_with = "lenient::text")]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::object")]
    content_block: Option<Block<'a>>,
    #[serde(default, borrow, deserialize_with = "lenient::object")]
    delta: Option<Block<'a>>,
    #[serde(default, deserialize_with = "lenient::object")]
    message: Option<Message>,
    #[serde(default, deserialize_with = "lenient::object")]
    usage: Option<EventUsage>,
}

/// A `content_block` or a `delta`.
#[derive(Deserialize, Default)]
struct Block<'a> {
    #[serde(rename = "type", default, borrow, deserialize_with = "lenient::text")]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::text")]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::text")]
    thinking: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct Message {
    #[serde(default, deserialize_with = "lenient::object")]
    usage: Option<EventUsage>,
}

#[derive(Deserialize, Default)]
struct EventUsage {
    #[serde(default, deserialize_with = "lenient::count")]
    input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient::count")]
    output_tokens: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::super::sse::SseFramer;
    use super::*;

    /// A stream as Anthropic documents it, with ping and a thinking block before the text.
    const STREAM: &str = "event: message_start\n\
data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude\",\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n\
event: content_block_start\n\
data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n\
event: ping\n\
data: {\"type\": \"ping\"}\n\n\
event: content_block_delta\n\
data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Let me think\"}}\n\n\
event: content_block_delta\n\
data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"abc\"}}\n\n\
event: content_block_stop\n\
data: {\"type\":\"content_block_stop\",\"index\":0}\n\n\
event: content_block_start\n\
data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
event: content_block_delta\n\
data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n\
event: content_block_delta\n\
data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"\"}}\n\n\
event: content_block_delta\n\
data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\" world\"}}\n\n\
event: content_block_stop\n\
data: {\"type\":\"content_block_stop\",\"index\":1}\n\n\
event: message_delta\n\
data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}\n\n\
event: message_stop\n\
data: {\"type\":\"message_stop\"}\n\n";

    /// Frames `bytes` and feeds every event to a fresh wire, event `i` arriving at `i / 10` seconds.
    fn run(bytes: &[u8]) -> (AnthropicWire, StreamState, Result<bool, Failure>) {
        let mut framer = SseFramer::default();
        let mut events = Vec::new();
        framer
            .feed(bytes, |e| {
                events.push(e.clone());
                true
            })
            .unwrap();
        events.extend(framer.finish().unwrap());
        let mut wire = AnthropicWire::default();
        let mut state = StreamState::new(Instant::now());
        let mut last = Ok(true);
        for (i, ev) in events.iter().enumerate() {
            last = wire.on_event(ev, i as f64 / 10.0, &mut state);
            if !matches!(last, Ok(true)) {
                break;
            }
        }
        (wire, state, last)
    }

    #[test]
    fn parses_the_documented_stream_with_event_lines_and_ping() {
        let (wire, s, last) = run(STREAM.as_bytes());
        assert_eq!(last, Ok(false), "message_stop ends the stream");
        assert!(wire.on_close(&s).is_ok());
        assert_eq!(s.text, "Hello world");
        assert_eq!(s.reasoning, "Let me think");
        assert_eq!(s.usage.prompt_tokens, Some(25));
        assert_eq!(s.usage.completion_tokens, Some(15));
        // events: 0 start, 1 block start, 2 ping, 3 thinking, 4 signature, 5 stop, 6 start, 7 "Hello", 8 "", 9 " world"
        assert_eq!(s.timings().first_token_s, Some(0.3));
        assert_eq!(s.timings().first_content_s, Some(0.7));
        assert_eq!(s.timings().last_content_s, Some(0.9));
        assert_eq!(s.timings().data_events, 2, "non-empty text deltas");
    }

    #[test]
    fn type_from_the_payload_when_there_is_no_event_line() {
        let no_event_lines: String = STREAM
            .lines()
            .filter(|l| !l.starts_with("event:"))
            .map(|l| format!("{l}\n"))
            .collect();
        let (_, s, last) = run(no_event_lines.as_bytes());
        assert_eq!(last, Ok(false));
        assert_eq!(s.text, "Hello world");
    }

    #[test]
    fn error_event_gives_type_and_message() {
        let stream = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3}}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"a\"}}\n\n\
event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
        let (_, s, last) = run(stream.as_bytes());
        assert_eq!(
            last,
            Err((Value::from("overloaded_error"), "Overloaded".to_string()))
        );
        assert_eq!(s.text, "a");
    }

    #[test]
    fn closing_before_message_stop_is_an_error() {
        let cut = STREAM.split("event: message_delta").next().unwrap();
        let (wire, s, last) = run(cut.as_bytes());
        assert_eq!(last, Ok(true));
        let e = wire.on_close(&s).unwrap_err();
        assert!(e.1.contains("message_stop"), "{}", e.1);
    }

    #[test]
    fn url_and_body() {
        let mut c = AnthropicConfig {
            base_url: DEFAULT_BASE_URL.into(),
            ..Default::default()
        };
        assert_eq!(c.url(), "https://api.anthropic.com/v1/messages");
        c.base_url = "http://gw:8080/anthropic/v1/".into();
        assert_eq!(c.url(), "http://gw:8080/anthropic/v1/messages");
        let mut params = serde_json::Map::new();
        params.insert("max_tokens".into(), json!(77));
        params.insert("temperature".into(), json!(0.5));
        let rc = RequestConfig {
            model: "claude".into(),
            prompt: ("hi".into(), 3),
            sampling_params: params,
            llm_api: "anthropic".into(),
            metadata: Default::default(),
            messages: None,
        };
        let body = AnthropicConfig::body(rc.clone());
        assert_eq!(
            body,
            json!({"model": "claude", "max_tokens": 77, "messages": [{"role": "user", "content": "hi"}],
                   "stream": true, "temperature": 0.5})
        );
        assert!(body.get("system").is_none());
        let mut no_max = rc;
        no_max.sampling_params.clear();
        assert_eq!(
            AnthropicConfig::body(no_max)["max_tokens"],
            DEFAULT_MAX_TOKENS
        );
    }
}
