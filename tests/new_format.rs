//! Adding an output format is one new file. `RequestCount` below is a whole format — `<base>_count.txt`, one
//! line: the requests recorded as they arrived, and the run's request count — written in this file alone and
//! run through the same pipeline as the built-in outputs: the collector feeds it every record as it arrives
//! (`Exporter::record`), then `export_run` hands it the finished run's typed statistics (`Exporter::run`),
//! beside the llmperf files, the table and the per-request log.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use llmperf_actors::messages::{FinishRun, PreparedRequest, RequestCompleted};
use llmperf_actors::metrics::{Measured, StreamTimings, Usage};
use llmperf_actors::report::{
    Exported, Exporter, RecordedRequest, ReportOutputs, RunDescription, RunParams, RunReport,
    export_run, run_exporters,
};
use llmperf_actors::{ClientResponse, Collector, Error, RequestConfig, Tokenizer};
use serde_json::{Map, Value};

// ---- the new format: all of it ----

/// Writes `<base>_count.txt`: how many requests it saw arrive, and how many the statistics counted.
struct RequestCount {
    dir: PathBuf,
    seen: u64,
}

impl Exporter for RequestCount {
    fn record(&mut self, _: &RecordedRequest<'_>) {
        self.seen += 1;
    }

    fn run(&mut self, report: &RunReport, out: &mut Exported) -> Result<(), Error> {
        let path = self
            .dir
            .join(format!("{}_count.txt", report.description.base_name));
        let line = format!("{} {}\n", self.seen, report.stats.num_requests_started);
        std::fs::write(&path, line).map_err(|source| Error::Io {
            what: format!("writing {}", path.display()),
            source,
        })?;
        out.files.push(path);
        Ok(())
    }
}

// ---- the test ----

/// Request `i`: 10 words back, or an HTTP 500 for every third.
fn completed(i: usize, run_start: Instant) -> RequestCompleted {
    let mut sampling_params = Map::new();
    sampling_params.insert("max_tokens".into(), Value::from(10));
    let start = 0.01 * i as f64;
    RequestCompleted {
        index: i,
        request: PreparedRequest {
            config: RequestConfig {
                model: "m".into(),
                prompt: ("a prompt".into(), 10),
                sampling_params,
                llm_api: "openai".into(),
                metadata: Map::new(),
                messages: None,
            },
            actual_input_tokens: Some(3),
        },
        response: ClientResponse {
            started: run_start + Duration::from_secs_f64(start),
            measured: Measured {
                timings: StreamTimings {
                    first_content_s: Some(0.05),
                    first_token_s: Some(0.05),
                    last_content_s: Some(0.1),
                    end_s: 0.1,
                    data_events: 10,
                    ..StreamTimings::default()
                },
                usage: Usage::default(),
                error: (i % 3 == 2).then(|| (Value::from(500), "boom".to_string())),
                error_kind: None,
            },
            generated_text: "one two three four five six seven eight nine ten".into(),
            reasoning_text: String::new(),
        },
        start_offset_s: start,
        scheduled_start_s: start,
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[actix::test]
async fn a_format_written_in_one_file_runs_through_the_same_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let description = RunDescription::load_test(
        "m_10_10",
        RunParams {
            model: "m".into(),
            llm_api: "openai".into(),
            mean_input_tokens: 10,
            mean_output_tokens: 10,
            num_concurrent_requests: 2,
            max_num_completed_requests: 6,
            ..RunParams::default()
        },
    );
    // The run's built-in exporters (as the runner builds them), and the new one.
    let mut exporters =
        run_exporters(&description, &ReportOutputs::default(), Some(dir.path())).unwrap();
    exporters.push(RequestCount {
        dir: dir.path().to_path_buf(),
        seen: 0,
    });
    let collector =
        Collector::new(description, Tokenizer::llama(), exporters).start_on_own_thread();
    let started = Instant::now();
    for i in 0..6 {
        collector.send(completed(i, started)).await.unwrap();
    }
    let mut collected = collector
        .send(FinishRun {
            started,
            ended: started + Duration::from_secs(1),
            launched: 6,
            queued: 0,
        })
        .await
        .unwrap();
    let summary = export_run(collected.result, &mut [&mut collected.exporters]).unwrap();

    // The new file: 6 requests seen as they arrived, 6 in the statistics.
    let count = dir.path().join("m_10_10_count.txt");
    assert_eq!(read(&count), "6 6\n");
    assert_eq!(summary.stats.num_requests_started, 6);
    assert_eq!(summary.stats.number_errors, 2);
    // Listed with the built-in outputs' files, after them, and the built-in outputs are all there.
    let names: Vec<String> = summary
        .files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "m_10_10_summary.json",
            "m_10_10_individual_responses.json",
            "m_10_10_requests.jsonl",
            "m_10_10_count.txt"
        ]
    );
    assert_eq!(
        read(&dir.path().join("m_10_10_requests.jsonl"))
            .lines()
            .count(),
        6
    );
    assert!(
        summary
            .text
            .contains("m_10_10: 6 requests, 2 errors (33.3 %)"),
        "{}",
        summary.text
    );
    assert!(summary.text.contains("| TTFT (ms)"), "{}", summary.text);
}
