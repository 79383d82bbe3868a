//! Running the simulator: binding the listening socket(s), `workers` threads that each run a tokio
//! current-thread runtime and accept on the same sockets (the kernel hands each connection to one of them),
//! and stopping — [`SimServer`] stops its threads when dropped, [`serve_foreground`] on Ctrl-C or SIGTERM.
//! Stopping ends the connections in progress at once (their runtime is dropped).

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::watch;

use super::SimConfig;
use super::state::{ReceivedRequest, SimState};

/// Pending connections the kernel queues per listening socket (what actix-web used).
const BACKLOG: i32 = 2048;

/// A simulator running on its own threads; stopped when dropped.
///
/// ```
/// use llmperf_actors::sim::{SimConfig, start_in_background};
/// let sim = start_in_background(SimConfig::default(), "127.0.0.1", 0).unwrap();
/// assert!(sim.base_url().starts_with("http://127.0.0.1:"));
/// assert_eq!(sim.connections(), 0);
/// assert!(sim.received().is_empty());
/// ```
pub struct SimServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    addrs: Vec<SocketAddr>,
    state: Arc<SimState>,
    stop: watch::Sender<bool>,
    threads: Vec<JoinHandle<()>>,
}

impl SimServer {
    /// The API base to give a client, e.g. `http://127.0.0.1:41234/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The requests processed so far — read in full and matched to a route — (the last 1 000), oldest first.
    pub fn received(&self) -> Vec<ReceivedRequest> {
        self.state.received()
    }

    /// The API requests processed so far (every one, however many: [`received`](Self::received) keeps the last
    /// 1 000) — the count that faults are numbered by.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }

    /// The connections accepted so far (with [`received`](Self::received), shows whether connections were
    /// reused).
    pub fn connections(&self) -> u64 {
        self.state.connections.load(Ordering::Relaxed)
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Starts the simulator on `host:port` (0 = any free port) on threads of its own and returns once it listens.
pub fn start_in_background(cfg: SimConfig, host: &str, port: u16) -> std::io::Result<SimServer> {
    let workers = cfg.workers.max(1);
    let state = Arc::new(SimState::new(cfg)?);
    let listeners = bind(host, port)?;
    let addrs = listeners
        .iter()
        .map(std::net::TcpListener::local_addr)
        .collect::<std::io::Result<Vec<_>>>()?;
    let (stop, stopped) = watch::channel(false);
    let mut server = SimServer {
        addr: addrs[0],
        addrs,
        state,
        stop,
        threads: Vec::new(),
    };
    for i in 0..workers {
        let listeners = listeners
            .iter()
            .map(std::net::TcpListener::try_clone)
            .collect::<std::io::Result<Vec<_>>>()?;
        let (state, stopped) = (server.state.clone(), stopped.clone());
        // On an error here, dropping `server` stops the workers already started.
        let thread = std::thread::Builder::new()
            .name(format!("llmperf-sim-{i}"))
            .spawn(move || worker(listeners, state, stopped))?;
        server.threads.push(thread);
    }
    Ok(server)
}

/// Runs the simulator in the foreground until Ctrl-C or SIGTERM (the `serve-sim` subcommand).
pub async fn serve_foreground(cfg: SimConfig, host: &str, port: u16) -> std::io::Result<()> {
    let server = start_in_background(cfg, host, port)?;
    for a in &server.addrs {
        println!(
            "llmperf-actors simulator listening on http://{a}/v1 \
             (/chat/completions, /completions, /messages, /models)"
        );
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    drop(server);
    Ok(())
}

/// Listening sockets for `host:port`: one per address the host resolves to (one only for port 0, which
/// would pick a different port for each).
fn bind(host: &str, port: u16) -> std::io::Result<Vec<std::net::TcpListener>> {
    let mut addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
    if port == 0 {
        addrs.truncate(1);
    }
    let mut listeners = Vec::new();
    let mut last_error = None;
    for a in addrs {
        match listen_on(a) {
            Ok(l) => listeners.push(l),
            Err(e) => {
                log::warn!("simulator: cannot listen on {a}: {e}");
                last_error = Some(e);
            }
        }
    }
    if listeners.is_empty() {
        return Err(last_error.unwrap_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::AddrNotAvailable,
                format!("'{host}' resolves to no address"),
            )
        }));
    }
    Ok(listeners)
}

fn listen_on(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// One worker thread: accepts on every listener and serves the connections, until `stopped` turns true.
fn worker(
    listeners: Vec<std::net::TcpListener>,
    state: Arc<SimState>,
    mut stopped: watch::Receiver<bool>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log::error!("simulator worker cannot start: {e}");
            return;
        }
    };
    runtime.block_on(async move {
        for listener in listeners {
            match tokio::net::TcpListener::from_std(listener) {
                Ok(listener) => {
                    tokio::spawn(accept(listener, state.clone()));
                }
                Err(e) => log::error!("simulator worker cannot listen: {e}"),
            }
        }
        let _ = stopped.wait_for(|stop| *stop).await;
    });
    // Dropping the runtime drops every connection this worker was serving.
}

/// Accepts connections on `listener`, each served by a task of its own.
async fn accept(listener: tokio::net::TcpListener, state: Arc<SimState>) {
    loop {
        match listener.accept().await {
            Ok((io, _)) => {
                state.connections.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(super::conn::serve(state.clone(), io));
            }
            Err(e) => {
                // Out of file descriptors, or a connection reset before it was accepted: wait a little
                // rather than spin.
                log::debug!("simulator: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}
