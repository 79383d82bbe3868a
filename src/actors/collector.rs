//! The collector: receives every finished request, counts its output tokens (answer text only; reasoning
//! text is counted apart, as `number_reasoning_tokens`; or the server's count with
//! `--use-server-token-counts`), turns it into a typed [`RunRecord`], hands it to the run's exporters as it
//! arrives (the per-request log writes it at once) and keeps it. On [`FinishRun`] it hands the typed
//! [`RunResult`] and the exporters back; the statistics and the files are the report pipeline's work
//! ([`crate::report::export_run`]), not the collector's.
//!
//! A correctness run is the same collector with a [`Scorer`]: each answer is scored as it arrives and kept
//! with its record.
//!
//! It runs on its own thread (an arbiter of its own), so tokenizing and log writes never delay the network
//! arbiters' timestamps.

use std::cell::OnceCell;

use actix::prelude::*;

use super::progress::ProgressTally;
use crate::messages::{CollectedRun, FinishRun, ProgressEvent, RequestCompleted};
use crate::metrics::{Metrics, OutputCount, PooledSeries, StartTimes, compute_metrics_counted};
use crate::report::export::run_file::unix_seconds;
use crate::report::records::{RunRecord, ScoredAnswer, measured_elapsed};
use crate::report::{
    Exporter, Exporters, RecordStore, RecordedRequest, RunDescription, RunResult, RunWindow, Scorer,
};
use crate::shard::Shard;
use crate::tokenizer::{TokenCount, Tokenizer};

/// Collects one run's results (see the module docs). Start it with [`Collector::start_on_own_thread`].
pub struct Collector {
    description: RunDescription,
    tokenizer: Tokenizer,
    /// The run's outputs; fed each record as it arrives, handed back at the end.
    exporters: Exporters,
    /// Maps the launcher's positions to indices in the unsharded prompt list.
    shard: Shard,
    warmup: Warmup,
    /// Correctness runs: scores each answer (and keeps it).
    scorer: Option<Scorer>,
    /// `number_output_tokens` from the server's usage when it sent one.
    server_counts: bool,
    /// Special tokens the tokenizer adds to every text (BOS); counted on the collector's thread.
    special_tokens: OnceCell<u64>,
    records: RecordStore,
    /// Gaps between content chunks of the successful measured requests, pooled in fixed memory.
    gaps: PooledSeries,
    /// Told of every recorded result (live progress).
    progress: Option<ProgressTally>,
    /// Error codes whose first failure was logged as a warning (the others go to the debug level).
    logged_codes: Vec<serde_json::Value>,
    /// Started by [`Collector::start_on_own_thread`]: the arbiter it runs on is its own, to stop with it.
    own_arbiter: bool,
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

impl Collector {
    /// A collector for the run `description`, feeding its records to `exporters`.
    pub fn new(description: RunDescription, tokenizer: Tokenizer, exporters: Exporters) -> Self {
        Collector {
            description,
            tokenizer,
            exporters,
            shard: Shard::WHOLE,
            warmup: Warmup::default(),
            scorer: None,
            server_counts: false,
            special_tokens: OnceCell::new(),
            records: RecordStore::new(),
            gaps: PooledSeries::default(),
            progress: None,
            logged_codes: Vec::new(),
            own_arbiter: false,
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

    /// Scores each answer with `scorer` and keeps it with its record (the correctness test).
    pub fn with_scorer(mut self, scorer: Scorer) -> Self {
        self.scorer = Some(scorer);
        self
    }

    /// Takes `number_output_tokens` from the server's `usage.completion_tokens` when present (tokenizer
    /// otherwise); `output_tokens_source` in each record says which.
    pub fn with_server_counts(mut self, on: bool) -> Self {
        self.server_counts = on;
        self
    }

    /// Spills the run's records into `dir` (the results directory) rather than the system's temporary
    /// directory once there are more than a few thousand (see [`RecordStore`]).
    pub fn with_spill_dir(mut self, dir: Option<&std::path::Path>) -> Self {
        self.records = std::mem::take(&mut self.records).spilling_into(dir);
        self
    }

    /// Counts [`ProgressEvent::Recorded`] into `progress` for every result.
    pub fn with_progress(mut self, progress: ProgressTally) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Starts the collector on a thread of its own: an arbiter that holds nothing else, stopped when the
    /// collector stops (when every address to it is gone).
    ///
    /// An arbiter rather than a `SyncArbiter`: the latter's thread waits for its next message in a
    /// `crossbeam` channel, spinning and calling `sched_yield` before it sleeps, after every message — ~12 %
    /// of the collector's CPU in a conc-64 profile — and its messages pass through a forwarding future on
    /// the sender's own arbiter first. An arbiter's thread sleeps in `epoll_wait` and is woken once.
    pub fn start_on_own_thread(self) -> Addr<Collector> {
        let arbiter = Arbiter::new();
        Collector::start_in_arbiter(&arbiter.handle(), move |_| Collector {
            own_arbiter: true,
            ..self
        })
    }

    /// The per-request record of a finished request: its tokens counted, its start times, the workload keys
    /// of its metadata, and whether it is warm-up.
    fn measure(&self, msg: &RequestCompleted) -> Metrics {
        let (request, response) = (&msg.request, &msg.response);
        let server = response.measured.usage.completion_tokens;
        let reasoning = self.tokenizer.count_plain(&response.reasoning_text) as u64;
        let output = match server {
            Some(n) if self.server_counts => OutputCount::server(n),
            _ => OutputCount::tokenizer(
                self.tokenizer.count(&response.generated_text) as u64,
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
                scheduled_s: msg.scheduled_start_s,
                actual_s: msg.start_offset_s,
            },
        );
        metrics.warmup = self.warmup.covers(msg.index, msg.scheduled_start_s);
        // Workload keys the runner or the conversation driver put into the request's metadata.
        let meta = &request.config.metadata;
        metrics.dataset_id = meta.get("dataset_id").cloned();
        metrics.conversation_id = meta.get("conversation_id").and_then(|v| v.as_u64());
        metrics.turn = meta.get("turn").and_then(|v| v.as_u64());
        metrics
    }
}

impl Actor for Collector {
    type Context = Context<Self>;

    /// Starts parsing the tokenizer, at a lower priority, while the first requests are in flight, rather than
    /// before they are sent; the first count waits for it.
    fn started(&mut self, _: &mut Context<Self>) {
        self.tokenizer.preload_in_background();
    }

    /// The arbiter [`start_on_own_thread`](Self::start_on_own_thread) made holds nothing else: its thread
    /// ends with the collector.
    fn stopped(&mut self, _: &mut Context<Self>) {
        if self.own_arbiter {
            Arbiter::current().stop();
        }
    }
}

impl Handler<RequestCompleted> for Collector {
    type Result = ();

    fn handle(&mut self, msg: RequestCompleted, _: &mut Context<Self>) {
        let metrics = self.measure(&msg);
        let index = msg.index;
        log::debug!(
            "request {index}: ttft {:.4} s, e2e {:.4} s, {} output tokens ({})",
            metrics.ttft_s,
            metrics.end_to_end_latency_s,
            metrics.number_output_tokens,
            metrics.output_tokens_source
        );
        if let Some(e) = &metrics.error_code {
            // The first failure of each code as a warning; a hundred identical lines would hide the rest.
            if self.logged_codes.contains(e) {
                log::debug!("request {index} failed: {e} {}", metrics.error_msg);
            } else {
                log::warn!(
                    "request {index} failed: {e} {} (more failures with this code: RUST_LOG=debug)",
                    metrics.error_msg
                );
                self.logged_codes.push(e.clone());
            }
        }
        let RequestCompleted {
            request, response, ..
        } = msg;
        let (text, config) = (response.generated_text, request.config);
        let outcome = self.scorer.map(|score| score(&metrics, &text, &config));
        let index = self.shard.global_index(index) as u64;
        self.exporters.record(&RecordedRequest {
            index,
            metrics: &metrics,
            generated_text: &text,
            request_config: &config,
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
        if metrics.is_ok() && !metrics.warmup {
            for &g in &response.measured.timings.chunk_gaps_s {
                self.gaps.record(f64::from(g));
            }
        }
        self.records.push(RunRecord {
            index,
            max_tokens: config.max_tokens(),
            metrics,
            answer: outcome.map(|outcome| {
                Box::new(ScoredAnswer {
                    generated_text: text,
                    request_config: config,
                    outcome,
                })
            }),
        });
    }
}

impl Handler<FinishRun> for Collector {
    type Result = MessageResult<FinishRun>;

    /// Hands out the run's typed result and its exporters.
    fn handle(&mut self, msg: FinishRun, _: &mut Context<Self>) -> Self::Result {
        let records = std::mem::take(&mut self.records);
        let elapsed_s = msg.ended.duration_since(msg.started).as_secs_f64();
        let window = RunWindow {
            start_unix_s: unix_seconds(msg.started),
            elapsed_s,
            measured_elapsed_s: measured_elapsed(&records, elapsed_s),
            launched: msg.launched as u64,
            queued: msg.queued as u64,
            interrupted: None,
        };
        MessageResult(CollectedRun {
            result: RunResult {
                description: self.description.clone(),
                window,
                records,
                inter_chunk_gaps: Some(self.gaps.stats()),
                server: None,
            },
            exporters: std::mem::take(&mut self.exporters),
        })
    }
}
