//! Result files and the printed summary, in LLMPerf's formats (spec §6.4, §6.5). Formats records; knows
//! nothing about HTTP or actors.
//!
//! The flow: the collector yields a typed [`RunResult`] (the run's [`RunDescription`], its window, every
//! [`RunRecord`]); [`export_run`] computes its statistics ([`Stats`]) and feeds the [`RunReport`] to each
//! [`Exporter`] (`export/`: one file per output); the caller gets a [`RunSummary`]. `report DIR` and `merge`
//! read records back from the files and send them through the same pipeline. [`outputs`] says which
//! exporters a run gets.
//!
//! Files, for a base name `B` = sanitize(`{model}_{mean_input_tokens}_{mean_output_tokens}`):
//! - `B_requests.jsonl` — one line per request as it completes (metrics, generated text, request config), so a
//!   crash loses nothing that was measured;
//! - `B_summary.json` and `B_individual_responses.json` — the original's files, written atomically at the end;
//! - `B_run.json` — the load test's settings and wall-clock window, which `merge` uses to join shards;
//! - on request (`--csv`, `--charts`): `B_requests.csv`, `B_summary_table.csv` and SVG charts; the summary
//!   table goes to stdout after the original's summary. `llmperf-actors report DIR` rebuilds them all.

pub mod compare;
pub mod correctness;
mod description;
pub mod export;
pub mod gates;
pub mod merge;
mod names;
pub mod outputs;
pub mod rebuild;
pub mod records;
mod result;
mod stats;
pub mod store;
pub mod thresholds;
pub mod turns;

pub use correctness::{CorrectnessStats, Scorer, score, score_answer};
pub use description::{RunDescription, RunParams, SweepKind, SweepStep, TestKind};
pub use export::console::print_summary;
pub use export::jsonl::RequestLog;
pub use export::llmperf::summary_object as llmperf_summary_object;
pub use export::run_file::RunFile;
pub use export::sweep::{SweepExporter, SweepLimits};
pub use export::{
    Exported, Exporter, Exporters, RecordedRequest, export_report, export_run, to_json_indent4,
    write_atomically,
};
pub use export::{charts, csv, table};
pub use merge::merge_dirs;
pub use names::sanitize_base_name;
pub use outputs::{ProgressMode, ReportOutputs, rebuild_exporters, run_exporters};
pub use records::{Outcome, ParsedLog, RunRecord, ScoredAnswer, parse_log};
pub use result::{Interruption, RunReport, RunResult, RunSummary, RunWindow};
pub use stats::{
    LoadOptions, LoadStats, Metric, Stats, TurnTtft, summarize, summarize_store, summarize_visits,
    summarize_with,
};
pub use store::RecordStore;
