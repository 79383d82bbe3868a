//! The flags people type, through the real binary against the simulator (loopback only; nothing here touches
//! the network): `--base-url` / `--api-key` (the key reaches the server and is never shown), durations with
//! units on every time flag, `--tokenizer` with a Hugging Face model id from a local cache, warm-up requests
//! on top of the measured ones, and dataset runs named after their dataset.
#![cfg(feature = "sim")] // starts the built-in simulator

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use llmperf_actors::{SimConfig, SimServer, start_simulator};
use serde_json::Value;

const KEY: &str = "sk-flag-7f3a9c1e5b";

fn sim() -> SimServer {
    start_simulator(
        SimConfig {
            ttft_ms: 2.0,
            itl_ms: 1.0,
            ..SimConfig::default()
        },
        "127.0.0.1",
        0,
    )
    .expect("simulator starts")
}

/// The binary with no endpoint, key or Hugging Face variable from the developer's environment, in `dir`.
fn bin(dir: &Path) -> Command {
    let mut c = common::bin();
    for (k, _) in std::env::vars() {
        if ["ANTHROPIC_", "GCLOUD_", "VERTEXAI_", "HF_"]
            .iter()
            .any(|p| k.starts_with(p))
        {
            c.env_remove(k);
        }
    }
    c.current_dir(dir).args([
        "--model",
        "m",
        "--mean-input-tokens",
        "40",
        "--stddev-input-tokens",
        "0",
        "--mean-output-tokens",
        "5",
        "--stddev-output-tokens",
        "0",
        "--progress",
        "off",
    ]);
    c
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(out: Output) -> Output {
    assert!(out.status.success(), "{}", text(&out));
    out
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn find(dir: &Path, suffix: &str) -> PathBuf {
    files(dir)
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(suffix))
        .unwrap_or_else(|| panic!("no *{suffix} in {:?}", files(dir)))
}

fn chat_requests(sim: &SimServer) -> Vec<llmperf_actors::sim::ReceivedRequest> {
    sim.received()
        .into_iter()
        .filter(|r| r.path.ends_with("chat/completions"))
        .collect()
}

#[test]
fn base_url_and_api_key_flags_beat_the_environment_and_the_key_is_never_shown() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    // The environment names a dead endpoint and another key: the flags win. Debug logs, to see them all.
    let out = ok(bin(dir.path())
        .args(["--base-url", &sim.base_url(), "--api-key", KEY])
        .args(["--max-num-completed-requests", "3", "--results-dir", "out"])
        .env("OPENAI_API_BASE", "http://127.0.0.1:9/v1")
        .env("OPENAI_API_KEY", "sk-from-env")
        .env("RUST_LOG", "debug")
        .output()
        .unwrap());
    let sent = chat_requests(&sim);
    assert_eq!(sent.len(), 3);
    for r in &sent {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {KEY}").as_str())
        );
    }
    let shown = text(&out);
    assert!(!shown.contains(KEY), "the key is printed:\n{shown}");
    for f in files(&dir.path().join("out")) {
        let body = std::fs::read_to_string(&f).unwrap();
        assert!(!body.contains(KEY), "{} holds the key", f.display());
    }

    // No environment at all: --base-url alone is the endpoint.
    let dir = tempfile::tempdir().unwrap();
    ok(bin(dir.path())
        .args([
            "--base-url",
            &sim.base_url(),
            "--max-num-completed-requests",
            "2",
        ])
        .output()
        .unwrap());
    assert_eq!(chat_requests(&sim).len(), 5);
    assert_eq!(chat_requests(&sim)[4].header("authorization"), None);

    // A key that cannot be a header value is refused without being shown; so is a bad URL, naming the flag.
    let bad_key = format!("{KEY}\nX-Injected: 1");
    let out = bin(dir.path())
        .args(["--base-url", &sim.base_url(), "--api-key", &bad_key])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let shown = text(&out);
    assert!(
        shown.contains("--api-key") && !shown.contains(KEY),
        "{shown}"
    );
    let out = bin(dir.path())
        .args(["--base-url", "localhost:8000"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("--base-url"), "{}", text(&out));

    // --help shows neither variable's value.
    let out = ok(common::bin()
        .arg("--help")
        .env("OPENAI_API_KEY", KEY)
        .output()
        .unwrap());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--base-url <URL>") && help.contains("--api-key <KEY>"));
    assert!(!help.contains(KEY));
}

#[test]
fn a_base_url_in_the_config_file_loses_to_the_environment_and_wins_over_nothing() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!("base_url: {}\napi_key: file-key\n", sim.base_url());
    std::fs::write(dir.path().join("c.yml"), yaml).unwrap();
    // Only the file: it is used.
    ok(bin(dir.path())
        .args(["--config", "c.yml", "--max-num-completed-requests", "1"])
        .output()
        .unwrap());
    assert_eq!(
        chat_requests(&sim)[0].header("authorization"),
        Some("Bearer file-key")
    );
    // The environment's key is above the file's.
    ok(bin(dir.path())
        .args(["--config", "c.yml", "--max-num-completed-requests", "1"])
        .env("OPENAI_API_KEY", "env-key")
        .output()
        .unwrap());
    assert_eq!(
        chat_requests(&sim)[1].header("authorization"),
        Some("Bearer env-key")
    );
    // The environment's base is above the file's: a dead endpoint, so the run cannot start.
    let out = bin(dir.path())
        .args(["--config", "c.yml", "--max-num-completed-requests", "1"])
        .env("OPENAI_API_BASE", "http://127.0.0.1:9/v1")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert_eq!(chat_requests(&sim).len(), 2);
}

#[test]
fn every_time_flag_takes_units_and_a_bad_one_names_the_flag() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    ok(bin(dir.path())
        .args(["--base-url", &sim.base_url(), "--results-dir", "out"])
        .args(["--max-num-completed-requests", "2", "--timeout", "2m"])
        .args(["--connect-timeout", "5s", "--first-byte-timeout", "1m"])
        .args(["--idle-timeout", "30s", "--request-timeout", "1h"])
        .args(["--grace-period", "500ms", "--warmup-seconds", "0s"])
        .output()
        .unwrap());
    let summary = common::read_json(&find(&dir.path().join("out"), "_summary.json"));
    assert_eq!(summary["timeout"], Value::from(120.0));
    // Plain numbers keep their unit, seconds (llmperf's `--timeout 600`); config keys take units too.
    std::fs::write(
        dir.path().join("c.yml"),
        "timeout: 1h30m\ngrace_period: 2s\n",
    )
    .unwrap();
    ok(bin(dir.path())
        .args(["--base-url", &sim.base_url(), "--results-dir", "out2"])
        .args(["--config", "c.yml", "--max-num-completed-requests", "1"])
        .output()
        .unwrap());
    let summary = common::read_json(&find(&dir.path().join("out2"), "_summary.json"));
    assert_eq!(summary["timeout"], Value::from(5400.0));
    ok(bin(dir.path())
        .args(["--base-url", &sim.base_url(), "--results-dir", "out3"])
        .args(["--timeout", "600", "--max-num-completed-requests", "1"])
        .output()
        .unwrap());
    let summary = common::read_json(&find(&dir.path().join("out3"), "_summary.json"));
    assert_eq!(summary["timeout"], Value::from(600.0));
    // A steady state of 1.5 s.
    ok(bin(dir.path())
        .args(["--base-url", &sim.base_url(), "--results-dir", "out4"])
        .args(["--duration", "1500ms", "--num-concurrent-requests", "1"])
        .output()
        .unwrap());
    let summary = common::read_json(&find(&dir.path().join("out4"), "_summary.json"));
    assert_eq!(summary["timeout"], Value::from(1.5));

    for (flag, value) in [
        ("--timeout", "5x"),
        ("--duration", "soon"),
        ("--grace-period=-1s", ""),
        ("--idle-timeout", "1d"),
    ] {
        let mut c = bin(dir.path());
        c.args(["--base-url", &sim.base_url(), flag]);
        if !value.is_empty() {
            c.arg(value);
        }
        let out = c.output().unwrap();
        assert!(!out.status.success(), "{flag} {value}");
        let err = String::from_utf8_lossy(&out.stderr);
        let name = flag.split('=').next().unwrap_or(flag);
        assert!(
            err.contains(name) && err.contains("500ms, 30s, 5m, 1h"),
            "{flag} {value}: {err}"
        );
    }
    std::fs::write(dir.path().join("bad.yml"), "timeout: soon\n").unwrap();
    let out = bin(dir.path())
        .args(["--base-url", &sim.base_url(), "--config", "bad.yml"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("timeout") && err.contains("'soon'"),
        "{err}"
    );

    // serve-sim's millisecond flags take units too.
    let out = common::bin()
        .args(["serve-sim", "--ttft-ms", "soon"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("--ttft-ms"));
}

/// A Hugging Face cache in `home` holding `tokenizer` as `id`'s tokenizer.json, at the snapshot `refs/main`
/// names.
fn fake_hf_cache(home: &Path, id: &str, tokenizer: &Path) {
    let repo = home
        .join("hub")
        .join(format!("models--{}", id.replace('/', "--")));
    let snapshot = repo.join("snapshots/0123456789abcdef0123456789abcdef01234567");
    std::fs::create_dir_all(&snapshot).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(
        repo.join("refs/main"),
        "0123456789abcdef0123456789abcdef01234567",
    )
    .unwrap();
    std::fs::copy(tokenizer, snapshot.join("tokenizer.json")).unwrap();
}

#[test]
fn a_tokenizer_model_id_resolves_from_the_hugging_face_cache_offline() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("hf");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    fake_hf_cache(
        &home,
        "meta-llama/Llama-2-7b-hf",
        &root.join("assets/llama-tokenizer.json"),
    );
    fake_hf_cache(
        &home,
        "acme/wordlevel",
        &root.join("tests/fixtures/wordlevel-tokenizer.json"),
    );
    let run = |id: &str, out: &str| {
        bin(dir.path())
            .args(["--base-url", &sim.base_url(), "--results-dir", out])
            .args(["--max-num-completed-requests", "2", "--tokenizer", id])
            .env("HF_HOME", &home)
            .env("HF_HUB_OFFLINE", "1")
            .output()
            .unwrap()
    };
    ok(run("meta-llama/Llama-2-7b-hf", "llama"));
    ok(run("acme/wordlevel", "word"));
    // The tokenizer found is the one used: the two count the same answers differently.
    let outputs = |out: &str| -> Vec<Value> {
        let f = find(&dir.path().join(out), "_individual_responses.json");
        common::read_json(&f)
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["number_output_tokens"].clone())
            .collect()
    };
    assert_ne!(outputs("llama"), outputs("word"));

    // Not cached and offline: the error says where to put the file and how to pass a path.
    let out = run("meta-llama/Missing-7b", "missing");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let place = home.join("hub/models--meta-llama--Missing-7b/snapshots/main/tokenizer.json");
    assert!(err.contains(&place.display().to_string()), "{err}");
    assert!(err.contains("--tokenizer /path/to/tokenizer.json"), "{err}");
    // A file put there by hand is found (no refs/ needed).
    std::fs::create_dir_all(place.parent().unwrap()).unwrap();
    std::fs::copy(root.join("assets/llama-tokenizer.json"), &place).unwrap();
    ok(run("meta-llama/Missing-7b", "found"));
}

#[test]
fn warmup_requests_come_on_top_of_the_measured_ones() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    ok(bin(dir.path())
        .args(["--base-url", &sim.base_url(), "--results-dir", "out"])
        .args([
            "--max-num-completed-requests",
            "10",
            "--warmup-requests",
            "3",
        ])
        .args(["--num-concurrent-requests", "2"])
        .output()
        .unwrap());
    assert_eq!(
        chat_requests(&sim).len(),
        13,
        "10 measured + 3 warm-up sent"
    );
    let out = dir.path().join("out");
    let individual = common::read_json(&find(&out, "_individual_responses.json"));
    assert_eq!(individual.as_array().unwrap().len(), 10);
    let summary = common::read_json(&find(&out, "_summary.json"));
    assert_eq!(summary["results_num_completed_requests"], Value::from(10));
    assert_eq!(summary["results_num_warmup_requests"], Value::from(3));
    assert_eq!(summary["max_num_completed_requests"], Value::from(10));
    let log = common::read_jsonl(&find(&out, "_requests.jsonl"));
    let warm = log
        .iter()
        .filter(|l| l["metrics"]["warmup"] == Value::Bool(true))
        .count();
    assert_eq!((log.len(), warm), (13, 3));
}

#[test]
fn a_dataset_run_is_named_after_its_dataset_and_records_what_it_used() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let dataset = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/prompts.jsonl");
    ok(bin(dir.path())
        .args(["--base-url", &sim.base_url(), "--results-dir", "out"])
        .args(["--dataset", dataset.to_str().unwrap()])
        .args(["--max-num-completed-requests", "4"])
        .output()
        .unwrap());
    let out = dir.path().join("out");
    let summary_file = out.join("m_prompts_summary.json");
    assert!(summary_file.is_file(), "{:?}", files(&out));
    assert!(out.join("m_prompts_individual_responses.json").is_file());
    let summary = common::read_json(&summary_file);
    assert_eq!(summary["name"], Value::from("m_prompts_summary"));
    assert_eq!(summary["dataset"], Value::from(dataset.to_str().unwrap()));
    assert!(summary.get("mean_input_tokens").is_none(), "{summary}");
    assert!(summary.get("stddev_input_tokens").is_none(), "{summary}");
    // One line has no max_tokens: its length came from the output settings, which are recorded.
    assert_eq!(summary["mean_output_tokens"], Value::from(5));

    // Every line with its max_tokens: no length setting was used, none is recorded.
    let own = dir.path().join("own-lengths.jsonl");
    std::fs::write(
        &own,
        "{\"prompt\": \"Say hi.\", \"max_tokens\": 3}\n{\"prompt\": \"Say bye.\", \"max_tokens\": 4}\n",
    )
    .unwrap();
    ok(bin(dir.path())
        .args(["--base-url", &sim.base_url(), "--results-dir", "out2"])
        .args(["--dataset", own.to_str().unwrap()])
        .args(["--max-num-completed-requests", "2"])
        .output()
        .unwrap());
    let summary = common::read_json(&dir.path().join("out2/m_own-lengths_summary.json"));
    for key in [
        "mean_input_tokens",
        "stddev_input_tokens",
        "mean_output_tokens",
        "stddev_output_tokens",
    ] {
        assert!(summary.get(key).is_none(), "{key} in {summary}");
    }

    // A run without a dataset keeps the original's name and keys.
    ok(bin(dir.path())
        .args(["--base-url", &sim.base_url(), "--results-dir", "out3"])
        .args(["--max-num-completed-requests", "1"])
        .output()
        .unwrap());
    let summary = common::read_json(&dir.path().join("out3/m_40_5_summary.json"));
    assert_eq!(summary["mean_input_tokens"], Value::from(40));
    assert!(summary.get("dataset").is_none());
}
