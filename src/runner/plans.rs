//! The plan of each run: what it is ([`RunDescription`]), how its requests are built (before the clock
//! starts), and how they are sent ([`Shape`]: how many, at what concurrency, on what schedule) — for the load
//! test (one plan per model × input × output distribution, and per sweep step) and the correctness test.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::requests::{self, Dataset};
use crate::Error;
use crate::actors::collector::Warmup;
use crate::backend::RequestConfig;
use crate::messages::PreparedRequest;
use crate::report::{self, RunFile, Scorer};
use crate::report::{
    RunDescription, RunParams, SweepKind, SweepStep, TestKind, sanitize_base_name,
};
use crate::server_metrics::scraper::ScrapeSpec;
use crate::settings::{DURATION_PROMPT_POOL, RunSpec, Settings, Sweep};
use crate::shard::Shard;
use crate::tokenizer::Tokenizer;
use crate::workload::correctness::{self, MAX_NUMBER};
use crate::workload::pyrandom::PyRandom;
use crate::workload::schedule::Schedule;
use crate::workload::{LlamaSonnetCounts, MeasuredSonnetCounts, PromptSpec, sample_prompts};

/// Builds a run's requests; called before the clock starts.
pub(super) type Prepare = Box<dyn FnOnce(&Tokenizer) -> Result<Vec<PreparedRequest>, Error>>;
/// A load mode of its own for a run (a capacity step), made from the run's requests.
pub(super) type MakeSource =
    Box<dyn FnOnce(Vec<PreparedRequest>) -> Box<dyn crate::sources::RequestSource>>;

/// One run to execute: what it is, how to build its requests, and how to send them.
pub(super) struct Plan {
    /// What the run is (its sweep step included).
    pub(super) description: RunDescription,
    /// The requests left out of the statistics.
    pub(super) warmup: Warmup,
    /// Where its files go; `None` writes none.
    pub(super) results_dir: Option<PathBuf>,
    /// Correctness runs: how each answer is scored.
    pub(super) scorer: Option<Scorer>,
    pub(super) prepare: Prepare,
    pub(super) shape: Shape,
    /// Maps this process's request positions to the whole run's indices.
    pub(super) shard: Shard,
    /// The load test's run file, completed and written when the run ends.
    pub(super) run_file: Option<RunFile>,
    /// `--server-metrics`: what to scrape during the run (set once the endpoint is known).
    pub(super) scrape: Option<ScrapeSpec>,
    /// Sends the requests through this source instead of the shape's closed or open loop.
    pub(super) source: Option<MakeSource>,
}

/// How a run's requests are sent.
#[derive(Debug, Clone)]
pub(super) struct Shape {
    /// Requests to launch in all (the prompt pool is reused when this is larger).
    pub(super) limit: usize,
    /// Prompts to build.
    pub(super) pool: usize,
    /// Closed loop: in flight; open loop: the cap on in flight.
    pub(super) concurrency: usize,
    /// Client actors to start.
    pub(super) clients: usize,
    /// Open loop: due times.
    pub(super) schedule: Option<Schedule>,
    /// Stop launching after this long.
    pub(super) timeout: Duration,
    /// Multi-turn: turns per conversation (`limit` and `concurrency` then count conversations); 1 otherwise.
    pub(super) turns: usize,
}

/// The load test's plans: one per run of the matrix, and per step of a sweep.
pub(super) fn load_test_plans(settings: &Settings, dataset: Option<Arc<Dataset>>) -> Vec<Plan> {
    let mut plans = Vec::new();
    for spec in settings.runs() {
        match &settings.load.sweep {
            None => plans.push(load_test_plan(settings, spec, None, dataset.clone())),
            Some(Sweep::Concurrency(values)) => {
                for &c in values {
                    let step = SweepStep {
                        group: format!("{}{}", spec.base_name, settings.shard.file_suffix()),
                        kind: SweepKind::Concurrency,
                        value: c as f64,
                    };
                    plans.push(load_test_plan(
                        settings,
                        spec.clone(),
                        Some(step),
                        dataset.clone(),
                    ));
                }
            }
            Some(Sweep::Rates(values)) => {
                for &r in values {
                    let step = SweepStep {
                        group: format!("{}{}", spec.base_name, settings.shard.file_suffix()),
                        kind: SweepKind::Rate,
                        value: r,
                    };
                    plans.push(load_test_plan(
                        settings,
                        spec.clone(),
                        Some(step),
                        dataset.clone(),
                    ));
                }
            }
        }
    }
    plans
}

/// The correctness test's plans: one per model.
pub(super) fn correctness_plans(settings: &Settings) -> Vec<Plan> {
    settings
        .models
        .iter()
        .map(|model| correctness_plan(settings, model))
        .collect()
}

/// How many requests, at what concurrency, on what schedule — for this shard: its share of the concurrency,
/// and of the whole run's requests the ones whose index is ≡ shard index (mod shard count).
fn load_shape(settings: &Settings, concurrency: u64, rate: Option<f64>) -> Shape {
    let load = &settings.load;
    let shard = settings.shard;
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    // Warm-up requests come on top of the measured ones (as vLLM's and guidellm's benchmarks do): asked for
    // 10 with 3 of warm-up, 13 are sent and 10 measured.
    let max = (settings.max_num_completed_requests + load.warmup_requests) as usize;
    let timeout = load.duration.unwrap_or(settings.timeout);
    // A duration run is not capped by count unless the cap was asked for.
    let limit = match load.duration {
        Some(_) if !load.max_requests_explicit => usize::MAX,
        _ => max,
    };
    match rate {
        None => {
            let pool = limit.min(if load.duration.is_some() {
                DURATION_PROMPT_POOL as usize
            } else {
                max
            });
            let limit = if limit == usize::MAX {
                limit
            } else {
                shard.share(limit as u64) as usize
            };
            let concurrency = (shard.share(concurrency) as usize).min(limit.max(1));
            Shape {
                limit,
                pool,
                concurrency,
                clients: concurrency,
                schedule: None,
                timeout,
                turns: 1,
            }
        }
        Some(rate) => {
            // Drawn as the pacer goes: a day-long run at thousands of requests/s holds no list of offsets.
            let schedule = Schedule::drawn(
                rate,
                load.arrival,
                settings.seed,
                load.duration.map(|d| d.as_secs_f64()),
                limit,
                (shard.index as usize, shard.count as usize),
            );
            // The whole run's request count (all shards, to within one per shard), for the prompt pool.
            let n = match load.duration {
                Some(_) => (schedule.len() * shard.count as usize).max(1),
                None => limit,
            };
            Shape {
                limit: schedule.len(),
                pool: n.min(DURATION_PROMPT_POOL as usize).max(1),
                concurrency: load
                    .max_concurrency
                    .map_or(usize::MAX, |c| shard.share(c).max(1) as usize),
                clients: cores,
                schedule: Some(schedule),
                timeout,
                turns: 1,
            }
        }
    }
}

pub(super) fn load_test_plan(
    settings: &Settings,
    spec: RunSpec,
    step: Option<SweepStep>,
    dataset: Option<Arc<Dataset>>,
) -> Plan {
    let (concurrency, rate, base_name) = match &step {
        None => (
            settings.num_concurrent_requests,
            settings.load.request_rate,
            spec.base_name.clone(),
        ),
        Some(s) => match s.kind {
            SweepKind::Concurrency => (
                s.value as u64,
                None,
                format!("{}_c{}", spec.base_name, s.value),
            ),
            SweepKind::Rate => (
                settings.num_concurrent_requests,
                Some(s.value),
                sanitize_base_name(&format!("{}_r{}", spec.base_name, s.value)),
            ),
        },
    };
    let mut shape = load_shape(settings, concurrency, rate);
    let w = &settings.workload;
    if let (true, Some(d)) = (w.replay_timestamps, &dataset) {
        shape = requests::replay_shape(settings, d);
    }
    if w.multi_turn > 1 {
        // `limit` conversations of `turns` requests; the builder makes one template per turn.
        shape.turns = w.multi_turn as usize;
        shape.pool = shape.limit * shape.turns;
    }
    let shard = settings.shard;
    let run_base_name = base_name;
    let base_name = format!("{run_base_name}{}", shard.file_suffix());
    let description = RunDescription {
        test: TestKind::LoadTest,
        base_name,
        params: RunParams {
            model: spec.model.clone(),
            llm_api: settings.llm_api.to_string(),
            // A dataset run used none of the prompt-length settings (the summary names the dataset instead).
            mean_input_tokens: if dataset.is_some() {
                0
            } else {
                spec.input.mean
            },
            stddev_input_tokens: if dataset.is_some() {
                0
            } else {
                spec.input.stddev
            },
            dataset: dataset.as_ref().map(|d| d.file.clone()),
            dataset_max_tokens: dataset
                .as_ref()
                .is_some_and(|d| d.gives_every_max_tokens(w.dataset_output_lengths)),
            mean_output_tokens: spec.output.mean,
            stddev_output_tokens: spec.output.stddev,
            num_concurrent_requests: shard.share(concurrency),
            max_num_completed_requests: shard.share(settings.max_num_completed_requests),
            additional_sampling_params: settings.additional_sampling_params.clone(),
            metadata: settings.metadata.clone(),
            timeout_s: shape.timeout.as_secs_f64(),
            seed: settings.seed,
        },
        target_request_rate: rate,
        slo: settings.load.slo,
        custom_tokenizer: settings.tokenizer.is_some(),
        sweep: step,
    };
    let run_file = RunFile::new(
        &description,
        shard,
        (concurrency, settings.max_num_completed_requests),
        &run_base_name,
    );
    // The whole run's prompts, from the seed; a closed-loop shard keeps the indices ≡ shard index (mod
    // shard count). (An open-loop shard keeps every prompt: its schedule positions pick them.)
    let n = shape.pool;
    let select_prompts = shape.schedule.is_none() || w.replay_timestamps;
    let custom = dataset.is_some() || w.shared_prefix_tokens > 0 || w.multi_turn > 1;
    let build = requests::Build::new(settings, &spec);
    let seed = settings.seed;
    let extra = settings.additional_sampling_params.clone();
    let llm_api = settings.llm_api.to_string();
    let prepare = move |tokenizer: &Tokenizer| {
        if custom {
            let requests = requests::build_requests(&build, dataset.as_deref(), n, tokenizer)?;
            return Ok(if select_prompts {
                shard.select(requests)
            } else {
                requests
            });
        }
        let prompt_spec = PromptSpec {
            mean_input_tokens: spec.input.mean as f64,
            stddev_input_tokens: spec.input.stddev as f64,
            mean_output_tokens: spec.output.mean as f64,
            stddev_output_tokens: spec.output.stddev as f64,
        };
        // The embedded tokenizer's sonnet counts are precomputed, so nothing is parsed or tokenized before the
        // first request; the collector counts each prompt's real tokens when its result arrives.
        let mut prompts = if tokenizer.is_embedded_llama() {
            sample_prompts(&prompt_spec, n, seed, &LlamaSonnetCounts)?
        } else {
            sample_prompts(&prompt_spec, n, seed, &MeasuredSonnetCounts::new(tokenizer))?
        };
        if select_prompts {
            prompts = shard.select(prompts);
        }
        Ok(prompts
            .into_iter()
            .map(|p| {
                let mut sampling_params = Map::new();
                sampling_params.insert("max_tokens".into(), Value::from(p.max_tokens));
                sampling_params.extend(extra.clone());
                PreparedRequest {
                    config: RequestConfig {
                        model: spec.model.clone(),
                        prompt: (p.text, p.target_tokens),
                        sampling_params,
                        llm_api: llm_api.clone(),
                        metadata: Map::new(),
                        messages: None,
                    },
                    actual_input_tokens: None,
                }
            })
            .collect())
    };
    Plan {
        description,
        warmup: Warmup {
            // Multi-turn counts conversations, warm-up ones too: their every turn is warm-up.
            requests: settings.load.warmup_requests * w.multi_turn,
            seconds: settings.load.warmup_seconds,
        },
        results_dir: settings.results_dir.clone(),
        scorer: None,
        prepare: Box::new(prepare),
        shape,
        shard,
        run_file: Some(run_file),
        scrape: None,
        source: None,
    }
}

fn correctness_plan(settings: &Settings, model: &str) -> Plan {
    let base_name = sanitize_base_name(&format!("{model}_correctness"));
    let description = RunDescription {
        test: TestKind::Correctness,
        base_name,
        params: RunParams {
            model: model.to_string(),
            llm_api: settings.llm_api.to_string(),
            num_concurrent_requests: settings.num_concurrent_requests,
            max_num_completed_requests: settings.max_num_completed_requests,
            additional_sampling_params: settings.additional_sampling_params.clone(),
            metadata: settings.metadata.clone(),
            timeout_s: settings.timeout.as_secs_f64(),
            seed: settings.seed,
            ..RunParams::default()
        },
        ..RunDescription::default()
    };
    let n = settings.max_num_completed_requests as usize;
    let seed = settings.seed;
    let mut sampling_params = Map::new();
    sampling_params.insert("temperature".into(), Value::from(0.0));
    sampling_params.extend(settings.additional_sampling_params.clone());
    let llm_api = settings.llm_api.to_string();
    let model = model.to_string();
    let prepare = move |_: &Tokenizer| {
        // random.randint(0, 10000) of a generator seeded like Python's.
        let mut rng = PyRandom::new(seed);
        Ok((0..n)
            .map(|_| {
                let number = rng.randbelow(MAX_NUMBER + 1);
                let text = correctness::prompt(&correctness::number_to_words(number));
                let mut metadata = Map::new();
                metadata.insert("rnd_number".into(), Value::from(number));
                PreparedRequest {
                    actual_input_tokens: None,
                    config: RequestConfig {
                        model: model.clone(),
                        prompt: (text, 0),
                        sampling_params: sampling_params.clone(),
                        llm_api: llm_api.clone(),
                        metadata,
                        messages: None,
                    },
                }
            })
            .collect())
    };
    let limit = settings.max_num_completed_requests as usize;
    let concurrency = (settings.num_concurrent_requests as usize).min(limit.max(1));
    Plan {
        description,
        warmup: Warmup::default(),
        results_dir: settings.results_dir.clone(),
        scorer: Some(report::score_answer),
        prepare: Box::new(prepare),
        shape: Shape {
            limit,
            pool: limit,
            concurrency,
            clients: concurrency,
            schedule: None,
            timeout: settings.timeout,
            turns: 1,
        },
        shard: Shard::WHOLE,
        run_file: None,
        scrape: None,
        source: None,
    }
}
