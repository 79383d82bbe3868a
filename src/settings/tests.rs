//! Tests of the settings layering and validation.

use std::collections::HashMap;

use super::*;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn builder() -> SettingsBuilder {
    Settings::builder().model("m")
}

fn config_file(text: &str) -> (tempfile::TempDir, SettingsBuilder) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yml");
    std::fs::write(&path, text).unwrap();
    let b = Settings::builder().config_file(path);
    (dir, b)
}

#[test]
fn defaults_are_the_originals() {
    let s = builder()
        .env(env(&[("OPENAI_API_BASE", "http://x/v1")]))
        .build()
        .unwrap();
    assert_eq!(s.input_confs[0].mean, 550);
    assert_eq!(s.input_confs[0].stddev, 150);
    assert_eq!(s.output_confs[0].mean, 150);
    assert_eq!(s.output_confs[0].stddev, 80);
    assert_eq!(s.num_concurrent_requests, 10);
    assert_eq!(s.timeout, Duration::from_secs(90));
    assert_eq!(s.max_num_completed_requests, 10);
    assert_eq!(s.seed, 11111);
    assert_eq!(s.results_dir, None);
    assert_eq!(s.endpoint, Endpoint::Url("http://x/v1".into()));
    assert!(s.additional_sampling_params.is_empty());
}

#[test]
fn precedence_file_env_cli() {
    let (_d, a) = config_file(
        "openai_api_base: builtin\nmodels: [a]\nnum_concurrent_requests: 3\ntimeout: 5\nseed: 1\n",
    );
    let s = a.clone().build().unwrap();
    assert_eq!((s.num_concurrent_requests, s.seed), (3, 1));
    assert_eq!(s.endpoint, Endpoint::Builtin);
    let e = env(&[
        ("LLMPERF_NUM_CONCURRENT_REQUESTS", "4"),
        ("OPENAI_API_BASE", "http://e/v1"),
    ]);
    let a = a.env(e);
    let s = a.clone().build().unwrap();
    assert_eq!(s.num_concurrent_requests, 4);
    assert_eq!(s.endpoint, Endpoint::Url("http://e/v1".into()));
    let s = a
        .num_concurrent_requests(5)
        .model("cli-model")
        .build()
        .unwrap();
    assert_eq!(s.num_concurrent_requests, 5);
    assert_eq!(s.models, ["cli-model"]);
    assert_eq!(s.timeout, Duration::from_secs(5));
}

#[test]
fn matrix_from_the_forks_config() {
    let (_d, a) = config_file(
        "openai_api_base: http://h/v1
openai_api_key: k
models: ['llama2:7b', 'mistral:7b']
token_confs:
  input:
    - {name: input-S, mean: 150, stddev: 100}
    - {name: input-M, mean: 650, stddev: 250}
  output:
    - {name: output-S, mean: 50, stddev: 20}
",
    );
    let s = a.build().unwrap();
    let runs = s.runs();
    let names: Vec<&str> = runs.iter().map(|r| r.base_name.as_str()).collect();
    assert_eq!(
        names,
        [
            "llama2-7b_150_50",
            "llama2-7b_650_50",
            "mistral-7b_150_50",
            "mistral-7b_650_50"
        ]
    );
    assert_eq!(s.api_key.as_ref().map(Secret::expose), Some("k"));
}

#[test]
fn clashing_runs_get_distinct_file_names() {
    let (_d, a) = config_file(
        "openai_api_base: builtin
models: ['a/b', 'a:b']
token_confs:
  input:
    - {name: x, mean: 100, stddev: 1}
    - {name: y, mean: 100, stddev: 50}
",
    );
    let runs = a.build().unwrap().runs();
    let mut names: Vec<&str> = runs.iter().map(|r| r.base_name.as_str()).collect();
    assert_eq!(names.len(), 4);
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 4, "{names:?}");
}

#[test]
fn bad_input_names_the_key() {
    let msg =
        |b: SettingsBuilder, e: &[(&str, &str)]| b.env(env(e)).build().unwrap_err().to_string();
    let base = [("OPENAI_API_BASE", "http://x/v1")];
    let (_d, a) = config_file("openai_api_base: builtin\nmodel: m\nnum_concurent_requests: 3\n");
    let m = msg(a, &[]);
    assert!(m.contains("num_concurent_requests"), "{m}");
    let (_d2, a) = config_file("openai_api_base: builtin\nmodel: m\ntimeout: soon\n");
    let m = msg(a, &[]);
    assert!(m.contains("timeout"), "{m}");
    assert!(msg(Settings::builder(), &base).contains("--model"));
    assert!(msg(builder(), &[]).contains("OPENAI_API_BASE"));
    assert!(msg(builder(), &[("OPENAI_API_BASE", "localhost:8000")]).contains("http://"));
    let with = |f: fn(&mut ConfigLayer)| builder().configure(f);
    let m = msg(
        with(|c| c.additional_sampling_params = Some("[1]".into())),
        &base,
    );
    assert!(m.contains("additional_sampling_params"), "{m}");
    let m = msg(with(|c| c.metadata = Some("a=1,b".into())), &base);
    assert!(m.contains("'b'"), "{m}");
    assert!(msg(builder().num_concurrent_requests(0), &base).contains("num_concurrent_requests"));
    let m = msg(with(|c| c.llm_api = Some("sagemaker".into())), &base);
    assert!(m.contains("sagemaker"), "{m}");
    let missing = builder().config_file("/nonexistent/c.yml");
    assert!(msg(missing, &base).contains("/nonexistent/c.yml"));
}

#[test]
fn correctness_section_overrides_top_level_and_cli_overrides_both() {
    let (_d, a) = config_file(
        "openai_api_base: builtin
models: [big]
num_concurrent_requests: 8
correctness:
  model: small
  num_concurrent_requests: 2
  additional_sampling_params: {top_p: 0.5}
",
    );
    let c = a.clone().correctness();
    let s = c.clone().build().unwrap();
    assert_eq!(s.models, ["small"]);
    assert_eq!(s.num_concurrent_requests, 2);
    assert_eq!(s.max_num_completed_requests, 50);
    assert_eq!(s.additional_sampling_params["top_p"], 0.5);
    let load = a.build().unwrap();
    assert_eq!(
        (load.models[0].as_str(), load.num_concurrent_requests),
        ("big", 8)
    );
    assert_eq!(load.max_num_completed_requests, 10);
    let s = c
        .num_concurrent_requests(3)
        .max_num_completed_requests(7)
        .build()
        .unwrap();
    assert_eq!(
        (s.num_concurrent_requests, s.max_num_completed_requests),
        (3, 7)
    );
}

#[test]
fn metadata_and_params() {
    let s = builder()
        .configure(|c| {
            c.metadata = Some("team=infra,url=http://x/?a=b".into());
            c.additional_sampling_params = Some(r#"{"temperature": 0.5, "max_tokens": 7}"#.into());
        })
        .env(env(&[("OPENAI_API_BASE", "http://x/v1")]))
        .build()
        .unwrap();
    assert_eq!(s.metadata["url"], "http://x/?a=b");
    assert_eq!(s.additional_sampling_params["max_tokens"], 7);
}

#[test]
fn start_at_from_file_env_or_flag_and_empty_is_unset() {
    let at = |s: &Settings| {
        s.start_at.map(|t| {
            t.duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs_f64()
        })
    };
    let (_d, a) = config_file("openai_api_base: builtin\nmodels: [a]\nstart_at: 1000\n");
    assert_eq!(at(&a.clone().build().unwrap()), Some(1000.0));
    let a = a.env(env(&[("LLMPERF_START_AT", "1970-01-01T00:33:20.5Z")]));
    assert_eq!(at(&a.clone().build().unwrap()), Some(2000.5));
    let a = a.configure(|c| c.start_at = Some("3000".into()));
    assert_eq!(at(&a.build().unwrap()), Some(3000.0));
    // An empty value (an optional Kubernetes env entry with nothing in it) starts at once.
    let (_d, a) = config_file("openai_api_base: builtin\nmodels: [a]\n");
    let e = env(&[("LLMPERF_START_AT", "")]);
    assert_eq!(at(&a.clone().env(e).build().unwrap()), None);
    let e = env(&[("LLMPERF_START_AT", "soon")]);
    let msg = a.env(e).build().unwrap_err().to_string();
    assert!(
        msg.contains("LLMPERF_START_AT") && msg.contains("'soon'"),
        "{msg}"
    );
}
