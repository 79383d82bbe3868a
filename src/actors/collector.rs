//! The collector: receives every finished request, counts its output tokens, appends it to the per-request
//! log at once, keeps the record, and on [`FinishRun`] computes the summary and writes the final files.
//!
//! It runs on its own thread (a `SyncArbiter` of one), so tokenizing and file writes never delay the network
//! arbiters' timestamps.

use std::time::{SystemTime, UNIX_EPOCH};

use actix::prelude::*;
use serde::Serialize;

use crate::backend::RequestConfig;
use crate::messages::{FinishRun, RequestCompleted};
use crate::metrics::{Metrics, compute_metrics};
use crate::report::{self, RequestLog, RunInfo, RunSummary};
use crate::tokenizer::{TokenCount, Tokenizer};

pub struct Collector {
    info: RunInfo,
    tokenizer: Tokenizer,
    log: Option<RequestLog>,
    records: Vec<Metrics>,
    log_error: Option<String>,
}

/// One line of the per-request log: the original's `(metrics, generated_text, request_config)` triple.
#[derive(Serialize)]
struct LogLine<'a> {
    index: usize,
    metrics: &'a Metrics,
    generated_text: &'a str,
    request_config: &'a RequestConfig,
}

impl Collector {
    /// A collector for one run; `log` receives each record as it arrives.
    pub fn new(info: RunInfo, tokenizer: Tokenizer, log: Option<RequestLog>) -> Self {
        Collector {
            info,
            tokenizer,
            log,
            records: Vec::new(),
            log_error: None,
        }
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
}

impl Actor for Collector {
    type Context = SyncContext<Self>;
}

impl Handler<RequestCompleted> for Collector {
    type Result = ();

    fn handle(&mut self, msg: RequestCompleted, _: &mut SyncContext<Self>) {
        let text = &msg.response.generated_text;
        let output_tokens = self.tokenizer.count(text) as u64;
        let metrics = compute_metrics(
            &msg.response.measured,
            output_tokens,
            msg.request.config.prompt.1,
            msg.request.actual_input_tokens,
            msg.start_offset_s,
        );
        if let Some(log) = self.log.as_mut() {
            let line = LogLine {
                index: msg.index,
                metrics: &metrics,
                generated_text: text,
                request_config: &msg.request.config,
            };
            if let Err(e) = log.append(&line) {
                // Keep measuring; the record stays in memory and reaches the final files.
                if self.log_error.is_none() {
                    log::error!("cannot append to {}: {e}", log.path().display());
                }
                self.log_error = Some(e.to_string());
            }
        }
        if let Some(e) = &metrics.error_code {
            log::warn!("request {} failed: {e} {}", msg.index, metrics.error_msg);
        }
        self.records.push(metrics);
    }
}

impl Handler<FinishRun> for Collector {
    type Result = Result<RunSummary, crate::Error>;

    fn handle(&mut self, msg: FinishRun, _: &mut SyncContext<Self>) -> Self::Result {
        let elapsed = msg.ended.duration_since(msg.started).as_secs_f64();
        let stats = report::summarize(&self.records, elapsed);
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let summary = report::llmperf_summary_object(&self.info, &stats, timestamp);
        let mut files = Vec::new();
        if let Some(dir) = &self.info.results_dir {
            files = report::write_final_files(dir, &self.info.base_name, &summary, &self.records)
                .map_err(|e| crate::Error::Io {
                what: format!("writing results into {}", dir.display()),
                source: e,
            })?;
            if let Some(log) = &self.log {
                files.push(log.path().to_path_buf());
            }
        }
        Ok(RunSummary {
            summary,
            stats,
            files,
        })
    }
}
