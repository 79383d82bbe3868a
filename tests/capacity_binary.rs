//! `llmperf-actors capacity` through the real binary against the saturating simulator: the capacity found
//! agrees with the one an independent discrete-event model of the simulator's documented rules predicts
//! (`tests/common/engine_model.rs`, which calls no simulator code) — once limited by TTFT through queueing, once
//! by TPOT through the batch size; the JSON and SVG are written and parse; the same seed replays the same
//! arrivals; the time budget stops the search; an SLO missed at the lightest load and one met at the heaviest
//! are verdicts, not capacities.
//!
//! The searches load the machine, so they run one at a time (a lock), each well under a minute.
#![cfg(feature = "sim")] // starts the built-in simulator

mod common;
#[path = "common/engine_model.rs"]
mod engine_model;

use std::path::Path;
use std::sync::Mutex;

use engine_model::{Engine, Load, simulate};
use llmperf_actors::settings::Arrival;
use llmperf_actors::sources::schedule;
use serde_json::Value;

/// One search at a time: each saturates the simulator and the client on purpose.
static HEAVY: Mutex<()> = Mutex::new(());

const PROMPT: u64 = 50;
const OUTPUT: u64 = 20;

/// The workload and the saturating simulator with slots `S`, `f`, `d`, `r` (ms); `p` = 0, so the prompt's
/// exact token count does not matter.
fn config(e: Engine) -> String {
    format!(
        "openai_api_base: builtin\nmodel: sim-model\nmean_input_tokens: {PROMPT}\nstddev_input_tokens: 0\n\
         mean_output_tokens: {OUTPUT}\nstddev_output_tokens: 0\nsimulator:\n  batch_slots: {}\n  ttft_ms: {}\n  \
         decode_step_ms: {}\n  decode_ms_per_running: {}\n",
        e.slots, e.f, e.d, e.r
    )
}

/// Runs `capacity` with `args` in `dir`; returns the parsed `_capacity.json` and stdout.
fn search(dir: &Path, e: Engine, args: &[&str]) -> (Value, String) {
    let mut all = vec![
        "capacity",
        "--results-dir",
        "out",
        "--progress",
        "off",
        "--output-format",
        "none",
    ];
    all.extend_from_slice(args);
    let cfg = dir.join("config.yml");
    std::fs::write(&cfg, config(e)).unwrap();
    all.extend(["--config", cfg.to_str().unwrap()]);
    let out = common::check(common::bin().args(&all).current_dir(dir).output().unwrap());
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let text = std::fs::read_to_string(dir.join("out/sim-model_50_20_capacity.json"))
        .expect("the capacity JSON is written");
    (
        serde_json::from_str(&text).expect("the capacity JSON parses"),
        stdout,
    )
}

fn quantile(mut v: Vec<f64>, q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
}

/// The steady-state quantile `q` of TTFT (or TPOT) at `rate` req/s in the model: Poisson arrivals, 2,000
/// requests, averaged over three seeds of the test's own; milliseconds.
fn model_quantile(e: Engine, rate: f64, tpot: bool, q: f64) -> f64 {
    let runs: Vec<f64> = (1..=3)
        .map(|seed| {
            let arrivals = schedule(rate, Arrival::Poisson, 2000, seed)
                .into_iter()
                .map(|t| t * 1000.0)
                .collect();
            let lives = simulate(e, &Load::Open { arrivals }, PROMPT, OUTPUT);
            let values = lives
                .iter()
                .map(|l| {
                    if tpot {
                        (l.finished - l.first_token) / (OUTPUT - 1) as f64
                    } else {
                        l.ttft()
                    }
                })
                .collect();
            quantile(values, q)
        })
        .collect();
    runs.iter().sum::<f64>() / runs.len() as f64
}

/// The highest rate whose model quantile is within `limit_ms`, by bisection (the quantile rises with the
/// rate).
fn model_capacity(e: Engine, tpot: bool, q: f64, limit_ms: f64) -> f64 {
    let (mut lo, mut hi) = (1.0, 200.0);
    for _ in 0..30 {
        let mid = (lo + hi) / 2.0;
        if model_quantile(e, mid, tpot, q) <= limit_ms {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

fn f(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number: {v}"))
}

/// Whether the client kept to its schedule in every step. When it fell behind (this machine too busy to
/// send on time: a stress run with two test suites, two busy loops and a build on two cores saw requests
/// 184 ms late at 8 req/s, and a TTFT p90 of 106 ms where the model says 10 ms), the latencies are this
/// machine's as much as the simulator's and the model does not describe them; the search must then say so.
fn kept_schedule(json: &Value, stdout: &str) -> bool {
    let behind: Vec<f64> = json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["client_late"] == true)
        .map(|s| s["load"].as_f64().unwrap())
        .collect();
    if behind.is_empty() {
        return true;
    }
    assert!(
        stdout.contains("warning: the client fell behind its schedule"),
        "{stdout}"
    );
    eprintln!("not compared with the model: the client fell behind at {behind:?} req/s");
    false
}

/// The found capacity against the model's: within 15 % (docs/capacity.md: one Poisson realisation of a few
/// hundred requests moves the capacity it shows by 6–10 % either way), its interval — the loads that passed
/// and failed *conclusively* — containing the model's value; and the search used no more requests than a
/// fixed 10-step sweep.
fn check_against_model(json: &Value, model: f64, limit: &str) {
    assert_eq!(json["verdict"], "found", "{json:#}");
    assert_eq!(json["limited_by"], limit, "{json:#}");
    let (cap, lo, hi) = (f(json, "capacity"), f(json, "ci_low"), f(json, "ci_high"));
    println!("{limit}: the model's capacity {model:.2}, found {cap:.2} ({lo}–{hi})");
    for s in json["steps"].as_array().unwrap() {
        println!(
            "  step at {}: n {} (effective {}) {} {}",
            s["load"], s["n"], s["effective_n"], s["decision"], s["reason"]
        );
    }
    assert!(lo <= cap && cap <= hi, "{lo} {cap} {hi}");
    assert!(
        (cap - model).abs() <= 0.15 * model,
        "capacity {cap} vs the model's {model:.2}: {json:#}"
    );
    assert!(
        lo <= model && model <= hi,
        "interval {lo}–{hi} vs the model's {model:.2}"
    );
    let used = json["requests_used"].as_u64().unwrap();
    assert!(used > 0 && used <= json["sweep_10_requests"].as_u64().unwrap());
    let steps = json["steps"].as_array().unwrap();
    assert!(steps.len() >= 4, "{steps:?}");
    for s in steps {
        assert!(["pass", "fail"].contains(&s["decision"].as_str().unwrap()));
        // An over-saturated step stops as soon as its queue plainly only grows, after a few requests.
        assert!(
            s["n"].as_u64().unwrap() >= 10 || s["over_saturated"] == true,
            "{s}"
        );
        assert!(s["effective_n"].as_u64().unwrap() <= s["n"].as_u64().unwrap());
        assert!(s["tau"].as_f64().unwrap() >= 1.0);
        // (A step stopped as over-saturated before any judged request completed has no goodput.)
        assert!(
            s["n"] == 0
                || (s["goodput"].as_f64().is_some() && s["goodput_ci_low"].as_f64().is_some()),
            "{s}"
        );
        assert_eq!(s["quantiles"][0]["name"], limit);
        assert!(!s["reason"].as_str().unwrap().is_empty());
    }
}

fn check_files(dir: &Path, json: &Value) {
    let svg = std::fs::read_to_string(dir.join("out/sim-model_50_20_capacity.svg")).unwrap();
    assert!(
        svg.contains("<svg") && svg.contains("Latency vs throughput"),
        "{svg:.200}"
    );
    // Each step keeps the usual per-step files.
    let logs = std::fs::read_dir(dir.join("out"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            let n = e.file_name().to_string_lossy().to_string();
            n.starts_with("sim-model_50_20_r") && n.ends_with("_summary.json")
        })
        .count();
    let mut loads: Vec<String> = json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["load"].to_string())
        .collect();
    loads.sort();
    loads.dedup();
    assert!(
        logs >= 1 && logs == loads.len(),
        "{logs} step summaries, steps at {loads:?}"
    );
}

#[test]
fn the_capacity_limited_by_ttft_through_queueing_matches_the_model() {
    let _one = HEAVY.lock().unwrap_or_else(|p| p.into_inner());
    // 4 slots, a 5 ms prefill and 5 ms decode steps: saturated near 35–40 req/s; the TTFT p90 reaches 100 ms
    // well before, through queueing.
    let e = Engine {
        slots: 4,
        f: 5.0,
        p: 0.0,
        d: 5.0,
        r: 0.0,
        kv: None,
    };
    let model = model_capacity(e, false, 0.9, 100.0);
    let dir = tempfile::tempdir().unwrap();
    let (json, stdout) = search(dir.path(), e, &model_search_args("ttft_p90=100ms"));
    println!("{stdout}");
    check_files(dir.path(), &json);
    if !kept_schedule(&json, &stdout) {
        return;
    }
    check_against_model(&json, model, "ttft_p90");
    assert!(
        stdout.contains("Capacity: ") && stdout.contains("limited by TTFT p90"),
        "{stdout}"
    );
    // A step that ends because it is decided did not time out.
    assert!(!stdout.contains("timed out"), "{stdout}");
    // The answer comes after the steps and before the file list, which names the search's own files.
    let (answer, list) = (stdout.find("Capacity: "), stdout.find("Files written"));
    assert!(
        answer.is_some() && list.is_some() && answer < list,
        "{stdout}"
    );
    let list = &stdout[list.unwrap()..];
    assert!(
        list.contains("capacity.json") && list.contains("capacity.svg"),
        "{stdout}"
    );
}

#[test]
fn the_capacity_limited_by_tpot_through_the_batch_size_matches_the_model() {
    let _one = HEAVY.lock().unwrap_or_else(|p| p.into_inner());
    // 32 slots (no queue at these rates); each running request adds 1 ms to every decode step, so the TPOT
    // grows with the batch the rate keeps running.
    let e = Engine {
        slots: 32,
        f: 2.0,
        p: 0.0,
        d: 4.0,
        r: 1.0,
        kv: None,
    };
    let model = model_capacity(e, true, 0.9, 20.0);
    let dir = tempfile::tempdir().unwrap();
    let (json, stdout) = search(dir.path(), e, &model_search_args("tpot_p90=20ms"));
    check_files(dir.path(), &json);
    if kept_schedule(&json, &stdout) {
        check_against_model(&json, model, "tpot_p90");
    }
}

/// The search flags of the two tests against the model, with the SLO `slo`.
fn model_search_args(slo: &str) -> Vec<&str> {
    vec![
        "--slo",
        slo,
        "--goodput",
        "0.8",
        "--min-rate",
        "2",
        "--start-rate",
        "8",
        "--max-rate",
        "200",
        "--tolerance",
        "0.1",
        "--max-step-requests",
        "120",
        // The search's interval holds the model's capacity in 96 % of seeds at 95 % and in all 80 at 99 %
        // (scripts/capacity-model.py): a test asserts what holds on any run.
        "--confidence",
        "0.99",
    ]
}

/// The interval the steps' verdicts give: the heaviest load that passed and the lightest that failed,
/// conclusively (decided by the intervals, or plainly over-saturated).
fn conclusive_bounds(json: &Value) -> (Option<f64>, Option<f64>) {
    let conclusive = |decision: &'static str| {
        json["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(move |s| {
                s["decision"] == decision && (s["confident"] == true || s["over_saturated"] == true)
            })
            .map(|s| s["load"].as_f64().unwrap())
    };
    (
        conclusive("pass").reduce(f64::max),
        conclusive("fail").reduce(f64::min),
    )
}

/// The scheduled offsets of a step's requests, from its per-request log.
fn offsets(dir: &Path, step_file: &str) -> Vec<f64> {
    let text = std::fs::read_to_string(dir.join("out").join(step_file)).unwrap();
    let mut v: Vec<(u64, f64)> = text
        .lines()
        .map(|l| {
            let r: Value = serde_json::from_str(l).unwrap();
            (
                r["index"].as_u64().unwrap(),
                r["metrics"]["scheduled_start_s"].as_f64().unwrap(),
            )
        })
        .collect();
    v.sort_by_key(|x| x.0);
    v.into_iter().map(|x| x.1).collect()
}

const LIGHT: Engine = Engine {
    slots: 8,
    f: 2.0,
    p: 0.0,
    d: 2.0,
    r: 0.0,
    kv: None,
};

#[test]
fn an_slo_met_at_the_heaviest_load_is_above_max_and_the_seed_replays_the_steps() {
    let _one = HEAVY.lock().unwrap_or_else(|p| p.into_inner());
    // A goodput target of 50 %: a step is decided after a few dozen requests (the default 95 % needs a
    // hundred or more to be shown, which this test is not about).
    let args = [
        "--slo",
        "e2e_p50=5s",
        "--goodput",
        "0.5",
        "--min-rate",
        "10",
        "--max-rate",
        "20",
        "--step-requests",
        "20",
        "--step-warmup",
        "2",
    ];
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let (ja, stdout) = search(a.path(), LIGHT, &args);
    assert_eq!(ja["verdict"], "above_max", "{ja:#}");
    assert_eq!(ja["capacity"], Value::Null);
    // The interval's low end is the heaviest load that passed conclusively. That is usually 20, but not
    // always on a busy machine: stalls make consecutive latencies alike, the effective sample shrinks, and
    // a pass by the point estimates (at the request cap or the time limit) is not conclusive (a stress run
    // saw ci_low 10).
    assert_eq!(ja["ci_low"].as_f64(), conclusive_bounds(&ja).0, "{ja:#}");
    assert!(
        ja["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["decision"] == "pass"),
        "{ja:#}"
    );
    assert!(stdout.contains("still meets the SLO"), "{stdout}");
    let loads = |j: &Value| -> Vec<f64> {
        j["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["load"].as_f64().unwrap())
            .collect()
    };
    assert_eq!(loads(&ja), [10.0, 20.0]);
    // The same seed: the same loads, and each step's requests due at exactly the same offsets.
    let (jb, _) = search(b.path(), LIGHT, &args);
    assert_eq!(loads(&jb), loads(&ja));
    let file = "sim-model_50_20_r10_requests.jsonl";
    let (oa, ob) = (offsets(a.path(), file), offsets(b.path(), file));
    // A step stops when its verdict is clear, which timing may move by a request or two; the arrivals up to
    // there are the same to the bit.
    let common = oa.len().min(ob.len());
    assert_eq!(oa[..common], ob[..common]);
    assert!(oa.len() >= 22 && oa[1] > 0.0, "{oa:?}");
    // Another seed: other arrivals.
    let mut other = args.to_vec();
    other.extend(["--seed", "7"]);
    search(c.path(), LIGHT, &other);
    let oc = offsets(c.path(), file);
    assert_ne!(oc[..common.min(oc.len())], oa[..common.min(oc.len())]);
}

#[test]
fn an_slo_missed_at_the_lightest_load_is_below_min_not_a_capacity() {
    let _one = HEAVY.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (json, stdout) = search(
        dir.path(),
        LIGHT,
        &[
            "--slo",
            "ttft_p90=1us",
            "--min-rate",
            "10",
            "--start-rate",
            "40",
            "--max-rate",
            "100",
        ],
    );
    assert_eq!(json["verdict"], "below_min", "{json:#}");
    assert_eq!(json["capacity"], Value::Null);
    assert_eq!(json["limited_by"], "ttft_p90");
    let loads: Vec<f64> = json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["load"].as_f64().unwrap())
        .collect();
    assert_eq!(loads, [40.0, 20.0, 10.0]);
    assert!(
        stdout.contains("No capacity: even the lightest load"),
        "{stdout}"
    );
}

#[test]
fn the_time_budget_stops_the_search() {
    let _one = HEAVY.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    // A pass needs 100 judged requests: 25 s at 4 req/s; the budget is 12 s. The first step is cut by the
    // budget (and decided by its point estimates); no other fits in what is left. A step starts only if
    // its warm-up and 20 judged requests fit in what is left (5.25 s here): the budget leaves room for a
    // start-up slowed by a busy machine (a stress run took 2.3 s to reach the first step, which left too
    // little of an 8 s budget with the default warm-up of 5).
    let (json, stdout) = search(
        dir.path(),
        LIGHT,
        &[
            "--slo",
            "e2e_p50=5s",
            "--min-rate",
            "4",
            "--step-requests",
            "100",
            "--step-warmup",
            "1",
            "--time-budget",
            "12s",
        ],
    );
    let took = started.elapsed().as_secs_f64();
    assert_eq!(json["verdict"], "incomplete", "{json:#}");
    assert_eq!(json["stopped_by"], "time_budget");
    let steps = json["steps"].as_array().unwrap();
    assert!(!steps.is_empty(), "{json:#}");
    assert!(steps[0]["n"].as_u64().unwrap() < 100, "{json:#}");
    assert_eq!(steps[0]["confident"], false);
    // The budget, plus the draining of the last requests (each about 45 ms) and the process' start.
    assert!(f(&json, "elapsed_s") < 12.0 + 5.0, "{json:#}");
    assert!(took < 60.0, "{took}");
    assert!(
        stdout.contains("Search incomplete (stopped by time_budget)"),
        "{stdout}"
    );
}

#[test]
fn bad_capacity_flags_are_refused_with_the_flag_named() {
    for (args, says) in [
        (vec!["capacity"], "--slo"),
        (vec!["capacity", "--slo", "ttft_p99=fast"], "not a duration"),
        (
            vec!["capacity", "--slo", "ttft_p99=1s", "--goodput", "2"],
            "--goodput",
        ),
        (
            vec!["capacity", "--slo", "ttft_p99=1s", "--sweep-rates", "1,2"],
            "--sweep-rates",
        ),
    ] {
        let out = common::bin()
            .args(&args)
            .env("OPENAI_API_BASE", "builtin")
            .args(["--model", "m"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// The highest concurrency whose TTFT quantile `q` stays within `limit_ms` in the model: a closed loop of C
/// clients, 400 requests each C.
fn model_concurrency(e: Engine, q: f64, limit_ms: f64) -> usize {
    (1..=32)
        .take_while(|&c| {
            let lives = simulate(
                e,
                &Load::Closed {
                    concurrency: c,
                    requests: 400,
                },
                PROMPT,
                OUTPUT,
            );
            quantile(lives.iter().map(|l| l.ttft()).collect(), q) <= limit_ms
        })
        .last()
        .unwrap_or(0)
}

#[test]
fn a_concurrency_search_finds_the_batch_size_the_model_predicts() {
    let _one = HEAVY.lock().unwrap_or_else(|p| p.into_inner());
    // 4 slots: up to 4 clients nobody waits for a slot (TTFT ≈ one prefill and one decode step); from 5 on,
    // a fifth of the requests or more wait a whole request (≈ 100 ms) for one.
    let e = Engine {
        slots: 4,
        f: 5.0,
        p: 0.0,
        d: 5.0,
        r: 0.0,
        kv: None,
    };
    let model = model_concurrency(e, 0.9, 50.0);
    assert_eq!(model, 4);
    let dir = tempfile::tempdir().unwrap();
    let (json, stdout) = search(
        dir.path(),
        e,
        &[
            "--search",
            "concurrency",
            "--slo",
            "ttft_p90=50ms",
            "--goodput",
            "0.8",
            "--min-rate",
            "1",
            "--max-rate",
            "32",
            "--max-step-requests",
            "120",
        ],
    );
    assert_eq!(json["search"], "concurrency");
    assert_eq!(json["verdict"], "found", "{json:#}");
    let loads: Vec<f64> = json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["load"].as_f64().unwrap())
        .collect();
    assert!(loads.iter().all(|l| l.fract() == 0.0), "{loads:?}");
    assert_eq!(f(&json, "capacity"), model as f64, "{stdout}");
    // Usually 4–5; on a busy machine a step's latencies can be too alike in a row for 120 requests to
    // decide it conclusively (a stress run saw 2–5): the interval is what the conclusive steps say, and it
    // holds the answer.
    let (lo, hi) = (json["ci_low"].as_f64(), json["ci_high"].as_f64());
    assert_eq!((lo, hi), conclusive_bounds(&json), "{json:#}");
    assert!(
        lo.is_none_or(|lo| lo <= 4.0) && hi.is_none_or(|hi| hi >= 5.0),
        "{json:#}"
    );
    assert!(stdout.contains("Capacity: 4 in flight"), "{stdout}");
}
