//! What every streaming client shares: the HTTP options (timeouts, custom headers, TLS, connection reuse), the
//! per-request state (timestamps, usage, answer and reasoning text, the connection it went out on), and one
//! streaming loop that sends the request, checks the status, frames the body into SSE events as reads arrive
//! and hands each event to a [`WireFormat`].
//!
//! A wire format (OpenAI chunks, Anthropic Messages events) only interprets events; timing, timeouts, framing,
//! HTTP errors and draining are done here, once.
//!
//! Timing: the clock starts just before the request's first byte is written (the body built, a connection in
//! hand); what came before is recorded as `pre_send_s`. Every network read is
//! timestamped when it arrives, and every event framed from that read carries that timestamp.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::ClientResponse;
use super::http::{BodyReadError, Endpoint, EndpointKnowledge, HttpClient, SendError};
use super::sse::{SseError, SseEvent, SseFramer};
use crate::error_kind::ErrorKind;
use crate::metrics::{Measured, StreamTimer, StreamTimings, Usage};

/// Largest error body kept in `error_msg`.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// A failed request: `(error_code, error_msg)`.
pub type Failure = (Value, String);

/// A transport-side failure (connect, timeout, broken or malformed stream): code -1.
pub fn transport(msg: impl Into<String>) -> Failure {
    (Value::from(-1), msg.into())
}

/// HTTP settings shared by every client.
#[derive(Clone)]
pub struct HttpOptions {
    /// TCP (and TLS) connect timeout (error kind `connect_timeout`).
    pub connect_timeout: Duration,
    /// Idle timeout: the longest wait for each read of the stream after the headers (error kind
    /// `idle_timeout`). The config key `read_timeout` sets it (and the first-byte timeout) as before.
    pub read_timeout: Duration,
    /// Longest wait from the request's start to the response headers, connecting included (error kind
    /// `first_byte_timeout`).
    pub first_byte_timeout: Duration,
    /// Longest a whole request may take, from its start to its last byte (error kind `request_timeout`);
    /// `None` is no limit beyond the others.
    pub request_timeout: Option<Duration>,
    /// Longest SSE line accepted (error kind `line_too_long`).
    pub max_line_bytes: usize,
    /// Most bytes read from one response body (error kind `response_too_large`).
    pub max_response_bytes: usize,
    /// Extra headers sent with every request (`--header`), after the API's own, so they replace a header of
    /// the same name (e.g. a gateway's own `Authorization`).
    pub headers: Vec<(String, String)>,
    /// Accept any TLS certificate (`--insecure`).
    pub insecure: bool,
    /// Keep connections open between requests (`--connection-reuse on`, the default); `false` opens a new
    /// connection for every request, as llmperf does.
    pub connection_reuse: bool,
    /// What the clients learn about the server (shared by every client made from clones of these options).
    pub knowledge: EndpointKnowledge,
}

impl std::fmt::Debug for HttpOptions {
    /// Header values may be credentials: only their names are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("HttpOptions")
            .field("connect_timeout", &self.connect_timeout)
            .field("idle_timeout", &self.read_timeout)
            .field("first_byte_timeout", &self.first_byte_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("max_line_bytes", &self.max_line_bytes)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("header_names", &names)
            .field("insecure", &self.insecure)
            .field("connection_reuse", &self.connection_reuse)
            .finish()
    }
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(180),
            first_byte_timeout: Duration::from_secs(180),
            request_timeout: None,
            max_line_bytes: 16 * 1024 * 1024,
            max_response_bytes: 256 * 1024 * 1024,
            headers: Vec::new(),
            insecure: false,
            connection_reuse: true,
            knowledge: EndpointKnowledge::default(),
        }
    }
}

impl HttpOptions {
    /// An HTTP client for `url` with these options. Build it on the thread that uses it (it is not `Send`).
    pub fn http_client(&self, url: &str) -> Result<HttpClient, String> {
        Ok(HttpClient::new(
            Endpoint::parse(url)?,
            &self.knowledge,
            self.connect_timeout,
            self.insecure,
            self.connection_reuse,
        ))
    }

    /// `headers` (the API's own) followed by the custom ones, which replace same-named ones.
    pub fn with_custom_headers<'a>(
        &'a self,
        mut headers: Vec<(&'a str, &'a str)>,
    ) -> Vec<(&'a str, &'a str)> {
        for (name, value) in &self.headers {
            match headers
                .iter_mut()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                Some(slot) => *slot = (name.as_str(), value.as_str()),
                None => headers.push((name.as_str(), value.as_str())),
            }
        }
        headers
    }
}

/// What has been read of one response so far.
#[derive(Debug)]
pub struct StreamState {
    /// The request's start and the timings so far, recorded as a custom client would.
    pub timer: StreamTimer,
    /// The server's usage, if reported.
    pub usage: Usage,
    /// The answer text (what is tokenized for `number_output_tokens`).
    pub text: String,
    /// Reasoning text (`reasoning_content`, `reasoning`, Anthropic `thinking`), kept apart from the answer.
    pub reasoning: String,
}

impl StreamState {
    /// A fresh state for a request started at `started`.
    pub fn new(started: Instant) -> Self {
        StreamState {
            timer: StreamTimer::started_at(started),
            usage: Usage::default(),
            text: String::new(),
            reasoning: String::new(),
        }
    }

    /// The timings so far.
    pub fn timings(&self) -> &StreamTimings {
        self.timer.timings()
    }

    /// Answer text that arrived at `at` seconds; empty text is ignored (as the original).
    #[inline]
    pub fn answer(&mut self, text: &str, at: f64) {
        self.timer.content(text, at);
        self.text.push_str(text);
    }

    /// Reasoning text that arrived at `at` seconds; it counts for the first token of any kind only.
    #[inline]
    pub fn reasoning(&mut self, text: &str, at: f64) {
        self.timer.reasoning(text, at);
        self.reasoning.push_str(text);
    }

    fn finish(self, result: Result<(), KindedFailure>) -> ClientResponse {
        // When the client took the request: the record's start (its dispatch delay is the client's lateness,
        // not its connecting); the timings count from the first byte written, `pre_send_s` after it.
        let started = self.timer.taken();
        let timings = self.timer.finish();
        let (error_kind, error) = match result {
            Ok(()) => (None, None),
            Err((kind, failure)) => (Some(kind), Some(failure)),
        };
        ClientResponse {
            started,
            measured: Measured {
                timings,
                usage: self.usage,
                error,
                error_kind,
            },
            generated_text: self.text,
            reasoning_text: self.reasoning,
        }
    }
}

/// How one API's event stream is read.
pub trait WireFormat {
    /// Handles one SSE event that arrived at `at` seconds. `Ok(false)` means the response is complete.
    fn on_event(
        &mut self,
        ev: &SseEvent,
        at: f64,
        state: &mut StreamState,
    ) -> Result<bool, Failure>;
    /// The server closed the stream without a final event: `Ok` if what arrived is nonetheless complete.
    fn on_close(&self, state: &StreamState) -> Result<(), Failure>;
}

/// Sends the JSON `body` with `headers` through `http`, streams the response through `wire`, and returns the
/// measurement. Never fails: errors are part of the result.
pub async fn execute(
    http: &Result<HttpClient, String>,
    headers: &[(&str, &str)],
    body: &Value,
    opts: &HttpOptions,
    started: Instant,
    wire: &mut impl WireFormat,
) -> ClientResponse {
    let mut state = StreamState::new(started);
    let secrets = credentials(headers, opts);
    let result = match http {
        Ok(http) => stream(http, headers, body, opts, &mut state, wire).await,
        Err(e) => Err(kinded(ErrorKind::Connect, format!("invalid API URL: {e}"))),
    };
    state.finish(result.map_err(|(kind, (code, msg))| (kind, (code, redact(msg, &secrets)))))
}

/// Values that must never reach a record: the credential headers' values (and a bearer token alone), and
/// every custom header's value of 8 characters or more.
fn credentials(headers: &[(&str, &str)], opts: &HttpOptions) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (name, value) in headers {
        if [
            "authorization",
            "x-api-key",
            "api-key",
            "proxy-authorization",
        ]
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n))
        {
            out.push(value.to_string());
            if let Some((_, token)) = value.split_once(' ') {
                out.push(token.trim().to_string());
            }
        }
    }
    out.extend(opts.headers.iter().map(|(_, v)| v.clone()));
    out.retain(|s| s.len() >= 8);
    // Longest first, so a value is replaced whole before any part of it.
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out
}

/// `msg` with every secret replaced by `***` (servers sometimes echo the key they rejected).
fn redact(mut msg: String, secrets: &[String]) -> String {
    for s in secrets {
        if msg.contains(s.as_str()) {
            msg = msg.replace(s.as_str(), "***");
        }
    }
    msg
}

/// A failure with its kind.
type KindedFailure = (ErrorKind, Failure);

fn kinded(kind: ErrorKind, msg: String) -> KindedFailure {
    (kind, transport(msg))
}

/// A wire format's failure: -1 is a chunk it could not read, anything else an error object from the stream.
fn from_wire(f: Failure) -> KindedFailure {
    let kind = if f.0 == -1 {
        ErrorKind::MalformedChunk
    } else {
        ErrorKind::StreamError
    };
    (kind, f)
}

fn from_framer(e: SseError) -> KindedFailure {
    let kind = match e {
        SseError::LineTooLong(_) => ErrorKind::LineTooLong,
        SseError::InvalidUtf8 => ErrorKind::InvalidUtf8,
    };
    kinded(kind, format!("bad event stream: {e}"))
}

/// The wait allowed for the next step: `step`, or less when the whole request's deadline comes first (then
/// `true`: running out is a request timeout).
fn bounded(step: Duration, deadline: Option<Instant>) -> (Duration, bool) {
    match deadline {
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            if left <= step {
                (left, true)
            } else {
                (step, false)
            }
        }
        None => (step, false),
    }
}

async fn stream(
    http: &HttpClient,
    headers: &[(&str, &str)],
    body: &Value,
    opts: &HttpOptions,
    state: &mut StreamState,
    wire: &mut impl WireFormat,
) -> Result<(), KindedFailure> {
    let deadline = opts.request_timeout.map(|t| state.timer.started() + t);
    let request_timeout = |events: u64| {
        kinded(
            ErrorKind::RequestTimeout,
            format!(
                "request timeout: not complete within {:?} ({} events)",
                opts.request_timeout.unwrap_or_default(),
                events
            ),
        )
    };
    let bytes = serde_json::to_vec(body)
        .map_err(|e| kinded(ErrorKind::Transport, format!("request body: {e}")))?;
    let first_byte = opts
        .first_byte_timeout
        .saturating_sub(state.timer.started().elapsed());
    let (wait, total) = bounded(first_byte, deadline);
    let mut resp = match actix_rt::time::timeout(wait, http.post(headers, &bytes)).await {
        Err(_) if total => return Err(request_timeout(0)),
        Err(_) => {
            return Err(kinded(
                ErrorKind::FirstByteTimeout,
                format!(
                    "first-byte timeout: no response headers within {:?}",
                    opts.first_byte_timeout
                ),
            ));
        }
        Ok(Err(f)) => {
            if let Some(new) = f.new_connection {
                state.timer.connection(new, f.connect_s);
            }
            return Err(send_error(f.error));
        }
        Ok(Ok(r)) => r,
    };
    state
        .timer
        .connection(resp.info.new_connection, resp.info.connect_s);
    // The clock starts where the request left: the body built, a connection in hand (docs/results.md).
    state.timer.sent(resp.info.sent_at);
    let status = resp.head.status;
    if (300..400).contains(&status) {
        let location = resp
            .head
            .header("location")
            .unwrap_or("(no Location)")
            .chars()
            .take(500)
            .collect::<String>();
        return Err((
            ErrorKind::HttpRedirect,
            (
                Value::from(status),
                format!(
                    "HTTP {status}: redirect to {location} not followed; use the final URL as the API base"
                ),
            ),
        ));
    }
    if !(200..300).contains(&status) {
        let (wait, _) = bounded(opts.read_timeout, deadline);
        let body = actix_rt::time::timeout(wait, resp.read_to_end(MAX_ERROR_BODY)).await;
        let msg = match body {
            Ok(Ok(b)) => String::from_utf8_lossy(&b).into_owned(),
            Ok(Err(e)) => format!("HTTP {status}; body unreadable: {e:?}"),
            Err(_) => format!("HTTP {status}; body not received within {wait:?}"),
        };
        return Err((ErrorKind::HttpStatus, (Value::from(status), msg)));
    }
    let mut framer = SseFramer::new(opts.max_line_bytes);
    let mut received: usize = 0;
    loop {
        let (wait, total) = bounded(opts.read_timeout, deadline);
        let events = state.timings().data_events;
        let (data, at) = match actix_rt::time::timeout(wait, resp.next()).await {
            Err(_) if total => return Err(request_timeout(events)),
            Err(_) => {
                return Err(kinded(
                    ErrorKind::IdleTimeout,
                    format!(
                        "idle timeout: no data for {:?} after {events} events",
                        opts.read_timeout
                    ),
                ));
            }
            Ok(Ok(None)) => break,
            Ok(Err(BodyReadError::Broken(e))) => {
                return Err(kinded(
                    ErrorKind::StreamReset,
                    format!("stream broken after {events} events: {e}"),
                ));
            }
            Ok(Err(BodyReadError::Malformed(e))) => {
                return Err(kinded(
                    ErrorKind::Transport,
                    format!("invalid HTTP body framing after {events} events: {e}"),
                ));
            }
            Ok(Ok(Some(read))) => read,
        };
        let at = state.timer.since_start(at);
        received += data.len();
        if received > opts.max_response_bytes {
            return Err(kinded(
                ErrorKind::ResponseTooLarge,
                format!(
                    "response larger than {} bytes (max_response_bytes)",
                    opts.max_response_bytes
                ),
            ));
        }
        let mut outcome: Result<bool, Failure> = Ok(true);
        framer
            .feed(data, |ev| {
                outcome = wire.on_event(ev, at, state);
                matches!(outcome, Ok(true))
            })
            .map_err(from_framer)?;
        if !outcome.map_err(from_wire)? {
            // The final event: read what is left of the body (the chunked terminator) so the connection
            // can be reused; give up quickly.
            resp.finish(Duration::from_millis(20)).await;
            return Ok(());
        }
    }
    let at = state.timer.now_s();
    if let Some(ev) = framer.finish().map_err(from_framer)?
        && !wire.on_event(&ev, at, state).map_err(from_wire)?
    {
        return Ok(());
    }
    wire.on_close(state)
        .map_err(|f| (ErrorKind::IncompleteStream, f))
}

fn send_error(e: SendError) -> KindedFailure {
    match e {
        SendError::ConnectTimeout(t) => kinded(
            ErrorKind::ConnectTimeout,
            format!("connect timeout: not connected within {t:?}"),
        ),
        SendError::Connect(e) => kinded(ErrorKind::Connect, format!("connect error: {e}")),
        SendError::Closed(e) => kinded(ErrorKind::ConnectionClosed, e),
        SendError::Io(e) => kinded(ErrorKind::Transport, format!("request failed: {e}")),
    }
}

/// Merges `params` into the JSON object `body` (shallow, later keys win), as the original's `body.update`.
pub fn merge_params(body: &mut Value, params: serde_json::Map<String, Value>) {
    if let Value::Object(map) = body {
        for (k, v) in params {
            map.insert(k, v);
        }
    }
}
