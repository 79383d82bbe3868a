//! Things that look wrong in a run, each with the numbers that show it and advice — and only when its
//! condition means something for that run:
//!
//! - **errors**: more than 5 % of the requests failed. For HTTP errors it names the URL (without secrets) and
//!   shows the start of the response body, and the advice fits the status (404: the URL and the model; 401 /
//!   403: the key; 429: the rate; 5xx: the server's logs);
//! - **pacing** (open loop): more than 5 % of the requests (and at least 2) left later than
//!   [`late_threshold_s`] — 20 ms, or a quarter of the mean gap between arrivals when that is longer — behind
//!   their scheduled time, and no request waited in the `--max-concurrency` queue (then the queue, not the
//!   machine, explains the lag). A busy machine's few-millisecond hiccups at 5 req/s stay far below it;
//! - **token counts**: the tokenizer and the server disagree by more than 3 %;
//! - **max_tokens**: every successful response stopped at `max_tokens`, *and* that cap was not the length the
//!   user asked for: prompts from a dataset, whose answers have lengths of their own, capped by the sampled
//!   `max_tokens`. Sonnet prompts ask for exactly `max_tokens` tokens (that is the benchmark), and
//!   `--dataset-output-lengths` uses the recorded answers' lengths: reaching them is what was asked.

use crate::report::records::RunRecord;
use crate::report::stats::Stats;
use crate::report::store::RecordStore;

/// What the warnings need to know beyond the run's results.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WarningContext {
    /// The URL requests went to, without secrets (`None`: unknown, e.g. a client of the caller's own).
    pub url: Option<String>,
    /// The requests' `max_tokens` capped answers of their own length (dataset prompts without
    /// `--dataset-output-lengths`), rather than being the length the prompt asks for.
    pub lengths_are_caps: bool,
    /// A correctness run: only the error warning applies.
    pub correctness: bool,
}

/// Most characters of a response body shown in a warning.
const BODY_CHARS: usize = 200;

/// The lag behind the schedule that counts as late at `rate` requests/s: 20 ms, or a quarter of the mean gap
/// between arrivals when that is longer (50 ms at 5 req/s).
pub fn late_threshold_s(rate: f64) -> f64 {
    let gap = if rate > 0.0 { 1.0 / rate } else { 0.0 };
    (gap / 4.0).max(0.020)
}

/// Whether `late` of `total` paced requests leaving later than [`late_threshold_s`] is more than a busy
/// machine's hiccups: at least 2, and more than 5 %.
pub fn fell_behind(late: usize, total: usize) -> bool {
    late >= 2 && late as f64 / total.max(1) as f64 > 0.05
}

/// The warnings of a run, in the order they are printed. `records` are the run's records (warm-up included;
/// it is skipped), with the `max_tokens` each request asked for.
pub fn warnings(stats: &Stats, records: &RecordStore, context: &WarningContext) -> Vec<String> {
    let measured = || records.iter().filter(|r| !r.metrics.warmup);
    let mut out = Vec::new();
    if let Some(w) = errors(stats, measured(), context) {
        out.push(w);
    }
    if stats.number_cancelled > 0 {
        out.push(format!(
            "{} requests were still in flight when the run was stopped and were cancelled; they are not errors \
             and are left out of the error rate and the statistics — raise --grace-period to let them finish",
            stats.number_cancelled
        ));
    }
    if context.correctness {
        return out;
    }
    if let Some(w) = pacing(stats, measured()) {
        out.push(w);
    }
    if let Some(w) = token_counts(stats) {
        out.push(w);
    }
    let ok = stats.num_completed_requests;
    if context.lengths_are_caps
        && ok > 0
        && measured()
            .filter(|r| r.metrics.is_ok())
            .all(|r| r.hit_max_tokens())
    {
        out.push(format!(
            "all {ok} responses stopped at max_tokens — the answers were cut at the cap, so output lengths are the \
             cap's, not the model's; raise --mean-output-tokens, or use --dataset-output-lengths to ask for the \
             dataset's answer lengths"
        ));
    }
    out
}

/// The start of a response body, on one line.
fn body_start(msg: &str) -> String {
    let flat: String = msg.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut shown: String = flat.chars().take(BODY_CHARS).collect();
    if flat.chars().count() > BODY_CHARS {
        shown.push('…');
    }
    shown
}

/// More than 5 % failed: the counts and codes; for HTTP errors the URL and the start of the body.
fn errors(
    stats: &Stats,
    mut measured: impl Iterator<Item = impl std::ops::Deref<Target = RunRecord>>,
    context: &WarningContext,
) -> Option<String> {
    if stats.num_requests_started == 0 || stats.error_rate <= 0.05 {
        return None;
    }
    let mut text = format!(
        "error rate {:.1} % ({} of {} requests failed, codes {})",
        stats.error_rate * 100.0,
        stats.number_errors,
        stats.num_requests_started - stats.number_cancelled,
        stats.error_code_frequency()
    );
    // The most frequent code first in `error_codes`; its first record shows the body.
    let http = stats.error_codes.first().and_then(|(code, _)| {
        let status = code.as_u64().filter(|s| (400..600).contains(s))?;
        let record = measured.find(|r| r.metrics.error_code.as_ref() == Some(code))?;
        Some((status, body_start(&record.metrics.error_msg)))
    });
    let advice = match http {
        Some((status, body)) => {
            let at = context
                .url
                .as_deref()
                .map_or(String::new(), |u| format!(" from POST {u}"));
            text.push_str(&format!("; HTTP {status}{at}, body: {body}"));
            match status {
                404 => {
                    "check the API base (--base-url, OPENAI_API_BASE / openai_api_base, or the --llm-api's own), \
                     its path (usually ending in /v1) and the model name"
                }
                401 | 403 => "check the API key and that it may use this model",
                429 => "the server limits the rate: lower the concurrency / request rate",
                400 | 422 => {
                    "the server rejected the request: check the model name and --additional-sampling-params"
                }
                _ => {
                    "check the endpoint's logs, --timeout, or lower the concurrency / request rate"
                }
            }
        }
        None => {
            "check the endpoint's logs, the API key, --timeout, or lower the concurrency / request rate"
        }
    };
    text.push_str(" — ");
    text.push_str(advice);
    Some(text)
}

/// The open loop fell behind its schedule by more than a busy machine's hiccups (see the module docs).
fn pacing(
    stats: &Stats,
    measured: impl Iterator<Item = impl std::ops::Deref<Target = RunRecord>>,
) -> Option<String> {
    let l = &stats.load;
    let rate = l.target_request_rate?;
    let total = stats.num_requests_started as usize;
    if l.queued > 0 || total == 0 {
        return None;
    }
    let threshold = late_threshold_s(rate);
    let late = measured
        .filter(|r| r.metrics.dispatch_delay_s > threshold)
        .count();
    if !fell_behind(late, total) {
        return None;
    }
    Some(format!(
        "the client fell behind the schedule: {late} of {} requests went out more than {:.0} ms late (max {:.1} \
         ms) — {} req/s is too high for this machine (or it was busy); the scheduled latencies include the lag",
        total,
        threshold * 1e3,
        l.max_dispatch_delay_s * 1e3,
        super::number(rate)
    ))
}

/// The tokenizer and the server disagree on output tokens by more than 3 %.
fn token_counts(stats: &Stats) -> Option<String> {
    let l = &stats.load;
    let ratio = l.output_tokens_vs_server_ratio?;
    if (ratio - 1.0).abs() <= 0.03 {
        return None;
    }
    let mut advice = String::from(
        "the table and the standard metrics use the server's counts; the llmperf keys \
         (number_output_tokens, …) use the tokenizer's",
    );
    if !l.custom_tokenizer {
        advice.push_str(
            " — pass the model's own tokenizer.json with --tokenizer PATH, or \
             --use-server-token-counts to put the server's counts in the llmperf keys too",
        );
    }
    Some(format!(
        "the tokenizer counts {:+.1} % output tokens against the server's (special tokens such as BOS \
         excluded, reasoning included); {advice}",
        (ratio - 1.0) * 100.0
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_late_threshold_grows_with_the_gap_between_arrivals() {
        assert_eq!(late_threshold_s(5.0), 0.05);
        assert_eq!(late_threshold_s(1000.0), 0.020);
        assert_eq!(late_threshold_s(0.0), 0.020);
    }

    #[test]
    fn bodies_are_cut_and_flattened() {
        assert_eq!(body_start("a\n  b"), "a b");
        let long = "x".repeat(500);
        assert_eq!(body_start(&long).chars().count(), BODY_CHARS + 1);
    }
}
