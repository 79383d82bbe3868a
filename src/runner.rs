//! Runs load tests: prepares prompts (before the clock starts), starts the actors, waits for the launcher,
//! has the collector write the files, prints the summary. One run per entry of the settings' matrix, in
//! sequence.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use serde_json::{Map, Value};

use crate::Error;
use crate::actors::{ClientPool, Collector, RequestsLauncher};
use crate::backend::openai::{OpenAiChatClient, OpenAiConfig};
use crate::backend::{ClientFactory, LlmClient, RequestConfig};
use crate::messages::{FinishRun, PreparedRequest, RunRequests};
use crate::report::{self, RequestLog, RunInfo, RunSummary};
use crate::settings::{Endpoint, RunSpec, Settings};
use crate::tokenizer::Tokenizer;
use crate::workload::{PromptSpec, generate_prompts};

/// Runs every load test of `settings` and returns their summaries. Blocks; starts its own actix system.
pub fn run_load_tests(settings: &Settings) -> Result<Vec<RunSummary>, Error> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The simulator lives on its own threads for the whole matrix.
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
    check_reachable(&base_url, settings.connect_timeout)?;
    if let Some(dir) = &settings.results_dir {
        std::fs::create_dir_all(dir).map_err(|e| Error::Io {
            what: format!("creating results_dir {}", dir.display()),
            source: e,
        })?;
    }
    let tokenizer = Tokenizer::llama();
    let openai = OpenAiConfig {
        base_url,
        api_key: settings.api_key.clone(),
        connect_timeout: settings.connect_timeout,
        read_timeout: settings.read_timeout,
        max_line_bytes: 16 * 1024 * 1024,
    };
    let factory: ClientFactory =
        Arc::new(move || Box::new(OpenAiChatClient::new(openai.clone())) as Box<dyn LlmClient>);
    let system = actix_rt::System::new();
    let result = system.block_on(async {
        let mut out = Vec::new();
        for spec in settings.runs() {
            out.push(run_one(settings, &spec, &tokenizer, factory.clone()).await?);
        }
        Ok(out)
    });
    drop(sim);
    result
}

/// Fails early, with the key to fix, when nothing listens at the endpoint.
fn check_reachable(base_url: &str, timeout: Duration) -> Result<(), Error> {
    use std::net::{TcpStream, ToSocketAddrs};
    let uri: awc::http::Uri = base_url.parse().map_err(|e| {
        Error::Config(format!(
            "openai_api_base '{base_url}' is not a valid URL: {e}"
        ))
    })?;
    let host = uri.host().unwrap_or("");
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    let hint =
        "check OPENAI_API_BASE / `openai_api_base` (or use `builtin` for the built-in simulator)";
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
    spec: &RunSpec,
    tokenizer: &Tokenizer,
    factory: ClientFactory,
) -> Result<RunSummary, Error> {
    let n = settings.max_num_completed_requests as usize;
    let prompt_spec = PromptSpec {
        mean_input_tokens: spec.input.mean as f64,
        stddev_input_tokens: spec.input.stddev as f64,
        mean_output_tokens: spec.output.mean as f64,
        stddev_output_tokens: spec.output.stddev as f64,
    };
    log::info!("{}: generating {n} prompts", spec.base_name);
    let prompts = generate_prompts(&prompt_spec, n, settings.seed, tokenizer)?;
    let requests: Vec<PreparedRequest> = prompts
        .into_iter()
        .map(|p| {
            let mut sampling_params = Map::new();
            sampling_params.insert("max_tokens".into(), Value::from(p.max_tokens));
            for (k, v) in &settings.additional_sampling_params {
                sampling_params.insert(k.clone(), v.clone());
            }
            PreparedRequest {
                config: RequestConfig {
                    model: spec.model.clone(),
                    prompt: (p.text, p.target_tokens),
                    sampling_params,
                    llm_api: settings.llm_api.clone(),
                    metadata: Map::new(),
                },
                actual_input_tokens: p.actual_tokens,
            }
        })
        .collect();
    let info = RunInfo {
        model: spec.model.clone(),
        llm_api: settings.llm_api.clone(),
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
    let log = match &settings.results_dir {
        Some(dir) => Some(open_log(dir, &spec.base_name)?),
        None => None,
    };
    let collector = Collector::new(info.clone(), tokenizer.clone(), log).start_on_own_thread();
    let concurrency = (settings.num_concurrent_requests as usize).min(n.max(1));
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let pool = ClientPool::start(factory, concurrency, cores.min(concurrency));
    pool.ready().await;
    let launcher = RequestsLauncher::new(pool.recipients()).start();
    log::info!(
        "{}: sending {n} requests, {concurrency} at a time, to {} client actors on {} arbiters",
        spec.base_name,
        concurrency,
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
    print!("{}", report::print_summary(&info, &summary.stats));
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
