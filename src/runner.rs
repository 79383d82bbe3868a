//! Runs tests: prepares every request (before the clock starts), starts the actors, waits for the launcher,
//! has the collector write the files, prints the report. One run per model (and, for the load test, per
//! input × output length distribution), in sequence.

use std::path::Path;
use std::time::Duration;

use actix::prelude::*;
use serde_json::{Map, Value};

use crate::Error;
use crate::actors::{ClientPool, Collector, RequestsLauncher};
use crate::backend::{ClientFactory, ClientSpec, HttpOptions, LlmApi, RequestConfig};
use crate::messages::{FinishRun, PreparedRequest, RunRequests};
use crate::report::{
    CorrectnessInfo, RequestLog, RunInfo, RunKind, RunSummary, sanitize_base_name,
};
use crate::settings::{Endpoint, RunSpec, Settings};
use crate::tokenizer::{TokenCount, Tokenizer};
use crate::workload::correctness::{self, MAX_NUMBER};
use crate::workload::pyrandom::PyRandom;
use crate::workload::{PromptSpec, generate_prompts};

/// Builds a run's requests; called before the clock starts.
type Prepare = Box<dyn FnOnce(&Tokenizer) -> Result<Vec<PreparedRequest>, Error>>;

/// One run to execute: what it is, and how to build its requests.
struct Plan {
    kind: RunKind,
    base_name: String,
    prepare: Prepare,
}

/// Runs every load test of `settings` and returns their summaries. Blocks; starts its own actix system.
pub fn run_load_tests(settings: &Settings) -> Result<Vec<RunSummary>, Error> {
    let plans = settings
        .runs()
        .into_iter()
        .map(|spec| load_test_plan(settings, spec))
        .collect();
    run_plans(settings, plans)
}

/// Runs the correctness test for every model of `settings`. Blocks; starts its own actix system.
pub fn run_correctness_tests(settings: &Settings) -> Result<Vec<RunSummary>, Error> {
    let plans = settings
        .models
        .iter()
        .map(|model| correctness_plan(settings, model))
        .collect();
    run_plans(settings, plans)
}

fn load_test_plan(settings: &Settings, spec: RunSpec) -> Plan {
    let info = RunInfo {
        model: spec.model.clone(),
        llm_api: settings.llm_api.to_string(),
        mean_input_tokens: spec.input.mean,
        stddev_input_tokens: spec.input.stddev,
        mean_output_tokens: spec.output.mean,
        stddev_output_tokens: spec.output.stddev,
        num_concurrent_requests: settings.num_concurrent_requests,
        additional_sampling_params: settings.additional_sampling_params.clone(),
        metadata: settings.metadata.clone(),
        timeout_s: settings.timeout.as_secs_f64(),
        max_num_completed_requests: settings.max_num_completed_requests,
        seed: settings.seed,
        base_name: spec.base_name.clone(),
        results_dir: settings.results_dir.clone(),
    };
    let n = settings.max_num_completed_requests as usize;
    let seed = settings.seed;
    let extra = settings.additional_sampling_params.clone();
    let llm_api = settings.llm_api.to_string();
    let prepare = move |tokenizer: &Tokenizer| {
        let prompt_spec = PromptSpec {
            mean_input_tokens: spec.input.mean as f64,
            stddev_input_tokens: spec.input.stddev as f64,
            mean_output_tokens: spec.output.mean as f64,
            stddev_output_tokens: spec.output.stddev as f64,
        };
        let prompts = generate_prompts(&prompt_spec, n, seed, tokenizer)?;
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
                    },
                    actual_input_tokens: p.actual_tokens,
                }
            })
            .collect())
    };
    Plan {
        kind: RunKind::LoadTest(info),
        base_name: spec.base_name,
        prepare: Box::new(prepare),
    }
}

fn correctness_plan(settings: &Settings, model: &str) -> Plan {
    let base_name = sanitize_base_name(&format!("{model}_correctness"));
    let info = CorrectnessInfo {
        model: model.to_string(),
        llm_api: settings.llm_api.to_string(),
        num_concurrent_requests: settings.num_concurrent_requests,
        additional_sampling_params: settings.additional_sampling_params.clone(),
        metadata: settings.metadata.clone(),
        seed: settings.seed,
        base_name: base_name.clone(),
        results_dir: settings.results_dir.clone(),
    };
    let n = settings.max_num_completed_requests as usize;
    let seed = settings.seed;
    let mut sampling_params = Map::new();
    sampling_params.insert("temperature".into(), Value::from(0.0));
    sampling_params.extend(settings.additional_sampling_params.clone());
    let llm_api = settings.llm_api.to_string();
    let model = model.to_string();
    let prepare = move |tokenizer: &Tokenizer| {
        // random.randint(0, 10000) of a generator seeded like Python's.
        let mut rng = PyRandom::new(seed);
        Ok((0..n)
            .map(|_| {
                let number = rng.randbelow(MAX_NUMBER + 1);
                let text = correctness::prompt(&correctness::number_to_words(number));
                let mut metadata = Map::new();
                metadata.insert("rnd_number".into(), Value::from(number));
                PreparedRequest {
                    actual_input_tokens: tokenizer.count(&text) as u64,
                    config: RequestConfig {
                        model: model.clone(),
                        prompt: (text, 0),
                        sampling_params: sampling_params.clone(),
                        llm_api: llm_api.clone(),
                        metadata,
                    },
                }
            })
            .collect())
    };
    Plan {
        kind: RunKind::Correctness(info),
        base_name,
        prepare: Box::new(prepare),
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

fn run_plans(settings: &Settings, plans: Vec<Plan>) -> Result<Vec<RunSummary>, Error> {
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
    check_reachable(
        &base_url,
        settings.connect_timeout,
        endpoint_hint(settings.llm_api),
    )?;
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
        include_usage: settings.use_server_token_counts && settings.llm_api.is_openai_shaped(),
        http: HttpOptions {
            connect_timeout: settings.connect_timeout,
            read_timeout: settings.read_timeout,
            max_line_bytes: 16 * 1024 * 1024,
            headers: settings
                .headers
                .iter()
                .map(|(n, v)| (n.clone(), v.expose().to_string()))
                .collect(),
            insecure: settings.insecure,
        },
    };
    // The key and header values are redacted by ClientSpec's Debug.
    log::debug!("client: {spec:?}");
    let factory: ClientFactory = spec.factory();
    let result = actix_rt::System::new().block_on(async {
        let mut out = Vec::new();
        for plan in plans {
            out.push(run_one(settings, plan, &tokenizer, factory.clone()).await?);
        }
        Ok(out)
    });
    drop(sim);
    result
}

/// Fails early, with the key to fix, when nothing listens at the endpoint.
fn check_reachable(base_url: &str, timeout: Duration, hint: &str) -> Result<(), Error> {
    use std::net::{TcpStream, ToSocketAddrs};
    let uri: awc::http::Uri = base_url
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

async fn run_one(
    settings: &Settings,
    plan: Plan,
    tokenizer: &Tokenizer,
    factory: ClientFactory,
) -> Result<RunSummary, Error> {
    let n = settings.max_num_completed_requests as usize;
    log::info!("{}: preparing {n} requests", plan.base_name);
    let requests = (plan.prepare)(tokenizer)?;
    let log = match &settings.results_dir {
        Some(dir) => Some(open_log(dir, &plan.base_name)?),
        None => None,
    };
    let collector = Collector::new(plan.kind, tokenizer.clone(), log)
        .with_server_counts(settings.use_server_token_counts)
        .start_on_own_thread();
    let concurrency = (settings.num_concurrent_requests as usize).min(n.max(1));
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let pool = ClientPool::start(factory, concurrency, cores.min(concurrency));
    pool.ready().await;
    let launcher = RequestsLauncher::new(pool.recipients()).start();
    log::info!(
        "{}: sending {n} requests, {concurrency} at a time, from client actors on {} arbiters",
        plan.base_name,
        pool.arbiter_count()
    );
    let finished = launcher
        .send(RunRequests {
            requests,
            concurrency,
            timeout: settings.timeout,
            collector: collector.clone().recipient(),
        })
        .await
        .map_err(|e| Error::Internal(format!("launcher: {e}")))?;
    if finished.timed_out {
        println!("Test timed out before all requests could be completed.");
    }
    let summary = collector
        .send(FinishRun {
            started: finished.started,
            ended: finished.ended,
        })
        .await
        .map_err(|e| Error::Internal(format!("collector: {e}")))??;
    drop(pool);
    print!("{}", summary.text);
    for f in &summary.files {
        println!("Wrote {}", f.display());
    }
    Ok(summary)
}

fn open_log(dir: &Path, base_name: &str) -> Result<RequestLog, Error> {
    let path = dir.join(format!("{base_name}_requests.jsonl"));
    RequestLog::create(&path).map_err(|e| Error::Io {
        what: format!("creating {}", path.display()),
        source: e,
    })
}
