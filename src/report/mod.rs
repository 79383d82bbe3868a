//! Result files and the printed summary, in LLMPerf's formats (spec §6.4, §6.5). Formats records; knows
//! nothing about HTTP or actors.
//!
//! Files, for a base name `B` = sanitize(`{model}_{mean_input_tokens}_{mean_output_tokens}`):
//! - `B_requests.jsonl` — one line per request as it completes (metrics, generated text, request config), so a
//!   crash loses nothing that was measured;
//! - `B_summary.json` and `B_individual_responses.json` — the original's files, written atomically at the end;
//! - `B_run.json` — the load test's settings and wall-clock window, which `merge` uses to join shards;
//! - on request (`--csv`, `--charts`): `B_requests.csv`, `B_summary_table.csv` and SVG charts; the summary
//!   table goes to stdout after the original's summary. `llmperf-actors report DIR` rebuilds them all.

pub mod charts;
pub mod compare;
mod console;
mod correctness;
pub mod csv;
mod description;
mod llmperf;
mod log_file;
pub mod merge;
mod names;
mod outputs;
pub mod rebuild;
pub mod records;
pub mod run_file;
mod stats;
mod sweep;
pub mod table;
pub mod turns;

pub use console::print_summary;
pub use correctness::{
    CorrectnessRecord, CorrectnessStats, Outcome, correctness_stats, correctness_summary_object,
    correctness_text, score, write_correctness_files,
};
pub use description::{RunDescription, RunParams, SweepKind, SweepStep, TestKind};
pub use llmperf::{
    RunSummary, summary_object as llmperf_summary_object, to_json_indent4, write_final_files,
};
pub use log_file::{ParsedLog, RequestLog, parse_log};
pub use merge::merge_dirs;
pub use names::sanitize_base_name;
pub use outputs::{ProgressMode, ReportOutputs};
pub use records::ReportRecord;
pub use run_file::RunFile;
pub use stats::{LoadOptions, LoadStats, Metric, Stats, TurnTtft, summarize, summarize_with};
pub use sweep::SweepProgress;

use std::path::Path;

/// Writes `bytes` to `path` through a temporary file and a rename, so readers never see half a file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomically_with(path, |w| std::io::Write::write_all(w, bytes))
}

/// Writes whatever `fill` writes to `path`, through a buffer, a temporary file and a rename: large files
/// stream to disk instead of being built in memory first, and readers still never see half a file.
pub fn write_atomically_with(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::fs::File::create(&tmp)?);
    fill(&mut out)?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    // On disk before the rename, so even a power cut leaves the old file or the whole new one.
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)
}
