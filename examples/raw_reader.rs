//! The raw-reader limit for `scripts/bench-client.sh`: how fast this machine can push streamed chat
//! completions through loopback when the reader does nothing but send the request and find line ends.
//!
//! No actors, no HTTP library, no JSON: one std thread per connection, each sending the same keep-alive
//! `POST /v1/chat/completions` over and over for `SECONDS`, counting `data: {…}` lines and finding the end of
//! each response (`data: [DONE]`, then the chunked body's `0` terminator). The simulator's output length is
//! fixed by the harness, so requests × output tokens is the token count.
//!
//! Usage: `raw_reader HOST:PORT CONCURRENCY SECONDS [MAX_TOKENS] [--requests N] [--timings FILE] [--body
//! FILE]`; prints `requests=… data_events=… bytes=… elapsed_s=… errors=…`. `--body FILE`: send this JSON
//! body instead of a short "Say hello." one (the harness passes the client's own request, so the server
//! does the same work for both readers: the same prompt to count, the same usage chunk to send).
//!
//! The timing-fidelity phase runs it with `--requests N` (stop after N requests in all, or at SECONDS) and
//! `--timings FILE`: one line per request, `send_unix_us ttft_us e2e_us new_connection`, its clock started
//! just before the request is written (a connection in hand; connecting is not on it) and TTFT taken when the
//! read holding the second data event returned (the simulator's first content piece; the first event is the
//! role chunk) — the bar for the client's TTFT against the simulator's own record.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[path = "common/response_scan.rs"]
mod response_scan;
use response_scan::ResponseScan;

#[derive(Default)]
struct Totals {
    requests: AtomicU64,
    events: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
}

/// One request's timings (`--timings`).
struct Timing {
    send_unix_us: u128,
    ttft_us: f64,
    e2e_us: f64,
    new_connection: bool,
}

/// Reads one response off `stream`, counting its data events; `false` if the connection failed. `first`:
/// when the read that held the second data event (the first content piece) returned.
fn read_response(
    stream: &mut TcpStream,
    buf: &mut [u8],
    totals: &Totals,
    first: &mut Option<Instant>,
) -> bool {
    let mut scan = ResponseScan::default();
    loop {
        let n = match stream.read(scan.spare(buf)) {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        let read_at = Instant::now();
        let before = scan.events;
        let ended = scan.scan(buf, n);
        totals.bytes.fetch_add(n as u64, Ordering::Relaxed);
        totals
            .events
            .fetch_add(scan.events - before, Ordering::Relaxed);
        if before < 2 && scan.events >= 2 {
            *first = Some(read_at);
        }
        if ended {
            return true;
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: raw_reader HOST:PORT CONCURRENCY SECONDS [MAX_TOKENS]");
        std::process::exit(2);
    }
    let addr = args[1].clone();
    let concurrency: usize = args[2].parse().expect("CONCURRENCY is a whole number");
    let seconds: f64 = args[3].parse().expect("SECONDS is a number");
    let max_tokens: u64 = args
        .get(4)
        .filter(|a| !a.starts_with("--"))
        .map_or(100, |m| m.parse().expect("MAX_TOKENS"));
    let flag = |name: &str| {
        args.iter().position(|a| a == name).map(|i| {
            args.get(i + 1)
                .cloned()
                .unwrap_or_else(|| panic!("{name} needs a value"))
        })
    };
    let limit: u64 = flag("--requests").map_or(u64::MAX, |n| n.parse().expect("--requests N"));
    let timings_file = flag("--timings");
    let started_requests = Arc::new(AtomicU64::new(0));
    let body = match flag("--body") {
        Some(path) => std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("--body {path}: {e}"))
            .trim()
            .to_owned(),
        None => format!(
            "{{\"model\":\"raw\",\"messages\":[{{\"role\":\"user\",\"content\":\"Say hello.\"}}],\
             \"max_tokens\":{max_tokens},\"stream\":true}}"
        ),
    };
    let request = Arc::new(format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    let totals = Arc::new(Totals::default());
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let threads: Vec<_> = (0..concurrency)
        .map(|_| {
            let (addr, request, totals) = (addr.clone(), request.clone(), totals.clone());
            let started_requests = started_requests.clone();
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut conn: Option<TcpStream> = None;
                    let mut timings = Vec::new();
                    while Instant::now() < deadline
                        && started_requests.fetch_add(1, Ordering::Relaxed) < limit
                    {
                        let new_connection = conn.is_none();
                        let stream = match conn.as_mut() {
                            Some(s) => s,
                            None => match TcpStream::connect(&addr) {
                                Ok(s) => {
                                    let _ = s.set_nodelay(true);
                                    conn.insert(s)
                                }
                                Err(_) => {
                                    totals.errors.fetch_add(1, Ordering::Relaxed);
                                    std::thread::sleep(Duration::from_millis(10));
                                    continue;
                                }
                            },
                        };
                        let send_unix_us = SystemTime::now()
                            .duration_since(UNIX_EPOCH)
                            .map_or(0, |d| d.as_micros());
                        let sent = Instant::now();
                        let mut first = None;
                        if stream.write_all(request.as_bytes()).is_ok()
                            && read_response(stream, &mut buf, &totals, &mut first)
                        {
                            totals.requests.fetch_add(1, Ordering::Relaxed);
                            let us = |t: Instant| t.duration_since(sent).as_secs_f64() * 1e6;
                            timings.push(Timing {
                                send_unix_us,
                                ttft_us: first.map_or(-1.0, us),
                                e2e_us: us(Instant::now()),
                                new_connection,
                            });
                        } else {
                            totals.errors.fetch_add(1, Ordering::Relaxed);
                            conn = None;
                        }
                    }
                    timings
                })
                .expect("spawn a reader thread")
        })
        .collect();
    let mut timings = Vec::new();
    for t in threads {
        timings.extend(t.join().unwrap_or_default());
    }
    let elapsed = start.elapsed().as_secs_f64();
    if let Some(path) = timings_file {
        let mut out = String::new();
        for t in &timings {
            out.push_str(&format!(
                "{} {:.1} {:.1} {}\n",
                t.send_unix_us, t.ttft_us, t.e2e_us, t.new_connection as u8
            ));
        }
        std::fs::write(&path, out).unwrap_or_else(|e| panic!("write {path}: {e}"));
    }
    println!(
        "requests={} data_events={} bytes={} elapsed_s={elapsed:.3} errors={}",
        totals.requests.load(Ordering::Relaxed),
        totals.events.load(Ordering::Relaxed),
        totals.bytes.load(Ordering::Relaxed),
        totals.errors.load(Ordering::Relaxed)
    );
}
