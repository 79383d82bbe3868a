//! The saturating engine end to end: the real binary in a closed loop against the simulator, at concurrencies
//! below, at and above its batch slots. What a serving engine shows must show here — the time to first token
//! grows once requests queue, the per-token decode time grows with the batch, the throughput levels off —
//! and the saturated throughput and time to first token match an independent discrete-event model of the
//! documented rules (`tests/common/engine_model.rs`, which does not call the simulator's code).
//!
//! Only orderings and generous bounds: this runs on a busy two-core box. The engine's schedule is exact
//! (see `src/sim/scheduler.rs`'s tests); what is loose here is the client's view of it.
#![cfg(feature = "sim")] // starts the built-in simulator

mod common;

#[path = "common/engine_model.rs"]
mod engine_model;
#[path = "common/prom.rs"]
mod prom;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use engine_model::{Engine, Load, simulate, throughput};
use llmperf_actors::SimConfig;
use serde_json::Value;

/// 4 slots; prefill 2 ms + 0.1 ms per prompt token; decode step 4 ms + 2 ms per running request. The fixed
/// prefill time is small beside the prompt's, as on a real accelerator, so the saturated throughput hardly
/// depends on how the arrivals happen to group (the band of docs/simulator.md is 2 % wide).
const MODEL: Engine = Engine {
    slots: 4,
    f: 2.0,
    p: 0.1,
    d: 4.0,
    r: 2.0,
    kv: None,
};
const OUTPUT: u64 = 16;

fn sim_config() -> SimConfig {
    SimConfig {
        batch_slots: Some(MODEL.slots),
        ttft_ms: MODEL.f,
        prefill_ms_per_token: Some(MODEL.p),
        decode_step_ms: Some(MODEL.d),
        decode_ms_per_running: Some(MODEL.r),
        workers: 2,
        ..SimConfig::default()
    }
}

/// `GET /metrics` over a raw connection.
fn scrape(addr: SocketAddr) -> Option<prom::Scrape> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: sim\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (_, body) = text.split_once("\r\n\r\n")?;
    Some(prom::Scrape::parse(body))
}

/// One closed-loop run's client-side view.
struct Run {
    ttft_p50: f64,
    ttft_mean: f64,
    tpot_p50: f64,
    throughput: f64,
    prompt_tokens: f64,
    /// The most running and waiting requests `/metrics` showed during the run.
    max_running: f64,
    max_waiting: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn run(sim: &llmperf_actors::SimServer, concurrency: usize, requests: usize) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let before = scrape(sim.addr).expect("a scrape");
    let mut child = common::bin()
        .args(["--model", "sat", "--llm-api", "openai"])
        .args(["--mean-input-tokens", "200", "--stddev-input-tokens", "0"])
        .args(["--mean-output-tokens", &OUTPUT.to_string()])
        .args(["--stddev-output-tokens", "0"])
        .args(["--num-concurrent-requests", &concurrency.to_string()])
        .args(["--max-num-completed-requests", &requests.to_string()])
        .args([
            "--timeout",
            "600",
            "--progress",
            "off",
            "--results-dir",
            "out",
        ])
        .env("OPENAI_API_BASE", sim.base_url())
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the binary");
    let (mut max_running, mut max_waiting) = (0.0_f64, 0.0_f64);
    let gauge = |s: &prom::Scrape, name: &str| s.value(name, &[("model_name", "sim-model")]);
    while child.try_wait().expect("wait").is_none() {
        if let Some(s) = scrape(sim.addr) {
            max_running = max_running.max(gauge(&s, "vllm:num_requests_running"));
            max_waiting = max_waiting.max(gauge(&s, "vllm:num_requests_waiting"));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let out = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}\n{stderr}", out.status);
    let base = dir.path().join(format!("out/sat_200_{OUTPUT}"));
    let records: Vec<Value> =
        common::read_jsonl(Path::new(&format!("{}_requests.jsonl", base.display())))
            .into_iter()
            .map(|l| l["metrics"].clone())
            .collect();
    assert_eq!(records.len(), requests);
    let f = |m: &Value, k: &str| m[k].as_f64().unwrap_or_else(|| panic!("{k} in {m}"));
    for m in &records {
        assert!(m["error_code"].is_null(), "{m}");
        assert_eq!(m["server_completion_tokens"], OUTPUT, "{m}");
    }
    // The server's counters moved by exactly what the client was told in the usage objects.
    let after = scrape(sim.addr).expect("a scrape");
    let delta = |name: &str| after.value(name, &[]) - before.value(name, &[]);
    let told = |k: &str| records.iter().map(|m| f(m, k)).sum::<f64>();
    assert_eq!(
        delta("vllm:generation_tokens_total"),
        told("server_completion_tokens")
    );
    assert_eq!(
        delta("vllm:prompt_tokens_total"),
        told("server_prompt_tokens")
    );
    assert_eq!(delta("vllm:request_success_total"), requests as f64);
    assert_eq!(
        delta("vllm:time_to_first_token_seconds_count"),
        requests as f64
    );
    let ttfts: Vec<f64> = records.iter().map(|m| f(m, "ttft_s")).collect();
    let summary = common::read_json(Path::new(&format!("{}_summary.json", base.display())));
    Run {
        ttft_p50: median(ttfts.clone()),
        ttft_mean: ttfts.iter().sum::<f64>() / ttfts.len() as f64,
        tpot_p50: median(records.iter().map(|m| f(m, "tpot_s")).collect()),
        throughput: f(&summary, "results_request_throughput_per_s"),
        prompt_tokens: records
            .iter()
            .map(|m| f(m, "server_prompt_tokens"))
            .sum::<f64>()
            / records.len() as f64,
        max_running,
        max_waiting,
    }
}

#[test]
fn a_closed_loop_past_the_batch_slots_queues_and_levels_off_as_modelled() {
    let sim =
        llmperf_actors::start_simulator(sim_config().validated().expect("valid"), "127.0.0.1", 0)
            .expect("simulator");
    let one = run(&sim, 1, 8);
    let four = run(&sim, 4, 24);
    let eight = run(&sim, 8, 48);
    let sixteen = run(&sim, 16, 64);
    let show = |r: &Run| {
        format!(
            "ttft p50 {:.1} ms, tpot p50 {:.1} ms, {:.1} req/s, running ≤ {}, waiting ≤ {}",
            r.ttft_p50 * 1e3,
            r.tpot_p50 * 1e3,
            r.throughput,
            r.max_running,
            r.max_waiting
        )
    };
    let all = format!(
        "C=1: {}\nC=4: {}\nC=8: {}\nC=16: {}",
        show(&one),
        show(&four),
        show(&eight),
        show(&sixteen)
    );
    // Queueing: past the slots, the time to first token grows by whole waves.
    assert!(eight.ttft_p50 > 2.0 * four.ttft_p50, "{all}");
    assert!(sixteen.ttft_p50 > 1.5 * eight.ttft_p50, "{all}");
    // Batching: each decode step costs 4 + 2·B ms, 6 ms alone and 12 ms with four running.
    assert!(four.tpot_p50 > 1.3 * one.tpot_p50, "{all}");
    assert!(one.tpot_p50 > 0.005, "{all}");
    // The throughput levels off in the saturated band of docs/simulator.md: between S / (S·(f + p·P) +
    // (N − 1)(d + r·S)) (every admission a prefill of its own) and S / (f + p·S·P + (N − 1)(d + r·S))
    // (admissions in whole waves).
    let (s, n, p) = (
        MODEL.slots as f64,
        OUTPUT as f64 - 1.0,
        sixteen.prompt_tokens,
    );
    let decode = n * (MODEL.d + MODEL.r * s);
    let low = s / ((s * (MODEL.f + MODEL.p * p) + decode) / 1e3);
    let high = s / ((MODEL.f + MODEL.p * s * p + decode) / 1e3);
    let all = format!("{all}\nsaturated band {low:.2}–{high:.2} req/s");
    assert!(four.throughput > 1.5 * one.throughput, "{all}");
    for r in [&eight, &sixteen] {
        assert!((0.85 * low..1.1 * high).contains(&r.throughput), "{all}");
    }
    // The server's view: the batch never above its slots, a queue past them.
    for r in [&one, &four, &eight, &sixteen] {
        assert!(r.max_running <= MODEL.slots as f64, "{all}");
    }
    assert_eq!(sixteen.max_running, MODEL.slots as f64, "{all}");
    assert!(sixteen.max_waiting >= 4.0, "{all}");
    // The independent model's saturated figures, with the prompt length the server counted.
    let lives = simulate(
        MODEL,
        &Load::Closed {
            concurrency: 16,
            requests: 64,
        },
        sixteen.prompt_tokens.round() as u64,
        OUTPUT,
    );
    let predicted = throughput(&lives);
    let ttft = lives.iter().map(|l| l.ttft()).sum::<f64>() / lives.len() as f64 / 1e3;
    // Shown with --nocapture, and with a failure.
    eprintln!(
        "{all}\nmodel at C=16: {predicted:.2} req/s, mean TTFT {:.0} ms (measured {:.0} ms)",
        ttft * 1e3,
        sixteen.ttft_mean * 1e3
    );
    let ratio = sixteen.throughput / predicted;
    assert!(
        (0.85..1.1).contains(&ratio),
        "measured {:.2} req/s, model {predicted:.2} req/s\n{all}",
        sixteen.throughput
    );
    let ratio = sixteen.ttft_mean / ttft;
    assert!(
        (0.75..1.3).contains(&ratio),
        "mean TTFT measured {:.0} ms, model {:.0} ms\n{all}",
        sixteen.ttft_mean * 1e3,
        ttft * 1e3
    );
}

#[test]
fn the_model_matches_the_documented_formulas() {
    // Unloaded: TTFT = f + p·P; then d + r per token.
    let lone = simulate(
        MODEL,
        &Load::Open {
            arrivals: vec![0.0],
        },
        200,
        OUTPUT,
    );
    assert!((lone[0].ttft() - (2.0 + 0.1 * 200.0)).abs() < 1e-9);
    assert!((lone[0].e2e() - (22.0 + 15.0 * 6.0)).abs() < 1e-9);
    // Saturated with C ≥ 2S: waves of S, each f + p·S·P + (N − 1)(d + r·S) long.
    let lives = simulate(
        MODEL,
        &Load::Closed {
            concurrency: 8,
            requests: 40,
        },
        200,
        OUTPUT,
    );
    let wave = 2.0 + 0.1 * 4.0 * 200.0 + 15.0 * (4.0 + 2.0 * 4.0);
    assert!((throughput(&lives) - 4.0 / (wave / 1e3)).abs() < 1e-6);
    // A KV budget of two requests' reservations makes it a two-slot engine.
    let kv = Engine {
        kv: Some(2.0 * 216.0),
        ..MODEL
    };
    let two = simulate(
        kv,
        &Load::Open {
            arrivals: vec![0.0; 3],
        },
        200,
        OUTPUT,
    );
    assert_eq!(two[2].admitted, two[0].finished);
}

/// `serve-sim`'s flags turn the engine on, and `/metrics` shows its batch.
#[test]
fn serve_sim_flags_turn_the_engine_on() {
    let mut child = common::bin()
        .args([
            "serve-sim",
            "--port",
            "0",
            "--workers",
            "1",
            "--ttft-ms",
            "10",
        ])
        .args(["--batch-slots", "1", "--decode-step-ms", "20"])
        .args([
            "--prefill-ms-per-token",
            "0.01",
            "--decode-ms-per-running",
            "1",
        ])
        .args(["--kv-cache-tokens", "100000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve-sim");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the listening line");
    let addr: SocketAddr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    let body = r#"{"model": "m", "max_tokens": 100, "stream": true, "messages": [{"role": "user", "content": "hi"}]}"#;
    let mut streams: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = TcpStream::connect(addr).expect("connect");
            let req = format!(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: sim\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            s.write_all(req.as_bytes()).expect("send");
            s
        })
        .collect();
    let mut seen = None;
    for _ in 0..200 {
        let s = scrape(addr).expect("a scrape");
        let g = |n: &str| s.value(n, &[]);
        if g("vllm:num_requests_running") == 1.0 && g("vllm:num_requests_waiting") == 1.0 {
            seen = Some(g("vllm:kv_cache_usage_perc"));
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let kv = seen.expect("one running, one waiting (one slot)");
    assert!(
        kv > 0.0 && kv < 0.01,
        "one reservation of ~100 tokens in 100000: {kv}"
    );
    streams.clear();
    child.kill().expect("stop serve-sim");
    let _ = child.wait();
    // An engine key without the engine is refused, naming the key.
    let out = common::bin()
        .args(["serve-sim", "--port", "0", "--decode-step-ms", "5"])
        .output()
        .expect("serve-sim");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("simulator.decode_step_ms") && stderr.contains("--batch-slots"),
        "{stderr}"
    );
}

/// The `simulator:` section of a config file turns the engine on for `openai_api_base: builtin`.
#[test]
fn the_config_section_turns_the_engine_on() {
    let yaml = |concurrency: u64| {
        format!(
            "openai_api_base: builtin
model: m
mean_input_tokens: 60
stddev_input_tokens: 0
mean_output_tokens: 8
stddev_output_tokens: 0
num_concurrent_requests: {concurrency}
max_num_completed_requests: 16
results_dir: out
simulator: {{batch_slots: 2, ttft_ms: 20, decode_step_ms: 5, prefill_ms_per_token: 0.01,
             decode_ms_per_running: 1, kv_cache_tokens: 100000}}
"
        )
    };
    let ttft = |concurrency: u64| {
        let dir = tempfile::tempdir().expect("tempdir");
        common::run_config(dir.path(), &yaml(concurrency), &["--progress", "off"], &[]);
        let s = common::read_json(&dir.path().join("out/m_60_8_summary.json"));
        s["results_ttft_s_quantiles_p50"]
            .as_f64()
            .expect("ttft p50")
    };
    let (two, eight) = (ttft(2), ttft(8));
    // Eight clients, two slots: three waves of about 70 ms ahead of each request.
    assert!(eight > 3.0 * two, "p50 TTFT at 2: {two}, at 8: {eight}");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("config.yml"),
        "openai_api_base: builtin\nmodel: m\nsimulator: {kv_cache_tokens: 1000}\n",
    )
    .expect("write");
    let out = common::bin()
        .args(["--config", "config.yml"])
        .current_dir(dir.path())
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("simulator.kv_cache_tokens"), "{stderr}");
}
