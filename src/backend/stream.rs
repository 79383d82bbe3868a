//! What every streaming client shares: the HTTP client (timeouts, custom headers, TLS), the per-request state
//! (timestamps, usage, answer and reasoning text), and one streaming loop that sends the request, checks the
//! status, frames the body into SSE events as reads arrive and hands each event to a [`WireFormat`].
//!
//! A wire format (OpenAI chunks, Anthropic Messages events) only interprets events; timing, timeouts, framing,
//! HTTP errors and draining are done here, once.
//!
//! Timing: the clock starts before the connection is made, as in the original. Every network read is
//! timestamped when it arrives, and every event framed from that read carries that timestamp.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;

use super::ClientResponse;
use super::sse::{SseError, SseEvent, SseFramer};
use super::tls;
use crate::error_kind::ErrorKind;
use crate::metrics::{Measured, StreamTimings, Usage};

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
        }
    }
}

impl HttpOptions {
    /// An `awc::Client` with these timeouts, no connection limit, a User-Agent, and certificate verification
    /// (webpki roots) unless `insecure`. Build it on the arbiter that uses it (`awc::Client` is not `Send`).
    pub fn client(&self) -> awc::Client {
        let mut connector = awc::Connector::new()
            .timeout(self.connect_timeout)
            .handshake_timeout(self.connect_timeout)
            .limit(0);
        if self.insecure {
            connector = connector.rustls_0_23(Arc::new(tls::insecure_client_config()));
        }
        // Timeouts past the connect are enforced by the streaming loop (each with its own error kind), and
        // redirects are reported, not followed: the benchmark measures the endpoint it was given.
        awc::Client::builder()
            .connector(connector)
            .disable_timeout()
            .disable_redirects()
            .add_default_header((
                awc::http::header::USER_AGENT,
                concat!("llmperf-actors/", env!("CARGO_PKG_VERSION")),
            ))
            .finish()
    }

    /// Adds the custom headers to a request (replacing same-named ones).
    pub fn apply_headers(&self, mut req: awc::ClientRequest) -> awc::ClientRequest {
        for (name, value) in &self.headers {
            req = req.insert_header((name.as_str(), value.as_str()));
        }
        req
    }
}

/// What has been read of one response so far.
#[derive(Debug)]
pub struct StreamState {
    /// When the request started.
    pub started: Instant,
    /// Content arrival times so far.
    pub timings: StreamTimings,
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
            started,
            timings: StreamTimings::default(),
            usage: Usage::default(),
            text: String::new(),
            reasoning: String::new(),
        }
    }

    /// Answer text that arrived at `at` seconds; empty text is ignored (as the original).
    pub fn answer(&mut self, text: &str, at: f64) {
        if text.is_empty() {
            return;
        }
        if self.timings.first_content_s.is_none() {
            self.timings.first_content_s = Some(at);
        }
        self.timings.first_token_s.get_or_insert(at);
        if let Some(prev) = self.timings.last_content_s
            && at > prev
        {
            self.timings.chunk_gaps_s.push((at - prev) as f32);
        }
        self.timings.last_content_s = Some(at);
        self.text.push_str(text);
    }

    /// Reasoning text that arrived at `at` seconds; it counts for the first token of any kind only.
    pub fn reasoning(&mut self, text: &str, at: f64) {
        if text.is_empty() {
            return;
        }
        self.timings.first_token_s.get_or_insert(at);
        self.reasoning.push_str(text);
    }

    fn finish(mut self, result: Result<(), KindedFailure>) -> ClientResponse {
        self.timings.end_s = self.started.elapsed().as_secs_f64();
        let (error_kind, error) = match result {
            Ok(()) => (None, None),
            Err((kind, failure)) => (Some(kind), Some(failure)),
        };
        ClientResponse {
            started: self.started,
            measured: Measured {
                timings: self.timings,
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

/// Sends `req` with the JSON `body`, streams the response through `wire`, and returns the measurement.
/// Never fails: errors are part of the result.
pub async fn execute(
    req: awc::ClientRequest,
    body: &Value,
    opts: &HttpOptions,
    started: Instant,
    wire: &mut impl WireFormat,
) -> ClientResponse {
    let mut state = StreamState::new(started);
    let secrets = credentials(req.headers(), opts);
    let result = stream(req, body, opts, &mut state, wire).await;
    state.finish(result.map_err(|(kind, (code, msg))| (kind, (code, redact(msg, &secrets)))))
}

/// Values that must never reach a record: the credential headers' values (and a bearer token alone), and
/// every custom header's value of 8 characters or more.
fn credentials(headers: &awc::http::header::HeaderMap, opts: &HttpOptions) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in [
        "authorization",
        "x-api-key",
        "api-key",
        "proxy-authorization",
    ] {
        for v in headers.get_all(name) {
            if let Ok(v) = v.to_str() {
                out.push(v.to_string());
                if let Some((_, token)) = v.split_once(' ') {
                    out.push(token.trim().to_string());
                }
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
    req: awc::ClientRequest,
    body: &Value,
    opts: &HttpOptions,
    state: &mut StreamState,
    wire: &mut impl WireFormat,
) -> Result<(), KindedFailure> {
    let deadline = opts.request_timeout.map(|t| state.started + t);
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
    let first_byte = opts
        .first_byte_timeout
        .saturating_sub(state.started.elapsed());
    let (wait, total) = bounded(first_byte, deadline);
    let mut resp = match actix_rt::time::timeout(wait, req.send_json(body)).await {
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
        Ok(Err(e)) => return Err(send_error(e, opts)),
        Ok(Ok(r)) => r,
    };
    let status = resp.status();
    if status.is_redirection() {
        let location = resp
            .headers()
            .get(awc::http::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("(no Location)")
            .chars()
            .take(500)
            .collect::<String>();
        return Err((
            ErrorKind::HttpRedirect,
            (
                Value::from(status.as_u16()),
                format!(
                    "HTTP {status}: redirect to {location} not followed; use the final URL as the API base"
                ),
            ),
        ));
    }
    if !status.is_success() {
        let (wait, _) = bounded(opts.read_timeout, deadline);
        let body = actix_rt::time::timeout(wait, resp.body().limit(MAX_ERROR_BODY)).await;
        let msg = match body {
            Ok(Ok(b)) => String::from_utf8_lossy(&b).into_owned(),
            Ok(Err(e)) => format!("HTTP {status}; body unreadable: {e}"),
            Err(_) => format!("HTTP {status}; body not received within {wait:?}"),
        };
        return Err((ErrorKind::HttpStatus, (Value::from(status.as_u16()), msg)));
    }
    let mut framer = SseFramer::new(opts.max_line_bytes);
    let mut received: usize = 0;
    loop {
        let (wait, total) = bounded(opts.read_timeout, deadline);
        let next = actix_rt::time::timeout(wait, resp.next()).await;
        let at = state.started.elapsed().as_secs_f64();
        let chunk = match next {
            Err(_) if total => return Err(request_timeout(state.timings.data_events)),
            Err(_) => {
                return Err(kinded(
                    ErrorKind::IdleTimeout,
                    format!(
                        "idle timeout: no data for {:?} after {} events",
                        opts.read_timeout, state.timings.data_events
                    ),
                ));
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(kinded(
                    ErrorKind::StreamReset,
                    format!(
                        "stream broken after {} events: {e}",
                        state.timings.data_events
                    ),
                ));
            }
            Ok(Some(Ok(bytes))) => bytes,
        };
        received += chunk.len();
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
            .feed(&chunk, |ev| {
                outcome = wire.on_event(&ev, at, state);
                matches!(outcome, Ok(true))
            })
            .map_err(from_framer)?;
        if !outcome.map_err(from_wire)? {
            drain(&mut resp).await;
            return Ok(());
        }
    }
    let at = state.started.elapsed().as_secs_f64();
    if let Some(ev) = framer.finish().map_err(from_framer)?
        && !wire.on_event(&ev, at, state).map_err(from_wire)?
    {
        return Ok(());
    }
    wire.on_close(state)
        .map_err(|f| (ErrorKind::IncompleteStream, f))
}

fn send_error(e: awc::error::SendRequestError, opts: &HttpOptions) -> KindedFailure {
    use awc::error::{ConnectError, SendRequestError};
    match e {
        SendRequestError::Connect(ConnectError::Timeout) => kinded(
            ErrorKind::ConnectTimeout,
            format!(
                "connect timeout: not connected within {:?}",
                opts.connect_timeout
            ),
        ),
        SendRequestError::Connect(c) => kinded(ErrorKind::Connect, format!("connect error: {c}")),
        SendRequestError::Timeout => kinded(
            ErrorKind::FirstByteTimeout,
            format!(
                "first-byte timeout: no response headers within {:?}",
                opts.first_byte_timeout
            ),
        ),
        other => kinded(ErrorKind::Transport, format!("request failed: {other}")),
    }
}

/// Reads what is left after the final event so the connection can go back to the pool; gives up quickly.
async fn drain<S>(resp: &mut awc::ClientResponse<S>)
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, awc::error::PayloadError>> + Unpin,
{
    while let Ok(Some(Ok(_))) =
        actix_rt::time::timeout(Duration::from_millis(20), resp.next()).await
    {}
}

/// Merges `params` into the JSON object `body` (shallow, later keys win), as the original's `body.update`.
pub fn merge_params(body: &mut Value, params: serde_json::Map<String, Value>) {
    if let Value::Object(map) = body {
        for (k, v) in params {
            map.insert(k, v);
        }
    }
}
