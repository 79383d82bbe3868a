//! Smoke test of the performance harness (`scripts/bench-client.sh`, see docs/performance.md): its smallest
//! configuration runs against the debug binaries and prints every table. It checks that the harness works,
//! not how fast anything is.
#![cfg(feature = "sim")] // starts the built-in simulator

use std::path::PathBuf;
use std::process::Command;

/// An example (the raw reader, the actor floor) next to the test's binaries, built (or brought up to date:
/// `cargo test --test bench_harness` alone does not build examples, and a stale one may not take today's
/// flags).
fn example(name: &str) -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_llmperf-actors"));
    let status = Command::new(env!("CARGO"))
        .args(["build", "--example", name])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap_or_else(|e| panic!("run cargo build --example {name}: {e}"));
    assert!(status.success(), "building the {name} example failed");
    bin.parent()
        .expect("the binary is in a target directory")
        .join("examples")
        .join(name)
}

#[test]
fn smoke_run_prints_every_table() {
    for tool in ["/usr/bin/time", "/usr/bin/ss", "/bin/bash"] {
        if !std::path::Path::new(tool).exists() {
            eprintln!("skipped: the harness needs {tool}");
            return;
        }
    }
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("skipped: the harness needs python3");
        return;
    }
    let out = Command::new("bash")
        .arg("scripts/bench-client.sh")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("SMOKE", "1")
        .env("BIN", env!("CARGO_BIN_EXE_llmperf-actors"))
        .env("RAW", example("raw_reader"))
        .env("FLOOR", example("actor_floor"))
        .output()
        .expect("run scripts/bench-client.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "harness failed:\n{stdout}\n{stderr}");
    for heading in [
        "## Capacity",
        "## Scale",
        "## Timing fidelity",
        "## Start-up",
        "# done",
    ] {
        assert!(stdout.contains(heading), "no {heading:?} in:\n{stdout}");
    }
    // Each table's rows start with the reader's name.
    let section = |heading: &str| -> Vec<Vec<String>> {
        let text = stdout.split(heading).nth(1).unwrap_or_default();
        let text = text.split("\n## ").next().unwrap_or_default();
        text.lines()
            .filter(|l| {
                ["raw ", "floor ", "client "]
                    .iter()
                    .any(|r| l.starts_with(r))
            })
            .map(|l| l.split_whitespace().map(str::to_string).collect())
            .collect()
    };
    // Capacity: a raw, an actor-floor and a client row at concurrency 1, each with requests done and no
    // errors.
    let rows = section("## Capacity");
    let readers: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        readers,
        ["raw", "floor", "client"],
        "capacity rows:\n{stdout}"
    );
    for cols in &rows {
        assert_eq!(cols[1], "1", "{cols:?}");
        let per_second: f64 = cols[2].parse().unwrap();
        assert!(per_second > 0.0, "{cols:?}");
        assert_eq!(cols[6], "0", "errors in {cols:?}");
    }
    // Fidelity: the client, the raw reader and the actor floor, each with requests paired to the simulator's
    // record and a TTFT error measured.
    let rows = section("## Timing fidelity");
    let readers: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        readers,
        ["client", "raw", "floor"],
        "fidelity rows:\n{stdout}"
    );
    for cols in &rows {
        assert_eq!(cols[1], "1", "{cols:?}");
        let paired: u64 = cols[2].parse().unwrap();
        assert!(paired >= 10, "{cols:?}");
        let ttft_p50: f64 = cols[4].parse().unwrap();
        // Reader minus simulator: the reader cannot see the first token before the simulator sent it, and on
        // loopback it sees it well within a second.
        assert!((-0.5..1000.0).contains(&ttft_p50), "{cols:?}");
        // CPU per chunk, from /usr/bin/time's 10 ms ticks: the bar readers' 20 requests may round to 0; the
        // client's start-up alone is more than a tick.
        let us_per_chunk: f64 = cols[12].parse().unwrap();
        let least = if cols[0] == "client" {
            f64::MIN_POSITIVE
        } else {
            0.0
        };
        assert!(
            us_per_chunk >= least && us_per_chunk.is_finite(),
            "{cols:?}"
        );
    }
}
