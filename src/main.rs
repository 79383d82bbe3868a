//! `llmperf-actors`: parse the command line, call the library, map errors to exit codes.

use std::collections::HashMap;
use std::process::ExitCode;

use clap::Parser;
use llmperf_actors::Error;
use llmperf_actors::cli::{Cli, Command, MergeArgs, ReportArgs, SimArgs};
use llmperf_actors::sim::{FaultRule, SimConfig};

fn main() -> ExitCode {
    env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or("info,actix_server=warn"),
    )
    .format_target(false)
    .init();
    let cli = Cli::parse();
    // Ctrl-C / SIGTERM stop a run gracefully (results written); the library leaves signals alone otherwise.
    llmperf_actors::shutdown::handle_signals();
    let result = match cli.command {
        Some(Command::ServeSim(args)) => serve_sim(args),
        Some(Command::Merge(args)) => merge(&args),
        Some(Command::Report(args)) => report(&args),
        Some(Command::Capacity(args)) => capacity(&args),
        Some(Command::Correctness(args)) => {
            let env: HashMap<String, String> = std::env::vars().collect();
            args.settings(&env)
                .and_then(|s| llmperf_actors::run_correctness_tests(&s))
                .map(|_| ())
        }
        None => {
            let env: HashMap<String, String> = std::env::vars().collect();
            cli.load
                .settings(&env)
                .and_then(|s| llmperf_actors::run_load_tests(&s))
                .map(|_| ())
        }
    };
    match result {
        Ok(()) => match llmperf_actors::shutdown::requested() {
            // Stopped by Ctrl-C / SIGTERM: the results are written, the exit code says it was cut short.
            Some(sig) => ExitCode::from(llmperf_actors::shutdown::exit_code(sig)),
            None => ExitCode::SUCCESS,
        },
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn capacity(args: &llmperf_actors::cli::CapacityArgs) -> Result<(), Error> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let settings = args.settings(&env)?;
    let (report, files) = llmperf_actors::run_capacity_search(&settings)?;
    print!("{}", report.text());
    for f in &files {
        println!("Wrote {}", f.display());
    }
    Ok(())
}

fn merge(args: &MergeArgs) -> Result<(), Error> {
    for summary in llmperf_actors::report::merge_dirs(&args.dirs, &args.results_dir)? {
        print!("{}", summary.text);
        for f in &summary.files {
            println!("Wrote {}", f.display());
        }
    }
    Ok(())
}

fn report(args: &ReportArgs) -> Result<(), Error> {
    let mut outputs = llmperf_actors::report::ReportOutputs::default();
    let formats = args.output_format.clone().unwrap_or_else(|| "all".into());
    outputs
        .set_formats(&[formats])
        .map_err(|e| Error::Config(format!("--output-format: {e}")))?;
    let text = llmperf_actors::report::rebuild::report_dir(
        &args.dir,
        args.baseline.as_deref(),
        args.out.as_deref(),
        &outputs,
    )?;
    print!("{text}");
    Ok(())
}

fn serve_sim(args: SimArgs) -> Result<(), Error> {
    let faults = args
        .faults
        .iter()
        .map(|f| f.parse::<FaultRule>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Config(format!("--fault: {e}")))?;
    let cfg = SimConfig {
        ttft_ms: args.ttft_ms,
        itl_ms: args.itl_ms,
        tokens_per_chunk: args.tokens_per_chunk,
        output_tokens: args.output_tokens,
        reasoning_tokens: args.reasoning_tokens,
        workers: args
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        faults,
        capacity: args.capacity,
        timing_log: args.timing_log,
        model: args.model,
        close_after_stream: args.close_after_stream,
        close_delay_ms: args.close_delay_ms,
        idle_close_ms: args.idle_close_ms,
        close_delimited: args.close_delimited,
        usage_chunk: args
            .usage_chunk
            .parse()
            .map_err(|e| Error::Config(format!("--usage-chunk: {e}")))?,
        role_content_null: args.role_content_null,
        reject_stream_options: args.reject_stream_options,
        batch_slots: args.batch_slots,
        prefill_ms_per_token: args.prefill_ms_per_token,
        decode_step_ms: args.decode_step_ms,
        decode_ms_per_running: args.decode_ms_per_running,
        kv_cache_tokens: args.kv_cache_tokens,
        ..SimConfig::default()
    }
    .validated()?;
    actix_rt::System::new()
        .block_on(llmperf_actors::sim::serve_foreground(
            cfg, &args.host, args.port,
        ))
        .map_err(|e| Error::Io {
            what: format!("serving the simulator on {}:{}", args.host, args.port),
            source: e,
        })
}
