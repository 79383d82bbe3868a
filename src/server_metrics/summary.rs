//! The summary's server keys (added after llmperf's and ours, never replacing one) and the client-vs-server
//! checks. Token and request counts are compared over the same window — from the baseline scrape, just before
//! the first request, to the last, just after the last reply — with every request the client recorded
//! (warm-up included: the server counted those too).

use serde_json::{Map, Value};

use super::roles::Role;
use super::view::ServerRun;
use crate::report::store::RecordStore;

/// Client and server counts that differ by more than this fraction of the larger one get a warning.
pub const MISMATCH_WARN_FRACTION: f64 = 0.03;

/// The quantiles written per histogram role.
const QUANTILES: [(&str, f64); 3] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)];

/// What the client counted over the run, for the comparison.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ClientCounts {
    /// Prompt tokens (the server's usage counts where it sent them, else the tokenizer's).
    pub prompt_tokens: u64,
    /// Generated tokens (likewise).
    pub generation_tokens: u64,
    /// Requests recorded (any outcome).
    pub requests: u64,
    /// Requests that finished without an error.
    pub completed: u64,
}

impl ClientCounts {
    /// The counts of `records`.
    pub fn of(records: &RecordStore) -> ClientCounts {
        let mut c = ClientCounts::default();
        for r in records.iter() {
            let m = &r.metrics;
            c.prompt_tokens += m.prompt_tokens;
            c.generation_tokens += m.generated_tokens;
            c.requests += 1;
            c.completed += u64::from(m.error_code.is_none());
        }
        c
    }
}

/// The warnings for counts that disagree by more than [`MISMATCH_WARN_FRACTION`].
pub fn warnings(run: &ServerRun, client: &ClientCounts) -> Vec<String> {
    let mut out = Vec::new();
    let pairs = [
        (Role::PromptTokens, client.prompt_tokens, "prompt tokens"),
        (
            Role::GenerationTokens,
            client.generation_tokens,
            "generated tokens",
        ),
        (Role::Requests, client.requests, "requests"),
    ];
    for (role, mine, what) in pairs {
        let Some(&theirs) = run.counters.get(&role) else {
            continue;
        };
        let mine = mine as f64;
        let larger = theirs.max(mine);
        if larger > 0.0 && (theirs - mine).abs() / larger > MISMATCH_WARN_FRACTION {
            out.push(format!(
                "the server counted {theirs:.0} {what} during the run, the client {mine:.0} ({:+.1}%): another \
                 client shares the server, requests failed or were cut, or the counts differ in what they count",
                (theirs - mine) / larger * 100.0
            ));
        }
    }
    if run.scrapes < 2 {
        out.push(format!(
            "only {} of {} scrapes of {} succeeded: the server's counts over the run are unknown",
            run.scrapes,
            run.scrapes + run.gaps.len() as u64,
            run.url
        ));
    }
    out
}

fn opt(v: Option<f64>) -> Value {
    v.filter(|x| x.is_finite()).map_or(Value::Null, Value::from)
}

/// A count: an integer when it is one (counters of tokens and requests are).
fn count(v: Option<f64>) -> Value {
    match v {
        Some(x) if x.is_finite() && x >= 0.0 && x.fract() == 0.0 && x < 9e15 => {
            Value::from(x as u64)
        }
        other => opt(other),
    }
}

/// The summary's `results_server_*` keys (and the client's counts beside them).
pub fn summary_keys(run: &ServerRun, records: &RecordStore) -> Map<String, Value> {
    let client = ClientCounts::of(records);
    let mut m = Map::new();
    m.insert("results_server_metrics_url".into(), run.url.clone().into());
    m.insert(
        "results_server_kind".into(),
        run.server.map_or(Value::Null, |s| s.name().into()),
    );
    m.insert("results_server_scrapes".into(), run.scrapes.into());
    m.insert(
        "results_server_scrape_gaps".into(),
        (run.gaps.len() as u64).into(),
    );
    let counter = |r: Role| count(run.counters.get(&r).copied().filter(|_| run.scrapes >= 2));
    m.insert(
        "results_server_prompt_tokens".into(),
        counter(Role::PromptTokens),
    );
    m.insert(
        "results_server_generation_tokens".into(),
        counter(Role::GenerationTokens),
    );
    m.insert("results_server_requests".into(), counter(Role::Requests));
    m.insert(
        "results_client_prompt_tokens".into(),
        client.prompt_tokens.into(),
    );
    m.insert(
        "results_client_generation_tokens".into(),
        client.generation_tokens.into(),
    );
    m.insert("results_client_requests".into(), client.requests.into());
    for role in [Role::Running, Role::Waiting, Role::KvUsage] {
        let mm = run.gauge_max_mean(role);
        m.insert(
            format!("results_server_{}_max", role.name()),
            opt(mm.map(|x| x.0)),
        );
        m.insert(
            format!("results_server_{}_mean", role.name()),
            opt(mm.map(|x| x.1)),
        );
    }
    for role in [Role::Ttft, Role::Itl, Role::Tpot, Role::QueueTime] {
        let d = run.histograms.get(&role).and_then(|h| h.delta());
        for (label, q) in QUANTILES {
            m.insert(
                format!("results_server_{}_{label}", role.name()),
                opt(d.as_ref().and_then(|d| d.quantile(q))),
            );
        }
        m.insert(
            format!("results_server_{}_mean", role.name()),
            opt(d.as_ref().and_then(|d| d.mean())),
        );
        m.insert(
            format!("results_server_{}_count", role.name()),
            count(d.as_ref().map(|d| d.count)),
        );
    }
    m.insert(
        "results_server_warnings".into(),
        Value::from(warnings(run, &client)),
    );
    m
}

/// The printed block: what was scraped, the server's counts beside the client's, its queue and KV peaks,
/// and the warnings.
pub fn text(run: &ServerRun, records: &RecordStore) -> String {
    let c = ClientCounts::of(records);
    let f = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.0}"));
    let counter = |r: Role| run.counters.get(&r).copied().filter(|_| run.scrapes >= 2);
    let mut s = format!(
        "Server metrics ({}, {}): {} scrapes, {} gaps\n",
        run.url,
        run.server.map_or("no known names", |s| s.name()),
        run.scrapes,
        run.gaps.len()
    );
    s.push_str(&format!(
        "  prompt tokens      server {:>10}  client {:>10}\n  generated tokens   server {:>10}  client {:>10}\n",
        f(counter(Role::PromptTokens)),
        c.prompt_tokens,
        f(counter(Role::GenerationTokens)),
        c.generation_tokens
    ));
    for (role, what) in [
        (Role::Waiting, "queue depth"),
        (Role::KvUsage, "KV-cache usage"),
    ] {
        if let Some((max, mean)) = run.gauge_max_mean(role) {
            s.push_str(&format!("  {what:<18} peak {max:.2}, mean {mean:.2}\n"));
        }
    }
    if let Some(d) = run.histograms.get(&Role::Ttft).and_then(|h| h.delta()) {
        let q = |p| d.quantile(p).map_or("-".into(), |x| format!("{x:.3}"));
        s.push_str(&format!(
            "  server TTFT (s)    p50 {}  p99 {}\n",
            q(0.5),
            q(0.99)
        ));
    }
    for w in warnings(run, &c) {
        s.push_str(&format!("  warning: {w}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server_metrics::prom::parse;
    use crate::server_metrics::samples::Attempt;

    fn run(generated: [u64; 2]) -> ServerRun {
        let scrape = |t: f64, g: u64| Attempt {
            t,
            result: Ok(parse(&format!(
                "vllm:generation_tokens_total {g}\nvllm:prompt_tokens_total 0\n"
            ))
            .unwrap()),
        };
        ServerRun::of("u", &[scrape(0.0, generated[0]), scrape(1.0, generated[1])])
    }

    #[test]
    fn counts_apart_by_more_than_the_threshold_warn_and_within_it_do_not() {
        let client = ClientCounts {
            generation_tokens: 1000,
            ..ClientCounts::default()
        };
        assert!(warnings(&run([500, 1500]), &client).is_empty());
        // 2.9% apart: within.
        assert!(warnings(&run([0, 1030]), &client).is_empty());
        let w = warnings(&run([0, 1040]), &client);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("1040 generated tokens") && w[0].contains("+3.8%"),
            "{w:?}"
        );
        // One scrape: nothing known.
        let none = ServerRun::of(
            "u",
            &[Attempt {
                t: 0.0,
                result: Err("HTTP 500".into()),
            }],
        );
        assert!(warnings(&none, &client)[0].contains("only 0 of 1 scrapes"));
    }
}
