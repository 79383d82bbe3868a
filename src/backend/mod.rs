//! Speaking to LLM APIs: the [`LlmClient`] trait, the request description, the clients and stream framing.
//!
//! A backend knows HTTP and wire formats; it knows nothing about launchers, results or reports. It measures a
//! request (timings, server usage, the error if any) and returns the generated text; token counting happens
//! later, off the network threads.
//!
//! - `openai` — OpenAI chat completions and legacy completions (also Vertex AI's OpenAI-compatible API);
//! - `anthropic` — the native Anthropic Messages API;
//! - `vertex` — how the Vertex AI URL is built from the original's environment variables;
//! - `stream` — the streaming loop, HTTP options and per-request state every client shares;
//! - `sse` — server-sent events framing; `tls` — the `--insecure` certificate verifier.

pub mod anthropic;
pub mod http;
mod lenient;
pub mod openai;
pub(crate) mod request;
pub mod sse;
pub mod stream;
pub mod tls;
pub mod vertex;

use std::time::Instant;

use futures_util::future::LocalBoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::metrics::Measured;

pub use stream::HttpOptions;

/// One request to send, in the shape of the original's `RequestConfig` (`prompt` is `[text, target_tokens]`).
/// Build one with [`RequestConfig::new`]; read its common sampling parameters with the typed accessors
/// ([`max_tokens`](RequestConfig::max_tokens), [`temperature`](RequestConfig::temperature), …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestConfig {
    /// Sent verbatim as `"model"`.
    pub model: String,
    /// The prompt text and its target length in tokens (the original's `number_input_tokens`).
    pub prompt: (String, u64),
    /// Merged into the request body (`max_tokens`, `temperature`, …).
    #[serde(default)]
    pub sampling_params: Map<String, Value>,
    /// The API the request is for, e.g. `openai`.
    pub llm_api: String,
    /// Free-form data carried with the request (the correctness test keeps `rnd_number` here).
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// A chat message list (OpenAI shape: `{"role", "content"}` objects) to send instead of the prompt text:
    /// dataset `messages` lines and multi-turn conversations. `prompt.0` then holds the flattened text
    /// ([`flatten_messages`]), which the completions client sends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<Value>>,
}

/// The text of a message's `content`: a string as is, a list of parts as their `text` fields joined.
pub fn message_text(message: &Value) -> String {
    match message.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

/// A message list as one prompt text, for APIs without messages (legacy completions) and for token counts:
/// each message's text, separated by blank lines.
///
/// ```
/// use llmperf_actors::backend::flatten_messages;
/// use serde_json::json;
/// let m = vec![json!({"role": "user", "content": "Hi"}), json!({"role": "assistant", "content": "Hello"})];
/// assert_eq!(flatten_messages(&m), "Hi\n\nHello");
/// ```
pub fn flatten_messages(messages: &[Value]) -> String {
    messages
        .iter()
        .map(message_text)
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// What a client hands back for one request.
#[derive(Debug, Clone)]
pub struct ClientResponse {
    /// The request's start: just before its first byte was written (or, when it never got a connection, when
    /// the client took it).
    pub started: Instant,
    /// Timings, server usage and the error, if any.
    pub measured: Measured,
    /// The answer text only (what `number_output_tokens` counts).
    pub generated_text: String,
    /// Reasoning text (`reasoning_content` / `reasoning` / Anthropic thinking), empty for most models.
    pub reasoning_text: String,
}

impl ClientResponse {
    /// The record of a request sent at `sent_at` and still in flight when its run's grace period ended,
    /// `into_run` after the run started: failed, kind `cancelled`, code -1.
    pub fn cancelled(sent_at: Instant, into_run: std::time::Duration) -> ClientResponse {
        ClientResponse {
            started: sent_at,
            measured: Measured {
                timings: crate::metrics::StreamTimings::default(),
                usage: crate::metrics::Usage::default(),
                error: Some((
                    Value::from(-1),
                    format!(
                        "cancelled: in flight for {:.1} s when the run was stopped, {:.1} s after its start \
                         (grace period over)",
                        sent_at.elapsed().as_secs_f64(),
                        into_run.as_secs_f64()
                    ),
                )),
                error_kind: Some(crate::error_kind::ErrorKind::Cancelled),
            },
            generated_text: String::new(),
            reasoning_text: String::new(),
        }
    }
}

/// A streaming LLM client. Implementations run inside one arbiter and may hold `!Send` state (an
/// connection pool); many requests may be in flight on one client at once.
pub trait LlmClient: 'static {
    /// Sends one request and measures it. Never fails: errors are part of the returned measurement.
    fn llm_request(&self, config: RequestConfig) -> LocalBoxFuture<'static, ClientResponse>;
}

/// Builds a client inside the arbiter that will own it. Called once per client actor.
pub type ClientFactory = std::sync::Arc<dyn Fn() -> Box<dyn LlmClient> + Send + Sync>;

/// The APIs `--llm-api` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LlmApi {
    /// OpenAI chat completions (any OpenAI-compatible endpoint), the original's client.
    #[default]
    OpenAi,
    /// OpenAI legacy text completions (`/v1/completions`, plain `prompt`).
    OpenAiCompletions,
    /// The Anthropic Messages API.
    Anthropic,
    /// Vertex AI's OpenAI-compatible chat completions.
    VertexAi,
}

impl LlmApi {
    /// Every value, in the order the help lists them.
    pub const ALL: [LlmApi; 4] = [
        LlmApi::OpenAi,
        LlmApi::OpenAiCompletions,
        LlmApi::Anthropic,
        LlmApi::VertexAi,
    ];

    /// The `--llm-api` spelling (also written into results as `llm_api`).
    pub fn as_str(self) -> &'static str {
        match self {
            LlmApi::OpenAi => "openai",
            LlmApi::OpenAiCompletions => "openai-completions",
            LlmApi::Anthropic => "anthropic",
            LlmApi::VertexAi => "vertexai",
        }
    }

    /// Whether the API streams OpenAI-shaped chunks (and so understands `stream_options`).
    pub fn is_openai_shaped(self) -> bool {
        !matches!(self, LlmApi::Anthropic)
    }
}

impl std::fmt::Display for LlmApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for LlmApi {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        LlmApi::ALL
            .into_iter()
            .find(|a| a.as_str() == norm)
            .ok_or_else(|| {
                let names: Vec<&str> = LlmApi::ALL.iter().map(|a| a.as_str()).collect();
                format!(
                    "llm_api '{s}' is not supported; use --llm-api with one of: {}",
                    names.join(", ")
                )
            })
    }
}

/// Everything needed to build a client for one API. Its `Debug` hides the key.
#[derive(Clone)]
pub struct ClientSpec {
    /// Which API to speak.
    pub api: LlmApi,
    /// The API base (see each client for how the URL is formed).
    pub base_url: String,
    /// The credential: a bearer token (OpenAI, Vertex) or `x-api-key` (Anthropic).
    pub api_key: Option<String>,
    /// OpenAI-shaped APIs: ask for the usage chunk.
    pub include_usage: bool,
    /// Timeouts, extra headers, TLS.
    pub http: HttpOptions,
}

impl std::fmt::Debug for ClientSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSpec")
            .field("api", &self.api)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("include_usage", &self.include_usage)
            .field("http", &self.http)
            .finish()
    }
}

impl ClientSpec {
    /// A factory that builds this client on each client actor's arbiter.
    pub fn factory(self) -> ClientFactory {
        std::sync::Arc::new(move || self.build())
    }

    /// Builds the client (on the calling thread's arbiter).
    pub fn build(&self) -> Box<dyn LlmClient> {
        use openai::{OpenAiClient, OpenAiConfig, OpenAiShape};
        let openai = |shape, empty_system_message| OpenAiConfig {
            base_url: self.base_url.clone(),
            api_key: self.api_key.clone(),
            shape,
            empty_system_message,
            include_usage: self.include_usage,
            http: self.http.clone(),
        };
        match self.api {
            LlmApi::OpenAi => Box::new(OpenAiClient::new(openai(OpenAiShape::Chat, true))),
            LlmApi::OpenAiCompletions => {
                Box::new(OpenAiClient::new(openai(OpenAiShape::Completions, false)))
            }
            LlmApi::VertexAi => Box::new(OpenAiClient::new(openai(OpenAiShape::Chat, false))),
            LlmApi::Anthropic => Box::new(anthropic::AnthropicClient::new(
                anthropic::AnthropicConfig {
                    base_url: self.base_url.clone(),
                    api_key: self.api_key.clone(),
                    http: self.http.clone(),
                },
            )),
        }
    }
}
