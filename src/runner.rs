//! Runs tests: prepares every request (before the clock starts), starts the actors, waits for the launcher,
//! has the collector write the files, and reports each run to the caller's [`RunObserver`] (the library prints
//! nothing). One run per model (and, for the load test, per input × output length distribution, and per sweep
//! step), in sequence; [`plans`] says what each run is.
//!
//! A sharded load test (see [`crate::shard`]) builds the whole run's prompt list (and schedule) and keeps its
//! shard's requests, runs with its share of the concurrency, and writes files with the shard suffix plus the
//! run file (`<base>_run.json`) that `merge` joins shards by.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::Error;
use crate::actors::progress::{Progress, ProgressPlan, ProgressTally};
use crate::actors::{ClientPool, Collector, RequestsLauncher};
use crate::backend::{ClientFactory, ClientSpec, HttpOptions, LlmApi};
use crate::messages::{CollectedRun, FinishProgress, FinishRun, RunConversations, RunRequests};
use crate::observer::RunObserver;
use crate::report::export::run_file::RunFileExport;
use crate::report::table::WarningContext;
use crate::report::{self, ProgressMode, RunSummary, TestKind, run_exporters};
use crate::server_metrics::scraper::{ScrapeSpec, ScraperHandle};
use crate::settings::{Endpoint, Settings};
use crate::stop::StopHandle;
use crate::tokenizer::Tokenizer;

mod capacity;
mod options;
mod plans;
mod reporting;
mod requests;
mod url;
pub use capacity::run_capacity_search;
pub use options::RunOptions;
use plans::Plan;
use reporting::AcrossRuns;
use url::shown_url;

/// Runs every load test of `settings` and returns their summaries. Blocks; starts its own actix system.
/// Prints nothing: warnings go to the `log` crate ([`LogObserver`](crate::LogObserver)).
pub fn run_load_tests(settings: &Settings) -> Result<Vec<RunSummary>, Error> {
    run_load_tests_with(settings, &RunOptions::new())
}

/// [`run_load_tests`] with clients built by `factory` instead of the ones `settings.llm_api` names: plug in
/// a client for an API this crate does not ship. The endpoint settings still decide whether the built-in
/// simulator starts; the reachability check is skipped.
pub fn run_load_tests_with_client(
    settings: &Settings,
    factory: Option<ClientFactory>,
) -> Result<Vec<RunSummary>, Error> {
    let mut options = RunOptions::new();
    if let Some(factory) = factory {
        options = options.client(factory);
    }
    run_load_tests_with(settings, &options)
}

/// [`run_load_tests`] with [`RunOptions`]: your own clients, a [`StopHandle`](crate::StopHandle) that stops
/// these runs, a [`RunObserver`] told each run's start, progress, warnings, summary and files as they happen
/// (the binary's console prints them).
pub fn run_load_tests_with(
    settings: &Settings,
    options: &RunOptions,
) -> Result<Vec<RunSummary>, Error> {
    if settings.shard.is_sharded() && settings.results_dir.is_none() {
        options.observer_or_log().warning(
            None,
            &format!(
                "shard {} of {} writes no files (results_dir is empty), so there is nothing to merge; \
                 pass --results-dir",
                settings.shard.index, settings.shard.count
            ),
        );
    }
    // The whole dataset is read and checked before anything starts.
    let dataset = requests::load_dataset(&settings.workload)?;
    let plans = plans::load_test_plans(settings, dataset);
    run_plans(settings, plans, options)
}

/// Runs the correctness test for every model of `settings`. Blocks; starts its own actix system.
pub fn run_correctness_tests(settings: &Settings) -> Result<Vec<RunSummary>, Error> {
    run_correctness_tests_with(settings, &RunOptions::new())
}

/// [`run_correctness_tests`] with [`RunOptions`] (see [`run_load_tests_with`]).
pub fn run_correctness_tests_with(
    settings: &Settings,
    options: &RunOptions,
) -> Result<Vec<RunSummary>, Error> {
    run_plans(settings, plans::correctness_plans(settings), options)
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
    options: &RunOptions,
) -> Result<Vec<RunSummary>, Error> {
    let factory = options.client.clone();
    let stop = &options.stop;
    let observer = options.observer_or_log();
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
            let sim = crate::sim::start_builtin(settings.simulator.clone())?;
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
    // Warnings name the URL requests go to (a client of the caller's own may send them elsewhere).
    let context = WarningContext {
        url: factory
            .is_none()
            .then(|| shown_url(&url::request_url(&spec))),
        lengths_are_caps: settings.workload.dataset.is_some()
            && !settings.workload.dataset_output_lengths,
        correctness: false,
    };
    let scrape = match &settings.server_metrics {
        Some(s) => Some(ScrapeSpec {
            url: s.url_for(&spec.base_url)?,
            interval: s.interval,
            connect_timeout: settings.connect_timeout,
            headers: spec.http.headers.clone(),
            insecure: settings.insecure,
            file: None,
        }),
        _ => None,
    };
    let factory: ClientFactory = factory.unwrap_or_else(|| spec.factory());
    let result = actix_rt::System::new().block_on(async {
        let mut out = Vec::new();
        let mut across = AcrossRuns::new(settings, observer.clone(), context);
        // A shared start time holds the first run that starts (see run_one).
        let mut start_at = settings.start_at;
        for mut plan in plans {
            if plan.description.test == TestKind::LoadTest {
                plan.scrape = scrape.clone();
            }
            if stop.is_stopped() {
                log::warn!(
                    "{}: not started ({})",
                    plan.description.base_name,
                    stop.why()
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
                settings,
                start_at.take(),
                (&observer, stop),
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

/// Runs one plan and collects its results; `None` when `stop` was stopped while it waited for `start_at`.
async fn run_one(
    plan: Plan,
    tokenizer: &Tokenizer,
    factory: ClientFactory,
    settings: &Settings,
    start_at: Option<std::time::SystemTime>,
    (observer, stop): (&Arc<dyn RunObserver>, &StopHandle),
) -> Result<Option<CollectedRun>, Error> {
    let (outputs, grace) = (&settings.report, settings.grace_period);
    let shape = plan.shape;
    let base_name = plan.description.base_name.clone();
    let results_dir = plan.results_dir.as_deref();
    log::info!("{base_name}: preparing {} prompts", shape.pool);
    let requests = (plan.prepare)(tokenizer)?;
    // A shared start time: after building the prompts (the slow part of a run's setup), before anything is
    // written or started; a signal during the wait skips the run, like a run not yet started.
    if let Some(at) = start_at {
        crate::start_at::wait_until(at, stop).await;
        if stop.is_stopped() {
            log::warn!("{base_name}: not started ({})", stop.why());
            return Ok(None);
        }
    }
    let exporters = run_exporters(&plan.description, outputs, results_dir)?;
    // Progress counts requests: a multi-turn run sends `turns` of them per conversation.
    let total = (shape.limit != usize::MAX).then(|| (shape.limit * shape.turns.max(1)) as u64);
    observer.run_started(&plan.description, total);
    let tally = ProgressTally::default();
    let progress = (outputs.progress != ProgressMode::Off).then(|| {
        Progress::start_own_arbiter(
            ProgressPlan {
                label: base_name.clone(),
                total,
                duration_s: Some(shape.timeout.as_secs_f64()),
            },
            observer.clone(),
            tally.clone(),
        )
    });
    let description = plan.description.clone();
    let mut collector = Collector::new(plan.description, tokenizer.clone(), exporters)
        .with_warmup(plan.warmup)
        .with_shard(plan.shard)
        .with_server_counts(settings.use_server_token_counts)
        .with_spill_dir(results_dir);
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
        None if shape.concurrency == usize::MAX => log::info!(
            "{}: paced by its request source, from client actors on {} arbiters",
            base_name,
            pool.arbiter_count()
        ),
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
    stop.register(launcher.clone().recipient(), grace);
    let collector_recipient = collector.clone().recipient();
    // `--server-metrics`: a baseline scrape just before the first request, on the scraper's own arbiter.
    let scraper = match plan.scrape {
        Some(mut s) => {
            s.file = results_dir.map(|d| crate::server_metrics::file_path(d, &base_name));
            let h = ScraperHandle::start(s).await;
            h.begin(std::time::Instant::now());
            Some(h)
        }
        None => None,
    };
    let finished = if let Some(make) = plan.source {
        // A load mode of the plan's own (a capacity step).
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
    stop.unregister();
    // Just after the last reply: the last scrape.
    let server = match scraper {
        Some(h) => h.finish().await,
        None => None,
    };
    let finished = finished?;
    let mut collected = collector
        .send(FinishRun {
            started: finished.started,
            ended: finished.ended,
            launched: finished.launched,
            queued: finished.queued,
        })
        .await
        .map_err(|e| Error::Internal(format!("collector: {e}")))?;
    // Stopped (by a signal, or the stop handle): which signal, and when the launcher stopped.
    let interrupted = finished
        .stopped_at
        .map(|at| report::Interruption::stopped(finished.started, at, stop.signal()));
    collected.result.window.interrupted = interrupted.clone();
    if let Some((p, arbiter)) = progress {
        // The collector counted its last result into the tally before answering `FinishRun` (and the replies and
        // messages order those writes before the final read), so the final line counts every result.
        let _ = p.send(FinishProgress).await;
        arbiter.stop();
    }
    // After the last progress, so a bar never has text glued to it.
    if let Some(i) = &interrupted {
        observer.notice(&description, &i.describe());
    } else if finished.timed_out && shape.limit != usize::MAX {
        // (A --duration run without a request cap ends at its duration by design: nothing to report.)
        observer.notice(
            &description,
            "Test timed out before all requests could be completed.",
        );
    }
    drop(pool);
    if let (Some(mut run_file), Some(dir)) = (run_file, results_dir) {
        run_file.finish(
            finished.started,
            finished.ended,
            finished.launched as u64,
            interrupted,
        );
        collected.exporters.push(RunFileExport::new(run_file, dir));
    }
    collected.result.server = server.map(Box::new);
    Ok(Some(collected))
}
