//! Multi-turn conversations through the dispatch core, checked with the scripted client so counts are exact:
//! turns in sequence, each carrying the previous replies; concurrency counts conversations; a failed turn ends
//! its conversation; a turn still in flight after the timeout gets the grace period, then is cancelled.

#[path = "common/scripted.rs"]
mod scripted;

use std::time::{Duration, Instant};

use actix::prelude::*;
use llmperf_actors::Tokenizer;
use llmperf_actors::actors::progress::{ProgressPlan, ProgressState};
use llmperf_actors::actors::{ClientPool, ProgressTally, RequestsLauncher};
use llmperf_actors::backend::RequestConfig;
use llmperf_actors::messages::{PreparedRequest, RequestCompleted, RunConversations, RunFinished};
use scripted::{Reply, Sink, scripted};
use serde_json::json;

/// Answers "reply to <last user message>" after 10 ms; fails a turn whose last message is "fail"; takes a
/// minute over one whose last message is "stall".
fn script(config: &RequestConfig) -> Reply {
    let messages = config.messages.clone().unwrap_or_default();
    let last = messages
        .last()
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_string();
    let delay = match last.as_str() {
        "stall" => Duration::from_secs(60),
        _ => Duration::from_millis(10),
    };
    Reply {
        delay,
        text: format!("reply to {last}"),
        fail: last == "fail",
    }
}

fn template(text: &str) -> PreparedRequest {
    PreparedRequest {
        config: RequestConfig {
            model: "m".into(),
            prompt: (text.into(), 0),
            sampling_params: Default::default(),
            llm_api: "openai".into(),
            metadata: Default::default(),
            messages: None,
        },
        actual_input_tokens: Some(0),
    }
}

async fn run_with(
    texts: &[&str],
    turns: usize,
    concurrency: usize,
    (timeout, grace): (Duration, Option<Duration>),
) -> (Vec<RequestCompleted>, usize, RunFinished) {
    let (f, counters) = scripted(script);
    let pool = ClientPool::start(f, concurrency, 2);
    pool.ready().await;
    let tally = ProgressTally::default();
    let launcher = RequestsLauncher::new(pool.recipients())
        .with_tokenizer(Tokenizer::llama())
        .with_progress(tally.clone())
        .start();
    let (sink, seen) = Sink::start_new();
    let done = launcher
        .send(RunConversations {
            turns: texts.iter().map(|t| template(t)).collect(),
            turns_per_conversation: turns,
            concurrency,
            timeout,
            collector: sink,
            grace,
        })
        .await
        .unwrap();
    scripted::eventually("every launched turn reaches the sink", || {
        seen.lock().unwrap().len() >= done.launched
    })
    .await;
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(done.launched, seen.len());
    // Every turn sent was counted for the live progress (nothing records here, so all are "in flight").
    let progress = ProgressState::with_tally(ProgressPlan::default(), tally);
    assert_eq!(progress.in_flight(), seen.len() as u64);
    (seen, counters.peak(), done)
}

async fn run(texts: &[&str], turns: usize, concurrency: usize) -> (Vec<RequestCompleted>, usize) {
    let (seen, peak, _) =
        run_with(texts, turns, concurrency, (Duration::from_secs(30), None)).await;
    (seen, peak)
}

#[actix::test]
async fn turns_carry_the_replies_and_concurrency_counts_conversations() {
    let texts = ["a1", "a2", "a3", "b1", "b2", "b3", "c1", "c2", "c3"];
    let (seen, peak) = run(&texts, 3, 2).await;
    assert_eq!(seen.len(), 9);
    assert!(
        peak <= 2,
        "at most 2 conversations (so requests) in flight: {peak}"
    );
    for c in seen.iter() {
        let meta = &c.request.config.metadata;
        let conv = meta["conversation_id"].as_u64().unwrap() as usize;
        let turn = meta["turn"].as_u64().unwrap() as usize;
        assert_eq!(c.index, conv * 3 + turn - 1);
        let mut expected = Vec::new();
        for k in 0..turn {
            let user = texts[conv * 3 + k];
            expected.push(json!({"role": "user", "content": user}));
            if k + 1 < turn {
                expected.push(json!({"role": "assistant", "content": format!("reply to {user}")}));
            }
        }
        assert_eq!(c.request.config.messages.as_ref().unwrap(), &expected);
        // Counted (on the counter's thread) before it was sent: the real count, BOS included.
        let tokens = Tokenizer::llama().count_plain(&c.request.config.prompt.0) as u64 + 1;
        assert_eq!(c.request.actual_input_tokens, Some(tokens));
        assert_eq!(c.request.config.prompt.1, tokens);
    }
}

#[actix::test]
async fn a_failed_turn_ends_its_conversation_only() {
    let (seen, _) = run(&["a1", "fail", "a3", "b1", "b2", "b3"], 3, 1).await;
    let indices: Vec<usize> = seen.iter().map(|c| c.index).collect();
    assert_eq!(indices, vec![0, 1, 3, 4, 5]);
}

#[actix::test]
async fn a_turn_in_flight_at_the_timeout_gets_the_grace_period_then_is_cancelled() {
    // Conversation 0 stalls on its second turn; conversation 1 would take 10 ms a turn. Timeout 300 ms, grace
    // 200 ms: the run ends about 0.5 s in (it used to wait for the stalled turn however long it took). The
    // tokenizer is parsed first, so counting the second turn's prompt takes no time out of the 300 ms.
    Tokenizer::llama().preload();
    let t0 = Instant::now();
    let (seen, _, done) = run_with(
        &["a1", "stall", "a3", "b1", "b2", "b3"],
        3,
        1,
        (Duration::from_millis(300), Some(Duration::from_millis(200))),
    )
    .await;
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(done.timed_out, "the timeout stopped the run");
    let kinds: Vec<(usize, Option<String>)> = seen
        .iter()
        .map(|c| {
            let kind = c
                .response
                .measured
                .error_kind
                .as_ref()
                .map(|k| k.to_string());
            (c.index, kind)
        })
        .collect();
    assert_eq!(kinds, [(0, None), (1, Some("cancelled".to_string()))]);
    let ended = done.ended.duration_since(done.started);
    assert!(ended >= Duration::from_millis(500), "{ended:?}");
}
