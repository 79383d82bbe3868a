//! The clients' HTTP/1.1: one `POST` with a JSON body per request, the response read as it arrives, and a pool
//! of idle connections per client. Written for this tool rather than taken from awc or hyper because a
//! benchmark needs to know, for every request, what happened on the wire:
//!
//! - **whether the request opened a connection and how long connecting took** (`new_connection`,
//!   `connect_s`), so a time to first token can be decomposed;
//! - **whether a request that failed before any byte of a response can be sent again without the server
//!   seeing it twice.** A server may close a kept-alive connection at any moment (llama.cpp's server closes
//!   it after every streamed response while advertising keep-alive; proxies close idle ones). A request
//!   written into such a connection is lost. It is re-sent, once, on a fresh connection, only with proof
//!   from the kernel (`TCP_INFO`) that the server's application never read it: the server's TCP stack reset
//!   the connection without acknowledging a single byte of the request — it had no open socket to put it
//!   in. A request the server's stack acknowledged may have been read and processed, so when that connection
//!   then closes without a response the request is an error record (`connection_closed`), never a second
//!   send. The one case this cannot tell apart: an application that reads a request and aborts the
//!   connection before its stack acknowledged it (within its delayed-ACK time) and before sending a byte;
//!
//! - **every legal body framing**, close-delimited HTTP/1.1 bodies included (awc reads those as empty).
//!
//! To keep the race from happening at all, an idle connection is checked (a non-blocking peek) before reuse,
//! a connection is reused only after 10 ms of idleness until the server has shown that it keeps connections
//! alive, the server's `Keep-Alive: timeout=N` is honoured with a second to spare, and a server that is seen
//! closing connections right after its responses gets a new connection for every request from then on (what
//! llmperf does for every server). `connection_reuse: false` does that from the start.
//!
//! No redirects are followed, nothing is compressed (`Accept-Encoding: identity`), and every timeout past
//! the connect is the caller's (`stream.rs` bounds each wait with its own error kind).

pub mod body;
mod conn;
pub mod head;
#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use body::{BodyDecoder, BodyError};
use conn::Conn;
use head::ResponseHead;

/// Where requests go, parsed once from the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https`.
    pub tls: bool,
    /// Host name or IP address (without IPv6 brackets).
    pub host: String,
    /// Port (80 / 443 by default).
    pub port: u16,
    /// Path and query of the request line.
    pub path: String,
    /// The `Host` header: the URL's authority without credentials.
    pub authority: String,
}

impl Endpoint {
    /// Parses an `http://` or `https://` URL.
    ///
    /// ```
    /// use llmperf_actors::backend::http::Endpoint;
    /// let e = Endpoint::parse("http://[::1]:8000/v1/chat/completions").unwrap();
    /// assert_eq!((e.host.as_str(), e.port, e.path.as_str()), ("::1", 8000, "/v1/chat/completions"));
    /// assert!(Endpoint::parse("ftp://h/x").is_err());
    /// ```
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| format!("'{url}' is not a valid URL: {e}"))?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(format!("'{url}' must start with http:// or https://")),
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("'{url}' has no host"))?;
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let authority = match uri.port_u16() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
        Ok(Endpoint {
            tls,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
            path: if path.is_empty() { "/".into() } else { path },
            authority,
        })
    }

    fn origin(&self) -> String {
        format!(
            "{}://{}:{}",
            if self.tls { "https" } else { "http" },
            self.host,
            self.port
        )
    }
}

/// What the clients learn about one origin (scheme, host, port), shared by every client of a run.
#[derive(Default)]
struct OriginState {
    resolved: Mutex<Option<conn::Resolved>>,
    /// The server closes connections right after its responses: do not pool them.
    closes_after_response: AtomicBool,
    /// A reused connection has carried a whole response: the server keeps connections alive, so a fresh
    /// idle connection may be reused at once.
    keeps_alive: AtomicBool,
    /// Requests re-sent after the server reset the reused connection they were written into.
    resent: AtomicU64,
}

/// What the clients built from the same options learn about the servers they talk to: cheap to clone
/// (shared), fresh by default.
#[derive(Clone, Default)]
pub struct EndpointKnowledge(Arc<Knowledge>);

#[derive(Default)]
struct Knowledge {
    origins: Mutex<HashMap<String, Arc<OriginState>>>,
    stream_options_rejected: AtomicBool,
}

impl EndpointKnowledge {
    fn origin(&self, ep: &Endpoint) -> Arc<OriginState> {
        match self.0.origins.lock() {
            Ok(mut map) => map.entry(ep.origin()).or_default().clone(),
            Err(_) => Arc::default(),
        }
    }

    /// The server rejected `stream_options` (OpenAI-shaped APIs): requests go without it.
    pub fn stream_options_rejected(&self) -> bool {
        self.0.stream_options_rejected.load(Ordering::Relaxed)
    }

    /// Notes that the server rejected `stream_options`; `true` the first time (to say so once).
    pub fn reject_stream_options(&self) -> bool {
        !self.0.stream_options_rejected.swap(true, Ordering::Relaxed)
    }

    /// Requests re-sent so far, to any server, after a reused connection turned out to have been reset.
    pub fn resent(&self) -> u64 {
        self.0
            .origins
            .lock()
            .map(|m| m.values().map(|o| o.resent.load(Ordering::Relaxed)).sum())
            .unwrap_or(0)
    }
}

impl std::fmt::Debug for EndpointKnowledge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointKnowledge")
            .field("stream_options_rejected", &self.stream_options_rejected())
            .field("resent", &self.resent())
            .finish()
    }
}

/// How a request went out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConnectionInfo {
    /// The request opened a connection (it was not sent on a pooled one).
    pub new_connection: bool,
    /// Seconds spent connecting (TCP, and TLS for `https`) when it opened one.
    pub connect_s: Option<f64>,
    /// Just before the request's first byte was written (on the connection that answered).
    pub sent_at: Instant,
    /// It was first written into a pooled connection the server had reset, then sent again on a new one.
    pub resent: bool,
}

/// How long a pooled connection must have been idle before it is reused, until the server has shown that it
/// keeps connections alive (see [`HttpClient::checkout`]).
const PROBATION: Duration = Duration::from_millis(10);

/// Why a request got no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// No connection within the connect timeout.
    ConnectTimeout(Duration),
    /// The connection could not be made (resolution, refusal, TLS).
    Connect(String),
    /// The server closed the connection before any byte of a response.
    Closed(String),
    /// Reading or writing failed otherwise, or the response head is not HTTP.
    Io(String),
}

/// A request that got no response, and how it went out.
#[derive(Debug, Clone, PartialEq)]
pub struct SendFailure {
    /// What went wrong.
    pub error: SendError,
    /// Whether the (last) attempt opened a connection; `None` if it never got that far.
    pub new_connection: Option<bool>,
    /// How long connecting took, when it opened one.
    pub connect_s: Option<f64>,
}

/// Why a response body could not be read to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyReadError {
    /// The connection was reset, or closed before the end of a framed body.
    Broken(String),
    /// The body's framing is invalid.
    Malformed(String),
}

/// An HTTP/1.1 client for one endpoint, with its own pool of idle connections. Not `Send`: build it on the
/// thread that uses it.
pub struct HttpClient {
    ep: Rc<Endpoint>,
    origin: Arc<OriginState>,
    tls: Option<tokio_rustls::TlsConnector>,
    idle: Rc<RefCell<Vec<Conn>>>,
    connect_timeout: Duration,
    reuse: bool,
    /// Check that an idle connection is open before reusing it (off only in tests, to write into connections
    /// the server has closed).
    check_idle: bool,
}

impl HttpClient {
    /// A client for `endpoint`. `knowledge` is shared by every client of a run, so what one learns about the
    /// server (that it closes connections after responses) the others use; `reuse: false` opens a new
    /// connection for every request.
    pub fn new(
        endpoint: Endpoint,
        knowledge: &EndpointKnowledge,
        connect_timeout: Duration,
        insecure: bool,
        reuse: bool,
    ) -> HttpClient {
        HttpClient {
            origin: knowledge.origin(&endpoint),
            tls: endpoint.tls.then(|| conn::tls_connector(insecure)),
            ep: Rc::new(endpoint),
            idle: Rc::default(),
            connect_timeout,
            reuse,
            check_idle: true,
        }
    }

    /// The endpoint requests go to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.ep
    }

    fn reusing(&self) -> bool {
        self.reuse && !self.origin.closes_after_response.load(Ordering::Relaxed)
    }

    fn learn_closes_after_response(&self, why: &str) {
        if !self
            .origin
            .closes_after_response
            .swap(true, Ordering::Relaxed)
        {
            log::info!(
                "{} {why}: every request opens a new connection from now on (as llmperf does)",
                self.ep.origin()
            );
        }
    }

    /// An idle connection that is still open, if the pool has one. Until a reused connection has carried a
    /// whole response, only connections idle for [`PROBATION`] are taken: a server that closes connections
    /// after its responses (llama.cpp's closes within a millisecond of the terminator) has closed by then,
    /// and the peek sees it, instead of the next request arriving into a socket about to close unread —
    /// which the client could not tell from a request the server read. Younger ones wait in the pool.
    fn checkout(&self) -> Option<Conn> {
        let proven = self.origin.keeps_alive.load(Ordering::Relaxed) || !self.check_idle;
        // Oldest first on probation; newest first once proven (the most recently used is the likeliest
        // alive). The pool holds a few connections per client: rebuilding it is cheap.
        let mut pool = std::mem::take(&mut *self.idle.borrow_mut());
        if proven {
            pool.reverse();
        }
        let (mut chosen, mut keep, mut learned) = (None, Vec::new(), false);
        for mut c in pool {
            let idle_for = c.idle_since.elapsed();
            if chosen.is_some() || (!proven && idle_for < PROBATION) {
                keep.push(c);
                continue;
            }
            // The server's own idle limit, with a second to spare: do not race its timer.
            if c.keep_alive_timeout
                .is_some_and(|t| idle_for + Duration::from_secs(1) >= t)
            {
                continue;
            }
            if !self.check_idle || c.is_open() {
                chosen = Some(c);
            } else {
                learned |= idle_for < Duration::from_secs(1);
            }
        }
        if proven {
            keep.reverse();
        }
        self.idle.borrow_mut().extend(keep);
        if learned {
            self.learn_closes_after_response(
                "closed a connection right after its response although it did not say so",
            );
        }
        chosen
    }

    async fn connect(&self) -> Result<(Conn, f64), SendError> {
        let t0 = Instant::now();
        let made = actix_rt::time::timeout(
            self.connect_timeout,
            conn::connect(&self.ep, self.tls.as_ref(), &self.origin.resolved),
        )
        .await;
        match made {
            Err(_) => Err(SendError::ConnectTimeout(self.connect_timeout)),
            Ok(Err(conn::ConnectError::Failed(e))) => Err(SendError::Connect(e)),
            Ok(Ok(c)) => Ok((c, t0.elapsed().as_secs_f64())),
        }
    }

    /// Sends `POST` with `body` and the extra `headers`, and returns once the response head has arrived.
    pub async fn post(
        &self,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, SendFailure> {
        self.send(&|close: bool| {
            head::post_request(&self.ep.path, &self.ep.authority, headers, body, close)
        })
        .await
    }

    /// Sends `GET` with the extra `headers` (e.g. a Prometheus scrape), and returns once the response head has
    /// arrived. A GET is idempotent, but it goes through the same path as a POST: re-sent only when the server
    /// provably never read it.
    pub async fn get(&self, headers: &[(&str, &str)]) -> Result<Response, SendFailure> {
        self.send(&|close: bool| {
            head::get_request(&self.ep.path, &self.ep.authority, headers, close)
        })
        .await
    }

    /// Sends the request `build` writes (its argument: whether to ask for `Connection: close`), saying on
    /// failure whether a new connection was tried and how long connecting took.
    async fn send(&self, build: &dyn Fn(bool) -> Vec<u8>) -> Result<Response, SendFailure> {
        let mut tried = (None, None);
        self.send_inner(build, &mut tried)
            .await
            .map_err(|error| SendFailure {
                error,
                new_connection: tried.0,
                connect_s: tried.1,
            })
    }

    /// Sends the request `build` writes (given whether to ask for `Connection: close`); `tried` says whether the
    /// last attempt opened a connection and how long that took.
    async fn send_inner(
        &self,
        build: &dyn Fn(bool) -> Vec<u8>,
        tried: &mut (Option<bool>, Option<f64>),
    ) -> Result<Response, SendError> {
        let mut resent = false;
        'send: loop {
            // Again on each attempt: a failed one may have taught that the server closes connections.
            let reuse = self.reusing();
            let request = build(!reuse);
            let pooled = if reuse { self.checkout() } else { None };
            let (mut conn, connect_s) = match pooled {
                Some(c) => (c, None),
                None => {
                    *tried = (Some(true), None);
                    let (c, s) = self.connect().await?;
                    (c, Some(s))
                }
            };
            *tried = (Some(connect_s.is_some()), connect_s);
            let reused = connect_s.is_none();
            let idle_for = conn.idle_since.elapsed();
            let acked_before = conn.acked();
            let sent_at = Instant::now();
            if let Err(e) = conn.write_all(&request).await {
                // A write fails only once the server's stack has reset the connection: nothing was read.
                if !resent {
                    resent = true;
                    self.note_resent("its write failed", reused, idle_for);
                    continue 'send;
                }
                return Err(SendError::Closed(format!(
                    "the connection failed while the request was written: {e}"
                )));
            }
            let mut got_bytes = false;
            let head = loop {
                match head::parse_response(&conn.buf) {
                    Err(e) => return Err(SendError::Io(e.0)),
                    Ok(Some((head, n))) => {
                        conn.buf.drain(..n);
                        // Interim responses (100 Continue, 103 Early Hints) precede the real one.
                        if (100..200).contains(&head.status) && head.status != 101 {
                            continue;
                        }
                        break head;
                    }
                    Ok(None) => {}
                }
                let read = conn.read_more().await;
                match read {
                    Ok(n) if n > 0 => got_bytes = true,
                    Ok(_) if got_bytes => {
                        return Err(SendError::Closed(
                            "the connection closed in the middle of the response head".into(),
                        ));
                    }
                    Err(e) if got_bytes => {
                        return Err(SendError::Io(format!("reading the response head: {e}")));
                    }
                    // The end, or an error, before any byte of a response.
                    other => {
                        if !resent && conn.never_received(acked_before, conn.reset_window()).await {
                            resent = true;
                            self.note_resent("the server reset it", reused, idle_for);
                            continue 'send;
                        }
                        if reused && idle_for < Duration::from_secs(1) {
                            self.learn_closes_after_response(
                                "closed a kept-alive connection right after a response",
                            );
                        }
                        return Err(SendError::Closed(match (reused, other) {
                            (true, _) => "the server closed a reused connection after the request reached it, \
                                          before any byte of a response; not re-sent, as it may have processed it"
                                .into(),
                            (false, Ok(_)) => {
                                "the server closed the connection before any byte of a response".into()
                            }
                            (false, Err(e)) => {
                                format!("the connection failed before any byte of a response: {e}")
                            }
                        }));
                    }
                }
            };
            return Ok(Response {
                decoder: BodyDecoder::new(head.framing),
                reuse: reuse && head.keep_alive,
                head,
                info: ConnectionInfo {
                    new_connection: !reused,
                    connect_s,
                    sent_at,
                    resent,
                },
                conn: Some(conn),
                pending_at: Some(Instant::now()),
                idle: self.idle.clone(),
                origin: self.origin.clone(),
            });
        }
    }

    /// Counts a re-sent request; a reused connection that died within a second of its last response teaches
    /// that the server closes connections after responses (a long-idle one only met an idle timeout; a new one
    /// says nothing about responses).
    fn note_resent(&self, what: &str, reused: bool, idle_for: Duration) {
        self.origin.resent.fetch_add(1, Ordering::Relaxed);
        log::debug!(
            "{}: a connection was dead ({what}) before any byte of a response, the request unread; it goes \
             out again on a new connection",
            self.ep.origin()
        );
        if reused && idle_for < Duration::from_secs(1) {
            self.learn_closes_after_response(
                "reset a kept-alive connection right after a response",
            );
        }
    }
}

/// A response whose head has arrived; its body is read with [`Response::next`]. Dropping it before the end of
/// the body closes the connection; a body read to its end gives the connection back to the pool (when the
/// server keeps it alive).
pub struct Response {
    /// Status, headers, framing.
    pub head: ResponseHead,
    /// How the request went out.
    pub info: ConnectionInfo,
    conn: Option<Conn>,
    decoder: BodyDecoder,
    reuse: bool,
    /// Body bytes that arrived with the head wait in the buffer: when they were read.
    pending_at: Option<Instant>,
    idle: Rc<RefCell<Vec<Conn>>>,
    origin: Arc<OriginState>,
}

impl Response {
    /// The next body data and when it was read (one network read; the slice may be empty when a read held
    /// only framing). `None` once the body is complete.
    pub async fn next(&mut self) -> Result<Option<(&[u8], Instant)>, BodyReadError> {
        if self.decoder.is_done() {
            self.release();
            return Ok(None);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Ok(None);
        };
        let at = match self.pending_at.take() {
            Some(at) if !conn.buf.is_empty() => at,
            _ => {
                conn.buf.clear();
                match conn.read_more().await {
                    Ok(0) => {
                        self.decoder
                            .on_close()
                            .map_err(|e| BodyReadError::Broken(e.0))?;
                        self.reuse = false;
                        self.release();
                        return Ok(None);
                    }
                    Ok(_) => Instant::now(),
                    Err(e) => {
                        self.conn = None;
                        return Err(BodyReadError::Broken(format!("the connection broke: {e}")));
                    }
                }
            }
        };
        let conn = self.conn.as_mut().expect("checked above");
        let len = conn.buf.len();
        let d = self
            .decoder
            .decode(&mut conn.buf[..])
            .map_err(|BodyError(e)| BodyReadError::Malformed(e))?;
        if d.done && d.used < len {
            self.reuse = false; // bytes after the body: the connection is not clean
        }
        let conn = self.conn.as_ref().expect("checked above");
        Ok(Some((&conn.buf[..d.data], at)))
    }

    /// Reads the rest of the body for at most `limit`, so the connection can be reused; gives up quietly.
    pub async fn finish(mut self, limit: Duration) {
        let until = Instant::now() + limit;
        while !self.decoder.is_done() && self.conn.is_some() {
            let left = until.saturating_duration_since(Instant::now());
            match actix_rt::time::timeout(left, self.next()).await {
                Ok(Ok(Some(_))) => {}
                _ => return,
            }
        }
        self.release();
    }

    /// Reads the whole body (an error response), at most `max` bytes; longer bodies are cut.
    pub async fn read_to_end(&mut self, max: usize) -> Result<Vec<u8>, BodyReadError> {
        let mut out = Vec::new();
        while let Some((data, _)) = self.next().await? {
            let room = max.saturating_sub(out.len());
            out.extend_from_slice(&data[..data.len().min(room)]);
            if out.len() >= max {
                self.conn = None;
                break;
            }
        }
        Ok(out)
    }

    /// Gives the connection back to the pool if the body is complete and the server keeps it alive.
    fn release(&mut self) {
        if !self.info.new_connection && self.decoder.is_done() {
            self.origin.keeps_alive.store(true, Ordering::Relaxed);
        }
        if let Some(mut conn) = self.conn.take()
            && self.reuse
            && self.decoder.is_done()
        {
            conn.buf.clear();
            conn.idle_since = Instant::now();
            conn.keep_alive_timeout = self.head.keep_alive_timeout;
            self.idle.borrow_mut().push(conn);
        }
    }
}
