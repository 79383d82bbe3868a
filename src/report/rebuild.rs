//! The reports beside the llmperf files — table, CSV, charts — for a run that just finished
//! ([`render_run`], called by the collector) or for the files a run left behind (`llmperf-actors report DIR`,
//! [`report_dir`]): every `<base>_requests.jsonl` in the directory is read back (a crashed run's torn last
//! line is skipped), its wall time taken from `<base>_run.json` (else `<base>_summary.json`, else the latest
//! request end), and the statistics recomputed with the same code as the run — so the table is the run's.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::llmperf::RunInfo;
use super::stats::{LoadOptions, Stats, summarize_with};
use super::records::{self, ReportRecord};
use super::{ReportOutputs, charts, csv, print_summary, table};
use crate::Error;
use crate::metrics::{Metrics, Slo};

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
    pub info: RunInfo,
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

fn info_of(
    base_name: &str,
    dir: &Path,
    run: Option<&Map<String, Value>>,
    summary: Option<&Map<String, Value>>,
) -> RunInfo {
    let text = |k: &str| {
        run.and_then(|m| m.get(k))
            .or_else(|| summary.and_then(|m| m.get(k)))
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string()
    };
    let int = |k: &str| {
        run.and_then(|m| m.get(k))
            .or_else(|| summary.and_then(|m| m.get(k)))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    let summary_f = |k: &str| summary.and_then(|m| m.get(k)).and_then(Value::as_f64);
    RunInfo {
        model: text("model"),
        llm_api: text("llm_api"),
        mean_input_tokens: int("mean_input_tokens"),
        stddev_input_tokens: int("stddev_input_tokens"),
        mean_output_tokens: int("mean_output_tokens"),
        stddev_output_tokens: int("stddev_output_tokens"),
        num_concurrent_requests: int("num_concurrent_requests"),
        additional_sampling_params: Map::new(),
        metadata: Map::new(),
        timeout_s: summary_f("timeout").unwrap_or(0.0),
        max_num_completed_requests: int("max_num_completed_requests"),
        seed: int("seed"),
        base_name: base_name.to_string(),
        results_dir: Some(dir.to_path_buf()),
        load: LoadOptions {
            target_request_rate: summary_f("results_target_request_rate"),
            slo: summary
                .and_then(|m| m.get("results_slo"))
                .and_then(Value::as_str)
                .and_then(|s| Slo::parse(s).ok())
                .unwrap_or_default(),
            queued: summary
                .and_then(|m| m.get("results_num_queued_requests"))
                .and_then(Value::as_u64)
                .unwrap_or(0) as usize,
            custom_tokenizer: false,
        },
        warmup_requests: 0,
        warmup_seconds: 0.0,
    }
}

/// Reads the run whose log is `dir/<base_name>_requests.jsonl`.
pub fn load_run(dir: &Path, base_name: &str) -> Result<LoadedRun, Error> {
    let log = dir.join(format!("{base_name}_requests.jsonl"));
    let read = records::read_requests_log(&log).map_err(Error::Config)?;
    let run = read_json(&dir.join(format!("{base_name}_run.json")));
    let summary = read_json(&dir.join(format!("{base_name}_summary.json")));
    let elapsed = match (&run, &summary) {
        (Some(r), _) if r.get("elapsed_s").and_then(Value::as_f64).is_some() => {
            let e = r["elapsed_s"].as_f64().unwrap_or(0.0);
            records::measured_elapsed(&read.records, e)
        }
        (_, Some(s)) if s.get("results_elapsed_s").and_then(Value::as_f64).is_some() => {
            s["results_elapsed_s"].as_f64().unwrap_or(0.0)
        }
        _ => records::measured_elapsed(&read.records, records::elapsed_from_records(&read.records)),
    };
    let info = info_of(base_name, dir, run.as_ref(), summary.as_ref());
    let metrics: Vec<Metrics> = read
        .records
        .iter()
        .map(|r| Metrics::clone(&r.metrics))
        .collect();
    let stats = summarize_with(&metrics, elapsed, &info.load);
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
