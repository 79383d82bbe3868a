//! The simulator's HTTP/1.1 wire, over any async byte stream: reading one request (the head with `httparse`;
//! the body by `Content-Length` or the chunked transfer coding; `Expect: 100-continue` answered with
//! `100 Continue`; chunked bodies are decoded by `chunked`), the limits (64 KiB of head, 64 MiB of body), and
//! the bytes of a response (status line, headers, chunk framing). The policy — keep-alive, when and how a connection ends, the habits — is in
//! `conn`; the routes are in `server`.
//!
//! A request that cannot be read is refused with a status and the connection is closed ([`ReadError::Refuse`]):
//! a malformed head 400, a head past the limit 431, a body past the limit 413, a transfer coding other than
//! chunked 501, an `Expect` other than `100-continue` 417. Bad input never panics.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub(super) use super::read_error::{BODY_LIMIT, HEAD_LIMIT, ReadError, refuse};

/// The most header fields in a request head.
const MAX_HEADERS: usize = 128;
/// Room made in the read buffer before each read.
const READ_SIZE: usize = 16 * 1024;

/// One request, read in full.
#[derive(Debug)]
pub(super) struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path of the request target, without query or fragment (and without scheme and authority when the
    /// target was in absolute form).
    pub path: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Header names (lower-case) and values, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body, decoded from its transfer coding.
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of header `name` (lower-case), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// Whether the client lets the connection stay open after this exchange: HTTP/1.1 unless it sent
    /// `Connection: close`; HTTP/1.0 only if it sent `Connection: keep-alive`.
    pub fn keep_alive(&self) -> bool {
        if has_token(&self.headers, "connection", "close") {
            return false;
        }
        self.minor_version >= 1 || has_token(&self.headers, "connection", "keep-alive")
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The comma-separated tokens of every `name` header, trimmed and lower-cased.
fn tokens(headers: &[(String, String)], name: &str) -> Vec<String> {
    headers
        .iter()
        .filter(|(n, _)| n == name)
        .flat_map(|(_, v)| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

fn has_token(headers: &[(String, String)], name: &str, token: &str) -> bool {
    tokens(headers, name).iter().any(|t| t == token)
}

/// Reads the next request from `io`. `buf` holds bytes read but not yet used (a pipelined request's) and keeps
/// those that follow this request. With `idle`, gives up ([`ReadError::Idle`]) when no byte of a new request has
/// arrived in that time; nothing is read from the socket after that.
pub(super) async fn read_request<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    buf: &mut Vec<u8>,
    idle: Option<Duration>,
) -> Result<Request, ReadError> {
    let mut head = loop {
        if !buf.is_empty() {
            if let Some((head, len)) = parse_head(buf)? {
                buf.drain(..len);
                break head;
            }
            if buf.len() > HEAD_LIMIT {
                return Err(refuse(431, "request head larger than 64 KiB"));
            }
        }
        let waiting = idle.filter(|_| buf.is_empty());
        let read = fill(io, buf);
        let n = match waiting {
            // Reading is cancel-safe: when the time runs out, no byte has been taken from the socket.
            Some(idle) => tokio::time::timeout(idle, read)
                .await
                .map_err(|_| ReadError::Idle)?,
            None => read.await,
        };
        if n == 0 {
            return Err(ReadError::Gone);
        }
    };
    let framing = framing(&head)?;
    let expects_body = !matches!(framing, Framing::Length(0));
    if let Some(expect) = header(&head.headers, "expect").filter(|_| head.minor_version >= 1) {
        if !expect.trim().eq_ignore_ascii_case("100-continue") {
            return Err(refuse(417, format!("unsupported expectation '{expect}'")));
        }
        if expects_body && buf.is_empty() {
            io.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await
                .map_err(|_| ReadError::Gone)?;
        }
    }
    head.body = match framing {
        Framing::Length(n) => {
            while buf.len() < n {
                if fill(io, buf).await == 0 {
                    return Err(ReadError::Gone);
                }
            }
            let rest = buf.split_off(n);
            std::mem::replace(buf, rest)
        }
        Framing::Chunked => {
            let mut decoder = super::chunked::ChunkedDecoder::default();
            loop {
                let used = decoder.feed(buf)?;
                buf.drain(..used);
                if decoder.is_done() {
                    break decoder.body;
                }
                if fill(io, buf).await == 0 {
                    return Err(ReadError::Gone);
                }
            }
        }
    };
    Ok(head)
}

/// Reads what is available into `buf`; 0 at the end of the stream or on an error.
async fn fill<S: AsyncRead + Unpin>(io: &mut S, buf: &mut Vec<u8>) -> usize {
    buf.reserve(READ_SIZE);
    io.read_buf(buf).await.unwrap_or(0)
}

/// The request head at the start of `buf` and its length, `None` if it is not complete yet.
fn parse_head(buf: &[u8]) -> Result<Option<(Request, usize)>, ReadError> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut slots);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Partial) => return Ok(None),
        Ok(httparse::Status::Complete(len)) => len,
        Err(httparse::Error::TooManyHeaders) => {
            return Err(refuse(431, "more than 128 header fields"));
        }
        Err(e) => return Err(refuse(400, format!("malformed request head: {e}"))),
    };
    if len > HEAD_LIMIT {
        return Err(refuse(431, "request head larger than 64 KiB"));
    }
    let (Some(method), Some(target), Some(minor_version)) = (req.method, req.path, req.version)
    else {
        return Err(refuse(400, "malformed request line"));
    };
    let headers = req
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).trim().to_string(),
            )
        })
        .collect();
    Ok(Some((
        Request {
            method: method.to_string(),
            path: path_of(target).to_string(),
            minor_version,
            headers,
            body: Vec::new(),
        },
        len,
    )))
}

/// The path of a request target: without `scheme://authority` (absolute form) and without query or fragment.
fn path_of(target: &str) -> &str {
    let target = match target.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => target,
    };
    let end = target.find(['?', '#']).unwrap_or(target.len());
    &target[..end]
}

/// How a request body is delimited.
#[derive(Debug, PartialEq)]
enum Framing {
    Length(usize),
    Chunked,
}

/// The body's framing from the head (RFC 9112 §6): a `Transfer-Encoding` must end with `chunked` (and is
/// refused with a `Content-Length`, or in HTTP/1.0); several `Content-Length`s must agree.
fn framing(head: &Request) -> Result<Framing, ReadError> {
    let codings = tokens(&head.headers, "transfer-encoding");
    let lengths: Vec<&str> = head
        .headers
        .iter()
        .filter(|(n, _)| n == "content-length")
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .collect();
    if !codings.is_empty() {
        if head.minor_version == 0 {
            return Err(refuse(400, "Transfer-Encoding in an HTTP/1.0 request"));
        }
        if !lengths.is_empty() {
            return Err(refuse(
                400,
                "both Transfer-Encoding and Content-Length in one request",
            ));
        }
        if codings.last().map(String::as_str) != Some("chunked") {
            return Err(refuse(400, "Transfer-Encoding must end with chunked"));
        }
        if codings.len() > 1 {
            return Err(refuse(501, "only the chunked transfer coding is supported"));
        }
        return Ok(Framing::Chunked);
    }
    let Some(first) = lengths.first() else {
        return Ok(Framing::Length(0));
    };
    if lengths.iter().any(|l| l != first) {
        return Err(refuse(400, "Content-Length values disagree"));
    }
    if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) {
        return Err(refuse(400, format!("invalid Content-Length '{first}'")));
    }
    match first.parse::<usize>() {
        Ok(n) if n <= BODY_LIMIT => Ok(Framing::Length(n)),
        _ => Err(refuse(413, "request body larger than 64 MiB")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads one request from `input` written in pieces of `step` bytes; also returns the bytes after it and
    /// what the server wrote.
    async fn read(input: &[u8], step: usize) -> (Result<Request, ReadError>, Vec<u8>, Vec<u8>) {
        let (mut client, mut server) = tokio::io::duplex(1 << 20);
        let data = input.to_vec();
        let writer = tokio::spawn(async move {
            for piece in data.chunks(step.max(1)) {
                // A refused request is not read to its end: the server may be gone.
                if client.write_all(piece).await.is_err() {
                    break;
                }
                tokio::task::yield_now().await;
            }
            let _ = client.shutdown().await;
            let mut sent = Vec::new();
            client.read_to_end(&mut sent).await.expect("read");
            sent
        });
        let mut buf = Vec::new();
        let r = read_request(&mut server, &mut buf, None).await;
        if r.is_ok() {
            // What follows the request (read now, if it had not arrived yet).
            let _ = server.read_to_end(&mut buf).await;
        }
        drop(server);
        let sent = writer.await.expect("writer");
        (r, buf, sent)
    }

    fn status(r: &Result<Request, ReadError>) -> u16 {
        match r {
            Err(ReadError::Refuse { status, .. }) => *status,
            other => panic!("not refused: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_request_with_a_content_length_and_a_pipelined_one() {
        let input = b"POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nX-Mixed: Yes \r\n\r\nhelloGET /v1/models HTTP/1.1\r\n\r\n";
        for step in [1, 7, input.len()] {
            let (r, rest, sent) = read(input, step).await;
            let r = r.expect("a request");
            assert_eq!(
                (r.method.as_str(), r.path.as_str()),
                ("POST", "/v1/chat/completions")
            );
            assert_eq!(r.body, b"hello");
            assert_eq!(r.header("x-mixed"), Some("Yes"));
            assert!(r.keep_alive());
            assert_eq!(rest, b"GET /v1/models HTTP/1.1\r\n\r\n");
            assert!(sent.is_empty(), "no 100 Continue unasked");
        }
    }

    #[tokio::test]
    async fn a_chunked_body_in_any_pieces() {
        let input = b"POST /v1/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\nNEXT";
        for step in [1, 3, 10, input.len()] {
            let (r, rest, _) = read(input, step).await;
            assert_eq!(r.expect("a request").body, b"hello 0123456789");
            assert_eq!(rest, b"NEXT");
        }
    }

    #[tokio::test]
    async fn expect_100_continue_is_answered_before_the_body() {
        let input =
            b"POST /v1/messages HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
        let (mut client, mut server) = tokio::io::duplex(4096);
        client.write_all(input).await.expect("write");
        let reader = tokio::spawn(async move {
            let mut buf = Vec::new();
            read_request(&mut server, &mut buf, None).await
        });
        let mut got = [0u8; 25];
        client.read_exact(&mut got).await.expect("100 Continue");
        assert_eq!(&got, b"HTTP/1.1 100 Continue\r\n\r\n");
        client.write_all(b"{}").await.expect("body");
        assert_eq!(reader.await.expect("task").expect("request").body, b"{}");
    }

    #[tokio::test]
    async fn bad_requests_are_refused_with_the_right_status() {
        let cases: [(&[u8], u16); 9] = [
            (b"NOT HTTP AT ALL\r\n\r\n", 400),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                400,
            ),
            (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                413,
            ),
            (b"POST / HTTP/1.1\r\nContent-Length: 67108865\r\n\r\n", 413),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n",
                400,
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                501,
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                400,
            ),
            (b"POST / HTTP/1.1\r\nExpect: something\r\n\r\n", 417),
        ];
        for (input, want) in cases {
            let (r, _, _) = read(input, input.len()).await;
            assert_eq!(status(&r), want, "{}", String::from_utf8_lossy(input));
        }
        let mut huge = b"GET / HTTP/1.1\r\nX: ".to_vec();
        huge.resize(HEAD_LIMIT + 10, b'a');
        let (r, _, _) = read(&huge, 4096).await;
        assert_eq!(status(&r), 431);
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..200 {
            many.extend_from_slice(format!("X-{i}: 1\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(status(&read(&many, many.len()).await.0), 431);
    }

    #[tokio::test]
    async fn a_connection_that_ends_is_gone() {
        assert_eq!(read(b"", 1).await.0.err(), Some(ReadError::Gone));
        let (r, _, _) = read(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", 3).await;
        assert_eq!(r.err(), Some(ReadError::Gone));
    }

    #[tokio::test]
    async fn an_idle_connection_times_out_without_reading() {
        let (_client, mut server) = tokio::io::duplex(64);
        let mut buf = Vec::new();
        let r = read_request(&mut server, &mut buf, Some(Duration::from_millis(20))).await;
        assert_eq!(r.err(), Some(ReadError::Idle));
    }

    proptest::proptest! {
        /// Arbitrary bytes, alone or after the start of a valid head, cut into arbitrary writes: a request, a
        /// refusal or the end of the connection — never a panic.
        #[test]
        fn any_bytes_are_read_or_refused_never_a_panic(
            prefix in proptest::sample::select(vec![
                "",
                "POST /v1/chat/completions HTTP/1.1\r\n",
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                "POST / HTTP/1.1\r\nContent-Length: 8\r\nExpect: 100-continue\r\n\r\n",
            ]),
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            step in 1usize..80,
        ) {
            let input = [prefix.as_bytes(), &tail].concat();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            let _ = rt.block_on(read(&input, step));
        }
    }

    #[test]
    fn keep_alive_by_version_and_connection_header() {
        let req = |minor, conn: Option<&str>| Request {
            method: "GET".into(),
            path: "/".into(),
            minor_version: minor,
            headers: conn
                .map(|c| vec![("connection".to_string(), c.to_string())])
                .unwrap_or_default(),
            body: Vec::new(),
        };
        assert!(req(1, None).keep_alive());
        assert!(!req(1, Some("Close")).keep_alive());
        assert!(!req(0, None).keep_alive());
        assert!(req(0, Some("Keep-Alive")).keep_alive());
        assert!(!req(0, Some("keep-alive, close")).keep_alive());
    }

    #[test]
    fn paths_lose_query_fragment_and_authority() {
        assert_eq!(path_of("/v1/models?x=1"), "/v1/models");
        assert_eq!(path_of("/a#b"), "/a");
        assert_eq!(path_of("http://h:1/v1/messages?q"), "/v1/messages");
        assert_eq!(path_of("http://h:1"), "/");
        assert_eq!(path_of("*"), "*");
    }
}
