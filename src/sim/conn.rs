//! One connection of the simulator, from accept to close: reads requests one after another (`http`), hands
//! each to the routes (`server`), writes the answer with the framing the request and the habits call for, and
//! decides how the connection goes on or ends.
//!
//! - Keep-alive by default for HTTP/1.1, unless the client sent `Connection: close` (answered with
//!   `Connection: close`, then the connection is closed). HTTP/1.0 gets a close unless it asked for
//!   keep-alive, and a streamed body is close-delimited for it (HTTP/1.0 has no chunked coding).
//! - A whole response has a `Content-Length` and goes out in one write. A streamed one (`text/event-stream`)
//!   is chunked, one HTTP chunk per write its plan asks for, each piece at its due time (a deadline already
//!   past skips the timer) or, with the engine, as soon as the engine has produced its last token. Pieces due
//!   at once share a socket write (with the head, for the first): the buffer is flushed before every wait, at
//!   a cut, at the end, and past 64 KiB — as actix-web's encoder did; a write per piece cost the simulator
//!   twice the CPU per request at zero delays.
//! - While a streamed response waits for the engine, the connection is watched: a client that closes it
//!   ends the response, and its dropped ticket takes the request out of the engine's queue or batch. (A
//!   client gone during a fixed-timing wait is noticed at the next write.)
//! - `close_mid_stream` closes cleanly (FIN) without the chunked terminator; `reset_mid_stream` sets
//!   `SO_LINGER` 0 and closes (RST).
//! - Habits: `close_after_stream` advertises keep-alive on every response it keeps the connection for
//!   (`Connection: keep-alive`, `Keep-Alive: timeout=5, max=100`), yet closes after a streamed response's
//!   last byte — after `close_delay_ms` when set — without reading anything more; `idle_close_ms` closes a
//!   connection that waited that long for a request, without reading; `close_delimited` sends streamed bodies
//!   with neither `Content-Length` nor `Transfer-Encoding` and ends them by closing.
//! - A request that cannot be read (malformed, too large) is refused with its status and `Connection: close`,
//!   then the connection is closed gently: FIN, then what the client still sends is read and dropped for a
//!   moment, so the refusal is not lost to a reset.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, sleep_until};

use super::engine::Ticket;
use super::faults::{Cut, Step, Stream};
use super::generate::Due;
use super::http::{self, ReadError, Request};
use super::response::{self, Body, Response};
use super::server;
use super::state::SimState;
use super::wire::openai_error;

/// How long a refused request's connection is drained before it is closed.
const LINGER: Duration = Duration::from_secs(1);
/// Pieces due at once are written together up to this many bytes.
const FLUSH_AT: usize = 64 * 1024;

/// What happens to the connection after a response.
enum Next {
    /// Read the next request.
    KeepAlive,
    /// Close it (a FIN, or a reset if the client has sent bytes the server did not read).
    Close,
    /// Wait this long, reading nothing, then close it.
    CloseAfter(Duration),
    /// Close it with a reset.
    Reset,
}

/// Serves the connection `io` until it ends.
pub(super) async fn serve(state: Arc<SimState>, mut io: TcpStream) {
    // Without TCP_NODELAY each small chunk after the headers waited for the client's delayed ACK, adding
    // ~40 ms to every simulated time to first token.
    let _ = io.set_nodelay(true);
    let idle = state.cfg.idle_close_ms.map(Duration::from_millis);
    let mut buf = Vec::new();
    let mut served = 0u64;
    loop {
        let req = match http::read_request(&mut io, &mut buf, idle).await {
            Ok(req) => req,
            // Idle or gone: dropping the socket closes it, without reading what may be arriving.
            Err(ReadError::Gone | ReadError::Idle) => return,
            Err(ReadError::Refuse { status, message }) => {
                refuse(io, status, &message).await;
                return;
            }
        };
        let resp = server::handle(&state, &req, served).await;
        served += 1;
        match write_response(&mut io, &req, resp, &state.cfg).await {
            Next::KeepAlive => {}
            Next::Close => return,
            Next::CloseAfter(delay) => {
                if !delay.is_zero() {
                    sleep(delay).await;
                }
                return;
            }
            Next::Reset => {
                let _ = io.set_zero_linger();
                return;
            }
        }
    }
}

/// Writes `resp` to `req`'s connection and says what to do with the connection next.
async fn write_response(
    io: &mut TcpStream,
    req: &Request,
    resp: Response,
    cfg: &super::SimConfig,
) -> Next {
    let Response {
        status,
        mut headers,
        body,
    } = resp;
    let http10 = req.minor_version == 0;
    let advertise = |headers: &mut Vec<(&'static str, String)>, keep: bool| {
        if !keep {
            headers.push(("Connection", "close".into()));
        } else if cfg.close_after_stream {
            headers.push(("Connection", "keep-alive".into()));
            headers.push(("Keep-Alive", "timeout=5, max=100".into()));
        } else if http10 {
            headers.push(("Connection", "keep-alive".into()));
        }
    };
    let mut out = Vec::new();
    match body {
        Body::Full(body) => {
            let keep = req.keep_alive();
            headers.push(("Content-Length", body.len().to_string()));
            advertise(&mut headers, keep);
            response::push_head(&mut out, status, &headers);
            out.extend_from_slice(&body);
            match io.write_all(&out).await {
                Ok(()) if keep => Next::KeepAlive,
                _ => Next::Close,
            }
        }
        Body::Stream(stream) => {
            let chunked = !(http10 || cfg.close_delimited);
            let keep = chunked && req.keep_alive();
            if chunked {
                headers.push(("Transfer-Encoding", "chunked".into()));
            }
            advertise(&mut headers, keep);
            response::push_head(&mut out, status, &headers);
            match send_stream(io, out, stream, chunked).await {
                Ended::Complete if !keep => Next::Close,
                Ended::Complete if cfg.close_after_stream => {
                    Next::CloseAfter(Duration::from_millis(cfg.close_delay_ms))
                }
                Ended::Complete => Next::KeepAlive,
                Ended::Cut(Cut::Close) | Ended::Failed => Next::Close,
                Ended::Cut(Cut::Reset) => Next::Reset,
            }
        }
    }
}

/// How a streamed body ended.
enum Ended {
    /// Every step done, the body's end written.
    Complete,
    /// Broken off by a fault.
    Cut(Cut),
    /// A write failed (the client is gone).
    Failed,
}

/// Carries out `stream`'s steps on `io`, after `out` (the head, written with the first pieces or before the
/// first wait). Each `Send` is one write of the plan (one chunk when `chunked`); those due at once share a
/// socket write.
async fn send_stream(io: &mut TcpStream, mut out: Vec<u8>, stream: Stream, chunked: bool) -> Ended {
    // The slot and the timing record are held until the body is done; the record's line is written when
    // it is dropped, after the last byte.
    let Stream {
        steps,
        mut timing,
        slot: _slot,
        mut ticket,
        mut outcome,
    } = stream;
    for step in steps {
        match step {
            // A deadline already past needs no timer (tokio's rounds up to its next 1 ms tick, which made every
            // zero-delay chunk wait for a timer-driver turn), nor a write of its own.
            Step::Until(Due::At(at)) => {
                if at > Instant::now() {
                    if !flush(io, &mut out).await {
                        return Ended::Failed;
                    }
                    sleep_until(at).await;
                }
            }
            // The engine hands a token out once its time has come: a token already produced goes at once.
            Step::Until(Due::Tokens(n)) => {
                let Some(ticket) = ticket.as_mut() else {
                    continue;
                };
                if ticket.produced_now(n).is_none() {
                    if !flush(io, &mut out).await {
                        return Ended::Failed;
                    }
                    if !wait_for_engine(io, ticket, n).await {
                        return Ended::Failed;
                    }
                }
            }
            Step::Sleep(d) => {
                if !flush(io, &mut out).await {
                    return Ended::Failed;
                }
                sleep(d).await;
            }
            Step::Send(bytes) => {
                if bytes.is_empty() {
                    continue;
                }
                if let Some(t) = timing.as_mut() {
                    t.saw_item();
                }
                if chunked {
                    response::push_chunk(&mut out, &bytes);
                } else {
                    out.extend_from_slice(&bytes);
                }
                if out.len() >= FLUSH_AT && !flush(io, &mut out).await {
                    return Ended::Failed;
                }
            }
            Step::Cut(cut) => {
                return if flush(io, &mut out).await {
                    Ended::Cut(cut)
                } else {
                    Ended::Failed
                };
            }
        }
    }
    // Counted before the last bytes go: a client that has read the whole response finds it counted.
    if let Some(o) = outcome.as_mut() {
        o.complete(ticket.as_mut());
    }
    if chunked {
        out.extend_from_slice(response::LAST_CHUNK);
    }
    if flush(io, &mut out).await {
        Ended::Complete
    } else {
        Ended::Failed
    }
}

/// Waits for the engine's `n`-th token of this response (`n = 0`: its end), watching the connection
/// meanwhile: `false` if the client closed it (the dropped ticket then takes the request out of the engine's
/// queue or batch) or the engine stopped. Bytes the client sends (a pipelined request) are left unread.
async fn wait_for_engine(io: &TcpStream, ticket: &mut Ticket, n: u64) -> bool {
    let mut watch = true;
    let mut byte = [0u8; 1];
    loop {
        tokio::select! {
            produced = ticket.produced(n) => return produced.is_some(),
            peeked = io.peek(&mut byte), if watch => match peeked {
                Ok(0) | Err(_) => return false,
                Ok(_) => watch = false,
            },
        }
    }
}

/// Writes what `out` holds, if anything; `false` if the write failed.
async fn flush(io: &mut TcpStream, out: &mut Vec<u8>) -> bool {
    if out.is_empty() {
        return true;
    }
    let ok = io.write_all(out).await.is_ok();
    out.clear();
    ok
}

/// Answers a request that could not be read with `status`, then closes the connection gently: a FIN, then
/// whatever the client still sends is read and dropped for up to [`LINGER`], so the answer is not lost to a
/// reset caused by unread bytes.
async fn refuse(mut io: TcpStream, status: u16, message: &str) {
    let resp = Response::json(status, &openai_error(message, "invalid_request_error"));
    let Body::Full(body) = resp.body else {
        return;
    };
    let mut headers = resp.headers;
    headers.push(("Content-Length", body.len().to_string()));
    headers.push(("Connection", "close".into()));
    let mut out = Vec::new();
    response::push_head(&mut out, status, &headers);
    out.extend_from_slice(&body);
    if io.write_all(&out).await.is_err() || io.shutdown().await.is_err() {
        return;
    }
    let until = Instant::now() + LINGER;
    let mut sink = vec![0u8; 16 * 1024];
    while let Ok(Ok(n)) = tokio::time::timeout_at(until, io.read(&mut sink)).await {
        if n == 0 {
            break;
        }
    }
}
