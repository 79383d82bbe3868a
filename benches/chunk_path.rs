//! The client's work per streamed chunk in user space, beside the raw reader's on the same bytes (issue 20).
//!
//! One response of the built-in simulator (zero delays, 100 tokens one per chunk, the usage chunk the client
//! asks for) is read once over loopback, as it arrives on the wire. Then, on one thread and without the
//! network, the same bytes go round after round through
//! - **the client's path**: HTTP chunked decoding (`BodyDecoder`), SSE framing (`SseFramer`), the OpenAI chunk
//!   reader (`OpenAiWire`) and the request's record (`StreamState`: timings, text), a clock read per read;
//! - **the raw reader's work** (`examples/raw_reader.rs`): finding line ends and counting `data: {` lines;
//!
//! each with the response cut into 1 read (the whole response), 4 reads, and one read per HTTP chunk. It
//! prints nanoseconds per chunk for both and their ratio, the median of `ROUNDS` (default 7) timed rounds of
//! 2,000 responses each. Kernel work (the reads, the wake-ups) is not in it: `scripts/bench-client.sh`
//! measures the whole.
//!
//! ```sh
//! cargo bench --bench chunk_path
//! ```

use std::hint::black_box;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use llmperf_actors::backend::http::body::{BodyDecoder, Framing};
use llmperf_actors::backend::http::head::{parse_response, post_request};
use llmperf_actors::backend::openai::{OpenAiShape, OpenAiWire};
use llmperf_actors::backend::sse::SseFramer;
use llmperf_actors::backend::stream::{StreamState, WireFormat};
use llmperf_actors::sim::{SimConfig, start_in_background};

const RESPONSES: usize = 2_000;

fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(7);
    let body = one_response();
    let chunks = count_chunks(&body);
    let http_chunks = http_chunk_ends(&body);
    println!(
        "one simulator response: {} body bytes, {chunks} data chunks; median of {rounds} rounds of {RESPONSES} responses",
        body.len()
    );
    println!(
        "{:>22} {:>14} {:>14} {:>7}",
        "reads per response", "client ns/chunk", "raw ns/chunk", "ratio"
    );
    let cuts: [(&str, Vec<usize>); 3] = [
        ("1", vec![body.len()]),
        ("4", (1..=4).map(|i| body.len() * i / 4).collect()),
        ("one per HTTP chunk", http_chunks),
    ];
    for (name, ends) in cuts {
        let reads = split(&body, &ends);
        let mut client = Vec::new();
        let mut raw = Vec::new();
        for _ in 0..rounds {
            // Alternated, so both see the same moments of a shared machine.
            client.push(per_chunk(chunks, || client_path(&reads)));
            raw.push(per_chunk(chunks, || raw_path(&reads)));
        }
        let (c, r) = (median(client), median(raw));
        println!("{name:>22} {c:>14.1} {r:>14.1} {:>7.2}", c / r);
    }
}

/// One streamed response's body (after the head), as the simulator sends it.
fn one_response() -> Vec<u8> {
    let sim = start_in_background(
        SimConfig {
            ttft_ms: 0.0,
            itl_ms: 0.0,
            output_tokens: Some(100),
            ..SimConfig::default()
        },
        "127.0.0.1",
        0,
    )
    .expect("the simulator starts");
    let request = r#"{"model":"bench","messages":[{"role":"system","content":""},{"role":"user","content":"Shall I compare thee"}],"stream":true,"max_tokens":100,"stream_options":{"include_usage":true}}"#;
    let mut s = TcpStream::connect(sim.addr).expect("connect");
    s.write_all(&post_request(
        "/v1/chat/completions",
        "bench",
        &[],
        request.as_bytes(),
        true,
    ))
    .expect("send");
    let mut all = Vec::new();
    s.read_to_end(&mut all).expect("read");
    let (head, len) = parse_response(&all)
        .expect("a valid response head")
        .expect("a whole response head");
    assert_eq!(head.framing, Framing::Chunked, "a chunked response");
    all.split_off(len)
}

/// Where each HTTP chunk ends (after its CRLF).
fn http_chunk_ends(body: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let line = body[i..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("size line");
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[i..i + line]).unwrap(), 16).unwrap();
        i += line + 2 + size + 2;
        ends.push(i.min(body.len()));
    }
    ends
}

fn split(body: &[u8], ends: &[usize]) -> Vec<Vec<u8>> {
    let mut from = 0;
    ends.iter()
        .map(|&end| {
            let piece = body[from..end].to_vec();
            from = end;
            piece
        })
        .collect()
}

fn count_chunks(body: &[u8]) -> u64 {
    let reads = [body.to_vec()];
    raw_path(&reads)
}

/// Nanoseconds per chunk over `RESPONSES` runs of `f`, which returns the chunks it read.
fn per_chunk(chunks: u64, mut f: impl FnMut() -> u64) -> f64 {
    let t = Instant::now();
    for _ in 0..RESPONSES {
        assert_eq!(f(), chunks);
    }
    t.elapsed().as_nanos() as f64 / (RESPONSES as u64 * chunks) as f64
}

/// The client's reading of one response: each read decoded in place, framed, read, recorded.
fn client_path(reads: &[Vec<u8>]) -> u64 {
    let mut decoder = BodyDecoder::new(Framing::Chunked);
    let mut framer = SseFramer::new(16 * 1024 * 1024);
    let mut wire = OpenAiWire::new(OpenAiShape::Chat);
    let mut state = StreamState::new(Instant::now());
    let mut buf = Vec::with_capacity(32 * 1024);
    for read in reads {
        // Where the socket read would put the bytes.
        buf.clear();
        buf.extend_from_slice(read);
        let at = state.timer.since_start(Instant::now());
        let decoded = decoder.decode(&mut buf).expect("a chunked body");
        framer
            .feed(&buf[..decoded.data], |event| {
                wire.on_event(event, at, &mut state).expect("a chunk")
            })
            .expect("an event stream");
    }
    assert!(decoder.is_done());
    let events = state.timings().data_events;
    black_box(state);
    // The usage-only chunk is not one of K (the original never asked for it).
    events + 1
}

/// The raw reader's work on one response: line ends found, `data: {` lines counted.
fn raw_path(reads: &[Vec<u8>]) -> u64 {
    let mut buf = Vec::with_capacity(32 * 1024);
    let (mut line_start, mut events) = (0, 0);
    for read in reads {
        let mut i = buf.len();
        buf.extend_from_slice(read);
        let at = Instant::now();
        while let Some(off) = buf[i..].iter().position(|&b| b == b'\n') {
            if buf[line_start..i + off].starts_with(b"data: {") {
                events += 1;
                black_box(at);
            }
            i += off + 1;
            line_start = i;
        }
        buf.drain(..line_start);
        line_start = 0;
    }
    events
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
