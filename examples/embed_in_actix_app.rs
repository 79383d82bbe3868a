//! Embedding the actors in your own actix application — the Rust twin of the original LLMPerf README's
//! "Advanced Usage" (`RequestsLauncher`, `LLMClient`, `RequestConfig`).
//!
//! Starts the built-in simulator, a pool of OpenAI chat clients over two arbiters, and a `RequestsLauncher`;
//! launches a few requests one at a time and prints each `(Metrics, generated text, RequestConfig)` as it
//! finishes. Run it with `cargo run --example embed_in_actix_app`.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use llmperf_actors::{
    ClientFactory, ClientPool, GetNextReady, HttpOptions, LaunchRequest, LlmClient,
    OpenAiChatClient, OpenAiConfig, RequestConfig, RequestResult, RequestsLauncher, SimConfig,
    start_simulator,
};
use serde_json::json;

/// Launches `n` requests against a fresh simulator and returns what came back.
async fn launch_and_collect(n: usize) -> Vec<RequestResult> {
    // An OpenAI-compatible server on a free loopback port (any real endpoint works the same way).
    let sim = start_simulator(
        SimConfig {
            ttft_ms: 20.0,
            itl_ms: 2.0,
            ..SimConfig::default()
        },
        "127.0.0.1",
        0,
    )
    .expect("start the simulator");
    let http = HttpOptions {
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(30),
        ..HttpOptions::default()
    };
    let config = OpenAiConfig::chat(sim.base_url(), None, http);
    // Each client actor builds its own HTTP client on its own arbiter (it is not Send).
    let factory: ClientFactory =
        Arc::new(move || Box::new(OpenAiChatClient::new(config.clone())) as Box<dyn LlmClient>);
    let pool = ClientPool::start(factory, 3, 2);
    pool.ready().await;
    let launcher = RequestsLauncher::new(pool.recipients()).start();

    for i in 0..n {
        let request = RequestConfig {
            model: "sim-model".into(),
            prompt: (format!("Write {i} lines about the sea."), 10),
            sampling_params: json!({"max_tokens": 8 + i})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            llm_api: "openai".into(),
            metadata: Default::default(),
            messages: None,
        };
        launcher.do_send(LaunchRequest(request));
    }
    let mut results = Vec::new();
    while let Ok(Some(result)) = launcher.send(GetNextReady { block: true }).await {
        println!(
            "ttft {:.1} ms, e2e {:.1} ms, {} output tokens: {:?}",
            result.metrics.ttft_s * 1e3,
            result.metrics.end_to_end_latency_s * 1e3,
            result.metrics.number_output_tokens,
            result.generated_text
        );
        results.push(result);
    }
    results
}

#[actix::main]
async fn main() {
    let results = launch_and_collect(5).await;
    println!("{} requests finished", results.len());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix::test]
    async fn every_launched_request_comes_back_measured() {
        let results = launch_and_collect(5).await;
        assert_eq!(results.len(), 5);
        let mut max_tokens: Vec<u64> = results
            .iter()
            .map(|r| {
                r.request_config.sampling_params["max_tokens"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        max_tokens.sort();
        assert_eq!(max_tokens, [8, 9, 10, 11, 12]);
        for r in &results {
            assert!(r.metrics.is_ok(), "{:?}", r.metrics);
            let asked = r.request_config.sampling_params["max_tokens"]
                .as_u64()
                .unwrap();
            // The simulator streams max_tokens one-token words; the count includes BOS.
            assert_eq!(r.metrics.number_output_tokens, asked + 1);
            assert!(r.metrics.ttft_s >= 0.020);
        }
    }
}
