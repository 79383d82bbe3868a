//! The run sidecar, `<base>_run.json`: what a load-test run (or one shard of it) was, and when it ran in
//! wall-clock time. `merge` reads it to know which shards belong together and the union of their time windows;
//! the per-request log only has offsets from each shard's own start.
//!
//! The llmperf JSON files are unchanged by it; it is a file of its own, written when the run starts (with
//! `complete: false`, so a killed run leaves one) and again when it ends.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Exported, Exporter, io_error, to_json_indent4, write_atomically};
use crate::Error;
use crate::report::description::{RunDescription, RunParams};
use crate::report::result::{Interruption, RunReport};
use crate::shard::Shard;

/// Value of [`RunFile::format`]; a reader refuses other formats.
pub const RUN_FILE_FORMAT: &str = "llmperf-actors-run/1";

/// The contents of `<base>_run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunFile {
    /// [`RUN_FILE_FORMAT`].
    pub format: String,
    /// Version of llmperf-actors that wrote it.
    pub tool_version: String,
    /// Base name of the whole run's files (no shard suffix): what `merge` writes.
    pub base_name: String,
    /// Base name of this process's files (with the `_shard-I-of-N` suffix when sharded).
    pub file_base_name: String,
    /// The whole run's settings: its concurrency and request budget are all shards' together.
    #[serde(flatten)]
    pub run: RunParams,
    /// This shard's index.
    pub shard_index: u64,
    /// Number of shards.
    pub shard_count: u64,
    /// This shard's part of the concurrency.
    pub shard_concurrency: u64,
    /// This shard's part of the request budget (requests it was given).
    pub shard_requests: u64,
    /// File name of the per-request log, in the same directory.
    pub requests_log: String,
    /// Requests recorded (lines of the log).
    pub requests_recorded: u64,
    /// Wall-clock start of the timed section (when the client actors were ready), Unix seconds.
    pub start_unix_s: f64,
    /// Wall-clock end (the last request finished), Unix seconds.
    pub end_unix_s: f64,
    /// `end_unix_s − start_unix_s`, measured on the monotonic clock.
    pub elapsed_s: f64,
    /// Whether the run ran its course. `false` while it is going — the file is first written when the run
    /// starts, so a run that was killed still has one, and `merge` and `report DIR` then take the requests its
    /// log holds and the window they span — and `false` for a run a signal stopped (see `interrupted`).
    #[serde(default = "finished")]
    pub complete: bool,
    /// A run stopped by Ctrl-C / SIGTERM: by which signal and when. Its window and counts are final (the
    /// run ended gracefully and wrote its files); `complete` is `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<Interruption>,
}

fn finished() -> bool {
    true
}

/// Converts a monotonic instant to Unix seconds, by its distance from now on both clocks.
pub fn unix_seconds(at: Instant) -> f64 {
    let now_mono = Instant::now();
    let now_wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64();
    if at <= now_mono {
        now_wall - now_mono.duration_since(at).as_secs_f64()
    } else {
        now_wall + at.duration_since(now_mono).as_secs_f64()
    }
}

impl RunFile {
    /// The sidecar of a load-test run: `run` is what this process ran (its shares and suffixed base name),
    /// `totals` the whole run's `(concurrency, requests)`, `base_name` the whole run's base name. Times and
    /// counts are filled in by [`RunFile::finish`].
    pub fn new(run: &RunDescription, shard: Shard, totals: (u64, u64), base_name: &str) -> RunFile {
        let shares = &run.params;
        RunFile {
            format: RUN_FILE_FORMAT.into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            base_name: base_name.into(),
            file_base_name: run.base_name.clone(),
            run: RunParams {
                num_concurrent_requests: totals.0,
                max_num_completed_requests: totals.1,
                ..shares.clone()
            },
            shard_index: shard.index,
            shard_count: shard.count,
            shard_concurrency: shares.num_concurrent_requests,
            shard_requests: shares.max_num_completed_requests,
            requests_log: format!("{}_requests.jsonl", run.base_name),
            requests_recorded: 0,
            start_unix_s: 0.0,
            end_unix_s: 0.0,
            elapsed_s: 0.0,
            complete: true,
            interrupted: None,
        }
    }

    /// Whether the process died during the run (killed, crashed): the file written at the start is all there
    /// is, so its window and count are not final — take them from the per-request log.
    pub fn killed(&self) -> bool {
        !self.complete && self.interrupted.is_none()
    }

    /// The whole run this file belongs to (all shards together), as a load test named `base_name`.
    pub fn whole_run(&self, base_name: &str) -> RunDescription {
        RunDescription::load_test(base_name, self.run.clone())
    }

    /// Fills in the wall-clock window and the number of recorded requests.
    /// Marks the run as started at `started` and not yet complete (the file written before the first request).
    pub fn begin(&mut self, started: Instant) {
        self.complete = false;
        self.start_unix_s = unix_seconds(started);
        self.end_unix_s = self.start_unix_s;
        self.elapsed_s = 0.0;
        self.requests_recorded = 0;
    }

    /// Fills in the times and the count of a finished run, and whether a signal cut it short.
    pub fn finish(
        &mut self,
        started: Instant,
        ended: Instant,
        recorded: u64,
        interrupted: Option<Interruption>,
    ) {
        self.complete = interrupted.is_none();
        self.interrupted = interrupted;
        self.start_unix_s = unix_seconds(started);
        self.elapsed_s = ended.saturating_duration_since(started).as_secs_f64();
        self.end_unix_s = self.start_unix_s + self.elapsed_s;
        self.requests_recorded = recorded;
    }

    /// The settings that must be equal in every shard of one run, by name, for comparing shards.
    pub fn identity(&self) -> Vec<(&'static str, Value)> {
        let r = &self.run;
        vec![
            ("format", self.format.clone().into()),
            ("tool_version", self.tool_version.clone().into()),
            ("model", r.model.clone().into()),
            ("llm_api", r.llm_api.clone().into()),
            ("mean_input_tokens", r.mean_input_tokens.into()),
            ("stddev_input_tokens", r.stddev_input_tokens.into()),
            ("mean_output_tokens", r.mean_output_tokens.into()),
            ("stddev_output_tokens", r.stddev_output_tokens.into()),
            ("num_concurrent_requests", r.num_concurrent_requests.into()),
            (
                "max_num_completed_requests",
                r.max_num_completed_requests.into(),
            ),
            (
                "additional_sampling_params",
                Value::Object(r.additional_sampling_params.clone()),
            ),
            ("metadata", Value::Object(r.metadata.clone())),
            ("timeout", r.timeout_s.into()),
            ("seed", r.seed.into()),
            ("shard_count", self.shard_count.into()),
        ]
    }

    /// The path of the sidecar in `dir`.
    pub fn path_in(&self, dir: &Path) -> PathBuf {
        dir.join(format!("{}_run.json", self.file_base_name))
    }

    /// Writes the sidecar into `dir`, atomically; returns its path.
    pub fn write(&self, dir: &Path) -> std::io::Result<PathBuf> {
        let path = self.path_in(dir);
        write_atomically(&path, &to_json_indent4(self))?;
        Ok(path)
    }

    /// Reads a sidecar, refusing other formats.
    pub fn read(path: &Path) -> Result<RunFile, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let value: Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if value.get("format").and_then(Value::as_str) != Some(RUN_FILE_FORMAT) {
            return Err(format!(
                "{}: not a run file of format {RUN_FILE_FORMAT} (field `format`)",
                path.display()
            ));
        }
        serde_json::from_value(value).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// The exporter of a run file into a directory, written as it is given (the runner fills in the times, merge
/// the union of the shards').
#[derive(Debug, Clone)]
pub struct RunFileExport {
    file: RunFile,
    dir: PathBuf,
}

impl RunFileExport {
    /// `file`, into `dir`.
    pub fn new(file: RunFile, dir: &Path) -> RunFileExport {
        RunFileExport {
            file,
            dir: dir.to_path_buf(),
        }
    }
}

impl Exporter for RunFileExport {
    fn run(&mut self, _: &RunReport, out: &mut Exported) -> Result<(), Error> {
        let path = self.file.write(&self.dir).map_err(io_error(format!(
            "writing the run file into {}",
            self.dir.display()
        )))?;
        out.files.push(path);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn killed_interrupted_and_complete_runs_are_told_apart() {
        let desc = RunDescription::load_test("b", RunParams::default());
        let mut f = RunFile::new(&desc, Shard::WHOLE, (1, 1), "b");
        let t0 = Instant::now();
        f.begin(t0);
        assert!(f.killed(), "the file written at the start");
        f.finish(t0, t0 + Duration::from_secs(2), 3, None);
        assert!(f.complete && !f.killed());
        let stop = Interruption {
            signal: Some("SIGINT".into()),
            at_unix_s: 1.5e9,
            after_s: 1.0,
        };
        f.finish(t0, t0 + Duration::from_secs(2), 3, Some(stop.clone()));
        assert!(!f.complete && !f.killed());
        let dir = tempfile::tempdir().unwrap();
        let path = f.write(dir.path()).unwrap();
        let back = RunFile::read(&path).unwrap();
        assert_eq!(back.interrupted, Some(stop));
        // A file from before `interrupted` existed reads as not interrupted.
        let mut v: Value = serde_json::to_value(&back).unwrap();
        v.as_object_mut().unwrap().remove("interrupted");
        let old: RunFile = serde_json::from_value(v).unwrap();
        assert!(old.interrupted.is_none() && old.killed());
    }

    #[test]
    fn unix_seconds_tracks_the_wall_clock() {
        let wall = || {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs_f64()
        };
        // Bracketed by wall-clock readings taken before and after, so the bounds hold however long the
        // thread is descheduled in between (1 ms for float rounding and clock slew).
        let before = wall();
        let earlier = Instant::now() - Duration::from_secs(2);
        let t = unix_seconds(earlier);
        let after = wall();
        assert!(
            before - 2.0 - 1e-3 <= t && t <= after - 2.0 + 1e-3,
            "{before} {t} {after}"
        );
    }
}
