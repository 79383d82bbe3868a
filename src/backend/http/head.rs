//! Request heads written and response heads read: the bytes of a `POST` with a JSON body, and the status,
//! headers, body framing and keep-alive of a response (`httparse` does the parsing). Pure: no I/O.

use std::time::Duration;

use super::body::Framing;

/// Largest response head accepted.
pub const MAX_HEAD: usize = 64 * 1024;
/// Most response headers accepted.
const MAX_HEADERS: usize = 128;

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The status code.
    pub status: u16,
    /// `HTTP/1.x`: 0 or 1.
    pub minor_version: u8,
    /// Header names (lower-case) and values (lossy UTF-8), in order.
    pub headers: Vec<(String, String)>,
    /// How the body ends.
    pub framing: Framing,
    /// Whether the server lets the connection be reused after this response.
    pub keep_alive: bool,
    /// `Keep-Alive: timeout=N`, when the server says how long it keeps an idle connection.
    pub keep_alive_timeout: Option<Duration>,
}

impl ResponseHead {
    /// The first value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A response head that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadError(pub String);

/// Parses a response head at the start of `buf`: `Ok(None)` when more bytes are needed, else the head and its
/// length in bytes. `request_was_head` is false for our clients (they only POST).
pub fn parse_response(buf: &[u8]) -> Result<Option<(ResponseHead, usize)>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => {
            return Err(HeadError(format!(
                "response head larger than {MAX_HEAD} bytes"
            )));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => {
            let shown: String = String::from_utf8_lossy(&buf[..buf.len().min(120)]).into_owned();
            return Err(HeadError(format!(
                "not an HTTP/1.x response ({e}): {shown:?}"
            )));
        }
    };
    let status = resp.code.unwrap_or(0);
    let minor_version = resp.version.unwrap_or(1);
    let headers: Vec<(String, String)> = resp
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).trim().to_string(),
            )
        })
        .collect();
    let tokens = |name: &str| -> Vec<String> {
        headers
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .collect()
    };
    // RFC 9112 §6.3: no body for 1xx, 204 and 304; chunked wins over Content-Length; another transfer coding,
    // or no length at all, runs until the close.
    let framing = if (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::Empty
    } else if let Some(last) = tokens("transfer-encoding").last() {
        if last == "chunked" {
            Framing::Chunked
        } else {
            Framing::UntilClose
        }
    } else {
        let lengths: Vec<&str> = headers
            .iter()
            .filter(|(n, _)| n == "content-length")
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .collect();
        match lengths.first() {
            None => Framing::UntilClose,
            Some(first) => {
                let n: u64 = first
                    .parse()
                    .map_err(|_| HeadError(format!("invalid Content-Length {first:?}")))?;
                if lengths.iter().any(|l| *l != *first) {
                    return Err(HeadError(format!(
                        "conflicting Content-Length values {lengths:?}"
                    )));
                }
                Framing::Length(n)
            }
        }
    };
    let connection = tokens("connection");
    let keep_alive = framing != Framing::UntilClose
        && !connection.iter().any(|t| t == "close")
        && (minor_version >= 1 || connection.iter().any(|t| t == "keep-alive"));
    let keep_alive_timeout = headers
        .iter()
        .filter(|(n, _)| n == "keep-alive")
        .flat_map(|(_, v)| v.split(','))
        .filter_map(|p| p.trim().strip_prefix("timeout="))
        .find_map(|t| t.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    Ok(Some((
        ResponseHead {
            status,
            minor_version,
            headers,
            framing,
            keep_alive,
            keep_alive_timeout,
        },
        len,
    )))
}

/// The bytes of `POST path HTTP/1.1` with a JSON body. `headers` come after Host, User-Agent, Content-Type and
/// Accept-Encoding and replace a header of the same name (case-insensitive); Content-Length is ours, and
/// `Connection: close` is added when the connection will not be reused.
pub fn post_request(
    path: &str,
    authority: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    close: bool,
) -> Vec<u8> {
    request("POST", path, authority, headers, Some(body), close)
}

/// The bytes of `GET path HTTP/1.1` without a body; headers as [`post_request`]'s (no Content-Type, no
/// Content-Length).
pub fn get_request(path: &str, authority: &str, headers: &[(&str, &str)], close: bool) -> Vec<u8> {
    request("GET", path, authority, headers, None, close)
}

fn request(
    method: &str,
    path: &str,
    authority: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    close: bool,
) -> Vec<u8> {
    let mut all: Vec<(&str, &str)> = vec![
        ("Host", authority),
        (
            "User-Agent",
            concat!("llmperf-actors/", env!("CARGO_PKG_VERSION")),
        ),
        ("Content-Type", "application/json"),
        // No compression: a compressing proxy can hold tokens back and distort the timings.
        ("Accept-Encoding", "identity"),
    ];
    for &(name, value) in headers {
        if ["content-length", "transfer-encoding", "connection"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n))
        {
            continue; // framing and connection management are the client's
        }
        match all.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some(slot) => *slot = (name, value),
            None => all.push((name, value)),
        }
    }
    if body.is_none() {
        all.retain(|(n, _)| *n != "Content-Type");
    }
    let mut out = Vec::with_capacity(256 + body.map_or(0, <[u8]>::len));
    out.extend_from_slice(method.as_bytes());
    out.extend_from_slice(b" ");
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (n, v) in all {
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    if let Some(body) = body {
        out.extend_from_slice(b"Content-Length: ");
        out.extend_from_slice(body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(body);
    } else {
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> ResponseHead {
        parse_response(s.as_bytes()).unwrap().unwrap().0
    }

    #[test]
    fn framing_rules() {
        let h = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(h.framing, Framing::Chunked);
        assert!(h.keep_alive);
        let h = parse("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n");
        assert_eq!(h.framing, Framing::Length(12));
        let h = parse("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n");
        assert_eq!(h.framing, Framing::UntilClose);
        assert!(!h.keep_alive, "a close-delimited body ends the connection");
        let h = parse("HTTP/1.1 204 No Content\r\n\r\n");
        assert_eq!(h.framing, Framing::Empty);
        let h = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
        assert_eq!(h.framing, Framing::UntilClose);
        let e =
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
        assert!(e.unwrap_err().0.contains("conflicting"));
        let e = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n");
        assert!(e.unwrap_err().0.contains("invalid Content-Length"));
    }

    #[test]
    fn keep_alive_rules() {
        let h = parse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        assert!(!h.keep_alive);
        let h = parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert!(!h.keep_alive);
        let h = parse(
            "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nKeep-Alive: timeout=5, max=100\r\nContent-Length: 0\r\n\r\n",
        );
        assert!(h.keep_alive);
        assert_eq!(h.keep_alive_timeout, Some(Duration::from_secs(5)));
    }

    #[test]
    fn partial_and_bad_heads() {
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Le").unwrap(),
            None
        );
        assert!(
            parse_response(b"garbage\r\n\r\n")
                .unwrap_err()
                .0
                .contains("not an HTTP")
        );
        let mut huge = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        huge.resize(MAX_HEAD + 1, b'a');
        assert!(parse_response(&huge).unwrap_err().0.contains("larger than"));
    }

    #[test]
    fn head_length_and_headers() {
        let raw = b"HTTP/1.1 307 Temporary Redirect\r\nLocation: /x\r\n\r\nBODY";
        let (h, n) = parse_response(raw).unwrap().unwrap();
        assert_eq!(&raw[n..], b"BODY");
        assert_eq!(h.status, 307);
        assert_eq!(h.header("location"), Some("/x"));
    }

    #[test]
    fn request_bytes() {
        let req = post_request(
            "/v1/chat/completions",
            "h:8000",
            &[
                ("Authorization", "Bearer k"),
                ("user-agent", "mine"),
                ("Content-Length", "1"),
            ],
            b"{}",
            true,
        );
        let text = String::from_utf8(req).unwrap();
        assert!(text.starts_with(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: h:8000\r\nuser-agent: mine\r\n"
        ));
        assert!(text.contains("Authorization: Bearer k\r\n"));
        assert!(text.ends_with("Connection: close\r\nContent-Length: 2\r\n\r\n{}"));
        assert_eq!(text.matches("Content-Length").count(), 1);
    }

    #[test]
    fn get_request_bytes_have_no_body_headers() {
        let req = get_request("/metrics", "h:8000", &[("X-A", "1")], false);
        let text = String::from_utf8(req).unwrap();
        assert!(text.starts_with("GET /metrics HTTP/1.1\r\nHost: h:8000\r\n"));
        assert!(text.contains("X-A: 1\r\n") && text.ends_with("\r\n\r\n"));
        assert!(!text.contains("Content-"));
    }
}
