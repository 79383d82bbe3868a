//! The collector: receives every finished request, counts its output tokens (answer text only; reasoning
//! text is counted apart, as `number_reasoning_tokens`; or the server's count with `--use-server-token-counts`), appends it to the per-request
//! log at once, keeps the record, and on [`FinishRun`] computes the summary and writes the final files —
//! LLMPerf's load-test files or its correctness-test files, depending on the [`RunKind`].
//!
//! It runs on its own thread (a `SyncArbiter` of one), so tokenizing and file writes never delay the network
//! arbiters' timestamps.

use std::cell::OnceCell;
use std::time::{SystemTime, UNIX_EPOCH};

use actix::prelude::*;
use serde::Serialize;

use super::progress::ProgressTally;
use crate::backend::RequestConfig;
use crate::messages::{FinishRun, ProgressEvent, RequestCompleted};
use crate::metrics::{Metrics, OutputCount, PooledSeries, StartTimes, compute_metrics_counted};
use crate::report::{
    self, CorrectnessRecord, Outcome, ReportOutputs, RequestLog, RunDescription, RunSummary,
    TestKind,
};
use crate::shard::Shard;
use crate::tokenizer::{TokenCount, Tokenizer};

/// Collects one run's results (see the module docs). Start it with [`Collector::start_on_own_thread`].
pub struct Collector {
    description: RunDescription,
    /// Where the final files go; `None` writes none.
    results_dir: Option<std::path::PathBuf>,
    warmup: Warmup,
    tokenizer: Tokenizer,
    log: Option<RequestLog>,
    log_failed: bool,
    /// Maps the launcher's positions to indices in the unsharded prompt list, for the log.
    shard: Shard,
    /// Load test: the per-request records only (texts are in the log).
    records: Vec<Metrics>,
    /// Correctness test: records with their texts and configs, which its files contain.
    scored: Vec<CorrectnessRecord>,
    /// `number_output_tokens` from the server's usage when it sent one.
    server_counts: bool,
    /// Special tokens the tokenizer adds to every text (BOS); counted on the collector's thread.
    special_tokens: OnceCell<u64>,
    /// Load test: gaps between content chunks of the successful measured requests, pooled in fixed memory.
    gaps: PooledSeries,
    /// Load test: `(index in the whole run, max_tokens)` of each record, for the tables, CSV and charts.
    requested: Vec<(u64, Option<u64>)>,
    /// The table, CSV and charts to produce at the end.
    outputs: ReportOutputs,
    /// Told of every recorded result (live progress).
    progress: Option<ProgressTally>,
}

/// Which requests are warm-up: kept in the log, left out of the statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Warmup {
    /// The first this-many requests.
    pub requests: u64,
    /// Requests due in the first this-many seconds.
    pub seconds: f64,
}

impl Warmup {
    /// Whether request `index`, due at `scheduled_start_s`, is part of the warm-up.
    pub fn covers(&self, index: usize, scheduled_start_s: f64) -> bool {
        (index as u64) < self.requests || scheduled_start_s < self.seconds
    }
}

/// One line of the per-request log: the original's `(metrics, generated_text, request_config)` triple.
#[derive(Serialize)]
struct LogLine<'a> {
    index: usize,
    metrics: &'a Metrics,
    generated_text: &'a str,
    request_config: &'a RequestConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<Outcome>,
}

impl Collector {
    /// A collector for the run `description`, writing its final files into `results_dir` (none when
    /// `None`); `log` receives each record as it arrives.
    pub fn new(
        description: RunDescription,
        results_dir: Option<std::path::PathBuf>,
        tokenizer: Tokenizer,
        log: Option<RequestLog>,
    ) -> Self {
        Collector {
            description,
            results_dir,
            warmup: Warmup::default(),
            log,
            log_failed: false,
            shard: Shard::WHOLE,
            records: Vec::new(),
            scored: Vec::new(),
            gaps: PooledSeries::default(),
            requested: Vec::new(),
            outputs: ReportOutputs::default(),
            progress: None,
            server_counts: false,
            special_tokens: OnceCell::new(),
            tokenizer,
        }
    }

    /// Logs each request under its index in the whole run's prompt list (`I + position·N`) rather than its
    /// position in this shard's list.
    pub fn with_shard(mut self, shard: Shard) -> Self {
        self.shard = shard;
        self
    }

    /// Leaves the requests `warmup` covers out of the statistics.
    pub fn with_warmup(mut self, warmup: Warmup) -> Self {
        self.warmup = warmup;
        self
    }

    /// Takes `number_output_tokens` from the server's `usage.completion_tokens` when present (tokenizer
    /// otherwise); `output_tokens_source` in each record says which.
    pub fn with_server_counts(mut self, on: bool) -> Self {
        self.server_counts = on;
        self
    }

    /// Produces these reports at the end of a load test (default: the table only).
    pub fn with_outputs(mut self, outputs: ReportOutputs) -> Self {
        self.outputs = outputs;
        self
    }

    /// Counts [`ProgressEvent::Recorded`] into `progress` for every result.
    pub fn with_progress(mut self, progress: ProgressTally) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Starts the collector on a thread of its own.
    pub fn start_on_own_thread(self) -> Addr<Collector> {
        let cell = std::sync::Mutex::new(Some(self));
        SyncArbiter::start(1, move || {
            cell.lock()
                .expect("collector factory lock")
                .take()
                .expect("a SyncArbiter of one thread builds its actor once")
        })
    }

    fn append_to_log(&mut self, line: &LogLine<'_>) {
        let Some(log) = self.log.as_mut() else { return };
        if let Err(e) = log.append(line) {
            // Keep measuring: the record stays in memory and reaches the final files.
            if !self.log_failed {
                log::error!("cannot append to {}: {e}", log.path().display());
            }
            self.log_failed = true;
        }
    }
}

impl Actor for Collector {
    type Context = SyncContext<Self>;

    /// Parses the tokenizer here, on the collector's thread, while the first requests are in flight, rather
    /// than before they are sent.
    fn started(&mut self, _: &mut SyncContext<Self>) {
        self.tokenizer.preload();
    }
}

impl Handler<RequestCompleted> for Collector {
    type Result = ();

    fn handle(&mut self, msg: RequestCompleted, _: &mut SyncContext<Self>) {
        let RequestCompleted {
            index,
            request,
            response,
            start_offset_s,
            scheduled_start_s,
        } = msg;
        let text = response.generated_text;
        let server = response.measured.usage.completion_tokens;
        let reasoning = self.tokenizer.count_plain(&response.reasoning_text) as u64;
        let output = match server {
            Some(n) if self.server_counts => OutputCount::server(n),
            _ => OutputCount::tokenizer(
                self.tokenizer.count(&text) as u64,
                *self
                    .special_tokens
                    .get_or_init(|| self.tokenizer.special_tokens() as u64),
            ),
        }
        .with_reasoning(reasoning);
        let mut metrics = compute_metrics_counted(
            &response.measured,
            output,
            request.config.prompt.1,
            request
                .actual_input_tokens
                .unwrap_or_else(|| self.tokenizer.count(&request.config.prompt.0) as u64),
            StartTimes {
                scheduled_s: scheduled_start_s,
                actual_s: start_offset_s,
            },
        );
        metrics.warmup = self.warmup.covers(index, scheduled_start_s);
        // Workload keys the runner or the conversation driver put into the request's metadata.
        let meta = &request.config.metadata;
        metrics.dataset_id = meta.get("dataset_id").cloned();
        metrics.conversation_id = meta.get("conversation_id").and_then(|v| v.as_u64());
        metrics.turn = meta.get("turn").and_then(|v| v.as_u64());
        log::debug!(
            "request {index}: ttft {:.4} s, e2e {:.4} s, {} output tokens ({})",
            metrics.ttft_s,
            metrics.end_to_end_latency_s,
            metrics.number_output_tokens,
            metrics.output_tokens_source
        );
        if let Some(e) = &metrics.error_code {
            log::warn!("request {index} failed: {e} {}", metrics.error_msg);
        }
        let outcome = match self.description.test {
            TestKind::LoadTest => None,
            TestKind::Correctness => {
                let expected = request
                    .config
                    .metadata
                    .get("rnd_number")
                    .and_then(|v| v.as_u64());
                Some(report::score(&metrics, &text, expected))
            }
        };
        self.append_to_log(&LogLine {
            index: self.shard.global_index(index),
            metrics: &metrics,
            generated_text: &text,
            request_config: &request.config,
            outcome,
        });
        if let Some(p) = &self.progress {
            p.record(ProgressEvent::Recorded {
                ok: metrics.is_ok(),
                output_tokens: if metrics.is_ok() {
                    metrics.number_output_tokens
                } else {
                    0
                },
                warmup: metrics.warmup,
            });
        }
        if outcome.is_none() && metrics.is_ok() && !metrics.warmup {
            for &g in &response.measured.timings.chunk_gaps_s {
                self.gaps.record(f64::from(g));
            }
        }
        match outcome {
            None => {
                self.requested.push((
                    self.shard.global_index(index) as u64,
                    report::records::max_tokens_of(&request.config.sampling_params),
                ));
                self.records.push(metrics)
            }
            Some(outcome) => self.scored.push(CorrectnessRecord {
                metrics,
                generated_text: text,
                request_config: request.config,
                outcome,
            }),
        }
    }
}

impl Handler<FinishRun> for Collector {
    type Result = Result<RunSummary, crate::Error>;

    fn handle(&mut self, msg: FinishRun, _: &mut SyncContext<Self>) -> Self::Result {
        let elapsed = msg.ended.duration_since(msg.started).as_secs_f64();
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let info = &self.description;
        let (summary, text, dir, written) = match info.test {
            TestKind::LoadTest => {
                // The measured window opens when the first request after the warm-up starts.
                let window_start = self
                    .records
                    .iter()
                    .filter(|m| !m.warmup)
                    .map(|m| m.actual_start_s)
                    .fold(f64::INFINITY, f64::min);
                let warmed = self.records.iter().any(|m| m.warmup) && window_start.is_finite();
                let elapsed = if warmed {
                    elapsed - window_start
                } else {
                    elapsed
                };
                let opts = info.load_options(msg.queued);
                let mut stats = report::summarize_with(&self.records, elapsed, &opts);
                stats.load.inter_chunk_gap_s = Some(self.gaps.stats());
                stats.ttft_by_turn = report::turns::ttft_by_turn(&self.records);
                let summary = report::llmperf_summary_object(info, &stats, timestamp);
                let mut text = report::print_summary(info, &stats);
                let written = self.results_dir.as_ref().map(|dir| {
                    let measured = self.records.iter().filter(|m| !m.warmup);
                    report::write_final_files(dir, &info.base_name, &summary, measured)
                });
                // The extras come after the llmperf files: a failure here loses none of those.
                let records: Vec<report::ReportRecord> = self
                    .records
                    .iter()
                    .zip(&self.requested)
                    .map(|(m, &(index, max_tokens))| report::ReportRecord {
                        index,
                        metrics: m.into(),
                        max_tokens,
                    })
                    .collect();
                let extras = report::rebuild::render_run(
                    self.results_dir.as_deref(),
                    &info.base_name,
                    &stats,
                    &records,
                    &self.outputs,
                );
                text.push_str(&extras.text);
                let written = written.map(|w| {
                    w.map(|mut files| {
                        files.extend(extras.files);
                        files
                    })
                });
                (summary, text, self.results_dir.clone(), written)
            }
            TestKind::Correctness => {
                let stats = report::correctness_stats(&self.scored);
                let summary = report::correctness_summary_object(info, &stats, timestamp);
                let text = report::correctness_text(info, &stats, &self.scored);
                let written = self.results_dir.as_ref().map(|dir| {
                    report::write_correctness_files(dir, &info.base_name, &summary, &self.scored)
                });
                (summary, text, self.results_dir.clone(), written)
            }
        };
        let mut files = match written {
            None => Vec::new(),
            Some(result) => result.map_err(|e| crate::Error::Io {
                what: format!("writing results into {}", dir.unwrap_or_default().display()),
                source: e,
            })?,
        };
        files.extend(self.log.as_ref().map(|l| l.path().to_path_buf()));
        Ok(RunSummary {
            summary,
            text,
            files,
        })
    }
}
