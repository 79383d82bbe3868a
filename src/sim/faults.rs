//! How the simulator misbehaves: the early answers of the HTTP faults (statuses, a redirect, never answering)
//! and the byte-level plan of a streamed response ([`Stream`]) — when each piece goes out, and what a stream
//! fault does to it (stall, slow trickle, malformed JSON, invalid UTF-8, a multi-byte character split across
//! writes, framing variants, a huge line, a cut connection: a clean close or a reset).
//!
//! The timing of a normal response is the server's (piece `k` at its due time); the faults here only add
//! delays or change bytes. `conn` carries the plan out on the socket. Shares nothing with the client.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::sleep;

use super::engine::Ticket;
use super::generate::{Due, Outcome};
use super::timing::TimingRecord;
use super::wire::{Script, Shape};
use super::{Fault, SimConfig};

/// The answer of a fault decided before any streaming (the server turns it into a response).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum EarlyAnswer {
    /// An HTTP error status with its message and error type, in the request's API shape.
    Error {
        status: u16,
        message: String,
        kind: &'static str,
    },
    /// A `307` to this location.
    Redirect(&'static str),
}

/// The answer of a fault decided before any streaming: an HTTP status with a body, a redirect, or (after
/// `stall_ms`) a late 504 for `never_answer`. `None` for the stream faults.
///
/// `http_401` echoes the credential it was sent, as some servers do ("incorrect API key provided: …"), so
/// tests can check that the client keeps it out of its records.
pub(super) async fn early_answer(
    shape: Shape,
    fault: Option<Fault>,
    cfg: &SimConfig,
    credential: Option<&str>,
) -> Option<EarlyAnswer> {
    let error = |status, message: &str, kind| EarlyAnswer::Error {
        status,
        message: message.to_string(),
        kind,
    };
    if fault == Some(Fault::Http401) {
        let msg = format!(
            "simulated authentication failure: incorrect API key provided: {}",
            credential.unwrap_or("(none)")
        );
        return Some(error(401, &msg, "authentication_error"));
    }
    let (status, msg, kind) = match fault? {
        Fault::Http400 => (400, "simulated bad request", "invalid_request_error"),
        Fault::Http404 => (404, "simulated model not found", "not_found_error"),
        Fault::Http429 => (429, "simulated rate limit", "rate_limit_exceeded"),
        Fault::Http500 => (500, "simulated internal server error", "server_error"),
        Fault::Http503 => (503, "simulated overload", "service_unavailable"),
        Fault::Redirect => {
            return Some(EarlyAnswer::Redirect(match shape {
                Shape::Chat => "/v1/moved/chat/completions",
                Shape::Completions => "/v1/moved/completions",
                Shape::Messages => "/v1/moved/messages",
            }));
        }
        Fault::NeverAnswer => {
            sleep(Duration::from_millis(cfg.stall_ms)).await;
            (504, "simulated: never answered", "timeout")
        }
        _ => return None,
    };
    Some(error(status, msg, kind))
}

/// One step of a streamed response.
pub(super) enum Step {
    /// Wait until a piece is due: an instant (no timer when it has passed), or the engine's token.
    Until(Due),
    /// Wait this long.
    Sleep(Duration),
    /// Write these bytes (one HTTP chunk when the body is chunked).
    Send(Bytes),
    /// Break the connection off here, without ending the body.
    Cut(Cut),
}

/// How a response is broken off in the middle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cut {
    /// A clean close (FIN) without the body's end (`close_mid_stream`).
    Close,
    /// A TCP reset (`SO_LINGER` 0, then close: `reset_mid_stream`).
    Reset,
}

/// A streamed response: its steps, and what lives as long as it is sent — the generation slot or the engine's
/// ticket it holds (dropping the ticket takes the request out of the engine), its timing-log record (written
/// when the stream is dropped, after its last byte), and what its end counts for in `GET /metrics`.
pub(super) struct Stream {
    pub steps: VecDeque<Step>,
    pub timing: Option<TimingRecord>,
    pub slot: Option<tokio::sync::OwnedSemaphorePermit>,
    pub ticket: Option<Ticket>,
    pub outcome: Option<Box<Outcome>>,
}

/// The steps of a response body streaming `script` under `fault`: piece `k` of `script.timed` goes out when
/// `due(k)`.
pub(super) fn plan(
    script: Script,
    fault: Option<Fault>,
    cfg: &SimConfig,
    due: impl Fn(usize) -> Due,
    shape: Shape,
) -> VecDeque<Step> {
    let mut first = script.first.into_bytes();
    let mut timed: Vec<Vec<u8>> = script.timed.into_iter().map(String::into_bytes).collect();
    let mid = timed.len() / 2;
    let mut steps: VecDeque<Step> = VecDeque::new();
    match fault {
        Some(Fault::Stall) => steps.push_back(Step::Sleep(Duration::from_millis(cfg.stall_ms))),
        Some(Fault::SlowTrickle) => {
            let all: Vec<u8> = first
                .into_iter()
                .chain(timed.into_iter().flatten())
                .collect();
            for b in all {
                steps.push_back(Step::Sleep(Duration::from_millis(cfg.trickle_ms)));
                steps.push_back(Step::Send(Bytes::from(vec![b])));
            }
        }
        _ => {
            match fault {
                Some(Fault::MalformedJson) if !timed.is_empty() => {
                    timed[mid] = match shape {
                        Shape::Messages => b"event: content_block_delta\ndata: {\"type\": \"content_block_delta\", \"delta\": {\"type\": \"text_delta\", \"text\": \"x\"\n\n".to_vec(),
                        _ => b"data: {\"choices\": [{\"index\": 0, \"delta\": {\"content\": \"x\"\n\n".to_vec(),
                    };
                }
                Some(Fault::InvalidUtf8) if !timed.is_empty() => {
                    timed[mid] = b"data: {\"choices\": [{\"index\": 0, \"delta\": {\"content\": \"\xff\xfe\"}}]}\n\n".to_vec();
                }
                Some(Fault::FramingVariants) => {
                    first = vary_framing(&first, 0);
                    for (k, piece) in timed.iter_mut().enumerate() {
                        *piece = vary_framing(piece, k + 1);
                    }
                }
                Some(Fault::HugeLine) if !timed.is_empty() => {
                    let mut line =
                        b"data: {\"choices\": [{\"index\": 0, \"delta\": {\"content\": \"".to_vec();
                    line.resize(line.len() + cfg.huge_line_bytes, b'x');
                    line.extend_from_slice(b"\"}}]}\n\n");
                    line.extend_from_slice(&timed[mid]);
                    timed[mid] = line;
                }
                _ => {}
            }
            if !first.is_empty() {
                steps.push_back(Step::Send(Bytes::from(first)));
            }
            for (k, piece) in timed.into_iter().enumerate() {
                steps.push_back(Step::Until(due(k)));
                let split = (fault == Some(Fault::SplitUtf8))
                    .then(|| split_point(&piece))
                    .flatten();
                match split {
                    Some(i) => {
                        let (a, b) = piece.split_at(i);
                        steps.push_back(Step::Send(Bytes::copy_from_slice(a)));
                        steps.push_back(Step::Sleep(Duration::from_millis(5)));
                        steps.push_back(Step::Send(Bytes::copy_from_slice(b)));
                    }
                    None => steps.push_back(Step::Send(Bytes::from(piece))),
                }
            }
            if script.cut {
                steps.push_back(Step::Cut(if fault == Some(Fault::ResetMidStream) {
                    Cut::Reset
                } else {
                    Cut::Close
                }));
            }
        }
    }
    steps
}

/// Inside the first multi-byte UTF-8 character of `piece`, if there is one.
fn split_point(piece: &[u8]) -> Option<usize> {
    piece.iter().position(|&b| b >= 0xC0).map(|i| i + 1)
}

/// The same events framed differently, all valid SSE: `data:` without the space, CRLF line ends, comments,
/// `id:` and `retry:` fields (which a client ignores), depending on `k`.
fn vary_framing(piece: &[u8], k: usize) -> Vec<u8> {
    let text = String::from_utf8_lossy(piece);
    let mut out = String::new();
    if k.is_multiple_of(2) {
        out.push_str(": keep-alive\n\n");
    }
    let body = match k % 3 {
        0 => text.replace("data: ", "data:"),
        1 => text.replace('\n', "\r\n"),
        _ => text.replace("data: ", "id: 7\nretry: 1000\ndata: "),
    };
    out.push_str(&body);
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_variants_keep_the_events() {
        let piece = b"data: {\"a\":1}\n\ndata: [DONE]\n\n";
        for k in 0..6 {
            let varied = vary_framing(piece, k);
            let mut framer = crate::backend::sse::SseFramer::default();
            let mut got = Vec::new();
            framer
                .feed(&varied, |e| {
                    got.push(e.data.clone());
                    true
                })
                .unwrap();
            assert_eq!(got, ["{\"a\":1}", "[DONE]"], "variant {k}");
        }
    }

    #[test]
    fn split_point_is_inside_a_character() {
        let s = "data: {\"id\": \"sim-1-café\"}".as_bytes();
        let i = split_point(s).unwrap();
        assert!(std::str::from_utf8(&s[..i]).is_err());
    }
}
