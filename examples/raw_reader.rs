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
use std::time::{Duration, Instant};

#[path = "common/reader.rs"]
mod reader;
use reader::{Args, ResponseScan, Timing, Totals, write_timings};

/// Reads one response off `stream`, counting its data events: when the read that held the first content
/// piece returned, or `None` for the outer option if the connection failed.
fn read_response(
    stream: &mut TcpStream,
    buf: &mut [u8],
    totals: &Totals,
) -> Option<Option<Instant>> {
    let mut scan = ResponseScan::default();
    loop {
        let n = match stream.read(scan.spare(buf)) {
            Ok(0) | Err(_) => return None,
            Ok(n) => n,
        };
        if scan.take(buf, n, Instant::now(), totals) {
            return Some(scan.first);
        }
    }
}

fn main() {
    let args = Args::parse(
        "raw_reader HOST:PORT CONCURRENCY SECONDS [MAX_TOKENS] [--requests N] [--timings FILE] [--body FILE]",
    );
    let started_requests = Arc::new(AtomicU64::new(0));
    let request: Arc<[u8]> = args.request.clone().into();
    let totals = Arc::new(Totals::default());
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(args.seconds);
    let limit = args.limit;
    let threads: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (addr, request, totals) = (args.addr.clone(), request.clone(), totals.clone());
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
                        let timing = Timing::start(new_connection);
                        let read = match stream.write_all(&request) {
                            Ok(()) => read_response(stream, &mut buf, &totals),
                            Err(_) => None,
                        };
                        match read {
                            Some(first) => {
                                totals.requests.fetch_add(1, Ordering::Relaxed);
                                timings.push(timing.end(first));
                            }
                            None => {
                                totals.errors.fetch_add(1, Ordering::Relaxed);
                                conn = None;
                            }
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
    if let Some(path) = &args.timings_file {
        write_timings(path, &timings);
    }
    println!("{}", totals.line(elapsed, ""));
}
