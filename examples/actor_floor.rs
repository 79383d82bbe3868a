//! The floor of the client's shape for `scripts/bench-client.sh` (`FLOOR=1`): what streaming chat completions
//! cost when they are read the way the raw reader reads them, but from actix actors on arbiters, as the tool's
//! clients are, each result handed to a sink actor on a thread of its own, as the tool's results are handed to
//! its collector.
//!
//! Everything the tool does above that is left out: no HTTP library, no JSON, no record, no launcher, no
//! prompt. Each reader actor sends the same keep-alive `POST /v1/chat/completions` over an async socket (the
//! runtime's `epoll` loop instead of the raw reader's blocking reads) and finds each response's end with the raw
//! reader's own line scan (`examples/common/response_scan.rs`); when a response ends it sends the sink a
//! message (one crossing between threads a request — the tool makes two). Readers are spread over
//! `min(cores, CONCURRENCY)` arbiters, like the tool's clients. Between the raw reader and the tool, this
//! says how much of the tool's CPU a chunk is the shape (an async runtime, actors, a crossing a request) and how
//! much is the tool's own work (docs/performance.md).
//!
//! Usage: `actor_floor HOST:PORT CONCURRENCY SECONDS [MAX_TOKENS] [--body FILE] [--no-sink]`; prints
//! `requests=… data_events=… bytes=… elapsed_s=… errors=… delivered=…` like the raw reader (`delivered`: the
//! results the sink received). `--no-sink`: count results in place, with no crossing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_rt::net::TcpStream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "common/response_scan.rs"]
mod response_scan;
use response_scan::ResponseScan;

#[derive(Default)]
struct Totals {
    requests: AtomicU64,
    events: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
    delivered: AtomicU64,
}

/// One request's result, handed from a reader's arbiter to the sink's.
#[derive(Message)]
#[rtype(result = "()")]
struct Done {
    events: u64,
}

/// A reader has stopped (its time is up).
#[derive(Message)]
#[rtype(result = "()")]
struct Finished;

/// Receives every result on its own arbiter; stops the system when the last reader has finished.
struct Sink {
    totals: Arc<Totals>,
    readers_left: usize,
}

impl Actor for Sink {
    type Context = Context<Self>;
}

impl Handler<Done> for Sink {
    type Result = ();
    fn handle(&mut self, msg: Done, _: &mut Context<Self>) {
        std::hint::black_box(msg.events);
        self.totals.delivered.fetch_add(1, Ordering::Relaxed);
    }
}

impl Handler<Finished> for Sink {
    type Result = ();
    fn handle(&mut self, _: Finished, _: &mut Context<Self>) {
        self.readers_left -= 1;
        if self.readers_left == 0 {
            System::current().stop();
        }
    }
}

/// Sends requests on one keep-alive connection until the deadline.
struct Reader {
    addr: String,
    request: Arc<[u8]>,
    deadline: Instant,
    totals: Arc<Totals>,
    sink: Addr<Sink>,
    crossing: bool,
}

impl Actor for Reader {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let (addr, request, deadline) = (self.addr.clone(), self.request.clone(), self.deadline);
        let (totals, sink, crossing) = (self.totals.clone(), self.sink.clone(), self.crossing);
        let run = async move {
            let mut buf = vec![0u8; 64 * 1024];
            let mut conn: Option<TcpStream> = None;
            while Instant::now() < deadline {
                let stream = match conn.as_mut() {
                    Some(s) => s,
                    None => match TcpStream::connect(&addr).await {
                        Ok(s) => {
                            let _ = s.set_nodelay(true);
                            conn.insert(s)
                        }
                        Err(_) => {
                            totals.errors.fetch_add(1, Ordering::Relaxed);
                            actix_rt::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    },
                };
                let read = if stream.write_all(&request).await.is_ok() {
                    read_response(stream, &mut buf, &totals).await
                } else {
                    None
                };
                match read {
                    Some(events) => {
                        totals.requests.fetch_add(1, Ordering::Relaxed);
                        if crossing {
                            sink.do_send(Done { events });
                        } else {
                            std::hint::black_box(events);
                            totals.delivered.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    None => {
                        totals.errors.fetch_add(1, Ordering::Relaxed);
                        conn = None;
                    }
                }
            }
        };
        ctx.spawn(run.into_actor(self).map(|(), reader, ctx| {
            reader.sink.do_send(Finished);
            ctx.stop();
        }));
    }
}

/// Reads one response off `stream`: its data events, or `None` if the connection failed.
async fn read_response(stream: &mut TcpStream, buf: &mut [u8], totals: &Totals) -> Option<u64> {
    let mut scan = ResponseScan::default();
    loop {
        let n = match stream.read(scan.spare(buf)).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => n,
        };
        let before = scan.events;
        let ended = scan.scan(buf, n);
        totals.bytes.fetch_add(n as u64, Ordering::Relaxed);
        totals
            .events
            .fetch_add(scan.events - before, Ordering::Relaxed);
        if ended {
            return Some(scan.events);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!(
            "usage: actor_floor HOST:PORT CONCURRENCY SECONDS [MAX_TOKENS] [--body FILE] [--no-sink]"
        );
        std::process::exit(2);
    }
    let addr = args[1].clone();
    let concurrency: usize = args[2].parse().expect("CONCURRENCY is a whole number");
    let seconds: f64 = args[3].parse().expect("SECONDS is a number");
    let max_tokens: u64 = args
        .get(4)
        .filter(|a| !a.starts_with("--"))
        .map_or(100, |m| m.parse().expect("MAX_TOKENS"));
    let crossing = !args.iter().any(|a| a == "--no-sink");
    let body = match args.iter().position(|a| a == "--body") {
        Some(i) => {
            let path = args.get(i + 1).expect("--body needs a file");
            std::fs::read_to_string(path)
                .unwrap_or_else(|e| panic!("--body {path}: {e}"))
                .trim()
                .to_owned()
        }
        None => format!(
            "{{\"model\":\"raw\",\"messages\":[{{\"role\":\"user\",\"content\":\"Say hello.\"}}],\
             \"max_tokens\":{max_tokens},\"stream\":true}}"
        ),
    };
    let request: Arc<[u8]> = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
    .into();
    let totals = Arc::new(Totals::default());
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);

    let system = System::new();
    // Kept until the system stops: dropping an `Arbiter` handle does not stop its thread, but holding them
    // says where the readers live.
    let _arbiters = system.block_on({
        let totals = totals.clone();
        async move {
            let sink_arbiter = Arbiter::new();
            let sink = Sink::start_in_arbiter(&sink_arbiter.handle(), {
                let totals = totals.clone();
                move |_| Sink {
                    totals,
                    readers_left: concurrency,
                }
            });
            let arbiters: Vec<Arbiter> = (0..cores.min(concurrency).max(1))
                .map(|_| Arbiter::new())
                .collect();
            for i in 0..concurrency {
                let reader = Reader {
                    addr: addr.clone(),
                    request: request.clone(),
                    deadline,
                    totals: totals.clone(),
                    sink: sink.clone(),
                    crossing,
                };
                Reader::start_in_arbiter(&arbiters[i % arbiters.len()].handle(), move |_| reader);
            }
            (sink_arbiter, arbiters)
        }
    });
    if concurrency > 0 {
        system.run().expect("run the actor system");
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "requests={} data_events={} bytes={} elapsed_s={elapsed:.3} errors={} delivered={}",
        totals.requests.load(Ordering::Relaxed),
        totals.events.load(Ordering::Relaxed),
        totals.bytes.load(Ordering::Relaxed),
        totals.errors.load(Ordering::Relaxed),
        totals.delivered.load(Ordering::Relaxed)
    );
}
