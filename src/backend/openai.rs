//! OpenAI-shaped streaming clients (spec §6.2) over [`super::http`]: chat completions (`--llm-api openai`, and Vertex AI's
//! OpenAI-compatible endpoint) and the legacy text completions (`--llm-api openai-completions`).
//!
//! Requests:
//! - chat: `POST {base}/chat/completions`, `{"model", "messages": [{"role": "system", "content": ""},
//!   {"role": "user", "content": prompt}], "stream": true}` (the empty system message is the original's; Vertex
//!   omits it);
//! - completions: `POST {base}/completions`, `{"model", "prompt": prompt, "stream": true}`;
//!
//! both updated with the sampling params, with `Authorization: Bearer {key}` when a key is set, and with
//! `"stream_options": {"include_usage": true}` when server token counts are wanted (the default; unless the
//! params set `stream_options` themselves). A server that rejects the field (HTTP 400 or 422 naming it) gets
//! the same request again without it — the rejected one was never processed, so the measurement is the second
//! send's — and no request of the run carries it from then on; this is said once, in the log.
//!
//! Stream: every JSON data event but a usage-only one (`choices: []`, which only comes because usage was asked
//! for) counts towards K (the original ITL divisor); a non-empty `delta.content`
//! (chat) or `text` (completions) is answer text (first → TTFT); a non-empty `delta.reasoning_content` or
//! `delta.reasoning` is reasoning text, timed separately. Reading stops at `data: [DONE]`; a stream that
//! closes without `[DONE]` or a `finish_reason` is an error.
//!
//! Errors, each a record with a code and a message: HTTP status ≥ 400 (code = status, message = body), an
//! `error` object in the stream (code = its `code`, else its `type`, else -1), and -1 for everything on the
//! transport side (connect failure, timeouts, a stream cut short, malformed chunks).

mod scan;

use std::borrow::Cow;
use std::marker::PhantomData;
use std::rc::Rc;
use std::time::Instant;

use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde_json::{Value, json};

use super::http::HttpClient;
use super::sse::SseEvent;
use super::stream::{self, Failure, HttpOptions, StreamState, WireFormat, transport};
use super::{ClientResponse, LlmClient, RequestConfig};
use crate::metrics::Usage;

/// Which OpenAI endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OpenAiShape {
    /// `chat/completions`, content in `choices[0].delta.content`.
    #[default]
    Chat,
    /// `completions` with a plain `prompt`, content in `choices[0].text`.
    Completions,
}

/// Where and how to connect.
#[derive(Clone, Default)]
pub struct OpenAiConfig {
    /// The API base, e.g. `http://localhost:8000/v1`; `chat/completions` or `completions` is appended.
    pub base_url: String,
    /// Sent as `Authorization: Bearer …` when non-empty.
    pub api_key: Option<String>,
    /// Chat or legacy completions.
    pub shape: OpenAiShape,
    /// Chat only: send the original's empty system message first.
    pub empty_system_message: bool,
    /// Ask for a final usage chunk (`stream_options.include_usage`).
    pub include_usage: bool,
    /// Timeouts, extra headers, TLS.
    pub http: HttpOptions,
}

impl OpenAiConfig {
    /// The original's chat client: chat shape with the empty system message.
    pub fn chat(base_url: impl Into<String>, api_key: Option<String>, http: HttpOptions) -> Self {
        OpenAiConfig {
            base_url: base_url.into(),
            api_key,
            shape: OpenAiShape::Chat,
            empty_system_message: true,
            include_usage: false,
            http,
        }
    }

    /// The full URL: base + `/` (if missing) + `chat/completions` or `completions`.
    pub fn url(&self) -> String {
        let sep = if self.base_url.ends_with('/') {
            ""
        } else {
            "/"
        };
        let path = match self.shape {
            OpenAiShape::Chat => "chat/completions",
            OpenAiShape::Completions => "completions",
        };
        format!("{}{sep}{path}", self.base_url)
    }

    /// The request body for `config`.
    pub fn body(&self, config: RequestConfig) -> Value {
        let mut body = match self.shape {
            OpenAiShape::Chat => {
                let messages = match config.messages {
                    // Dataset and conversation messages go as they are: no empty system message.
                    Some(m) => m,
                    None => {
                        let mut messages = Vec::new();
                        if self.empty_system_message {
                            messages.push(json!({"role": "system", "content": ""}));
                        }
                        messages.push(json!({"role": "user", "content": config.prompt.0}));
                        messages
                    }
                };
                json!({"model": config.model, "messages": messages, "stream": true})
            }
            OpenAiShape::Completions => {
                json!({"model": config.model, "prompt": config.prompt.0, "stream": true})
            }
        };
        if self.include_usage && !config.sampling_params.contains_key("stream_options") {
            body["stream_options"] = json!({"include_usage": true});
        }
        stream::merge_params(&mut body, config.sampling_params);
        body
    }
}

/// A streaming OpenAI-shaped client with its own connection pool.
pub struct OpenAiClient {
    http: Rc<Result<HttpClient, String>>,
    cfg: Rc<OpenAiConfig>,
}

/// The chat client under its historical name.
pub type OpenAiChatClient = OpenAiClient;

impl OpenAiClient {
    /// Builds the client; call it on the thread that will use it (its connection pool is not `Send`).
    pub fn new(cfg: OpenAiConfig) -> Self {
        OpenAiClient {
            http: Rc::new(cfg.http.http_client(&cfg.url())),
            cfg: Rc::new(cfg),
        }
    }
}

/// Whether a failed response is the server rejecting `stream_options` (it names the field).
fn rejects_stream_options(r: &ClientResponse) -> bool {
    match &r.measured.error {
        Some((code, msg)) => {
            matches!(code.as_u64(), Some(400 | 422))
                && (msg.contains("stream_options") || msg.contains("include_usage"))
        }
        None => false,
    }
}

impl LlmClient for OpenAiClient {
    fn llm_request(&self, config: RequestConfig) -> LocalBoxFuture<'static, ClientResponse> {
        let http = self.http.clone();
        let cfg = self.cfg.clone();
        Box::pin(async move {
            let started = Instant::now();
            let knowledge = &cfg.http.knowledge;
            let ours = cfg.include_usage && !config.sampling_params.contains_key("stream_options");
            let mut body = cfg.body(config);
            if ours
                && knowledge.stream_options_rejected()
                && let Some(b) = body.as_object_mut()
            {
                b.remove("stream_options");
            }
            let bearer = cfg
                .api_key
                .as_deref()
                .filter(|k| !k.is_empty())
                .map(|k| format!("Bearer {k}"));
            let mut headers = Vec::new();
            if let Some(b) = &bearer {
                headers.push(("Authorization", b.as_str()));
            }
            let headers = cfg.http.with_custom_headers(headers);
            let mut wire = OpenAiWire::new(cfg.shape);
            let response =
                stream::execute(&http, &headers, &body, &cfg.http, started, &mut wire).await;
            let sent_usage = body.get("stream_options").is_some();
            if !(ours && sent_usage && rejects_stream_options(&response)) {
                return response;
            }
            if knowledge.reject_stream_options() {
                let (_, msg) = response.measured.error.clone().unwrap_or_default();
                let shown: String = msg.chars().take(200).collect();
                log::warn!(
                    "the endpoint rejects stream_options.include_usage ({shown}); requests go without it, so \
                     token counts come from the tokenizer (--stream-usage off skips the first attempt)"
                );
            }
            if let Some(b) = body.as_object_mut() {
                b.remove("stream_options");
            }
            // The rejected request was never processed: the measurement is this one's.
            let started = Instant::now();
            let mut wire = OpenAiWire::new(cfg.shape);
            stream::execute(&http, &headers, &body, &cfg.http, started, &mut wire).await
        })
    }
}

/// Reads OpenAI chunks.
#[derive(Debug)]
pub struct OpenAiWire {
    shape: OpenAiShape,
    done: bool,
    finished: bool,
    /// The stream's last chunk with one text, less its text (the hand scanner reads the next ones like it
    /// without walking them).
    known: scan::Known,
}

impl OpenAiWire {
    /// A decoder for this endpoint shape.
    pub fn new(shape: OpenAiShape) -> Self {
        OpenAiWire {
            shape,
            done: false,
            finished: false,
            known: scan::Known::default(),
        }
    }
}

impl WireFormat for OpenAiWire {
    fn on_event(
        &mut self,
        ev: &SseEvent,
        at: f64,
        state: &mut StreamState,
    ) -> Result<bool, Failure> {
        let data = ev.data.as_str();
        // A chunk is an object: only anything else can be the end marker.
        if !data.starts_with('{') && data.trim() == "[DONE]" {
            self.done = true;
            return Ok(false);
        }
        // The usual chunk by hand; anything else (and every error) through serde.
        let chunk: Chunk = match scan::scan_with(data, &mut self.known) {
            Some(chunk) => chunk,
            None => serde_json::from_str(data).map_err(|e| {
                let shown: String = data.chars().take(200).collect();
                transport(format!("malformed JSON chunk ({e}): {shown}"))
            })?,
        };
        // K counts what the original received: a usage-only chunk (`choices: []`) comes only because we asked
        // for usage, which the original never did, so it is not counted.
        let usage_only = chunk.usage.is_some() && chunk.choices.as_ref().is_none_or(|c| !c.any);
        if !usage_only {
            state.timer.data_event();
        }
        if let Some(err) = chunk.error {
            return Err(stream_error(err));
        }
        if let Some(u) = chunk.usage {
            state.usage = Usage {
                prompt_tokens: u.prompt_tokens,
                completion_tokens: u.completion_tokens,
                reasoning_tokens: u.completion_tokens_details.and_then(|d| d.reasoning_tokens),
            };
        }
        if let Some(choice) = chunk.choices.and_then(|c| c.first) {
            if choice.finish_reason.is_some() {
                self.finished = true;
            }
            match self.shape {
                OpenAiShape::Chat => {
                    if let Some(d) = choice.delta {
                        let reasoning = d.reasoning_content.or(d.reasoning).unwrap_or_default();
                        state.reasoning(&reasoning, at);
                        state.answer(&d.content.unwrap_or_default(), at);
                    }
                }
                OpenAiShape::Completions => state.answer(&choice.text.unwrap_or_default(), at),
            }
        }
        Ok(true)
    }

    fn on_close(&self, state: &StreamState) -> Result<(), Failure> {
        if self.done || self.finished {
            Ok(())
        } else {
            Err(transport(format!(
                "stream closed before [DONE] after {} events",
                state.timings().data_events
            )))
        }
    }
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

/// What a chunk is read for; every other field is skipped without being built. The text fields borrow from
/// the event when they have no escapes, so a plain content chunk is read without allocating.
#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(default, borrow)]
    choices: Option<Choices<'a>>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(default, borrow)]
    delta: Option<Delta<'a>>,
    #[serde(default, borrow, deserialize_with = "borrowed_text")]
    text: Option<Cow<'a, str>>,
    /// Any value but `null` ends the answer; which one does not matter here.
    #[serde(default)]
    finish_reason: Option<IgnoredAny>,
}

/// A `choices` array, read without collecting it: whether it had an element, and its first (a request asks
/// for one choice; the others of a server that sends more are skipped, as the original reads only
/// `choices[0]`).
struct Choices<'a> {
    any: bool,
    first: Option<Choice<'a>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Choices<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct First<'a>(PhantomData<Choice<'a>>);
        impl<'de: 'a, 'a> Visitor<'de> for First<'a> {
            type Value = Choices<'a>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of choices")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Choices<'a>, A::Error> {
                let first: Option<Choice<'a>> = seq.next_element()?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Choices {
                    any: first.is_some(),
                    first,
                })
            }
        }
        d.deserialize_seq(First(PhantomData))
    }
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(default, borrow, deserialize_with = "borrowed_text")]
    content: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "borrowed_text")]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "borrowed_text")]
    reasoning: Option<Cow<'a, str>>,
}

/// A string or `null`, borrowed from the event when it has no escapes (serde borrows a `Cow` field only
/// when it is not inside an `Option`, so a plain `Option<Cow<str>>` field would allocate every time).
fn borrowed_text<'de: 'a, 'a, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Cow<'a, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Text<'a>(#[serde(borrow)] Cow<'a, str>);
    Ok(Option::<Text>::deserialize(d)?.map(|t| t.0))
}

#[derive(Deserialize)]
struct WireUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens_details: Option<WireUsageDetails>,
}

#[derive(Deserialize)]
struct WireUsageDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> StreamState {
        StreamState::new(Instant::now())
    }

    fn data(s: &str) -> SseEvent {
        SseEvent {
            event: None,
            data: s.to_string(),
        }
    }

    fn feed(w: &mut OpenAiWire, s: &mut StreamState, d: &str, at: f64) -> Result<bool, Failure> {
        w.on_event(&data(d), at, s)
    }

    #[test]
    fn url_building() {
        let mut c = OpenAiConfig::chat("http://h:1/v1", None, HttpOptions::default());
        assert_eq!(c.url(), "http://h:1/v1/chat/completions");
        c.base_url.push('/');
        assert_eq!(c.url(), "http://h:1/v1/chat/completions");
        c.shape = OpenAiShape::Completions;
        assert_eq!(c.url(), "http://h:1/v1/completions");
    }

    #[test]
    fn bodies_for_each_shape() {
        let mut params = serde_json::Map::new();
        params.insert("max_tokens".into(), json!(5));
        let rc = RequestConfig {
            model: "m".into(),
            prompt: ("hi".into(), 3),
            sampling_params: params,
            llm_api: "openai".into(),
            metadata: Default::default(),
            messages: None,
        };
        let mut c = OpenAiConfig::chat("http://h/v1", None, HttpOptions::default());
        assert_eq!(
            c.body(rc.clone()),
            json!({"model": "m", "messages": [{"role": "system", "content": ""},
                   {"role": "user", "content": "hi"}], "stream": true, "max_tokens": 5})
        );
        c.empty_system_message = false;
        c.include_usage = true;
        assert_eq!(
            c.body(rc.clone()),
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": true,
                   "stream_options": {"include_usage": true}, "max_tokens": 5})
        );
        c.shape = OpenAiShape::Completions;
        assert_eq!(
            c.body(rc),
            json!({"model": "m", "prompt": "hi", "stream": true,
                   "stream_options": {"include_usage": true}, "max_tokens": 5})
        );
    }

    #[test]
    fn content_role_usage_and_done_chunks() {
        let (mut w, mut s) = (OpenAiWire::new(OpenAiShape::Chat), state());
        let role = r#"{"choices":[{"delta":{"role":"assistant"},"finish_reason":null}]}"#;
        assert!(feed(&mut w, &mut s, role, 0.1).unwrap());
        let hi = r#"{"choices":[{"delta":{"content":"Hi"}}]}"#;
        assert!(feed(&mut w, &mut s, hi, 0.2).unwrap());
        let there = r#"{"choices":[{"delta":{"content":" \"there\""}}]}"#;
        assert!(feed(&mut w, &mut s, there, 0.3).unwrap());
        assert!(!w.finished);
        let stop = r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#;
        assert!(feed(&mut w, &mut s, stop, 0.4).unwrap());
        let usage = r#"{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10,
            "completion_tokens_details":{"reasoning_tokens":2}}}"#;
        assert!(feed(&mut w, &mut s, usage, 0.5).unwrap());
        assert!(!feed(&mut w, &mut s, "[DONE]", 0.6).unwrap());
        assert_eq!(s.text, "Hi \"there\"");
        assert_eq!(s.timings().first_content_s, Some(0.2));
        assert_eq!(s.timings().first_token_s, Some(0.2));
        assert_eq!(s.timings().last_content_s, Some(0.3));
        assert_eq!(
            s.timings().data_events,
            4,
            "the usage-only chunk is not counted"
        );
        assert_eq!(s.usage.prompt_tokens, Some(7));
        assert_eq!(s.usage.completion_tokens, Some(3));
        assert_eq!(s.usage.reasoning_tokens, Some(2));
        assert!(w.done && w.finished);
    }

    #[test]
    fn reasoning_is_timed_apart_from_the_answer() {
        let (mut w, mut s) = (OpenAiWire::new(OpenAiShape::Chat), state());
        let r1 = r#"{"choices":[{"delta":{"reasoning_content":"think"}}]}"#;
        let r2 = r#"{"choices":[{"delta":{"reasoning":" more","content":""}}]}"#;
        let a = r#"{"choices":[{"delta":{"content":"42"}}]}"#;
        feed(&mut w, &mut s, r1, 0.1).unwrap();
        feed(&mut w, &mut s, r2, 0.2).unwrap();
        feed(&mut w, &mut s, a, 0.5).unwrap();
        assert_eq!(s.timings().first_token_s, Some(0.1));
        assert_eq!(s.timings().first_content_s, Some(0.5));
        assert_eq!(
            (s.reasoning.as_str(), s.text.as_str()),
            ("think more", "42")
        );
    }

    #[test]
    fn completions_text_and_unfinished_stream() {
        let (mut w, mut s) = (OpenAiWire::new(OpenAiShape::Completions), state());
        let c = r#"{"choices":[{"index":0,"text":"Once","finish_reason":null}]}"#;
        feed(&mut w, &mut s, c, 0.1).unwrap();
        assert_eq!(s.text, "Once");
        let e = w.on_close(&s).unwrap_err();
        assert!(e.1.contains("before [DONE]"), "{}", e.1);
        let f = r#"{"choices":[{"index":0,"text":"","finish_reason":"length"}]}"#;
        feed(&mut w, &mut s, f, 0.2).unwrap();
        assert!(w.on_close(&s).is_ok());
    }

    #[test]
    fn stream_error_objects() {
        let (mut w, mut s) = (OpenAiWire::new(OpenAiShape::Chat), state());
        let e = feed(
            &mut w,
            &mut s,
            r#"{"error":{"message":"overloaded","code":503}}"#,
            0.1,
        )
        .unwrap_err();
        assert_eq!(e, (Value::from(503), "overloaded".to_string()));
        let e = feed(
            &mut w,
            &mut s,
            r#"{"error":{"message":"slow down","type":"rate_limit","code":null}}"#,
            0.1,
        )
        .unwrap_err();
        assert_eq!(e, (Value::from("rate_limit"), "slow down".to_string()));
        let e = feed(&mut w, &mut s, r#"{"error":"plain"}"#, 0.1).unwrap_err();
        assert_eq!(e.0, Value::from(-1));
    }

    #[test]
    fn malformed_json_is_an_error_with_the_payload() {
        let (mut w, mut s) = (OpenAiWire::new(OpenAiShape::Chat), state());
        let e = feed(&mut w, &mut s, "{not json", 0.1).unwrap_err();
        assert_eq!(e.0, Value::from(-1));
        assert!(e.1.contains("{not json"), "{}", e.1);
    }
}
