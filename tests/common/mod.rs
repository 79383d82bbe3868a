//! Helpers shared by the tests that run the real binary (sharding, merge, container paths).
#![allow(dead_code)] // each test file uses its own subset

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// The binary, with no developer endpoint or settings (nor a Kubernetes index) leaking in.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_llmperf-actors"));
    for (k, _) in std::env::vars() {
        if k.starts_with("OPENAI_") || k.starts_with("LLMPERF_") || k == "JOB_COMPLETION_INDEX" {
            c.env_remove(k);
        }
    }
    c.env("RUST_LOG", "warn");
    c
}

/// Asserts that the command succeeded, showing its output otherwise.
pub fn check(out: Output) -> Output {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Writes `yaml` to `dir/config.yml` and runs `--config config.yml ARGS` in `dir` with `envs`.
pub fn run_config(dir: &Path, yaml: &str, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let cfg = dir.join("config.yml");
    std::fs::write(&cfg, yaml).unwrap();
    let mut c = bin();
    c.arg("--config").arg(&cfg).args(args).current_dir(dir);
    for (k, v) in envs {
        c.env(k, v);
    }
    check(c.output().unwrap())
}

pub fn read_json(p: &Path) -> Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub fn read_jsonl(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
