//! `llmperf-actors merge`: the shards of a sharded run, merged into the files one process would have written.
//!
//! Each shard left `<base>_shard-I-of-N_run.json` (its settings and wall-clock window, see [`RunFile`]) and
//! `<base>_shard-I-of-N_requests.jsonl` (one line per request). The merge reads every raw per-request record
//! of every shard into typed records and sends them through the same pipeline as a normal run (statistics,
//! then the original's block, the llmperf files, the merged log and the run file as exporters), so quantiles
//! are exact (from all samples, not averaged percentiles). The wall time is the union of the shards' windows: earliest start to latest end. The merged
//! concurrency and request budget are the whole run's.
//!
//! It refuses, naming what differs, shards whose settings differ, a shard index given twice, missing shards,
//! and logs that do not hold what their run file says.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::export::console::OriginalSummary;
use super::export::llmperf::LlmperfFiles;
use super::export::run_file::{RunFile, RunFileExport};
use super::export::{Exported, Exporter, export_report, io_error, write_atomically};
use super::records::{RunRecord, max_tokens_in, parse_log};
use super::result::{RunReport, RunResult, RunSummary, RunWindow};
use crate::Error;
use crate::metrics::Metrics;
use crate::shard::Shard;

/// One shard found on disk.
#[derive(Debug, Clone)]
struct FoundShard {
    run: RunFile,
    path: PathBuf,
}

/// One request read back from a shard's log.
struct LoggedRequest {
    start_unix_s: f64,
    index: u64,
    metrics: Metrics,
    line: Value,
}

fn merge_err(msg: String) -> Error {
    Error::Config(msg)
}

/// Merges every run found in `dirs` into `out`, one set of files per run. Returns the merged summaries.
pub fn merge_dirs(dirs: &[PathBuf], out: &Path) -> Result<Vec<RunSummary>, Error> {
    let groups = find_runs(dirs)?;
    let out_canonical = out.canonicalize().ok();
    for d in dirs {
        if out_canonical.is_some() && d.canonicalize().ok() == out_canonical {
            return Err(merge_err(format!(
                "--results-dir {} is also an input directory; write the merged files elsewhere \
                 (e.g. --results-dir {}/merged)",
                out.display(),
                d.display()
            )));
        }
    }
    // Every run is checked and read before anything is written.
    let mut loaded = Vec::new();
    for (base_name, shards) in groups {
        let mut shards = check_shards(&base_name, shards)?;
        // A shard that did not finish: its window ends with the last request its log holds.
        for shard in shards.iter_mut().filter(|s| s.run.killed()) {
            let requests = read_log(shard)?;
            let end = requests
                .iter()
                .map(|r| r.start_unix_s + (r.metrics.ended_s() - r.metrics.actual_start_s))
                .fold(shard.run.start_unix_s, f64::max);
            shard.run.end_unix_s = end;
            shard.run.elapsed_s = end - shard.run.start_unix_s;
            shard.run.requests_recorded = requests.len() as u64;
        }
        let requests = read_requests(&base_name, &shards)?;
        loaded.push((base_name, shards, requests));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::Io {
        what: format!("creating --results-dir {}", out.display()),
        source: e,
    })?;
    loaded
        .into_iter()
        .map(|(base_name, shards, requests)| merge_run(&base_name, &shards, requests, out))
        .collect()
}

/// Every `*_run.json` in `dirs` (not recursive), grouped by the whole run's base name.
fn find_runs(dirs: &[PathBuf]) -> Result<BTreeMap<String, Vec<FoundShard>>, Error> {
    let mut seen = BTreeSet::new();
    let mut groups: BTreeMap<String, Vec<FoundShard>> = BTreeMap::new();
    for dir in dirs {
        let entries = std::fs::read_dir(dir).map_err(|e| Error::Io {
            what: format!("reading the shard directory {}", dir.display()),
            source: e,
        })?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.ends_with("_run.json"))
            })
            .collect();
        paths.sort();
        for path in paths {
            if !seen.insert(path.canonicalize().unwrap_or_else(|_| path.clone())) {
                continue; // the same directory given twice
            }
            let run = RunFile::read(&path).map_err(merge_err)?;
            groups
                .entry(run.base_name.clone())
                .or_default()
                .push(FoundShard { run, path });
        }
    }
    if groups.is_empty() {
        let list: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        return Err(merge_err(format!(
            "no run files (*_run.json) in {}: give the directories the shards wrote into (their results_dir)",
            list.join(", ")
        )));
    }
    Ok(groups)
}

/// One shard of each index `0..N`, all with the same settings; sorted by index.
fn check_shards(base_name: &str, mut shards: Vec<FoundShard>) -> Result<Vec<FoundShard>, Error> {
    shards.sort_by_key(|s| s.run.shard_index);
    let first = shards[0].clone();
    let reference = first.run.identity();
    for s in &shards[1..] {
        for ((key, want), (_, got)) in reference.iter().zip(s.run.identity()) {
            if *want != got {
                return Err(merge_err(format!(
                    "run {base_name}: {} and {} are not shards of the same run: `{key}` is {want} in the \
                     first and {got} in the second",
                    first.path.display(),
                    s.path.display()
                )));
            }
        }
    }
    for pair in shards.windows(2) {
        if pair[0].run.shard_index == pair[1].run.shard_index {
            return Err(merge_err(format!(
                "run {base_name}: shard index {} appears twice, in {} and {}; give each shard's directory once \
                 and remove stale files",
                pair[0].run.shard_index,
                pair[0].path.display(),
                pair[1].path.display()
            )));
        }
    }
    let count = first.run.shard_count;
    let present: BTreeSet<u64> = shards.iter().map(|s| s.run.shard_index).collect();
    if let Some(bad) = present.iter().find(|&&i| i >= count) {
        return Err(merge_err(format!(
            "run {base_name}: shard index {bad} is not below shard_count {count}"
        )));
    }
    let missing: Vec<String> = (0..count)
        .filter(|i| !present.contains(i))
        .map(|i| i.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(merge_err(format!(
            "run {base_name}: missing shard(s) {} of {count} (found {}); wait for every shard to finish, or \
             give the directories that hold the missing ones",
            missing.join(", "),
            present
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(shards)
}

/// Reads one shard's per-request log and checks it against its run file.
fn read_log(shard: &FoundShard) -> Result<Vec<LoggedRequest>, Error> {
    let run = &shard.run;
    let dir = shard.path.parent().unwrap_or(Path::new("."));
    let path = dir.join(&run.requests_log);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::Io {
        what: format!("reading the per-request log {}", path.display()),
        source: e,
    })?;
    let (lines, torn) = parse_log(&text)
        .map_err(|(n, e)| merge_err(format!("{} line {n}: {e}", path.display())))?;
    if torn {
        log::warn!(
            "{}: the last line is incomplete (the process was killed while writing it); skipped",
            path.display()
        );
    }
    let mut out = Vec::new();
    for (n, value) in lines {
        let bad = |e: String| merge_err(format!("{} line {n}: {e}", path.display()));
        let index = value
            .get("index")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad("no `index`".into()))?;
        let metrics: Metrics = value
            .get("metrics")
            .cloned()
            .ok_or_else(|| bad("no `metrics`".into()))
            .and_then(|m| serde_json::from_value(m).map_err(|e| bad(e.to_string())))?;
        if index % run.shard_count != run.shard_index {
            return Err(bad(format!(
                "request index {index} does not belong to shard {} of {}",
                run.shard_index, run.shard_count
            )));
        }
        out.push(LoggedRequest {
            start_unix_s: run.start_unix_s + metrics.actual_start_s,
            index,
            metrics,
            line: value,
        });
    }
    if run.killed() {
        log::warn!(
            "{}: the run did not finish (killed?); merging the {} requests its log holds",
            shard.path.display(),
            out.len()
        );
    } else if out.len() as u64 != run.requests_recorded {
        return Err(merge_err(format!(
            "{} has {} requests but {} says {} were recorded; the log is incomplete or from another run",
            path.display(),
            out.len(),
            shard.path.display(),
            run.requests_recorded
        )));
    }
    Ok(out)
}

/// Every shard's requests, each index once, ordered by start time.
fn read_requests(base_name: &str, shards: &[FoundShard]) -> Result<Vec<LoggedRequest>, Error> {
    let mut requests = Vec::new();
    for s in shards {
        requests.extend(read_log(s)?);
    }
    let mut indices = BTreeSet::new();
    if let Some(dup) = requests.iter().find(|r| !indices.insert(r.index)) {
        return Err(merge_err(format!(
            "run {base_name}: request index {} was recorded twice",
            dup.index
        )));
    }
    // The order of a single run's files is completion order; merged, requests are ordered by their start.
    requests.sort_by(|a, b| {
        a.start_unix_s
            .total_cmp(&b.start_unix_s)
            .then(a.index.cmp(&b.index))
    });
    Ok(requests)
}

fn merge_run(
    base_name: &str,
    shards: &[FoundShard],
    requests: Vec<LoggedRequest>,
    out: &Path,
) -> Result<RunSummary, Error> {
    let first = &shards[0].run;
    let start = shards
        .iter()
        .map(|s| s.run.start_unix_s)
        .fold(f64::INFINITY, f64::min);
    let end = shards
        .iter()
        .map(|s| s.run.end_unix_s)
        .fold(f64::NEG_INFINITY, f64::max);
    let elapsed = (end - start).max(0.0);
    // A shard stopped by a signal stops the merged run too (the first one found says when).
    let interrupted = shards.iter().find_map(|s| s.run.interrupted.clone());
    // Warm-up is already marked on each record; rate and goodput targets are not in the run file.
    let info = first.whole_run(base_name);
    let mut merged = RunFile::new(
        &info,
        Shard::WHOLE,
        (
            first.run.num_concurrent_requests,
            first.run.max_num_completed_requests,
        ),
        base_name,
    );
    merged.shard_requests = shards.iter().map(|s| s.run.shard_requests).sum();
    merged.requests_recorded = requests.len() as u64;
    merged.start_unix_s = start;
    merged.end_unix_s = end;
    merged.elapsed_s = elapsed;
    merged.complete = interrupted.is_none();
    merged.interrupted = interrupted.clone();
    let mut log = MergedLog {
        path: out.join(format!("{base_name}_requests.jsonl")),
        lines: requests.iter().map(|r| r.line.clone()).collect(),
    };
    let records = requests
        .into_iter()
        .map(|r| RunRecord::new(r.index, r.metrics, max_tokens_in(&r.line)))
        .collect();
    let result = RunResult {
        description: info,
        window: RunWindow {
            start_unix_s: start,
            elapsed_s: elapsed,
            // The union of the shards' windows, warm-up included, as merge has always divided by.
            measured_elapsed_s: elapsed,
            launched: merged.requests_recorded,
            queued: 0,
            interrupted: interrupted.clone(),
        },
        records,
        inter_chunk_gaps: None,
        server: None,
    };
    let mut report = RunReport::new(result);
    // Merge has never written TTFT by turn.
    report.stats.ttft_by_turn.clear();
    export_report(
        report,
        &mut [
            &mut OriginalSummary,
            &mut LlmperfFiles::merged(out),
            &mut log,
            &mut RunFileExport::new(merged, out),
        ],
    )
}

/// The merged per-request log: every shard's lines as they were, ordered by start, written whole through a
/// temporary file like the JSON files.
struct MergedLog {
    path: PathBuf,
    lines: Vec<Value>,
}

impl Exporter for MergedLog {
    fn run(&mut self, _: &RunReport, out: &mut Exported) -> Result<(), Error> {
        let mut bytes = Vec::new();
        for line in &self.lines {
            serde_json::to_writer(&mut bytes, line).map_err(|e| Error::Internal(e.to_string()))?;
            bytes.push(b'\n');
        }
        write_atomically(&self.path, &bytes)
            .map_err(io_error(format!("writing {}", self.path.display())))?;
        out.files.push(self.path.clone());
        Ok(())
    }
}
