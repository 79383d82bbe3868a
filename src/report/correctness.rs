//! The correctness test's scoring and counts (spec §7). Pure. The collector scores each answer as it arrives
//! with [`score_answer`] (its [`Scorer`]), so every record of a correctness run carries its outcome; the
//! summary, the printed block and the files (`export/correctness.rs`) read the outcomes.
//!
//! Fixed against the original: only a `null` error code is a success (an error code `0` is an error), and
//! nothing divides by zero when no request completed (the rates are then 0).

use super::records::Outcome;
use crate::backend::RequestConfig;
use crate::metrics::Metrics;
use crate::report::store::RecordStore;
use crate::workload::correctness::answer_matches;

/// Scores one answer: its record, its text and the request it answers.
pub type Scorer = fn(&Metrics, &str, &RequestConfig) -> Outcome;

/// Scores an answer: an error if the request failed, else whether the text contains the number.
pub fn score(metrics: &Metrics, text: &str, expected: Option<u64>) -> Outcome {
    match (metrics.is_ok(), expected) {
        (false, _) => Outcome::Error,
        (true, Some(n)) if answer_matches(text, n as u32) => Outcome::Match,
        _ => Outcome::Mismatch,
    }
}

/// The correctness test's [`Scorer`]: the number asked for is the request's `metadata.rnd_number`.
pub fn score_answer(metrics: &Metrics, text: &str, request: &RequestConfig) -> Outcome {
    score(metrics, text, expected(request))
}

/// The number a correctness request asked for (`metadata.rnd_number`).
pub fn expected(request: &RequestConfig) -> Option<u64> {
    request.metadata.get("rnd_number")?.as_u64()
}

/// Counts over the recorded requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CorrectnessStats {
    /// Requests that failed.
    pub number_errors: u64,
    /// Successful requests whose answer lacks the number.
    pub num_mismatched_requests: u64,
    /// All recorded requests, errored ones included.
    pub num_completed_requests: u64,
    /// Completed minus errors.
    pub num_non_errored_requests: u64,
    /// errors / completed (completed includes errored requests, as the original).
    pub error_rate: f64,
    /// mismatched / completed (completed includes errored requests, as the original).
    pub mismatch_rate: f64,
}

impl CorrectnessStats {
    /// Counts and rates over `records` (their scored answers).
    pub fn of(records: &RecordStore) -> CorrectnessStats {
        let count = |o: Outcome| {
            records
                .iter()
                .filter(|r| r.answer.as_ref().map(|a| a.outcome) == Some(o))
                .count() as u64
        };
        let completed = records.len() as u64;
        let errors = count(Outcome::Error);
        let mismatched = count(Outcome::Mismatch);
        let rate = |x: u64| {
            if completed > 0 {
                x as f64 / completed as f64
            } else {
                0.0
            }
        };
        CorrectnessStats {
            number_errors: errors,
            num_mismatched_requests: mismatched,
            num_completed_requests: completed,
            num_non_errored_requests: completed - errors,
            error_rate: rate(errors),
            mismatch_rate: rate(mismatched),
        }
    }
}

/// Records for the correctness tests.
#[cfg(test)]
pub(crate) mod testing {
    use serde_json::{Map, Value};

    use super::*;
    use crate::metrics::{Measured, StartTimes, compute_metrics};
    use crate::report::records::{RunRecord, ScoredAnswer};

    /// A request for `n` answered with `text` (or failed), scored.
    pub(crate) fn scored(text: &str, n: u64, error: bool) -> RunRecord {
        let measured = Measured {
            timings: Default::default(),
            usage: Default::default(),
            error: error.then(|| (Value::from(500), "boom".to_string())),
            error_kind: None,
        };
        let metrics = compute_metrics(&measured, 3, 0, 20, StartTimes::unscheduled(0.0));
        let mut metadata = Map::new();
        metadata.insert("rnd_number".into(), n.into());
        let request_config = RequestConfig {
            model: "m".into(),
            prompt: ("q".into(), 0),
            sampling_params: Map::new(),
            llm_api: "openai".into(),
            metadata,
            messages: None,
        };
        let outcome = score_answer(&metrics, text, &request_config);
        RunRecord {
            answer: Some(Box::new(ScoredAnswer {
                generated_text: text.into(),
                request_config,
                outcome,
            })),
            ..RunRecord::new(0, metrics, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::scored;
    use super::*;

    #[test]
    fn scoring_and_rates() {
        let records = vec![
            scored("1,234", 1234, false),
            scored("The answer is 77", 77, false),
            scored("1 234", 1234, false),
            scored("", 5, true),
        ];
        let outcomes: Vec<Outcome> = records
            .iter()
            .map(|r| r.answer.as_ref().unwrap().outcome)
            .collect();
        assert_eq!(
            outcomes,
            [
                Outcome::Match,
                Outcome::Match,
                Outcome::Mismatch,
                Outcome::Error
            ]
        );
        let s = CorrectnessStats::of(&RecordStore::from(records));
        assert_eq!((s.number_errors, s.num_mismatched_requests), (1, 1));
        assert_eq!(
            (s.num_completed_requests, s.num_non_errored_requests),
            (4, 3)
        );
        assert_eq!((s.error_rate, s.mismatch_rate), (0.25, 0.25));
        let empty = CorrectnessStats::of(&RecordStore::new());
        assert_eq!((empty.error_rate, empty.mismatch_rate), (0.0, 0.0));
    }
}
