//! What a run is — its identity, declared once: which test, its file base name, the settings that define it
//! ([`RunParams`], which the run file `<base>_run.json` records as they are) and what it targeted. Every
//! output takes the run's identity from a [`RunDescription`]; `report DIR` and `merge` recover it from the
//! run file.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::stats::LoadOptions;
use crate::metrics::Slo;

/// Which of LLMPerf's tests a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TestKind {
    /// The load test (`token_benchmark_ray.py`).
    #[default]
    LoadTest,
    /// The correctness test (`llm_correctness.py`).
    Correctness,
}

/// The settings that define a run, in the order its run file writes them (a shard's run file holds the whole
/// run's concurrency and request budget).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunParams {
    /// The model queried.
    pub model: String,
    /// The API used (`openai`, `anthropic`, …).
    pub llm_api: String,
    /// Mean target prompt length (load test).
    pub mean_input_tokens: u64,
    /// Its standard deviation.
    pub stddev_input_tokens: u64,
    /// Mean `max_tokens` (load test).
    pub mean_output_tokens: u64,
    /// Its standard deviation.
    pub stddev_output_tokens: u64,
    /// Requests in flight at once.
    pub num_concurrent_requests: u64,
    /// Requests to send in all.
    pub max_num_completed_requests: u64,
    /// Extra body parameters (flattened into the summary).
    pub additional_sampling_params: Map<String, Value>,
    /// User metadata copied into the summary.
    pub metadata: Map<String, Value>,
    /// Seconds after which no request was launched.
    pub timeout_s: f64,
    /// Seed of the draws.
    pub seed: u64,
    /// A dataset run: the dataset file (as given). Its prompts came from the file, so the prompt-length
    /// settings were not used: the summary records `dataset` instead of `mean_input_tokens` and
    /// `stddev_input_tokens` (0 here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// A dataset run whose every line gave its `max_tokens`: the output-length settings were not used either
    /// (the summary leaves them out).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dataset_max_tokens: bool,
}

/// What a sweep varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepKind {
    /// Closed-loop concurrency.
    Concurrency,
    /// Open-loop request rate.
    Rate,
}

impl SweepKind {
    /// The name written into the sweep summary (`concurrency`, `request_rate`).
    pub fn name(self) -> &'static str {
        match self {
            SweepKind::Concurrency => "concurrency",
            SweepKind::Rate => "request_rate",
        }
    }
}

/// A run that is one step of a sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepStep {
    /// Base name of the sweep (the run's name without the step suffix).
    pub group: String,
    /// What is swept.
    pub kind: SweepKind,
    /// The step's value.
    pub value: f64,
}

/// One run's identity: everything the outputs say about what ran.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunDescription {
    /// Which test.
    pub test: TestKind,
    /// The sanitized base name of this process's files (with the `_shard-I-of-N` suffix when sharded).
    pub base_name: String,
    /// The settings (this process's share of the concurrency and requests, when sharded).
    pub params: RunParams,
    /// Open loop: the target request rate.
    pub target_request_rate: Option<f64>,
    /// Goodput targets.
    pub slo: Slo,
    /// Output tokens are counted with a tokenizer the user chose (`--tokenizer`).
    pub custom_tokenizer: bool,
    /// The sweep step this run is, if any.
    pub sweep: Option<SweepStep>,
}

impl RunDescription {
    /// A load test named `base_name` with these settings and no targets.
    pub fn load_test(base_name: &str, params: RunParams) -> RunDescription {
        RunDescription {
            base_name: base_name.to_string(),
            params,
            ..RunDescription::default()
        }
    }

    /// The summary's `name`: `<base>_summary`, unless the user's metadata sets `name` (metadata keys override
    /// the summary's, as the original's `dict.update` does).
    pub fn summary_name(&self) -> String {
        match self.params.metadata.get("name") {
            Some(Value::String(name)) => name.clone(),
            _ => format!("{}_summary", self.base_name),
        }
    }

    /// The targets the statistics compare against; `queued` is the launcher's count of requests that waited
    /// for a free slot.
    pub fn load_options(&self, queued: usize) -> LoadOptions {
        LoadOptions {
            target_request_rate: self.target_request_rate,
            slo: self.slo,
            queued,
            custom_tokenizer: self.custom_tokenizer,
        }
    }
}
