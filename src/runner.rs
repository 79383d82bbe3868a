//! Runs tests: prepares every request (before the clock starts), starts the actors, waits for the launcher,
//! has the collector write the files, prints the report. One run per model (and, for the load test, per
//! input × output length distribution, and per sweep step), in sequence.
//!
//! A sharded load test (see [`crate::shard`]) builds the whole run's prompt list (and schedule) and keeps its
//! shard's requests, runs with its share of the concurrency, and writes files with the shard suffix plus the
//! run file (`<base>_run.json`) that `merge` joins shards by.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use serde_json::{Map, Value};

use crate::Error;
use crate::actors::collector::Warmup;
use crate::actors::progress::{Progress, ProgressPlan, ProgressTally};
use crate::actors::{ClientPool, Collector, RequestsLauncher};
use crate::backend::{ClientFactory, ClientSpec, HttpOptions, LlmApi, RequestConfig};
use crate::messages::{
    CollectedRun, FinishProgress, FinishRun, PreparedRequest, RunConversations, RunRequests,
};
use crate::report::export::run_file::RunFileExport;
use crate::report::{self, ReportOutputs};
use crate::report::{
    RunDescription, RunFile, RunParams, RunSummary, Scorer, SweepKind, SweepStep, TestKind,
    run_exporters, sanitize_base_name,
};
use crate::settings::{DURATION_PROMPT_POOL, Endpoint, RunSpec, Settings, Sweep};
use crate::shard::Shard;
use crate::tokenizer::Tokenizer;
use crate::workload::correctness::{self, MAX_NUMBER};
use crate::workload::pyrandom::PyRandom;
use crate::workload::schedule::Schedule;
use crate::workload::{LlamaSonnetCounts, MeasuredSonnetCounts, PromptSpec, sample_prompts};

mod capacity;
mod reporting;
mod workload;
pub use capacity::run_capacity_search;
use reporting::AcrossRuns;
use workload::Dataset;

/// Builds a run's requests; called before the clock starts.
type Prepare = Box<dyn FnOnce(&Tokenizer) -> Result<Vec<PreparedRequest>, Error>>;
/// A load mode of its own for a run (a capacity step), made from the run's requests.
type MakeSource = Box<dyn FnOnce(Vec<PreparedRequest>) -> Box<dyn crate::sources::RequestSource>>;

/// One run to execute: what it is, how to build its requests, and how to send them.
struct Plan {
    /// What the run is (its sweep step included).
    description: RunDescription,
    /// The requests left out of the statistics.
    warmup: Warmup,
    /// Where its files go; `None` writes none.
    results_dir: Option<PathBuf>,
    /// Correctness runs: how each answer is scored.
    scorer: Option<Scorer>,
    prepare: Prepare,
    shape: Shape,
    /// Maps this process's request positions to the whole run's indices.
    shard: Shard,
    /// The load test's run file, completed and written when the run ends.
    run_file: Option<RunFile>,
    /// Sends the requests through this source instead of the shape's closed or open loop.
    source: Option<MakeSource>,
}

/// How a run's requests are sent.
#[derive(Debug, Clone)]
struct Shape {
    /// Requests to launch in all (the prompt pool is reused when this is larger).
    limit: usize,
    /// Prompts to build.
    pool: usize,
    /// Closed loop: in flight; open loop: the cap on in flight.
    concurrency: usize,
    /// Client actors to start.
    clients: usize,
    /// Open loop: due times.
    schedule: Option<Schedule>,
    /// Stop launching after this long.
    timeout: Duration,
    /// Multi-turn: turns per conversation (`limit` and `concurrency` then count conversations); 1 otherwise.
    turns: usize,
}

/// Runs every load test of `settings` and returns their summaries. Blocks; starts its own actix system.
pub fn run_load_tests(settings: &Settings) -> Result<Vec<RunSummary>, Error> {
    run_load_tests_with_client(settings, None)
}

/// [`run_load_tests`] with clients built by `factory` instead of the ones `settings.llm_api` names: plug in
/// a client for an API this crate does not ship. The endpoint settings still decide whether the built-in
/// simulator starts; the reachability check is skipped.
pub fn run_load_tests_with_client(
    settings: &Settings,
    factory: Option<ClientFactory>,
) -> Result<Vec<RunSummary>, Error> {
    if settings.shard.is_sharded() && settings.results_dir.is_none() {
        log::warn!(
            "shard {} of {} writes no files (results_dir is empty), so there is nothing to merge; \
             pass --results-dir",
            settings.shard.index,
            settings.shard.count
        );
    }
    // The whole dataset is read and checked before anything starts.
    let dataset = workload::load_dataset(&settings.workload)?;
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
    run_plans(settings, plans, factory)
}

/// Runs the correctness test for every model of `settings`. Blocks; starts its own actix system.
pub fn run_correctness_tests(settings: &Settings) -> Result<Vec<RunSummary>, Error> {
    let plans: Vec<Plan> = settings
        .models
        .iter()
        .map(|model| correctness_plan(settings, model))
        .collect();
    run_plans(settings, plans, None)
}

/// How many requests, at what concurrency, on what schedule — for this shard: its share of the concurrency,
/// and of the whole run's requests the ones whose index is ≡ shard index (mod shard count).
fn load_shape(settings: &Settings, concurrency: u64, rate: Option<f64>) -> Shape {
    let load = &settings.load;
    let shard = settings.shard;
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let max = settings.max_num_completed_requests as usize;
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

fn load_test_plan(
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
        shape = workload::replay_shape(settings, d);
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
            mean_input_tokens: spec.input.mean,
            stddev_input_tokens: spec.input.stddev,
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
    let build = workload::Build::new(settings, &spec);
    let seed = settings.seed;
    let extra = settings.additional_sampling_params.clone();
    let llm_api = settings.llm_api.to_string();
    let prepare = move |tokenizer: &Tokenizer| {
        if custom {
            let requests = workload::build_requests(&build, dataset.as_deref(), n, tokenizer)?;
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
            requests: settings.load.warmup_requests,
            seconds: settings.load.warmup_seconds,
        },
        results_dir: settings.results_dir.clone(),
        scorer: None,
        prepare: Box::new(prepare),
        shape,
        shard,
        run_file: Some(run_file),
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
        source: None,
    }
}

/// The tokenizer of the run: `--tokenizer PATH`, else the embedded Llama tokenizer.
fn load_tokenizer(settings: &Settings) -> Result<Tokenizer, Error> {
    match &settings.tokenizer {
        None => Ok(Tokenizer::llama()),
        Some(path) => {
            let t = Tokenizer::from_file(path).map_err(Error::Config)?;
            log::info!("counting tokens with {}", path.display());
            Ok(t)
        }
    }
}

/// Where to look when the endpoint cannot be reached.
fn endpoint_hint(api: LlmApi) -> &'static str {
    match api {
        LlmApi::OpenAi | LlmApi::OpenAiCompletions => {
            "check OPENAI_API_BASE / `openai_api_base` (or use `builtin` for the built-in simulator)"
        }
        LlmApi::Anthropic => {
            "check ANTHROPIC_BASE_URL / `anthropic_base_url` (or use `builtin` for the built-in simulator)"
        }
        LlmApi::VertexAi => {
            "check GCLOUD_PROJECT_ID and GCLOUD_REGION, or VERTEXAI_BASE_URL / `vertexai_base_url`"
        }
    }
}

fn run_plans(
    settings: &Settings,
    plans: impl IntoIterator<Item = Plan>,
    factory: Option<ClientFactory>,
) -> Result<Vec<RunSummary>, Error> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tokenizer = load_tokenizer(settings)?;
    if settings.insecure {
        // Printed whatever RUST_LOG says: nobody should run like this by accident.
        eprintln!(
            "warning: !!! TLS CERTIFICATE VERIFICATION IS DISABLED (--insecure / `insecure: true`): any server can \
             impersonate the endpoint and read the prompts and the API key. Use it only for self-signed test \
             endpoints. !!!"
        );
        log::warn!("TLS certificate verification is disabled (--insecure)");
    }
    // The simulator lives on its own threads for all the runs.
    let (sim, base_url) = match &settings.endpoint {
        Endpoint::Builtin => {
            let sim = crate::sim::start_in_background(settings.simulator.clone(), "127.0.0.1", 0)
                .map_err(|e| Error::Io {
                what: "starting the built-in simulator".into(),
                source: e,
            })?;
            let url = sim.base_url();
            log::info!("built-in simulator listening on {url}");
            (Some(sim), url)
        }
        Endpoint::Url(u) => (None, u.clone()),
    };
    if factory.is_none() {
        check_reachable(
            &base_url,
            settings.connect_timeout,
            endpoint_hint(settings.llm_api),
        )?;
    }
    if let Some(dir) = &settings.results_dir {
        std::fs::create_dir_all(dir).map_err(|e| Error::Io {
            what: format!("creating results_dir {}", dir.display()),
            source: e,
        })?;
    }
    let spec = ClientSpec {
        api: settings.llm_api,
        base_url,
        api_key: settings.api_key.as_ref().map(|k| k.expose().to_string()),
        include_usage: settings.stream_usage && settings.llm_api.is_openai_shaped(),
        http: HttpOptions {
            connect_timeout: settings.connect_timeout,
            read_timeout: settings.read_timeout,
            first_byte_timeout: settings.first_byte_timeout,
            request_timeout: settings.request_timeout,
            max_line_bytes: settings.max_line_bytes,
            max_response_bytes: settings.max_response_bytes,
            headers: settings
                .headers
                .iter()
                .map(|(n, v)| (n.clone(), v.expose().to_string()))
                .collect(),
            insecure: settings.insecure,
            connection_reuse: settings.connection_reuse,
            knowledge: Default::default(),
        },
    };
    // The key and header values are redacted by ClientSpec's Debug.
    log::debug!("client: {spec:?}");
    let factory: ClientFactory = factory.unwrap_or_else(|| spec.factory());
    let result = actix_rt::System::new().block_on(async {
        let mut out = Vec::new();
        let mut across = AcrossRuns::new(settings);
        crate::shutdown::listen();
        // A shared start time holds the first run that starts (see run_one).
        let mut start_at = settings.start_at;
        for plan in plans {
            if crate::shutdown::requested().is_some() {
                log::warn!(
                    "{}: not started (stopped by a signal)",
                    plan.description.base_name
                );
                continue;
            }
            if across.skip(&plan.description)? {
                continue;
            }
            let Some(collected) = run_one(
                plan,
                &tokenizer,
                factory.clone(),
                settings.use_server_token_counts,
                &settings.report,
                settings.grace_period,
                start_at.take(),
            )
            .await?
            else {
                continue;
            };
            out.push(across.report(collected)?);
        }
        across.finish()?;
        Ok(out)
    });
    drop(sim);
    result
}

/// Fails early, with the key to fix, when nothing listens at the endpoint.
fn check_reachable(base_url: &str, timeout: Duration, hint: &str) -> Result<(), Error> {
    use std::net::{TcpStream, ToSocketAddrs};
    let uri: http::Uri = base_url
        .parse()
        .map_err(|e| Error::Config(format!("API base '{base_url}' is not a valid URL: {e}")))?;
    let host = uri.host().unwrap_or("");
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| {
            Error::Unreachable(format!(
                "cannot resolve {host} from {base_url}: {e}; {hint}"
            ))
        })?
        .collect();
    let mut last = None;
    for a in &addrs {
        match TcpStream::connect_timeout(a, timeout.min(Duration::from_secs(10))) {
            Ok(_) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    Err(Error::Unreachable(format!(
        "cannot connect to {base_url}: {}; {hint}",
        last.map_or("no address".to_string(), |e| e.to_string())
    )))
}

/// Runs one plan and collects its results; `None` when a signal arrived while it waited for `start_at`.
async fn run_one(
    plan: Plan,
    tokenizer: &Tokenizer,
    factory: ClientFactory,
    server_counts: bool,
    outputs: &ReportOutputs,
    grace: Duration,
    start_at: Option<std::time::SystemTime>,
) -> Result<Option<CollectedRun>, Error> {
    let shape = plan.shape;
    let base_name = plan.description.base_name.clone();
    let results_dir = plan.results_dir.as_deref();
    log::info!("{base_name}: preparing {} prompts", shape.pool);
    let requests = (plan.prepare)(tokenizer)?;
    // A shared start time: after building the prompts (the slow part of a run's setup), before anything is
    // written or started; a signal during the wait skips the run, like a run not yet started.
    if let Some(at) = start_at {
        crate::start_at::wait_until(at).await;
        if crate::shutdown::requested().is_some() {
            log::warn!("{base_name}: not started (stopped by a signal)");
            return Ok(None);
        }
    }
    let exporters = run_exporters(&plan.description, outputs, results_dir)?;
    let tally = ProgressTally::default();
    let progress = Progress::start_own_arbiter(
        ProgressPlan {
            label: base_name.clone(),
            total: (shape.limit != usize::MAX).then_some(shape.limit as u64),
            duration_s: Some(shape.timeout.as_secs_f64()),
        },
        outputs.progress,
        tally.clone(),
    );
    let mut collector = Collector::new(plan.description, tokenizer.clone(), exporters)
        .with_warmup(plan.warmup)
        .with_shard(plan.shard)
        .with_server_counts(server_counts);
    if let Some(scorer) = plan.scorer {
        collector = collector.with_scorer(scorer);
    }
    if progress.is_some() {
        collector = collector.with_progress(tally.clone());
    }
    let collector = collector.start_on_own_thread();
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let pool = ClientPool::start(factory, shape.clients, cores.min(shape.clients));
    pool.ready().await;
    // A run file from the start (marked incomplete), so a killed run leaves one for `merge`.
    let mut run_file = plan.run_file;
    if let (Some(rf), Some(dir)) = (run_file.as_mut(), results_dir) {
        rf.begin(std::time::Instant::now());
        rf.write(dir).map_err(|e| Error::Io {
            what: format!("writing the run file into {}", dir.display()),
            source: e,
        })?;
    }
    match &shape.schedule {
        None => log::info!(
            "{}: closed loop, {} in flight, from client actors on {} arbiters",
            base_name,
            shape.concurrency,
            pool.arbiter_count()
        ),
        Some(s) => log::info!(
            "{}: open loop, {} requests over {:.1} s, from client actors on {} arbiters",
            base_name,
            s.len(),
            s.span().1,
            pool.arbiter_count()
        ),
    }
    let mut launcher = RequestsLauncher::new(pool.recipients()).with_tokenizer(tokenizer.clone());
    if progress.is_some() {
        launcher = launcher.with_progress(tally);
    }
    let launcher = launcher.start();
    crate::shutdown::register(launcher.clone().recipient(), grace);
    let collector_recipient = collector.clone().recipient();
    let finished = if let Some(make) = plan.source {
        launcher
            .send(crate::messages::RunSource {
                source: make(requests),
                timeout: shape.timeout,
                collector: collector_recipient,
                grace: Some(grace),
            })
            .await
    } else if shape.turns > 1 {
        // Multi-turn: each turn is built from the previous reply.
        launcher
            .send(RunConversations {
                turns: requests,
                turns_per_conversation: shape.turns,
                concurrency: shape.concurrency,
                timeout: shape.timeout,
                collector: collector_recipient,
                grace: Some(grace),
            })
            .await
    } else {
        launcher
            .send(RunRequests {
                requests,
                limit: shape.limit,
                concurrency: shape.concurrency,
                schedule: shape.schedule,
                timeout: shape.timeout,
                collector: collector_recipient,
                grace: Some(grace),
            })
            .await
    }
    .map_err(|e| Error::Internal(format!("launcher: {e}")));
    crate::shutdown::unregister();
    let finished = finished?;
    if let Some(sig) = crate::shutdown::requested() {
        println!("Run stopped by signal {sig}: requests not yet sent were not started.");
    } else if finished.timed_out && shape.limit != usize::MAX {
        // (A --duration run without a request cap ends at its duration by design: nothing to report.)
        println!("Test timed out before all requests could be completed.");
    }
    let mut collected = collector
        .send(FinishRun {
            started: finished.started,
            ended: finished.ended,
            launched: finished.launched,
            queued: finished.queued,
        })
        .await
        .map_err(|e| Error::Internal(format!("collector: {e}")))?;
    if let Some((p, arbiter)) = progress {
        // The collector counted its last result into the tally before answering `FinishRun` (and the replies and
        // messages order those writes before the final read), so the final line counts every result.
        let _ = p.send(FinishProgress).await;
        arbiter.stop();
    }
    drop(pool);
    if let (Some(mut run_file), Some(dir)) = (run_file, results_dir) {
        run_file.finish(finished.started, finished.ended, finished.launched as u64);
        collected.exporters.push(RunFileExport::new(run_file, dir));
    }
    Ok(Some(collected))
}
