//! Connections: resolving, connecting (TCP with `TCP_NODELAY`, then TLS), a read buffer that is reused for every
//! read of every response on the connection, the check that an idle connection is still open, and the check
//! that the server's TCP stack reset the connection (which proves its application never read what we sent).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use super::Endpoint;

/// A plain or TLS stream.
pub(crate) enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Io {
    fn tcp(&self) -> &TcpStream {
        match self {
            Io::Plain(s) => s,
            Io::Tls(s) => s.get_ref().0,
        }
    }
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Bytes read at once; the buffer grows past this only while a response head is incomplete.
const READ_SIZE: usize = 16 * 1024;

/// One open connection and what has been read from it but not yet used.
pub(crate) struct Conn {
    io: Io,
    /// Read buffer: `buf[..]` holds bytes read and not yet consumed.
    pub(crate) buf: Vec<u8>,
    /// When the last response on it ended (for the idle checks).
    pub(crate) idle_since: Instant,
    /// The server's `Keep-Alive: timeout=N`, if it sent one.
    pub(crate) keep_alive_timeout: Option<Duration>,
}

/// Why a connection could not be made.
#[derive(Debug)]
pub(crate) enum ConnectError {
    /// The name did not resolve, the connection was refused, or the TLS handshake failed.
    Failed(String),
}

impl Conn {
    /// Writes all of `bytes`.
    pub(crate) async fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.io.write_all(bytes).await?;
        self.io.flush().await
    }

    /// Reads once, appending to `buf`; `Ok(0)` is the end of the stream.
    pub(crate) async fn read_more(&mut self) -> std::io::Result<usize> {
        if self.buf.capacity() - self.buf.len() < READ_SIZE / 4 {
            self.buf.reserve(READ_SIZE);
        }
        self.io.read_buf(&mut self.buf).await
    }

    /// Whether an idle connection is still open and clean: no unread bytes, no end of stream, no error. Never
    /// waits. It asks the kernel (a non-blocking `MSG_PEEK`), not the event loop, which may not yet have
    /// heard of a close that already arrived.
    pub(crate) fn is_open(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        match peek(self.io.tcp()) {
            Peek::Nothing => true,
            Peek::Closed => false,
            // Plain: bytes nobody asked for. TLS: perhaps a session ticket, which rustls takes in without
            // yielding data; anything else (an alert, data, the end) means the connection is not clean.
            Peek::Bytes => match &mut self.io {
                Io::Plain(_) => false,
                Io::Tls(_) => {
                    let mut probe = [0u8; 1];
                    self.io.read(&mut probe).now_or_never().is_none()
                }
            },
        }
    }

    /// Bytes of ours the server's TCP stack has acknowledged so far (`None` where the kernel does not say).
    pub(crate) fn acked(&self) -> Option<u64> {
        tcp_acked(self.io.tcp())
    }

    /// After the server closed this connection without a byte of response: whether the request provably never
    /// reached the server's application. Waits up to `window` for the server's TCP stack to reset the
    /// connection, then requires that it never acknowledged a byte written since `acked_before`: a stack
    /// that resets data without acknowledging it had no open socket to put it in.
    pub(crate) async fn never_received(&self, acked_before: Option<u64>, window: Duration) -> bool {
        let Some(before) = acked_before else {
            return false;
        };
        let until = Instant::now() + window;
        loop {
            match tcp_state(self.io.tcp()) {
                Some(TcpState::Closed) => return self.acked() == Some(before),
                None => return false,
                Some(TcpState::Other) => {
                    if Instant::now() >= until {
                        return false;
                    }
                    actix_rt::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
    }

    /// How long to wait for a reset after an unexpected end: a few of the connection's round trips, at least
    /// 50 ms (a busy machine may defer the kernel's packet work to a thread that waits its turn), at most 1 s.
    /// It is spent only when a reused connection dies under a request.
    pub(crate) fn reset_window(&self) -> Duration {
        let rtt = tcp_rtt(self.io.tcp()).unwrap_or(Duration::from_millis(1));
        (rtt * 4).clamp(Duration::from_millis(50), Duration::from_secs(1))
    }
}

/// What a non-blocking peek at a socket found.
enum Peek {
    /// Nothing to read: open and idle.
    Nothing,
    /// The end of the stream or an error.
    Closed,
    /// Bytes are waiting.
    Bytes,
}

fn peek(s: &TcpStream) -> Peek {
    use std::os::fd::AsRawFd;
    let mut byte = 0u8;
    // SAFETY: recv into a one-byte buffer we own, on a descriptor `s` owns for the duration of the call;
    // MSG_PEEK leaves the data in the socket and MSG_DONTWAIT never blocks.
    let n = unsafe {
        libc::recv(
            s.as_raw_fd(),
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    match n {
        0 => Peek::Closed,
        n if n > 0 => Peek::Bytes,
        _ => match std::io::Error::last_os_error().kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted => Peek::Nothing,
            _ => Peek::Closed,
        },
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TcpState {
    /// `TCP_CLOSE`: reset (or fully closed).
    Closed,
    Other,
}

#[cfg(target_os = "linux")]
pub(super) fn tcp_info(s: &impl std::os::fd::AsRawFd) -> Option<libc::tcp_info> {
    // SAFETY: `tcp_info` is plain old data; getsockopt writes at most `len` bytes into it and we check the
    // return value. The descriptor belongs to `s`, which outlives the call.
    unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let rc = libc::getsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        );
        (rc == 0).then_some(info)
    }
}

#[cfg(target_os = "linux")]
fn tcp_state(s: &TcpStream) -> Option<TcpState> {
    // Linux's TCP_CLOSE is 7 (include/net/tcp_states.h).
    tcp_info(s).map(|i| {
        if i.tcpi_state == 7 {
            TcpState::Closed
        } else {
            TcpState::Other
        }
    })
}

#[cfg(target_os = "linux")]
fn tcp_rtt(s: &TcpStream) -> Option<Duration> {
    tcp_info(s).map(|i| Duration::from_micros(u64::from(i.tcpi_rtt)))
}

#[cfg(target_os = "linux")]
fn tcp_acked(s: &TcpStream) -> Option<u64> {
    tcp_info(s).map(|i| i.tcpi_bytes_acked)
}

#[cfg(not(target_os = "linux"))]
fn tcp_state(_: &TcpStream) -> Option<TcpState> {
    None
}

#[cfg(not(target_os = "linux"))]
fn tcp_acked(_: &TcpStream) -> Option<u64> {
    None
}

#[cfg(not(target_os = "linux"))]
fn tcp_rtt(_: &TcpStream) -> Option<Duration> {
    None
}

/// Addresses of a host, remembered for a minute so a new connection does not wait for the resolver.
pub(crate) struct Resolved {
    at: Instant,
    addrs: Vec<SocketAddr>,
}

/// How long resolved addresses are reused.
const RESOLVE_TTL: Duration = Duration::from_secs(60);

/// Resolves the endpoint's host (an IP literal resolves at once), using `cache` when fresh.
async fn resolve(
    ep: &Endpoint,
    cache: &std::sync::Mutex<Option<Resolved>>,
) -> Result<Vec<SocketAddr>, String> {
    if let Ok(guard) = cache.lock()
        && let Some(r) = guard.as_ref()
        && r.at.elapsed() < RESOLVE_TTL
    {
        return Ok(r.addrs.clone());
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((ep.host.as_str(), ep.port))
        .await
        .map_err(|e| format!("cannot resolve {}: {e}", ep.host))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{} resolves to no address", ep.host));
    }
    if let Ok(mut guard) = cache.lock() {
        *guard = Some(Resolved {
            at: Instant::now(),
            addrs: addrs.clone(),
        });
    }
    Ok(addrs)
}

/// Opens a connection to the endpoint: resolves, connects to each address in turn, turns Nagle's algorithm off
/// (each small request would otherwise wait for an ACK), and does the TLS handshake for `https`. The caller
/// bounds the whole with the connect timeout.
pub(crate) async fn connect(
    ep: &Endpoint,
    tls: Option<&tokio_rustls::TlsConnector>,
    cache: &std::sync::Mutex<Option<Resolved>>,
) -> Result<Conn, ConnectError> {
    let addrs = resolve(ep, cache).await.map_err(ConnectError::Failed)?;
    let mut last = String::new();
    let mut tcp = None;
    for a in &addrs {
        match TcpStream::connect(a).await {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = format!("{a}: {e}"),
        }
    }
    let tcp = tcp.ok_or(ConnectError::Failed(last))?;
    let _ = tcp.set_nodelay(true);
    let io = match tls {
        None => Io::Plain(tcp),
        Some(connector) => {
            let name = rustls::pki_types::ServerName::try_from(ep.host.clone()).map_err(|e| {
                ConnectError::Failed(format!("'{}' is not a valid TLS server name: {e}", ep.host))
            })?;
            let stream = connector
                .connect(name, tcp)
                .await
                .map_err(|e| ConnectError::Failed(format!("TLS handshake failed: {e}")))?;
            Io::Tls(Box::new(stream))
        }
    };
    Ok(Conn {
        io,
        buf: Vec::with_capacity(READ_SIZE),
        idle_since: Instant::now(),
        keep_alive_timeout: None,
    })
}

/// The TLS connector: certificate verification with the bundled webpki roots, or none (`insecure`). ALPN offers
/// only HTTP/1.1, the protocol this client speaks. Built once per process and shared.
pub(crate) fn tls_connector(insecure: bool) -> tokio_rustls::TlsConnector {
    static VERIFIED: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    static INSECURE: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    let config = if insecure {
        INSECURE.get_or_init(|| {
            let mut c = crate::backend::tls::insecure_client_config();
            c.alpn_protocols = vec![b"http/1.1".to_vec()];
            Arc::new(c)
        })
    } else {
        VERIFIED.get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let roots =
                rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let mut c = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("the ring provider supports the default TLS versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            c.alpn_protocols = vec![b"http/1.1".to_vec()];
            Arc::new(c)
        })
    };
    tokio_rustls::TlsConnector::from(config.clone())
}
