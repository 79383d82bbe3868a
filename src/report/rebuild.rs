//! The reports beside the llmperf files — table, CSV, charts — for a run that just finished
//! ([`render_run`], called by the collector) or for the files a run left behind (`llmperf-actors report DIR`,
//! [`report_dir`]): every `<base>_requests.jsonl` in the directory is read back (a crashed run's torn last
//! line is skipped), its wall time taken from `<base>_run.json` (else `<base>_summary.json`, else the latest
//! request end), and the statistics recomputed with the same code as the run — so the table is the run's.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::description::RunDescription;
use super::llmperf::SummaryFacts;
use super::records::{self, ReportRecord};
use super::run_file::RunFile;
use super::stats::{Stats, summarize_with};
use super::{ReportOutputs, charts, csv, print_summary, table};
use crate::Error;
use crate::metrics::Metrics;

/// What [`render_run`] produced.
#[derive(Debug, Default)]
pub struct Rendered {
    /// Text to print after the original's summary (the table and warnings), empty without a table.
    pub text: String,
    /// Files written.
    pub files: Vec<PathBuf>,
}

/// Produces the reports `outputs` asks for: the table as text, CSV and charts into `dir` (when there is
/// one). A file that cannot be written is logged and skipped: the llmperf files are already safe.
pub fn render_run(
    dir: Option<&Path>,
    base_name: &str,
    stats: &Stats,
    records: &[ReportRecord],
    outputs: &ReportOutputs,
) -> Rendered {
    let mut out = Rendered::default();
    if outputs.table {
        out.text = table::summary_tables(stats, records);
    }
    let Some(dir) = dir else { return out };
    if outputs.csv {
        match csv::write_csv_files(dir, base_name, stats, records) {
            Ok(f) => out.files.extend(f),
            Err(e) => log::error!("writing the CSV files of {base_name}: {e}"),
        }
    }
    if outputs.charts {
        let open_loop = stats.load.target_request_rate.is_some();
        match charts::write_run_charts(dir, base_name, records, open_loop) {
            Ok(f) => out.files.extend(f),
            Err(e) => log::error!("writing the charts of {base_name}: {e}"),
        }
    }
    out
}

/// One run read back from a results directory.
#[derive(Debug, Clone)]
pub struct LoadedRun {
    /// Its base name.
    pub base_name: String,
    /// Its settings, as far as the files tell (model and API; the rest is not needed for the report).
    pub info: RunDescription,
    /// The recomputed statistics.
    pub stats: Stats,
    /// The records, warm-up included.
    pub records: Vec<ReportRecord<'static>>,
    /// The last line of the log was torn (a crashed run) and skipped.
    pub torn: bool,
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
    let read = records::read_requests_log(&log).map_err(Error::Config)?;
    let run = RunFile::read(&dir.join(format!("{base_name}_run.json"))).ok();
    let facts =
        SummaryFacts::read(read_json(&dir.join(format!("{base_name}_summary.json"))).as_ref());
    let elapsed = match (&run, facts.elapsed_s) {
        (Some(r), _) => records::measured_elapsed(&read.records, r.elapsed_s),
        (None, Some(e)) => e,
        _ => records::measured_elapsed(&read.records, records::elapsed_from_records(&read.records)),
    };
    let info = RunDescription {
        target_request_rate: facts.target_request_rate,
        slo: facts.slo,
        ..match run {
            Some(r) => r.whole_run(base_name),
            None => RunDescription::load_test(base_name, facts.params),
        }
    };
    let metrics: Vec<Metrics> = read
        .records
        .iter()
        .map(|r| Metrics::clone(&r.metrics))
        .collect();
    let stats = summarize_with(&metrics, elapsed, &info.load_options(facts.queued as usize));
    Ok(LoadedRun {
        base_name: base_name.to_string(),
        info,
        stats,
        records: read.records,
        torn: read.torn_last_line,
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

/// `llmperf-actors report DIR [--baseline DIR2]`: prints each run's summary and table (and, with a baseline,
/// the change per metric), writes the CSV files and charts `outputs` asks for into `out` (default `dir`).
/// Returns the printed text.
pub fn report_dir(
    dir: &Path,
    baseline: Option<&Path>,
    out: Option<&Path>,
    outputs: &ReportOutputs,
) -> Result<String, Error> {
    let runs = load_dir(dir)?;
    let out_dir = out.unwrap_or(dir);
    std::fs::create_dir_all(out_dir).map_err(|e| Error::Io {
        what: format!("creating {}", out_dir.display()),
        source: e,
    })?;
    let mut text = String::new();
    let mut summaries = Vec::new();
    for run in &runs {
        if run.torn {
            let _ = writeln!(
                text,
                "Note: the last line of {}_requests.jsonl was incomplete (the run did not finish) and was skipped.",
                run.base_name
            );
        }
        text.push_str(&print_summary(&run.info, &run.stats));
        let rendered = render_run(
            Some(out_dir),
            &run.base_name,
            &run.stats,
            &run.records,
            outputs,
        );
        text.push_str(&rendered.text);
        for f in &rendered.files {
            let _ = writeln!(text, "Wrote {}", f.display());
        }
        summaries.push(super::llmperf_summary_object(&run.info, &run.stats, 0));
    }
    if summaries.len() > 1 && outputs.table {
        let refs: Vec<&Map<String, Value>> = summaries.iter().collect();
        text.push_str(&table::runs_table(&refs));
    }
    if outputs.charts {
        text.push_str(&sweep_charts(dir, out_dir)?);
    }
    if let Some(base) = baseline {
        let before = load_dir(base)?;
        text.push_str(&super::compare::compare_runs(&before, &runs));
    }
    Ok(text)
}

/// Redraws the chart of every sweep summary (`*_sweep_summary.json`) in `dir`.
fn sweep_charts(dir: &Path, out_dir: &Path) -> Result<String, Error> {
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
        let Some(summary) = read_json(&path) else {
            continue;
        };
        let steps = summary
            .get("steps")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let what = summary
            .get("sweep")
            .and_then(Value::as_str)
            .unwrap_or("step");
        let written =
            charts::write_sweep_chart(out_dir, &group, &steps, what).map_err(|e| Error::Io {
                what: format!("writing the sweep chart of {group}"),
                source: e,
            })?;
        let _ = writeln!(text, "Wrote {}", written.display());
    }
    Ok(text)
}
