//! What the two bench readers (`raw_reader`, `actor_floor`) share: their command line, the request they send,
//! the totals and per-request timings they report, and the line scan that finds where one streamed chat
//! completion ends in the bytes a keep-alive connection delivers and how many `data: {…}` events it held.
//! Nothing is parsed: a line is only compared with the few prefixes the end of a response needs.
//!
//! Line ends are found with `memchr` (SIMD), as any lean reader would. The byte-at-a-time loop this replaced
//! cost 13–17 % more CPU a chunk in one build than in another with the very same instructions: its loop's
//! fused add-and-branch straddled a 32-byte boundary, which this VM's CPU penalises (docs/performance.md,
//! sixth session). A bar that moves with code alignment is no bar.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The command line both readers take: `HOST:PORT CONCURRENCY SECONDS [MAX_TOKENS] [--requests N]
/// [--timings FILE] [--body FILE]` (and flags of their own, left to them).
pub struct Args {
    pub addr: String,
    pub concurrency: usize,
    pub seconds: f64,
    /// Requests to start in all (`--requests`); unlimited without it.
    pub limit: u64,
    /// Where to write one line per request (`--timings`).
    pub timings_file: Option<String>,
    /// The whole HTTP request, head and body, sent on every turn.
    pub request: Vec<u8>,
    /// Every argument, for a reader's own flags ([`has`](Self::has)).
    #[allow(dead_code)] // the raw reader has no flags of its own
    all: Vec<String>,
}

impl Args {
    /// Parses the process's arguments; exits with the usage line when they are too few.
    pub fn parse(usage: &str) -> Args {
        let all: Vec<String> = std::env::args().collect();
        if all.len() < 4 {
            eprintln!("usage: {usage}");
            std::process::exit(2);
        }
        let addr = all[1].clone();
        let concurrency = all[2].parse().expect("CONCURRENCY is a whole number");
        let seconds = all[3].parse().expect("SECONDS is a number");
        let max_tokens: u64 = all
            .get(4)
            .filter(|a| !a.starts_with("--"))
            .map_or(100, |m| m.parse().expect("MAX_TOKENS"));
        let flag = |name: &str| {
            all.iter().position(|a| a == name).map(|i| {
                all.get(i + 1)
                    .cloned()
                    .unwrap_or_else(|| panic!("{name} needs a value"))
            })
        };
        let limit = flag("--requests").map_or(u64::MAX, |n| n.parse().expect("--requests N"));
        let timings_file = flag("--timings");
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
        let request = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes();
        Args {
            addr,
            concurrency,
            seconds,
            limit,
            timings_file,
            request,
            all,
        }
    }

    /// Whether the flag `name` was given.
    #[allow(dead_code)] // the raw reader has no flags of its own
    pub fn has(&self, name: &str) -> bool {
        self.all.iter().any(|a| a == name)
    }
}

/// A reader's totals, shared by its threads or actors.
#[derive(Default)]
pub struct Totals {
    pub requests: AtomicU64,
    pub events: AtomicU64,
    pub bytes: AtomicU64,
    pub errors: AtomicU64,
}

impl Totals {
    /// The report line: `requests=… data_events=… bytes=… elapsed_s=… errors=…`, then `extra`.
    pub fn line(&self, elapsed_s: f64, extra: &str) -> String {
        format!(
            "requests={} data_events={} bytes={} elapsed_s={elapsed_s:.3} errors={}{extra}",
            self.requests.load(Ordering::Relaxed),
            self.events.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed)
        )
    }
}

/// One request's timings (`--timings`): its clock started just before the request is written (a connection
/// in hand), its TTFT taken when the read that held the second data event (the first content piece; the
/// first is the role chunk) returned.
pub struct Timing {
    send_unix_us: u128,
    sent: Instant,
    ttft_us: f64,
    e2e_us: f64,
    new_connection: bool,
}

impl Timing {
    /// A request about to be written.
    pub fn start(new_connection: bool) -> Timing {
        Timing {
            send_unix_us: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_micros()),
            sent: Instant::now(),
            ttft_us: -1.0,
            e2e_us: -1.0,
            new_connection,
        }
    }

    /// The response has ended; `first`: when the read with the first content piece returned.
    pub fn end(mut self, first: Option<Instant>) -> Timing {
        let us = |t: Instant| t.duration_since(self.sent).as_secs_f64() * 1e6;
        self.ttft_us = first.map_or(-1.0, us);
        self.e2e_us = us(Instant::now());
        self
    }
}

/// Writes `timings` to `path`, one line per request: `send_unix_us ttft_us e2e_us new_connection`.
pub fn write_timings(path: &str, timings: &[Timing]) {
    let mut out = String::new();
    for t in timings {
        out.push_str(&format!(
            "{} {:.1} {:.1} {}\n",
            t.send_unix_us, t.ttft_us, t.e2e_us, t.new_connection as u8
        ));
    }
    std::fs::write(path, out).unwrap_or_else(|e| panic!("write {path}: {e}"));
}

/// One response's progress through a read buffer.
#[derive(Default)]
pub struct ResponseScan {
    line_start: usize,
    filled: usize,
    done: bool,
    zero: bool,
    /// `data: {…}` events seen so far.
    pub events: u64,
    /// When the read that held the second data event returned.
    pub first: Option<Instant>,
}

impl ResponseScan {
    /// The part of `buf` the next read fills. When `buf` is full, the partial line at its end moves to the
    /// front first.
    pub fn spare<'b>(&mut self, buf: &'b mut [u8]) -> &'b mut [u8] {
        if self.filled == buf.len() {
            buf.copy_within(self.line_start..self.filled, 0);
            self.filled -= self.line_start;
            self.line_start = 0;
        }
        &mut buf[self.filled..]
    }

    /// Scans the `n` bytes the last read put into [`spare`](Self::spare), a read that returned `read_at`,
    /// and adds them to `totals`; `true` when the response has ended (`data: [DONE]`, then the chunked body's
    /// `0` terminator and its empty line).
    pub fn take(&mut self, buf: &[u8], n: usize, read_at: Instant, totals: &Totals) -> bool {
        let before = self.events;
        let ended = self.scan(buf, n);
        totals.bytes.fetch_add(n as u64, Ordering::Relaxed);
        totals
            .events
            .fetch_add(self.events - before, Ordering::Relaxed);
        if before < 2 && self.events >= 2 {
            self.first = Some(read_at);
        }
        ended
    }

    fn scan(&mut self, buf: &[u8], n: usize) -> bool {
        // The loop below is the whole of a reader's user-space work a chunk; its state stays in locals.
        let (mut line_start, mut events) = (self.line_start, self.events);
        let mut i = self.filled;
        let filled = self.filled + n;
        let mut ended = false;
        while let Some(off) = memchr::memchr(b'\n', &buf[i..filled]) {
            let line = &buf[line_start..i + off];
            if line.starts_with(b"data: {") {
                events += 1;
            } else if line.starts_with(b"data: [DONE]") {
                self.done = true;
            } else if self.done && line == b"0\r" {
                self.zero = true;
            } else if self.zero && line == b"\r" {
                ended = true;
                break;
            }
            i += off + 1;
            line_start = i;
        }
        (self.line_start, self.filled, self.events) = (line_start, filled, events);
        ended
    }
}
