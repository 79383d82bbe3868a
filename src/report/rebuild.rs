//! `llmperf-actors report DIR`: the reports beside the llmperf files — the original's block, the table, CSV,
//! charts — rebuilt from the files a run left behind. Every `<base>_requests.jsonl` in the directory is read
//! back into typed records (a crashed run's torn last line is skipped), the run's description and wall time
//! taken from `<base>_run.json` (else `<base>_summary.json`, else the latest request end), and the records go
//! through the same pipeline as a run that just finished — so the table is the run's.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::compare::{Regression, compare_runs};
use super::description::RunDescription;
use super::export::html::write_sweep_html;
use super::export::llmperf::SummaryFacts;
use super::export::run_file::RunFile;
use super::export::sweep::{SweepSummary, write_sweep_chart};
use super::export::table::RunsTable;
use super::export::{Exported, Exporter, export_report};
use super::outputs::{ReportOutputs, rebuild_exporters};
use super::records;
use super::result::{RunReport, RunResult, RunSummary, RunWindow};
use crate::Error;

/// One run read back from a results directory.
#[derive(Debug)]
pub struct LoadedRun {
    /// The run, as the files tell it.
    pub result: RunResult,
    /// The last line of the log was torn (a crashed run) and skipped.
    pub torn: bool,
    /// The process died during the run (its run file was never completed): the window comes from the log.
    pub killed: bool,
}

impl LoadedRun {
    /// Its statistics. TTFT by turn is left out: `report DIR` has never printed it.
    pub fn report(self) -> RunReport {
        let mut report = RunReport::new(self.result);
        report.stats.ttft_by_turn.clear();
        report
    }
}

fn read_json(path: &Path) -> Option<Map<String, Value>> {
    let text = std::fs::read_to_string(path).ok()?;
    match serde_json::from_str(&text).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// Reads the run whose log is `dir/<base_name>_requests.jsonl`. Its settings and wall time come from its run
/// file (else its summary, else the records' own times).
pub fn load_run(dir: &Path, base_name: &str) -> Result<LoadedRun, Error> {
    let log = dir.join(format!("{base_name}_requests.jsonl"));
    let read = records::read_requests_log(&log, None).map_err(Error::Config)?;
    let run = RunFile::read(&dir.join(format!("{base_name}_run.json"))).ok();
    let facts =
        SummaryFacts::read(read_json(&dir.join(format!("{base_name}_summary.json"))).as_ref());
    let records = read.records;
    // A killed run's file is the one written at its start (no elapsed time yet): like `merge`, take the
    // window its log spans.
    let killed = run.as_ref().is_some_and(RunFile::killed);
    let (elapsed, measured) = match (&run, facts.elapsed_s) {
        (Some(r), _) if !killed => (
            r.elapsed_s,
            records::measured_elapsed(&records, r.elapsed_s),
        ),
        (None, Some(e)) => (e, e),
        _ => {
            let e = records::elapsed_from_records(&records);
            (e, records::measured_elapsed(&records, e))
        }
    };
    let description = RunDescription {
        target_request_rate: facts.target_request_rate,
        slo: facts.slo,
        ..match &run {
            Some(r) => r.whole_run(base_name),
            None => RunDescription::load_test(base_name, facts.params),
        }
    };
    let window = RunWindow {
        start_unix_s: run.as_ref().map_or(0.0, |r| r.start_unix_s),
        elapsed_s: elapsed,
        measured_elapsed_s: measured,
        launched: records.len() as u64,
        queued: facts.queued,
        interrupted: run.as_ref().and_then(|r| r.interrupted.clone()),
    };
    Ok(LoadedRun {
        result: RunResult {
            description,
            window,
            records,
            inter_chunk_gaps: None,
            server: match crate::server_metrics::read_run(dir, base_name) {
                Ok(server) => server.map(Box::new),
                Err(e) => {
                    log::warn!("{base_name}: the server's samples are left out: {e}");
                    None
                }
            },
        },
        torn: read.torn_last_line,
        killed,
    })
}

/// Every load-test run in `dir` (each `*_requests.jsonl`, correctness runs left out), by base name.
pub fn load_dir(dir: &Path) -> Result<Vec<LoadedRun>, Error> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::Io {
        what: format!("reading the results directory {}", dir.display()),
        source: e,
    })?;
    let mut bases: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix("_requests.jsonl").map(str::to_string)
        })
        .filter(|b| !b.ends_with("_correctness"))
        .collect();
    bases.sort();
    if bases.is_empty() {
        return Err(Error::Config(format!(
            "no per-request logs (*_requests.jsonl) in {}: give the results_dir a load test wrote into",
            dir.display()
        )));
    }
    bases.iter().map(|b| load_run(dir, b)).collect()
}

/// What `report DIR` produced: the printed text and, with a baseline, every compared metric's change.
#[derive(Debug, Clone, Default)]
pub struct Rebuilt {
    /// The text to print.
    pub text: String,
    /// With `--baseline`: how much worse each compared metric got (negative: better).
    pub changes: Vec<Regression>,
}

/// `llmperf-actors report DIR [--baseline DIR2]`: prints each run's summary and table (and, with a baseline,
/// the change per metric), writes the CSV files and charts `outputs` asks for into `out` (default `dir`).
/// Returns the printed text and the changes against the baseline.
pub fn report_dir(
    dir: &Path,
    baseline: Option<&Path>,
    out: Option<&Path>,
    outputs: &ReportOutputs,
) -> Result<Rebuilt, Error> {
    let runs = load_dir(dir)?;
    let out_dir = out.unwrap_or(dir);
    std::fs::create_dir_all(out_dir).map_err(|e| Error::Io {
        what: format!("creating {}", out_dir.display()),
        source: e,
    })?;
    let mut text = String::new();
    let mut all_runs = RunsTable::default();
    let mut summaries = Vec::new();
    let mut changes = Vec::new();
    for run in runs {
        if run.torn {
            let _ = writeln!(
                text,
                "Note: the last line of {}_requests.jsonl was incomplete (the run did not finish) and was skipped.",
                run.result.description.base_name
            );
        }
        if run.killed {
            let _ = writeln!(
                text,
                "Note: {} did not finish (the process was killed: its run file is the one written at the start); \
                 elapsed time and throughputs are derived from the {} requests in its per-request log.",
                run.result.description.base_name,
                run.result.records.len()
            );
        }
        if let Some(i) = &run.result.window.interrupted {
            let _ = writeln!(text, "Note: {}", i.describe());
        }
        let mut exporters = rebuild_exporters(outputs, out_dir);
        let summary = export_report(run.report(), &mut [&mut exporters, &mut all_runs])?;
        print_into(&mut text, &summary.text, &summary.files);
        summaries.push(summary);
    }
    if outputs.table {
        let mut across = Exported::default();
        all_runs.finish(&mut across)?;
        text.push_str(&across.text);
    }
    if outputs.charts || outputs.html {
        text.push_str(&sweep_charts(dir, out_dir, outputs)?);
    }
    if let Some(base) = baseline {
        let before = load_dir(base)?
            .into_iter()
            .map(|run| export_report(run.report(), &mut []))
            .collect::<Result<Vec<RunSummary>, Error>>()?;
        let (compared, found) = compare_runs(&before, &summaries);
        text.push_str(&compared);
        changes = found;
    }
    Ok(Rebuilt { text, changes })
}

/// Appends `printed`, then a `Wrote …` line per file.
fn print_into(text: &mut String, printed: &str, files: &[PathBuf]) {
    text.push_str(printed);
    for f in files {
        let _ = writeln!(text, "Wrote {}", f.display());
    }
}

/// Redraws the chart (and the HTML page, as `outputs` asks) of every sweep summary (`*_sweep_summary.json`) in
/// `dir`.
fn sweep_charts(dir: &Path, out_dir: &Path, outputs: &ReportOutputs) -> Result<String, Error> {
    let mut text = String::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(text);
    };
    let mut found: Vec<(String, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let group = name.strip_suffix("_sweep_summary.json")?.to_string();
            Some((group, e.path()))
        })
        .collect();
    found.sort();
    for (group, path) in found {
        let Some(summary) = SweepSummary::read(&path) else {
            continue;
        };
        let what = summary.sweep.as_deref().unwrap_or("step");
        if outputs.charts {
            let written =
                write_sweep_chart(out_dir, &group, &summary.steps, what).map_err(|e| {
                    Error::Io {
                        what: format!("writing the sweep chart of {group}"),
                        source: e,
                    }
                })?;
            let _ = writeln!(text, "Wrote {}", written.display());
        }
        if outputs.html {
            let written = write_sweep_html(out_dir, &group, &summary).map_err(|e| Error::Io {
                what: format!("writing the sweep report of {group}"),
                source: e,
            })?;
            let _ = writeln!(text, "Wrote {}", written.display());
        }
    }
    Ok(text)
}
