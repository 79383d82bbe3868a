//! `llmperf-actors merge`: three shards run through the real binary against the simulator, merged, give
//! exactly the summary computed from all their raw records; shards of different runs are refused.
#![cfg(feature = "sim")] // starts the built-in simulator

mod common;

use std::path::{Path, PathBuf};

use llmperf_actors::Metrics;
use llmperf_actors::report::{
    RunDescription, RunFile, RunParams, llmperf_summary_object, summarize,
};
use serde_json::Value;

const CONFIG: &str = "openai_api_base: builtin
model: sim/merge
mean_input_tokens: 150
stddev_input_tokens: 60
mean_output_tokens: 15
stddev_output_tokens: 6
num_concurrent_requests: 4
max_num_completed_requests: 17
additional_sampling_params: {temperature: 0.25}
metadata: {team: perf}
results_dir: shards
simulator:
  ttft_ms: 3
  itl_ms: 1
  faults:
    - {kind: http_500, every: 5}
";

const BASE: &str = "sim-merge_150_15";

/// Runs the three shards of CONFIG (in parallel, like the pods of an Indexed Job) in `dir`.
fn run_three_shards(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("config.yml"), CONFIG).unwrap();
    let children: Vec<_> = (0..3)
        .map(|i| {
            common::bin()
                .args(["--config", "config.yml", "--shard-count", "3"])
                .env("JOB_COMPLETION_INDEX", i.to_string())
                .current_dir(dir)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        common::check(c.wait_with_output().unwrap());
    }
    dir.join("shards")
}

fn merge(dirs: &[&Path], out: &Path) -> std::process::Output {
    common::bin()
        .arg("merge")
        .args(dirs)
        .arg("--results-dir")
        .arg(out)
        .output()
        .unwrap()
}

fn merge_error(dirs: &[&Path], out: &Path) -> String {
    let o = merge(dirs, out);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

fn without_timestamp(v: &Value) -> serde_json::Map<String, Value> {
    let mut m = v.as_object().unwrap().clone();
    m.remove("timestamp").expect("a timestamp");
    m
}

#[test]
fn merged_summary_is_the_summary_of_all_raw_records() {
    let dir = tempfile::tempdir().unwrap();
    let shards = run_three_shards(dir.path());
    let out = dir.path().join("merged");
    let o = common::check(merge(&[&shards], &out));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Number Of Completed Requests:"));

    // What a single process would compute from the concatenated records and the union of the windows.
    let mut records: Vec<Metrics> = Vec::new();
    let (mut start, mut end) = (f64::INFINITY, f64::NEG_INFINITY);
    for i in 0..3 {
        let run = RunFile::read(&shards.join(format!("{BASE}_shard-{i}-of-3_run.json"))).unwrap();
        start = start.min(run.start_unix_s);
        end = end.max(run.end_unix_s);
        for line in common::read_jsonl(&shards.join(&run.requests_log)) {
            records.push(serde_json::from_value(line["metrics"].clone()).unwrap());
        }
    }
    assert_eq!(records.len(), 17);
    let info = RunDescription::load_test(
        BASE,
        RunParams {
            model: "sim/merge".into(),
            llm_api: "openai".into(),
            mean_input_tokens: 150,
            stddev_input_tokens: 60,
            mean_output_tokens: 15,
            stddev_output_tokens: 6,
            num_concurrent_requests: 4,
            max_num_completed_requests: 17,
            additional_sampling_params: serde_json::from_str(r#"{"temperature": 0.25}"#).unwrap(),
            metadata: serde_json::from_str(r#"{"team": "perf"}"#).unwrap(),
            timeout_s: 90.0,
            seed: 11111,
            ..RunParams::default()
        },
    );
    let want = llmperf_summary_object(&info, &summarize(&records, end - start), 0, None);
    let got = common::read_json(&out.join(format!("{BASE}_summary.json")));
    let want = without_timestamp(&Value::Object(want));
    let got = without_timestamp(&got);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    assert_eq!(got, want);
    assert_eq!(got["results_num_requests_started"], 17);
    assert!(got["results_number_errors"].as_u64().unwrap() >= 3);
    assert_eq!(got["name"], format!("{BASE}_summary"));

    // The individual responses are all the records; the merged log has every index once.
    let individual = common::read_json(&out.join(format!("{BASE}_individual_responses.json")));
    assert_eq!(individual.as_array().unwrap().len(), 17);
    let mut indices: Vec<u64> = common::read_jsonl(&out.join(format!("{BASE}_requests.jsonl")))
        .iter()
        .map(|l| l["index"].as_u64().unwrap())
        .collect();
    indices.sort();
    assert_eq!(indices, (0..17).collect::<Vec<_>>());
    let merged_run = RunFile::read(&out.join(format!("{BASE}_run.json"))).unwrap();
    assert_eq!(
        (merged_run.shard_count, merged_run.requests_recorded),
        (1, 17)
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn edit_run_file(path: &Path, key: &str, value: Value) {
    let mut v = common::read_json(path);
    v[key] = value;
    std::fs::write(path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

#[test]
fn shards_of_different_runs_are_refused_with_what_differs() {
    let dir = tempfile::tempdir().unwrap();
    let shards = run_three_shards(dir.path());
    let out = dir.path().join("merged");
    let run1 = |d: &Path| d.join(format!("{BASE}_shard-1-of-3_run.json"));

    // A setting differs: the message names it.
    let d = dir.path().join("seed");
    copy_dir(&shards, &d);
    edit_run_file(&run1(&d), "seed", 7.into());
    let e = merge_error(&[&d], &out);
    assert!(
        e.contains("`seed` is 11111 in the first and 7 in the second"),
        "{e}"
    );

    let d = dir.path().join("concurrency");
    copy_dir(&shards, &d);
    edit_run_file(&run1(&d), "num_concurrent_requests", 8.into());
    let e = merge_error(&[&d], &out);
    assert!(e.contains("`num_concurrent_requests`"), "{e}");

    // A shard missing.
    let d = dir.path().join("missing");
    copy_dir(&shards, &d);
    std::fs::remove_file(d.join(format!("{BASE}_shard-2-of-3_run.json"))).unwrap();
    let e = merge_error(&[&d], &out);
    assert!(e.contains("missing shard(s) 2 of 3 (found 0, 1)"), "{e}");

    // The same shard twice (a second directory holding a copy).
    let d = dir.path().join("twice");
    copy_dir(&shards, &d);
    let e = merge_error(&[&shards, &d], &out);
    assert!(e.contains("shard index 0 appears twice"), "{e}");

    // A log that lost lines.
    let d = dir.path().join("truncated");
    copy_dir(&shards, &d);
    let log = d.join(format!("{BASE}_shard-0-of-3_requests.jsonl"));
    let text = std::fs::read_to_string(&log).unwrap();
    let first_line = text.lines().next().unwrap().to_string();
    std::fs::write(&log, first_line + "\n").unwrap();
    let e = merge_error(&[&d], &out);
    assert!(e.contains("were recorded"), "{e}");

    // Nothing to merge, and output into an input directory.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert!(merge_error(&[&empty], &out).contains("no run files"));
    assert!(merge_error(&[&shards], &shards).contains("also an input directory"));
    assert!(!out.exists(), "nothing written when the merge is refused");
}

#[test]
fn help_lists_merge_and_the_shard_flags() {
    let help = common::check(common::bin().arg("--help").output().unwrap());
    let help = String::from_utf8_lossy(&help.stdout);
    for word in ["merge", "--shard-index", "--shard-count"] {
        assert!(help.contains(word), "{word} missing from --help:\n{help}");
    }
    let o = common::bin().arg("merge").output().unwrap();
    assert_eq!(o.status.code(), Some(2), "merge needs directories");
    assert!(String::from_utf8_lossy(&o.stderr).contains("--results-dir"));
}
