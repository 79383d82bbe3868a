//! Property tests ("fuzzing" on stable Rust) of the stream parsers: the SSE framer and the OpenAI and
//! Anthropic chunk decoders. Bounded in `cargo test` (256 cases per property, proptest's default); run longer
//! with e.g. `PROPTEST_CASES=100000 cargo test --release --test fuzz_parsers`.
//!
//! Properties: no input panics; how bytes are split into network reads never changes the events (or the
//! error); well-formed streams in any valid framing give back exactly the events written; answer text with
//! multi-byte characters split anywhere comes back whole; lines past the cap are errors, never allocations.

use std::time::Instant;

use llmperf_actors::backend::anthropic::AnthropicWire;
use llmperf_actors::backend::openai::{OpenAiShape, OpenAiWire};
use llmperf_actors::backend::sse::{SseError, SseEvent, SseFramer};
use llmperf_actors::backend::stream::{StreamState, WireFormat};
use proptest::prelude::*;
use serde_json::json;

/// Frames `bytes` delivered in pieces cut at `cuts` (positions, any order, any count).
fn frame(bytes: &[u8], cuts: &[usize], max_line: usize) -> Result<Vec<SseEvent>, SseError> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    let mut framer = SseFramer::new(max_line);
    let mut out = Vec::new();
    let mut from = 0;
    for to in cuts.into_iter().chain([bytes.len()]) {
        framer.feed(&bytes[from..to], |e| {
            out.push(e.clone());
            true
        })?;
        from = to;
    }
    out.extend(framer.finish()?);
    Ok(out)
}

/// Bytes that look like SSE more often than uniform noise would.
fn sse_ish() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(b"data: ".to_vec()),
        Just(b"data:".to_vec()),
        Just(b"event: x".to_vec()),
        Just(b": ping".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"[DONE]".to_vec()),
        Just("é✓".as_bytes().to_vec()),
        Just(vec![0xff]),
        Just(vec![0xe2, 0x9c]),
        proptest::collection::vec(any::<u8>(), 0..8),
        "[a-z{}\":,]{0,12}".prop_map(String::into_bytes),
    ];
    proptest::collection::vec(token, 0..40).prop_map(|t| t.concat())
}

/// One event as written: an optional type and data lines (no line breaks inside).
fn event() -> impl Strategy<Value = (Option<String>, Vec<String>)> {
    (
        proptest::option::of("[a-z_]{1,10}"),
        proptest::collection::vec("[^\r\n]{0,20}", 1..4),
    )
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_and_splitting_never_changes_the_result(
        bytes in prop_oneof![sse_ish(), proptest::collection::vec(any::<u8>(), 0..300)],
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
        max_line in 1usize..200,
    ) {
        let whole = frame(&bytes, &[], max_line);
        let split = frame(&bytes, &cuts, max_line);
        prop_assert_eq!(whole, split);
    }

    #[test]
    fn well_formed_streams_round_trip_in_any_framing(
        events in proptest::collection::vec(event(), 0..8),
        style in 0usize..6,
        comments in any::<bool>(),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let eol = ["\n", "\r\n", "\r"][style % 3];
        let space = if style < 3 { " " } else { "" };
        let mut text = String::new();
        for (kind, lines) in &events {
            if comments {
                text.push_str(&format!(": keep-alive{eol}{eol}"));
            }
            if let Some(k) = kind {
                text.push_str(&format!("event:{space}{k}{eol}"));
            }
            for l in lines {
                text.push_str(&format!("data:{space}{l}{eol}"));
            }
            text.push_str(eol);
        }
        let got = frame(text.as_bytes(), &cuts, 1 << 16).unwrap();
        let want: Vec<SseEvent> = events
            .iter()
            .map(|(kind, lines)| SseEvent {
                event: kind.clone(),
                // Without the space, a value that starts with one keeps it; with it, one space is removed.
                data: lines
                    .iter()
                    .map(|l| if space.is_empty() { l.strip_prefix(' ').unwrap_or(l).to_string() } else { l.clone() })
                    .collect::<Vec<_>>()
                    .join("\n"),
            })
            .collect();
        // `data:x` and `data: x` differ only in one leading space; compare modulo that.
        let norm = |e: &SseEvent| (e.event.clone(), e.data.split('\n').map(|l| l.trim_start_matches(' ').to_string()).collect::<Vec<_>>());
        prop_assert_eq!(got.iter().map(norm).collect::<Vec<_>>(), want.iter().map(norm).collect::<Vec<_>>());
    }

    #[test]
    fn a_line_past_the_cap_is_an_error_however_it_arrives(
        len in 65usize..2000,
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut bytes = b"data: ".to_vec();
        bytes.resize(len, b'x');
        bytes.push(b'\n');
        prop_assert_eq!(frame(&bytes, &cuts, 64), Err(SseError::LineTooLong(64)));
    }

    #[test]
    fn multi_byte_text_split_anywhere_comes_back_whole(
        pieces in proptest::collection::vec("[a-zé✓😀 ]{1,6}", 1..6),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let mut body = String::new();
        for p in &pieces {
            let chunk = json!({"choices": [{"index": 0, "delta": {"content": p}, "finish_reason": null}]});
            body.push_str(&format!("data: {chunk}\n\n"));
        }
        body.push_str("data: [DONE]\n\n");
        let events = frame(body.as_bytes(), &cuts, 1 << 16).unwrap();
        let mut wire = OpenAiWire::new(OpenAiShape::Chat);
        let mut state = StreamState::new(Instant::now());
        for (i, ev) in events.iter().enumerate() {
            if !wire.on_event(ev, i as f64, &mut state).unwrap() {
                break;
            }
        }
        prop_assert!(wire.on_close(&state).is_ok());
        prop_assert_eq!(state.text, pieces.concat());
    }

    #[test]
    fn chunk_decoders_never_panic(
        data in prop_oneof![
            "[ -~]{0,80}",
            any::<String>(),
            json_value().prop_map(|v| v.to_string()),
            json_value().prop_map(|v| json!({"choices": [{"delta": v.clone(), "text": v.clone(), "finish_reason": v}]}).to_string()),
            json_value().prop_map(|v| json!({"type": "content_block_delta", "delta": v.clone(), "usage": v.clone(), "error": v}).to_string()),
            json_value().prop_map(|v| json!({"error": v}).to_string()),
        ],
        kind in proptest::option::of(prop_oneof![
            Just("message_start".to_string()), Just("content_block_delta".to_string()),
            Just("message_delta".to_string()), Just("error".to_string()), "[a-z_]{0,12}",
        ]),
    ) {
        let ev = SseEvent { event: kind, data };
        for shape in [OpenAiShape::Chat, OpenAiShape::Completions] {
            let mut wire = OpenAiWire::new(shape);
            let mut state = StreamState::new(Instant::now());
            let _ = wire.on_event(&ev, 0.0, &mut state);
            let _ = wire.on_close(&state);
        }
        let mut wire = AnthropicWire::default();
        let mut state = StreamState::new(Instant::now());
        let _ = wire.on_event(&ev, 0.0, &mut state);
        let _ = wire.on_close(&state);
    }
}

/// Arbitrary JSON, a few levels deep.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        "[a-z é]{0,10}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("content".to_string()),
                    Just("text".to_string()),
                    Just("type".to_string()),
                    Just("code".to_string()),
                    Just("usage".to_string()),
                    "[a-z_]{1,8}"
                ],
                inner,
                0..4
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}
