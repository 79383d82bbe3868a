//! A user-defined client driven by the same launcher, producing the same metrics and llmperf files.
//!
//! `EchoClient` stands in for an API this crate does not ship: it "streams" the prompt's first words back,
//! one every 2 ms after a 10 ms wait. Plug yours in the same way: implement `LlmClient::llm_request`, measure
//! with the `Instant` you start at, and return the text, timings and any error.
//! Run it with `cargo run --example custom_client` (files go to `results/custom`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::LocalBoxFuture;
use llmperf_actors::{
    ClientFactory, ClientResponse, LlmClient, Measured, RequestConfig, RunSummary, Settings,
    StreamTimings, Usage,
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
            let started = Instant::now();
            let max_tokens = config.sampling_params["max_tokens"].as_u64().unwrap_or(16) as usize;
            let words: Vec<&str> = config
                .prompt
                .0
                .split_whitespace()
                .take(max_tokens)
                .collect();
            let mut timings = StreamTimings::default();
            let mut text = String::new();
            actix_rt::time::sleep(first).await;
            for (i, w) in words.iter().enumerate() {
                if i > 0 {
                    actix_rt::time::sleep(between).await;
                    text.push(' ');
                }
                text.push_str(w);
                let now = started.elapsed().as_secs_f64();
                timings.first_content_s.get_or_insert(now);
                timings.last_content_s = Some(now);
                timings.data_events += 1;
            }
            timings.end_s = started.elapsed().as_secs_f64();
            ClientResponse {
                started,
                measured: Measured {
                    timings,
                    usage: Usage::default(),
                    error: None,
                    error_kind: None,
                },
                generated_text: text,
                reasoning_text: String::new(),
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
        assert!(ttft >= 0.010, "ttft {ttft}");
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
        assert_eq!(records[0]["number_stream_events"], 12);
    }
}
