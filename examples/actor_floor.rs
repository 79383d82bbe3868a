//! The floor of the client's shape for `scripts/bench-client.sh` (`FLOOR=1`): what streaming chat completions
//! cost when they are read the way the raw reader reads them, but from actix actors on arbiters, as the tool's
//! clients are, each result handed to a sink actor on a thread of its own, as the tool's results are handed to
//! its collector.
//!
//! Everything the tool does above that is left out: no HTTP library, no JSON, no record, no launcher, no
//! prompt. Each reader actor sends the same keep-alive `POST /v1/chat/completions` over an async socket (the
//! runtime's `epoll` loop instead of the raw reader's blocking reads) and finds each response's end with the raw
//! reader's own line scan (`examples/common/reader.rs`); when a response ends it sends the sink a
//! message (one crossing between threads a request — the tool makes two). Readers are spread over
//! `min(cores, CONCURRENCY)` arbiters, like the tool's clients. Between the raw reader and the tool, this
//! says how much of the tool's CPU a chunk is the shape (an async runtime, actors, a crossing a request) and how
//! much is the tool's own work (docs/performance.md).
//!
//! Usage: `actor_floor HOST:PORT CONCURRENCY SECONDS [MAX_TOKENS] [--requests N] [--timings FILE] [--body
//! FILE] [--no-sink]`, as the raw reader's (the timing-fidelity phase runs it the same way); prints
//! `requests=… data_events=… bytes=… elapsed_s=… errors=… delivered=…` like the raw reader (`delivered`: the
//! results the sink received). `--no-sink`: count results in place, with no crossing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_rt::net::TcpStream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "common/reader.rs"]
mod reader;
use reader::{Args, ResponseScan, Timing, Totals, write_timings};

/// What every reader adds to: the totals, the results the sink received, the requests started, each
/// reader's timings when it finishes.
#[derive(Default)]
struct Shared {
    totals: Totals,
    delivered: AtomicU64,
    started: AtomicU64,
    timings: Mutex<Vec<Timing>>,
}

/// One request's result, handed from a reader's arbiter to the sink's.
#[derive(Message)]
#[rtype(result = "()")]
struct Done {
    events: u64,
}

/// A reader has stopped (its time is up, or the requests are all started).
#[derive(Message)]
#[rtype(result = "()")]
struct Finished;

/// Receives every result on its own arbiter; stops the system when the last reader has finished.
struct Sink {
    shared: Arc<Shared>,
    readers_left: usize,
}

impl Actor for Sink {
    type Context = Context<Self>;
}

impl Handler<Done> for Sink {
    type Result = ();
    fn handle(&mut self, msg: Done, _: &mut Context<Self>) {
        std::hint::black_box(msg.events);
        self.shared.delivered.fetch_add(1, Ordering::Relaxed);
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

/// Sends requests on one keep-alive connection until the deadline or the request limit.
struct Reader {
    addr: String,
    request: Arc<[u8]>,
    deadline: Instant,
    limit: u64,
    shared: Arc<Shared>,
    sink: Addr<Sink>,
    crossing: bool,
}

impl Actor for Reader {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let (addr, request, deadline) = (self.addr.clone(), self.request.clone(), self.deadline);
        let (shared, sink, crossing, limit) = (
            self.shared.clone(),
            self.sink.clone(),
            self.crossing,
            self.limit,
        );
        let run = async move {
            let totals = &shared.totals;
            let mut buf = vec![0u8; 64 * 1024];
            let mut conn: Option<TcpStream> = None;
            let mut timings = Vec::new();
            while Instant::now() < deadline
                && shared.started.fetch_add(1, Ordering::Relaxed) < limit
            {
                let new_connection = conn.is_none();
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
                let timing = Timing::start(new_connection);
                let read = match stream.write_all(&request).await {
                    Ok(()) => read_response(stream, &mut buf, totals).await,
                    Err(_) => None,
                };
                match read {
                    Some((events, first)) => {
                        totals.requests.fetch_add(1, Ordering::Relaxed);
                        timings.push(timing.end(first));
                        if crossing {
                            sink.do_send(Done { events });
                        } else {
                            std::hint::black_box(events);
                            shared.delivered.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    None => {
                        totals.errors.fetch_add(1, Ordering::Relaxed);
                        conn = None;
                    }
                }
            }
            if let Ok(mut all) = shared.timings.lock() {
                all.extend(timings);
            }
        };
        ctx.spawn(run.into_actor(self).map(|(), reader, ctx| {
            reader.sink.do_send(Finished);
            ctx.stop();
        }));
    }
}

/// Reads one response off `stream`: its data events and when the read with the first content piece
/// returned, or `None` if the connection failed.
async fn read_response(
    stream: &mut TcpStream,
    buf: &mut [u8],
    totals: &Totals,
) -> Option<(u64, Option<Instant>)> {
    let mut scan = ResponseScan::default();
    loop {
        let n = match stream.read(scan.spare(buf)).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => n,
        };
        if scan.take(buf, n, Instant::now(), totals) {
            return Some((scan.events, scan.first));
        }
    }
}

fn main() {
    let args = Args::parse(
        "actor_floor HOST:PORT CONCURRENCY SECONDS [MAX_TOKENS] [--requests N] [--timings FILE] \
         [--body FILE] [--no-sink]",
    );
    let crossing = !args.has("--no-sink");
    let concurrency = args.concurrency;
    let request: Arc<[u8]> = args.request.clone().into();
    let shared = Arc::new(Shared::default());
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(args.seconds);

    let system = System::new();
    // Kept until the system stops: dropping an `Arbiter` handle does not stop its thread, but holding them
    // says where the readers live.
    let _arbiters = system.block_on({
        let (shared, addr, limit) = (shared.clone(), args.addr.clone(), args.limit);
        async move {
            let sink_arbiter = Arbiter::new();
            let sink = Sink::start_in_arbiter(&sink_arbiter.handle(), {
                let shared = shared.clone();
                move |_| Sink {
                    shared,
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
                    limit,
                    shared: shared.clone(),
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
    if let Some(path) = &args.timings_file {
        write_timings(path, &shared.timings.lock().expect("timings lock"));
    }
    let delivered = shared.delivered.load(Ordering::Relaxed);
    println!(
        "{}",
        shared
            .totals
            .line(elapsed, &format!(" delivered={delivered}"))
    );
}
