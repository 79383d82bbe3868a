//! Reading a streamed chunk allocates nothing on the common path (issue 20): the SSE framer lends each event
//! from buffers it keeps, and the OpenAI and Anthropic readers take only the fields a record needs, borrowing
//! the text from the event. Counted with an allocator that counts, over the real framer and wire readers fed
//! the bytes a server sends, one read per chunk.
//!
//! What still allocates, and may: the answer text and the chunk-gap list growing (amortized doubling, a few
//! times per thousand chunks), and text with JSON escapes (unescaped into an owned string).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Instant;

use llmperf_actors::backend::anthropic::AnthropicWire;
use llmperf_actors::backend::openai::{OpenAiShape, OpenAiWire};
use llmperf_actors::backend::sse::SseFramer;
use llmperf_actors::backend::stream::{StreamState, WireFormat};

/// Counts allocations (and reallocations) made by the current thread.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: the allocator also runs while thread-locals are being torn down.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

const CHUNKS: usize = 2_000;

/// Feeds `head`, then `CHUNKS` reads of `chunk(i)`, then `tail` through a framer into `wire`; returns the
/// allocations made while the second half of the chunks was read (the buffers have grown by then), and the
/// state.
fn allocations_per_half(
    wire: &mut impl WireFormat,
    head: &str,
    chunk: impl Fn(usize) -> String,
    tail: &str,
) -> (u64, StreamState) {
    let reads: Vec<String> = (0..CHUNKS).map(chunk).collect();
    let mut framer = SseFramer::new(1 << 20);
    let mut state = StreamState::new(Instant::now());
    let mut feed = |bytes: &str, at: f64, state: &mut StreamState| {
        let mut outcome = Ok(true);
        framer
            .feed(bytes.as_bytes(), |ev| {
                outcome = wire.on_event(ev, at, state);
                matches!(outcome, Ok(true))
            })
            .unwrap();
        outcome.unwrap()
    };
    feed(head, 0.0, &mut state);
    let mut counted = 0;
    for (i, read) in reads.iter().enumerate() {
        let before = allocations();
        assert!(feed(read, 0.001 * (i + 1) as f64, &mut state));
        if i >= CHUNKS / 2 {
            counted += allocations() - before;
        }
    }
    assert!(!feed(tail, 10.0, &mut state), "the stream ends");
    (counted, state)
}

/// At most this many allocations in 1,000 chunks: the growth of the answer text and of the gap list.
const GROWTH: u64 = 8;

#[test]
fn an_openai_content_chunk_is_read_without_allocating() {
    let mut wire = OpenAiWire::new(OpenAiShape::Chat);
    let head = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\
                \"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null},\"finish_reason\":null}]}\n\n";
    let chunk = |i: usize| {
        format!(
            "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\
             \"system_fingerprint\":\"fp\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\" w{}\"}},\
             \"logprobs\":null,\"finish_reason\":null}}]}}\n\n",
            i % 10
        )
    };
    let tail = "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n\
                data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2000,\
                \"total_tokens\":2005}}\n\ndata: [DONE]\n\n";
    let (n, state) = allocations_per_half(&mut wire, head, chunk, tail);
    assert!(n <= GROWTH, "{n} allocations in {} chunks", CHUNKS / 2);
    assert_eq!(state.timings().data_events, CHUNKS as u64 + 2);
    assert_eq!(state.text.len(), CHUNKS * 3);
    assert_eq!(state.usage.completion_tokens, Some(2000));
}

#[test]
fn an_openai_completions_chunk_with_several_choices_is_read_without_allocating() {
    let mut wire = OpenAiWire::new(OpenAiShape::Completions);
    // A server that sends more choices than asked for: the first is read, the rest skipped unbuilt.
    let chunk = |_| {
        "data: {\"choices\":[{\"index\":0,\"text\":\"ab\",\"finish_reason\":null},\
         {\"index\":1,\"text\":\"zz\",\"finish_reason\":null}]}\n\n"
            .to_string()
    };
    let (n, state) = allocations_per_half(&mut wire, "", chunk, "data: [DONE]\n\n");
    assert!(n <= GROWTH, "{n} allocations in {} chunks", CHUNKS / 2);
    assert_eq!(state.text.len(), CHUNKS * 2);
    assert!(!state.text.contains('z'));
}

#[test]
fn an_anthropic_text_delta_is_read_without_allocating() {
    let mut wire = AnthropicWire::default();
    let head = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\
                \"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n";
    let chunk = |_| {
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\
         \"delta\":{\"type\":\"text_delta\",\"text\":\"abc\"}}\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\n"
            .to_string()
    };
    let tail = "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":2000}}\n\n\
                event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    let (n, state) = allocations_per_half(&mut wire, head, chunk, tail);
    assert!(n <= GROWTH, "{n} allocations in {} chunks", CHUNKS / 2);
    assert_eq!(state.text.len(), CHUNKS * 3);
    assert_eq!(state.usage.prompt_tokens, Some(25));
    assert_eq!(state.usage.completion_tokens, Some(2000));
}

/// The counter counts: the same chunks, collected into a JSON tree each, allocate every time (so the
/// bounds above are not met by a counter that misses allocations).
#[test]
fn building_a_json_tree_per_chunk_is_counted() {
    let data =
        "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\" w\"},\"finish_reason\":null}]}";
    let before = allocations();
    for _ in 0..100 {
        let v: serde_json::Value = serde_json::from_str(data).unwrap();
        std::hint::black_box(v);
    }
    assert!(allocations() - before >= 100);
}
