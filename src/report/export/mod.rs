//! Every output of a run is an [`Exporter`], fed the typed results (as hyperfine's exporters are): the
//! llmperf JSON files, the per-request JSONL log, the original's printed block, the summary table, CSV, SVG
//! charts, the run file, the sweep summary and the table across runs. Adding a format is one new file here
//! that implements the trait; [`super::outputs`] says which exporters a run gets.
//!
//! The pipeline: the collector feeds each exporter every request as it is recorded ([`Exporter::record`]:
//! the JSONL log writes it at once, so a crash loses nothing), then hands them back with the
//! [`RunResult`]; [`export_run`] computes the statistics and gives every exporter the [`RunReport`]
//! ([`Exporter::run`]); outputs across runs (sweeps, the table of all runs) write theirs in
//! [`Exporter::finish`]. Exporters write files and text; nothing reads a written file back.

pub mod charts;
pub mod console;
pub mod correctness;
pub mod csv;
pub mod html;
pub mod html_charts;
pub mod jsonl;
pub mod llmperf;
pub mod run_file;
pub mod server;
pub mod sweep;
pub mod table;

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::records::Outcome;
use super::result::{RunReport, RunResult, RunSummary};
use crate::Error;
use crate::backend::RequestConfig;
use crate::metrics::Metrics;

/// One request as it is recorded: the per-request log's line (the original's `(metrics, generated_text,
/// request_config)` triple, with the run-wide index and a correctness run's outcome).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RecordedRequest<'a> {
    /// The request's index in the whole run's prompt list.
    pub index: u64,
    /// Its record.
    pub metrics: &'a Metrics,
    /// The text the model generated.
    pub generated_text: &'a str,
    /// The request as it was sent.
    pub request_config: &'a RequestConfig,
    /// A correctness run: how the answer scored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
}

/// What exporters produced: text for stdout (in exporter order) and the files written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exported {
    /// Text to print.
    pub text: String,
    /// Files written, in order.
    pub files: Vec<PathBuf>,
}

/// One output. An exporter that writes a file it cannot write returns the error when losing it loses
/// results (the llmperf files, the run file); for extras (CSV, charts) it logs it and goes on.
pub trait Exporter: Send {
    /// One request was recorded (called on the collector's thread, as each result arrives). Streaming
    /// outputs write it now; the default does nothing. A failure here is logged, never stops the run.
    fn record(&mut self, _request: &RecordedRequest<'_>) {}

    /// The run is over: write this output of it.
    fn run(&mut self, report: &RunReport, out: &mut Exported) -> Result<(), Error>;

    /// Every run is over (outputs across runs: a sweep's summary, the table of all runs). The default does
    /// nothing.
    fn finish(&mut self, _out: &mut Exported) -> Result<(), Error> {
        Ok(())
    }
}

/// A run's exporters, in order; itself an exporter that calls each in turn. Every exporter runs even when
/// one fails; the first error is returned.
#[derive(Default)]
pub struct Exporters(Vec<Box<dyn Exporter>>);

impl Exporters {
    /// Adds `exporter` after the others.
    pub fn push(&mut self, exporter: impl Exporter + 'static) {
        self.0.push(Box::new(exporter));
    }

    /// [`Exporters::push`], by value.
    pub fn with(mut self, exporter: impl Exporter + 'static) -> Exporters {
        self.push(exporter);
        self
    }

    /// Each exporter, borrowed, in order.
    fn list(&mut self) -> Vec<&mut dyn Exporter> {
        let mut list: Vec<&mut dyn Exporter> = Vec::with_capacity(self.0.len());
        for e in &mut self.0 {
            list.push(e.as_mut());
        }
        list
    }
}

impl std::fmt::Debug for Exporters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Exporters({})", self.0.len())
    }
}

/// Calls `each` on every exporter; returns the first error.
fn all(
    exporters: &mut [&mut dyn Exporter],
    mut each: impl FnMut(&mut dyn Exporter) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut first = Ok(());
    for e in exporters.iter_mut() {
        let r = each(&mut **e);
        if first.is_ok() {
            first = r;
        }
    }
    first
}

impl Exporter for Exporters {
    fn record(&mut self, request: &RecordedRequest<'_>) {
        for e in &mut self.0 {
            e.record(request);
        }
    }

    fn run(&mut self, report: &RunReport, out: &mut Exported) -> Result<(), Error> {
        all(&mut self.list(), |e| e.run(report, out))
    }

    fn finish(&mut self, out: &mut Exported) -> Result<(), Error> {
        all(&mut self.list(), |e| e.finish(out))
    }
}

/// The report pipeline of one finished run: computes its statistics, then runs every exporter on them.
/// Returns the run's summary, or the first exporter's error (after every exporter ran).
pub fn export_run(
    result: RunResult,
    exporters: &mut [&mut dyn Exporter],
) -> Result<RunSummary, Error> {
    export_report(RunReport::new(result), exporters)
}

/// [`export_run`] from statistics already computed.
pub fn export_report(
    report: RunReport,
    exporters: &mut [&mut dyn Exporter],
) -> Result<RunSummary, Error> {
    let mut out = Exported::default();
    all(exporters, |e| e.run(&report, &mut out))?;
    Ok(RunSummary {
        description: report.description,
        window: report.window,
        stats: report.stats,
        scores: report.scores,
        timestamp: report.timestamp,
        text: out.text,
        files: out.files,
    })
}

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

/// JSON with 4-space indentation, like the original's `json.dump(..., indent=4)`.
pub fn to_json_indent4(value: &impl Serialize) -> Vec<u8> {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    value
        .serialize(&mut ser)
        .expect("serializing JSON values to memory cannot fail");
    out
}

/// The error of a file that could not be written.
pub(crate) fn io_error(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { what, source }
}
