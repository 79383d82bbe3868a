//! Workloads beyond sonnet lines, end to end through the real binary against a simulator running in the test
//! process (so the test can read what the server received): JSON Lines and ShareGPT datasets in order and
//! shuffled, `max_tokens` per line and from recorded answers, messages for each API, shared prefixes,
//! multi-turn conversations, trace replay, and bad files (named, and nothing sent).
#![cfg(feature = "sim")] // starts the built-in simulator

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use llmperf_actors::Tokenizer;
use llmperf_actors::sim::{ReceivedRequest, SimConfig, SimServer, start_in_background};
use serde_json::{Value, json};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn sim() -> SimServer {
    start_in_background(
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

fn bin(sim: &SimServer, dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_llmperf-actors"));
    for (k, _) in std::env::vars() {
        if ["OPENAI_", "LLMPERF_", "ANTHROPIC_", "GCLOUD_", "VERTEXAI_"]
            .iter()
            .any(|p| k.starts_with(p))
        {
            c.env_remove(k);
        }
    }
    c.env("RUST_LOG", "warn")
        .env("OPENAI_API_BASE", sim.base_url())
        .env("ANTHROPIC_BASE_URL", format!("http://{}", sim.addr))
        .env("ANTHROPIC_API_KEY", "test-key")
        .current_dir(dir)
        .args([
            "--model",
            "m",
            "--results-dir",
            "out",
            "--stddev-output-tokens",
            "0",
            "--mean-output-tokens",
            "10",
        ])
        .args(args);
    c
}

/// Runs the binary (it must succeed) and returns the requests the simulator received during the run.
fn run_ok(sim: &SimServer, dir: &Path, args: &[&str]) -> Vec<ReceivedRequest> {
    let before = sim.received().len();
    let out: Output = bin(sim, dir, args).output().expect("binary runs");
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    sim.received().into_iter().skip(before).collect()
}

/// The per-request log of the run in `dir` (one run per test).
fn log_lines(dir: &Path) -> Vec<Value> {
    let out = dir.join("out");
    let file = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("_requests.jsonl"))
        .expect("a per-request log");
    let mut lines: Vec<Value> = std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    lines.sort_by_key(|l| l["index"].as_u64().unwrap());
    lines
}

fn summary(dir: &Path) -> Value {
    let out = dir.join("out");
    let file = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("_summary.json"))
        .expect("a summary");
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

/// The four requests of tests/fixtures/prompts.jsonl as the chat API receives them, with their max_tokens
/// (the third line has none: sampled, mean 10 and stddev 0).
fn prompts_fixture() -> Vec<(Value, u64)> {
    vec![
        (json!([user("Name three primary colours.")]), 7),
        (
            json!([{"role": "system", "content": "You answer briefly."}, user("What is the capital of France?")]),
            5,
        ),
        (json!([user("Write a haiku about the sea.")]), 10),
        (json!([user("Count from one to five.")]), 9),
    ]
}

#[test]
fn jsonl_dataset_is_sent_in_order_cycling_with_its_max_tokens_and_ids() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let dataset = fixture("prompts.jsonl");
    let got = run_ok(
        &sim,
        dir.path(),
        &[
            "--dataset",
            dataset.to_str().unwrap(),
            "--max-num-completed-requests",
            "6",
            "--num-concurrent-requests",
            "1",
        ],
    );
    let expected = prompts_fixture();
    assert_eq!(got.len(), 6);
    for (k, r) in got.iter().enumerate() {
        let (messages, max_tokens) = &expected[k % 4];
        assert_eq!(r.path, "/v1/chat/completions");
        // No empty system message for dataset prompts: the messages exactly as the file gives them.
        assert_eq!(&r.body["messages"], messages, "request {k}");
        assert_eq!(r.body["max_tokens"], json!(max_tokens), "request {k}");
    }
    let lines = log_lines(dir.path());
    let ids: Vec<Value> = lines
        .iter()
        .map(|l| l["metrics"]["dataset_id"].clone())
        .collect();
    assert_eq!(
        ids,
        vec![
            json!("p1"),
            json!("p2"),
            json!("p3"),
            Value::Null,
            json!("p1"),
            json!("p2")
        ]
    );
    // Real prompt tokens, with the run's tokenizer.
    let llama = Tokenizer::llama();
    assert_eq!(
        lines[0]["metrics"]["number_input_tokens_actual"],
        json!(llama.count_plain("Name three primary colours.") + 1)
    );
}

#[test]
fn shuffled_dataset_follows_the_seed() {
    let sim = sim();
    let dataset = fixture("prompts.jsonl");
    let order = |seed: &str| {
        let dir = tempfile::tempdir().unwrap();
        let got = run_ok(
            &sim,
            dir.path(),
            &[
                "--dataset",
                dataset.to_str().unwrap(),
                "--dataset-order",
                "shuffle",
                "--seed",
                seed,
                "--max-num-completed-requests",
                "4",
                "--num-concurrent-requests",
                "1",
            ],
        );
        got.iter()
            .map(|r| {
                prompts_fixture()
                    .iter()
                    .position(|(m, _)| *m == r.body["messages"])
                    .expect("a prompt of the file")
            })
            .collect::<Vec<_>>()
    };
    let a = order("5");
    let mut sorted = a.clone();
    sorted.sort();
    assert_eq!(sorted, vec![0, 1, 2, 3], "each line once");
    assert_eq!(a, order("5"), "same seed, same order");
    let others: Vec<Vec<usize>> = ["6", "7", "8"].iter().map(|s| order(s)).collect();
    assert!(
        others.iter().any(|o| *o != a),
        "other seeds give other orders"
    );
}

#[test]
fn sharegpt_human_turns_are_the_prompts_and_answers_set_max_tokens() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let dataset = fixture("sharegpt.json");
    let got = run_ok(
        &sim,
        dir.path(),
        &[
            "--dataset",
            dataset.to_str().unwrap(),
            "--dataset-output-lengths",
            "--max-num-completed-requests",
            "3",
            "--num-concurrent-requests",
            "1",
        ],
    );
    let llama = Tokenizer::llama();
    let expected = [
        (
            "Hello, who are you?",
            "I am a helpful assistant that answers questions.",
        ),
        ("Tell me a joke.", "Why did the chicken cross the road?"),
        (
            "Summarise the plot of Hamlet in one sentence.",
            "A Danish prince avenges his father's murder and almost everyone dies.",
        ),
    ];
    assert_eq!(got.len(), 3);
    for (r, (q, a)) in got.iter().zip(expected) {
        assert_eq!(r.body["messages"], json!([user(q)]));
        assert_eq!(r.body["max_tokens"], json!(llama.count_plain(a)));
    }
    let ids: Vec<Value> = log_lines(dir.path())
        .iter()
        .map(|l| l["metrics"]["dataset_id"].clone())
        .collect();
    assert_eq!(ids, vec![json!("conv-a"), json!("conv-a"), json!("conv-b")]);
}

#[test]
fn messages_reach_anthropic_as_system_and_turns_and_completions_as_one_prompt() {
    let sim = sim();
    let dataset = fixture("prompts.jsonl");
    let args = |api: &'static str| {
        [
            "--dataset",
            dataset.to_str().unwrap(),
            "--max-num-completed-requests",
            "2",
            "--num-concurrent-requests",
            "1",
            "--llm-api",
            api,
        ]
    };
    let dir = tempfile::tempdir().unwrap();
    let got = run_ok(&sim, dir.path(), &args("anthropic"));
    assert_eq!(got[0].path, "/v1/messages");
    assert!(got[0].body.get("system").is_none());
    assert_eq!(
        got[0].body["messages"],
        json!([user("Name three primary colours.")])
    );
    assert_eq!(got[1].body["system"], json!("You answer briefly."));
    assert_eq!(
        got[1].body["messages"],
        json!([user("What is the capital of France?")])
    );
    assert_eq!(got[1].body["max_tokens"], json!(5));
    let dir = tempfile::tempdir().unwrap();
    let got = run_ok(&sim, dir.path(), &args("openai-completions"));
    assert_eq!(got[0].path, "/v1/completions");
    assert_eq!(got[0].body["prompt"], json!("Name three primary colours."));
    assert_eq!(
        got[1].body["prompt"],
        json!("You answer briefly.\n\nWhat is the capital of France?")
    );
}

#[test]
fn multi_turn_conversations_carry_the_previous_replies() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let got = run_ok(
        &sim,
        dir.path(),
        &[
            "--multi-turn",
            "3",
            "--max-num-completed-requests",
            "2",
            "--num-concurrent-requests",
            "2",
            "--mean-input-tokens",
            "40",
            "--stddev-input-tokens",
            "0",
        ],
    );
    assert_eq!(got.len(), 6, "2 conversations x 3 turns");
    let lines = log_lines(dir.path());
    assert_eq!(lines.len(), 6);
    for conv in 0..2u64 {
        let turns: Vec<&Value> = lines
            .iter()
            .filter(|l| l["metrics"]["conversation_id"] == json!(conv))
            .collect();
        assert_eq!(turns.len(), 3);
        for (k, l) in turns.iter().enumerate() {
            assert_eq!(l["metrics"]["turn"], json!(k + 1));
            let sent = &l["request_config"]["messages"];
            // What the server received is what the record says was sent.
            assert!(
                got.iter().any(|r| r.body["messages"] == *sent),
                "turn {k} reached the server"
            );
            let msgs = sent.as_array().unwrap();
            assert_eq!(msgs.len(), 2 * k + 1, "growing message list");
            for j in 0..k {
                // The previous turns' user messages and the model's actual replies.
                let prev = &turns[j]["request_config"]["messages"];
                assert_eq!(msgs[2 * j], prev.as_array().unwrap()[2 * j]);
                assert_eq!(msgs[2 * j + 1]["role"], json!("assistant"));
                assert_eq!(msgs[2 * j + 1]["content"], turns[j]["generated_text"]);
            }
            assert_eq!(msgs[2 * k]["role"], json!("user"));
        }
    }
    let by_turn = &summary(dir.path())["results_ttft_s_by_turn"];
    for t in ["1", "2", "3"] {
        assert_eq!(by_turn[t]["count"], json!(2), "{by_turn}");
        assert!(by_turn[t]["mean"].as_f64().unwrap() > 0.0);
    }
}

/// The longest common prefix of some texts.
fn common_prefix(texts: &[String]) -> String {
    let first = &texts[0];
    let mut end = first.len();
    for t in &texts[1..] {
        end = first
            .char_indices()
            .zip(t.chars())
            .find(|((_, a), b)| a != b)
            .map_or(end.min(t.len()), |((i, _), _)| i.min(end));
    }
    first[..end].to_string()
}

#[test]
fn every_prompt_of_a_group_starts_with_the_same_prefix_of_the_requested_length() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("own.jsonl");
    // Own parts that differ from their first character, so the common part is the prefix alone.
    std::fs::write(
        &data,
        "{\"prompt\": \"Alpha question?\"}\n{\"prompt\": \"Beta question?\"}\n{\"prompt\": \"Gamma?\"}\n\
         {\"prompt\": \"Delta?\"}\n{\"prompt\": \"Epsilon?\"}\n{\"prompt\": \"Zeta?\"}\n",
    )
    .unwrap();
    let got = run_ok(
        &sim,
        dir.path(),
        &[
            "--dataset",
            data.to_str().unwrap(),
            "--shared-prefix-tokens",
            "64",
            "--prefix-groups",
            "2",
            "--max-num-completed-requests",
            "6",
            "--num-concurrent-requests",
            "1",
        ],
    );
    let prompts: Vec<String> = got
        .iter()
        .map(|r| {
            r.body["messages"][0]["content"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let llama = Tokenizer::llama();
    let mut prefixes = Vec::new();
    for g in 0..2 {
        let group: Vec<String> = prompts.iter().skip(g).step_by(2).cloned().collect();
        let prefix = common_prefix(&group);
        assert_eq!(llama.count_plain(&prefix), 64, "group {g}: {prefix:?}");
        prefixes.push(prefix);
    }
    let own = [
        "Alpha question?",
        "Beta question?",
        "Gamma?",
        "Delta?",
        "Epsilon?",
        "Zeta?",
    ];
    for (i, p) in prompts.iter().enumerate() {
        assert_eq!(*p, format!("{}{}", prefixes[i % 2], own[i]), "prompt {i}");
    }
    assert_ne!(prefixes[0], prefixes[1], "two groups, two prefixes");
    for l in log_lines(dir.path()) {
        let i = l["index"].as_u64().unwrap();
        assert_eq!(
            l["request_config"]["metadata"]["prefix_group"],
            json!(i % 2)
        );
    }
}

#[test]
fn trace_replay_sends_each_line_at_its_timestamp() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let trace = fixture("trace.jsonl");
    let got = run_ok(
        &sim,
        dir.path(),
        &["--dataset", trace.to_str().unwrap(), "--replay-timestamps"],
    );
    let trace = [
        "First request of the trace.",
        "Second request, 300 ms later.",
        "Third, in a burst.",
        "Fourth, one second in.",
    ];
    // Each line reached the server once. Not in order: the second and third are due 50 ms apart and go out
    // from different client threads, so on a busy machine the third can arrive first; the order they were
    // due in is the records' (index = trace line), checked below.
    let mut texts: Vec<&str> = got
        .iter()
        .map(|r| r.body["messages"][0]["content"].as_str().unwrap())
        .collect();
    texts.sort();
    let mut want = trace;
    want.sort();
    assert_eq!(texts, want);
    let lines = log_lines(dir.path());
    assert_eq!(lines.len(), 4);
    let due = [0.0, 0.3, 0.35, 1.0];
    for ((l, t), text) in lines.iter().zip(due).zip(trace) {
        let m = &l["metrics"];
        assert_eq!(l["request_config"]["messages"][0]["content"], json!(text));
        assert_eq!(m["scheduled_start_s"], json!(t));
        // Never before its timestamp (exact); late only by what a busy machine adds, so the upper bound is
        // generous: a second.
        let actual = m["actual_start_s"].as_f64().unwrap();
        assert!(actual >= t && actual < t + 1.0, "due {t}, sent {actual}");
        let delay = m["dispatch_delay_s"].as_f64().unwrap();
        assert!((delay - (actual - t)).abs() < 1e-9);
        assert_eq!(
            l["request_config"]["sampling_params"]["max_tokens"],
            json!(4)
        );
    }
}

#[test]
fn bad_datasets_are_named_with_the_line_and_nothing_is_sent() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let good = "{\"prompt\": \"fine\"}\n";
    let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
        (
            vec![
                "--dataset".into(),
                dir.path().join("nope.jsonl").to_str().unwrap().into(),
            ],
            vec!["nope.jsonl", "does not exist"],
        ),
        (
            vec![
                "--dataset".into(),
                write("json.jsonl", &format!("{good}{{oops\n")),
            ],
            vec!["json.jsonl, line 2", "not valid JSON"],
        ),
        (
            vec![
                "--dataset".into(),
                write(
                    "max.jsonl",
                    &format!("{good}{good}{{\"prompt\": \"x\", \"max_tokens\": 0}}\n"),
                ),
            ],
            vec!["max.jsonl, line 3", "max_tokens", "positive integer"],
        ),
        (
            vec![
                "--dataset".into(),
                write("key.jsonl", "{\"promt\": \"x\"}\n"),
            ],
            vec!["key.jsonl, line 1", "unknown key \"promt\""],
        ),
        (
            vec!["--dataset".into(), write("empty.jsonl", "\n\n")],
            vec!["empty.jsonl has no prompts"],
        ),
        (
            vec![
                "--dataset".into(),
                write(
                    "trace.jsonl",
                    &format!("{{\"prompt\": \"a\", \"timestamp\": 0}}\n{good}"),
                ),
                "--replay-timestamps".into(),
            ],
            vec!["trace.jsonl, line 2", "no \"timestamp\""],
        ),
        (
            vec![
                "--dataset".into(),
                write("gpt.json", "[{\"conversations\": [{\"from\": \"human\"}]}]"),
            ],
            vec!["gpt.json, line 1 (conversation 0", "turn 0"],
        ),
    ];
    for (args, needles) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = bin(&sim, dir.path(), &args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(!stderr.contains("panicked"), "{stderr}");
        for n in needles {
            assert!(stderr.contains(n), "expected {n:?} in:\n{stderr}");
        }
    }
    assert!(sim.received().is_empty(), "nothing was sent");
}
