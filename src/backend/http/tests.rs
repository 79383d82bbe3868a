//! The HTTP client against raw TCP servers whose every byte and close the test decides: reuse, framings,
//! interim responses, and the three ways a kept-alive connection can die under a request — closed before it
//! was written (sent again, once), closed after the server read it (an error, never sent twice), and
//! acknowledged but unread (an error too: the client cannot prove it unread).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::*;

/// What the test server saw.
#[derive(Default)]
struct Seen {
    connections: AtomicUsize,
    requests: AtomicUsize,
    /// Connections the handler has returned from (and so closed).
    closed: AtomicUsize,
}

/// Waits (up to 10 s: generous on a busy machine) until the server has closed `n` connections (with
/// [`close_once_the_fin_is_acked`], so the client's stack has the FIN too).
fn wait_closed(seen: &Seen, n: usize) {
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while seen.closed.load(Ordering::SeqCst) < n && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(
        seen.closed.load(Ordering::SeqCst) >= n,
        "the server did not close"
    );
}

/// Closes the server's side of a connection once the client's TCP stack has acknowledged the FIN, so a test
/// that goes on after [`wait_closed`] knows the client can see the close, instead of guessing how long the
/// FIN takes to cross loopback. The FIN goes out with `shutdown(Write)`; the state FIN_WAIT2 (5), or
/// TIME_WAIT (6) / CLOSE (7) if the client closed too, says the peer acknowledged it (up to 10 s).
fn close_once_the_fin_is_acked(s: TcpStream) {
    let _ = s.shutdown(std::net::Shutdown::Write);
    #[cfg(target_os = "linux")]
    {
        let state = || super::conn::tcp_info(&s).map(|i| i.tcpi_state);
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while !matches!(state(), None | Some(5..=7)) && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    #[cfg(not(target_os = "linux"))]
    std::thread::sleep(Duration::from_millis(100));
    drop(s);
}

/// Reads one request (head and Content-Length body); `false` at the end of the stream.
fn read_request(s: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return false,
        }
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).is_ok()
}

/// A server on a free port whose connection handler is `serve(connection number, stream, seen)`.
fn server(
    serve: impl Fn(usize, TcpStream, &Seen) + Send + Sync + 'static,
) -> (std::net::SocketAddr, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Seen::default());
    let serve = Arc::new(serve);
    let s2 = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let n = s2.connections.fetch_add(1, Ordering::SeqCst);
            let (serve, seen) = (serve.clone(), s2.clone());
            std::thread::spawn(move || {
                serve(n, stream, &seen);
                seen.closed.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    (addr, seen)
}

/// Counts a request read in full.
fn got(s: &mut TcpStream, seen: &Seen) -> bool {
    let ok = read_request(s);
    if ok {
        seen.requests.fetch_add(1, Ordering::SeqCst);
    }
    ok
}

const CHUNKED_OK: &[u8] =
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";

fn client(addr: std::net::SocketAddr) -> HttpClient {
    let ep = Endpoint::parse(&format!("http://{addr}/v1/x")).expect("url");
    HttpClient::new(
        ep,
        &EndpointKnowledge::default(),
        Duration::from_secs(5),
        false,
        true,
    )
}

async fn body_of(c: &HttpClient) -> Result<(Vec<u8>, ConnectionInfo), SendFailure> {
    let mut r = c.post(&[], b"{}").await?;
    let info = r.info;
    let body = r.read_to_end(1 << 20).await.expect("body");
    Ok((body, info))
}

#[actix::test]
async fn a_kept_alive_connection_is_reused() {
    let (addr, seen) = server(|_, mut s, seen| {
        while got(&mut s, seen) {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
    });
    let c = client(addr);
    let t0 = std::time::Instant::now();
    let (b1, i1) = body_of(&c).await.expect("first");
    let (b2, i2) = body_of(&c).await.expect("second");
    // The first connection went idle after t0 and the second request took its connection before now, so it
    // had been idle for at most `both`.
    let both = t0.elapsed();
    assert_eq!((b1.as_slice(), b2.as_slice()), (&b"ok"[..], &b"ok"[..]));
    assert!(i1.new_connection && i1.connect_s.is_some());
    // On probation: a connection idle for less than PROBATION is not taken yet. How soon the second request
    // comes is the machine's (a busy one can be later than PROBATION), so: reused only if it may have idled
    // that long.
    assert!(
        i2.new_connection || both >= PROBATION,
        "a fresh connection is not reused before the server has shown keep-alive: reused within {both:?}"
    );
    past_probation();
    let (_, i3) = body_of(&c).await.expect("third");
    assert!(!i3.new_connection && i3.connect_s.is_none());
    // Proven: from now on a connection is reused at once.
    let (_, i4) = body_of(&c).await.expect("fourth");
    assert!(!i4.new_connection);
    // A second connection only if the second request did not reuse the first.
    let opened = if i2.new_connection { 2 } else { 1 };
    assert_eq!(seen.connections.load(Ordering::SeqCst), opened);
}

/// Sleeps past the probation of a fresh pooled connection.
fn past_probation() {
    std::thread::sleep(PROBATION + Duration::from_millis(10));
}

#[actix::test]
async fn a_close_delimited_body_is_read_to_the_close() {
    let (addr, _) = server(|_, mut s, seen| {
        got(&mut s, seen);
        let _ =
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: 1\n\n");
        std::thread::sleep(Duration::from_millis(20));
        let _ = s.write_all(b"data: [DONE]\n\n");
    });
    let c = client(addr);
    let (body, _) = body_of(&c).await.expect("response");
    assert_eq!(body, b"data: 1\n\ndata: [DONE]\n\n");
    assert!(
        c.idle.borrow().is_empty(),
        "a close-delimited connection is not reusable"
    );
}

#[actix::test]
async fn interim_responses_are_skipped() {
    let (addr, _) = server(|_, mut s, seen| {
        got(&mut s, seen);
        let _ = s.write_all(b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n");
        let _ = s.write_all(CHUNKED_OK);
    });
    let (body, _) = body_of(&client(addr)).await.expect("response");
    assert_eq!(body, b"hello");
}

#[actix::test]
async fn a_body_cut_short_or_malformed_is_an_error() {
    let (addr, _) = server(|n, mut s, seen| {
        got(&mut s, seen);
        let bytes: &[u8] = if n == 0 {
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"
        } else {
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
        };
        let _ = s.write_all(bytes);
    });
    let c = client(addr);
    let mut r = c.post(&[], b"{}").await.expect("head");
    assert!(matches!(
        r.read_to_end(1024).await,
        Err(BodyReadError::Broken(_))
    ));
    let mut r = c.post(&[], b"{}").await.expect("head");
    assert!(matches!(
        r.read_to_end(1024).await,
        Err(BodyReadError::Malformed(_))
    ));
}

/// The server closes every connection right after its response (llama.cpp's habit). With the idle check off,
/// the client writes the next request into the closed connection: the server's stack resets it without
/// acknowledging a byte, so the request goes out again on a new connection — and the server sees it once.
#[actix::test]
async fn a_request_written_into_a_closed_connection_is_sent_again_once() {
    let (addr, seen) = server(|_, mut s, seen| {
        if got(&mut s, seen) {
            let _ = s.write_all(CHUNKED_OK);
        }
        close_once_the_fin_is_acked(s);
    });
    let mut c = client(addr);
    c.check_idle = false;
    body_of(&c).await.expect("first");
    wait_closed(&seen, 1);
    let (body, info) = body_of(&c).await.expect("second, sent again");
    assert_eq!(body, b"hello");
    assert!(info.resent && info.new_connection);
    assert_eq!(
        seen.requests.load(Ordering::SeqCst),
        2,
        "each request reached the server once"
    );
    // Learned: the next request does not try the pool at all.
    assert!(!c.reusing());
    let (_, info) = body_of(&c).await.expect("third");
    assert!(info.new_connection && !info.resent);
    assert_eq!(seen.requests.load(Ordering::SeqCst), 3);
    assert_eq!(seen.connections.load(Ordering::SeqCst), 3);
}

/// The same server with the idle check on: the close is seen before the write, nothing is sent twice.
#[actix::test]
async fn a_closed_idle_connection_is_not_used() {
    let (addr, seen) = server(|_, mut s, seen| {
        if got(&mut s, seen) {
            let _ = s.write_all(CHUNKED_OK);
        }
        close_once_the_fin_is_acked(s);
    });
    let c = client(addr);
    body_of(&c).await.expect("first");
    wait_closed(&seen, 1);
    past_probation();
    let (_, info) = body_of(&c).await.expect("second");
    assert!(info.new_connection && !info.resent);
    assert_eq!(seen.requests.load(Ordering::SeqCst), 2);
    assert!(!c.reusing(), "a close right after a response is learned");
}

/// The server reads the second request in full, then closes without answering: it may have processed it, so
/// it is an error, never a second send.
#[actix::test]
async fn a_request_the_server_read_is_never_sent_twice() {
    let (addr, seen) = server(|_, mut s, seen| {
        if got(&mut s, seen) {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
        got(&mut s, seen); // read, then close without a response
    });
    let c = client(addr);
    body_of(&c).await.expect("first");
    past_probation();
    let Err(f) = body_of(&c).await else {
        panic!("the second must fail")
    };
    assert!(
        matches!(&f.error, SendError::Closed(m) if m.contains("may have processed")),
        "{f:?}"
    );
    assert_eq!(f.new_connection, Some(false));
    assert_eq!(seen.requests.load(Ordering::SeqCst), 2, "not sent twice");
}

/// The server stops reading and closes a moment later, the request unread in its socket: the stack
/// acknowledged it, so the client cannot prove it unread — an error, not a second send.
#[actix::test]
async fn an_acknowledged_request_is_not_sent_again() {
    let (addr, seen) = server(|n, mut s, seen| {
        if got(&mut s, seen) {
            let _ = s.write_all(CHUNKED_OK);
        }
        if n == 0 {
            // Close with the client's next request in the socket, unread: wait (up to 10 s) until it is
            // there without reading it, then long enough for the stack's delayed ACK of it to go out (a
            // kernel timer of at most 200 ms, whatever the load on user threads).
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = s.peek(&mut [0u8; 1]);
            std::thread::sleep(Duration::from_millis(500));
        }
    });
    let c = client(addr);
    body_of(&c).await.expect("first");
    past_probation();
    let Err(f) = body_of(&c).await else {
        panic!("the second must fail")
    };
    assert!(matches!(f.error, SendError::Closed(_)), "{f:?}");
    assert_eq!(
        seen.requests.load(Ordering::SeqCst),
        1,
        "the server never read it"
    );
    assert_eq!(
        seen.connections.load(Ordering::SeqCst),
        1,
        "and it was not sent again"
    );
}

#[actix::test]
async fn keep_alive_timeout_is_honoured() {
    let (addr, seen) = server(|_, mut s, seen| {
        while got(&mut s, seen) {
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 2\r\n\r\nok",
            );
        }
    });
    let c = client(addr);
    body_of(&c).await.expect("first");
    let (_, info) = body_of(&c).await.expect("second");
    assert!(
        info.new_connection,
        "a 1 s keep-alive leaves no second to spare"
    );
    assert_eq!(seen.connections.load(Ordering::SeqCst), 2);
}

#[actix::test]
async fn reuse_off_opens_a_connection_per_request_and_says_close() {
    let (addr, seen) = server(|_, mut s, seen| {
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap_or(0);
        let head = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
        assert!(head.contains("connection: close"), "{head}");
        seen.requests.fetch_add(1, Ordering::SeqCst);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    let ep = Endpoint::parse(&format!("http://{addr}/")).expect("url");
    let c = HttpClient::new(
        ep,
        &EndpointKnowledge::default(),
        Duration::from_secs(5),
        false,
        false,
    );
    for _ in 0..3 {
        let (_, info) = body_of(&c).await.expect("response");
        assert!(info.new_connection && info.connect_s.is_some());
    }
    assert_eq!(seen.connections.load(Ordering::SeqCst), 3);
}

#[actix::test]
async fn a_refused_connection_is_a_connect_error() {
    let addr = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    }; // closed again: nothing listens
    let Err(f) = client(addr).post(&[], b"{}").await else {
        panic!("connected to a closed port");
    };
    assert!(matches!(f.error, SendError::Connect(_)), "{f:?}");
    assert_eq!(f.new_connection, Some(true));
}
