//! A user-defined client driven by the same launcher, producing the same metrics and llmperf files.
//!
//! `EchoClient` stands in for an API this crate does not ship: after a 10 ms wait it "thinks" (one reasoning
//! chunk), then "streams" the prompt's first words back, one every 2 ms. Plug yours in the same way:
//! implement `LlmClient::llm_request`, start a `StreamTimer` first, tell it about every event, reasoning and
//! answer chunk as it arrives, and return the text, the timer's timings and any error. Read the request's
//! parameters with `RequestConfig`'s accessors (`max_tokens()`, `temperature()`, …), never by indexing.
//! Run it with `cargo run --example custom_client` (files go to `results/custom`).

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use llmperf_actors::{
    ClientFactory, ClientResponse, LlmClient, Measured, RequestConfig, RunSummary, Settings,
    StreamTimer, Usage,
};

/// Echoes up to `max_tokens` words of the prompt, as a streaming API would.
struct EchoClient {
    first_token: Duration,
    between_tokens: Duration,
}

impl LlmClient for EchoClient {
    fn llm_request(&self, config: RequestConfig) -> LocalBoxFuture<'static, ClientResponse> {
        let (first, between) = (self.first_token, self.between_tokens);
        Box::pin(async move {
            // The request's start: before anything else, as LLMPerf measures it.
            let mut timer = StreamTimer::start();
            let max_tokens = config.max_tokens().unwrap_or(16) as usize;
            let words: Vec<&str> = config
                .prompt_text()
                .split_whitespace()
                .take(max_tokens)
                .collect();
            actix_rt::time::sleep(first).await;
            // A reasoning chunk: the first token of any kind (`ttft_any_s`), not the answer's TTFT.
            let reasoning = "Echoing the prompt.";
            timer.data_event();
            timer.reasoning(reasoning, timer.now_s());
            let mut text = String::new();
            for (i, w) in words.iter().enumerate() {
                actix_rt::time::sleep(between).await;
                let piece = if i > 0 {
                    format!(" {w}")
                } else {
                    w.to_string()
                };
                // One event carrying answer text: TTFT, the last content time, the gaps between chunks.
                timer.data_event();
                timer.content(&piece, timer.now_s());
                text.push_str(&piece);
            }
            ClientResponse {
                started: timer.started(),
                measured: Measured {
                    timings: timer.finish(),
                    usage: Usage::default(),
                    error: None,
                    error_kind: None,
                },
                generated_text: text,
                reasoning_text: reasoning.into(),
            }
        })
    }
}

/// Runs a small load test through `EchoClient`, writing llmperf files into `results_dir`.
fn run_echo_benchmark(results_dir: &str) -> Result<Vec<RunSummary>, llmperf_actors::Error> {
    // The endpoint is not used by EchoClient; `builtin` satisfies the settings without any server.
    let settings = Settings::builder()
        .model("echo")
        .openai_api_base("builtin")
        .mean_input_tokens(120)
        .mean_output_tokens(12)
        .stddev_output_tokens(0)
        .num_concurrent_requests(3)
        .max_num_completed_requests(9)
        .results_dir(results_dir)
        .build()?;
    let factory: ClientFactory = Arc::new(|| {
        Box::new(EchoClient {
            first_token: Duration::from_millis(10),
            between_tokens: Duration::from_millis(2),
        }) as Box<dyn LlmClient>
    });
    llmperf_actors::run_with_client(&settings, factory)
}

fn main() {
    match run_echo_benchmark("results/custom") {
        Ok(runs) => println!("wrote {:?}", runs[0].files),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use llmperf_actors::Metric;

    #[test]
    fn a_custom_client_produces_the_llmperf_files() {
        let dir = tempfile::tempdir().unwrap();
        let runs = run_echo_benchmark(dir.path().to_str().unwrap()).unwrap();
        let s = &runs[0].stats;
        assert_eq!(s.num_completed_requests, 9);
        assert_eq!(s.number_errors, 0);
        // 12 echoed words → 12 content chunks; the Llama count of the echoed text is at least 13 with BOS.
        assert!(s.series(Metric::OutputTokens).min.unwrap() >= 13.0);
        let ttft = s.series(Metric::Ttft).p50().unwrap();
        assert!(ttft >= 0.012, "ttft {ttft}: the reasoning chunk came first");
        // The timer filled the fields the example used to leave unset: the gaps between content chunks
        // (11 per request) and the first token of any kind (the reasoning, before the answer).
        let gaps = s.load.inter_chunk_gap_s.as_ref().expect("chunk gaps");
        assert!(gaps.min.expect("gaps recorded") > 0.0, "{gaps:?}");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        for f in [
            "echo_120_12_summary.json",
            "echo_120_12_individual_responses.json",
            "echo_120_12_requests.jsonl",
        ] {
            assert!(names.iter().any(|n| n == f), "{f} missing from {names:?}");
        }
        let records: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("echo_120_12_individual_responses.json"))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(records.as_array().unwrap().len(), 9);
        for r in records.as_array().unwrap() {
            assert_eq!(
                r["number_stream_events"], 13,
                "a reasoning event and 12 answer events"
            );
            let any = r["ttft_any_s"].as_f64().expect("ttft_any_s set");
            let ttft = r["ttft_s"].as_f64().unwrap();
            let e2e = r["end_to_end_latency_s"].as_f64().unwrap();
            assert!(0.010 <= any && any < ttft && ttft < e2e, "{r}");
        }
    }
}
