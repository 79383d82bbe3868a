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
use super::sse::{SseEvent, SseFramer};
use super::tls;
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
    /// TCP (and TLS) connect timeout.
    pub connect_timeout: Duration,
    /// Longest wait for the response headers, and for each read of the stream after them.
    pub read_timeout: Duration,
    /// Longest SSE line accepted.
    pub max_line_bytes: usize,
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
            .field("read_timeout", &self.read_timeout)
            .field("max_line_bytes", &self.max_line_bytes)
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
            max_line_bytes: 16 * 1024 * 1024,
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
        awc::Client::builder()
            .connector(connector)
            .timeout(self.read_timeout)
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
    let result = stream(req, body, opts, &mut state, wire).await;
    state.finish(result)
}

async fn stream(
    req: awc::ClientRequest,
    body: &Value,
    opts: &HttpOptions,
    state: &mut StreamState,
    wire: &mut impl WireFormat,
) -> Result<(), Failure> {
    let mut resp = req.send_json(body).await.map_err(|e| match e {
        awc::error::SendRequestError::Timeout => transport(format!(
            "timeout: no response headers within {:?}",
            opts.read_timeout
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
    let mut framer = SseFramer::new(opts.max_line_bytes);
    loop {
        let next = actix_rt::time::timeout(opts.read_timeout, resp.next()).await;
        let at = state.started.elapsed().as_secs_f64();
        let chunk = match next {
            Err(_) => {
                return Err(transport(format!(
                    "timeout: no data for {:?} after {} events",
                    opts.read_timeout, state.timings.data_events
                )));
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(transport(format!("stream broken: {e}"))),
            Ok(Some(Ok(bytes))) => bytes,
        };
        let mut outcome: Result<bool, Failure> = Ok(true);
        framer
            .feed(&chunk, |ev| {
                outcome = wire.on_event(&ev, at, state);
                matches!(outcome, Ok(true))
            })
            .map_err(|e| transport(format!("bad event stream: {e}")))?;
        if !outcome? {
            drain(&mut resp).await;
            return Ok(());
        }
    }
    let at = state.started.elapsed().as_secs_f64();
    if let Some(ev) = framer
        .finish()
        .map_err(|e| transport(format!("bad event stream: {e}")))?
        && !wire.on_event(&ev, at, state)?
    {
        return Ok(());
    }
    wire.on_close(state)
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
