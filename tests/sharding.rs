//! Sharded runs: settings (flags, config keys, `JOB_COMPLETION_INDEX`), and through the real binary against the
//! built-in simulator, that N shards' request sets are disjoint and together equal the unsharded run's.
#![cfg(feature = "sim")] // starts the built-in simulator

mod common;

use std::collections::{BTreeMap, HashMap};

use llmperf_actors::settings::JOB_COMPLETION_INDEX;
use llmperf_actors::settings::Shard;
use llmperf_actors::{Settings, SettingsBuilder};
use serde_json::Value;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn args() -> SettingsBuilder {
    Settings::builder().model("m")
}

fn msg(a: SettingsBuilder, e: &[(&str, &str)]) -> String {
    a.env(env(e)).build().unwrap_err().to_string()
}

#[test]
fn shard_from_flags_or_the_job_completion_index() {
    let base = [("OPENAI_API_BASE", "http://x/v1")];
    let s = args().env(env(&base)).build().unwrap();
    assert_eq!(s.shard, Shard::WHOLE);
    let a = args().shard_count(3);
    let job = [
        ("OPENAI_API_BASE", "http://x/v1"),
        (JOB_COMPLETION_INDEX, "2"),
    ];
    let s = a.clone().env(env(&job)).build().unwrap();
    assert_eq!(s.shard, Shard { index: 2, count: 3 });
    let s = a.shard_index(1).env(env(&job)).build().unwrap();
    assert_eq!(s.shard.index, 1, "the flag wins over JOB_COMPLETION_INDEX");
    let only_index = [
        ("OPENAI_API_BASE", "http://x/v1"),
        (JOB_COMPLETION_INDEX, "1"),
    ];
    assert!(msg(args(), &only_index).contains("--shard-count"));
    let not_a_number = [
        ("OPENAI_API_BASE", "http://x/v1"),
        (JOB_COMPLETION_INDEX, "x"),
    ];
    assert!(msg(args(), &not_a_number).contains(JOB_COMPLETION_INDEX));
    let a = args().shard_count(11);
    assert!(msg(a.clone(), &base).contains("num_concurrent_requests 10 is below shard_count 11"));
    let a = a.num_concurrent_requests(11);
    assert!(
        msg(a.clone(), &base).contains("max_num_completed_requests 10 is below shard_count 11")
    );
    assert!(msg(a.shard_count(0), &base).contains("shard_count must be at least 1"));
}

#[test]
fn config_keys_set_the_shard_and_correctness_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yml");
    std::fs::write(
        &cfg,
        "openai_api_base: builtin\nmodel: m\nshard_index: 1\nshard_count: 2\n",
    )
    .unwrap();
    let s = Settings::builder().config_file(&cfg).build().unwrap();
    assert_eq!(s.shard, Shard { index: 1, count: 2 });
    let e = Settings::builder()
        .correctness()
        .config_file(cfg)
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("shard_count"), "{e}");
}

const CONFIG: &str = "openai_api_base: builtin
models: [sim/a]
token_confs:
  input:
    - {name: S, mean: 120, stddev: 40}
  output:
    - {name: S, mean: 12, stddev: 4}
num_concurrent_requests: 5
max_num_completed_requests: 14
results_dir: out
seed: 4242
simulator: {ttft_ms: 2, itl_ms: 1}
";

/// `(index → (prompt, max_tokens))` of a log.
fn requests_of(log: &[Value]) -> BTreeMap<u64, (String, u64)> {
    log.iter()
        .map(|l| {
            let c = &l["request_config"];
            (
                l["index"].as_u64().unwrap(),
                (
                    c["prompt"][0].as_str().unwrap().to_string(),
                    c["sampling_params"]["max_tokens"].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}

#[test]
fn shards_split_the_unsharded_run_into_disjoint_parts() {
    let dir = tempfile::tempdir().unwrap();
    let whole_dir = dir.path().join("whole");
    std::fs::create_dir(&whole_dir).unwrap();
    common::run_config(&whole_dir, CONFIG, &[], &[]);
    let whole = requests_of(&common::read_jsonl(
        &whole_dir.join("out/sim-a_120_12_requests.jsonl"),
    ));
    assert_eq!(whole.len(), 14);

    // Three "pods" sharing one results directory, as an Indexed Job with completions 3.
    let shared = dir.path().join("pods");
    std::fs::create_dir(&shared).unwrap();
    let mut union = BTreeMap::new();
    let concurrency = [2, 2, 1];
    let budget = [5, 5, 4];
    for i in 0..3u64 {
        let idx = i.to_string();
        common::run_config(
            &shared,
            CONFIG,
            &["--shard-count", "3"],
            &[(JOB_COMPLETION_INDEX, idx.as_str())],
        );
        let base = format!("sim-a_120_12_shard-{i}-of-3");
        let part = requests_of(&common::read_jsonl(
            &shared.join(format!("out/{base}_requests.jsonl")),
        ));
        assert_eq!(part.len() as u64, budget[i as usize]);
        for (index, req) in part {
            assert_eq!(index % 3, i, "shard {i} got request {index}");
            assert!(union.insert(index, req).is_none(), "request {index} twice");
        }
        let summary = common::read_json(&shared.join(format!("out/{base}_summary.json")));
        assert_eq!(summary["name"], format!("{base}_summary"));
        assert_eq!(summary["num_concurrent_requests"], concurrency[i as usize]);
        assert_eq!(summary["results_num_requests_started"], budget[i as usize]);
        let run = common::read_json(&shared.join(format!("out/{base}_run.json")));
        assert_eq!(run["shard_index"], i);
        assert_eq!(run["num_concurrent_requests"], 5);
        assert_eq!(run["base_name"], "sim-a_120_12");
    }
    assert_eq!(
        union, whole,
        "the shards together sent exactly the unsharded run's requests"
    );
    // No shard clobbered another: 4 files per shard.
    assert_eq!(std::fs::read_dir(shared.join("out")).unwrap().count(), 12);
}
