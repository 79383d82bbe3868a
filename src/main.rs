//! `llmperf-actors`: parse the command line, call the library, map errors to exit codes.
//!
//! Exit status (docs/exit-codes.md; stable): 0 success; 1 a run-level error (unreachable endpoint, I/O,
//! internal); 2 bad input (flags, config, prompts); 3 a threshold failed (`--fail-on`,
//! `--max-mismatch-rate`, `report --max-regression`); 4 every request of a run failed; 130 / 143 stopped by
//! SIGINT / SIGTERM (results written).

use std::collections::HashMap;
use std::process::ExitCode;

use clap::Parser;
use llmperf_actors::Error;
use llmperf_actors::cli::{Cli, Command, MergeArgs, ReportArgs, SimArgs};
use llmperf_actors::report::gates;
#[cfg(feature = "sim")]
use llmperf_actors::sim::{FaultRule, SimConfig};

mod console;

fn main() -> ExitCode {
    console::install_logger();
    let cli = Cli::parse();
    // Ctrl-C / SIGTERM stop a run gracefully (results written); the library leaves signals alone otherwise.
    let stop = llmperf_actors::StopHandle::new();
    let runs = llmperf_actors::RunOptions::new().stop_handle(stop.clone());
    // Ok(status): the run(s) ended; a gate may still fail them (see docs/exit-codes.md).
    let result: Result<Option<u8>, Error> = match cli.command {
        Some(Command::ServeSim(args)) => serve_sim(args).map(|()| None),
        Some(Command::Merge(args)) => merge(&args).map(|()| None),
        Some(Command::Report(args)) => report(&args),
        Some(Command::Capacity(args)) => capacity(&args, &stop, &runs).map(|()| None),
        Some(Command::Correctness(args)) => {
            let env: HashMap<String, String> = std::env::vars().collect();
            args.settings(&env).and_then(|s| {
                stop_on_signals(&stop)?;
                let runs = console::run(&s.report, |o| {
                    llmperf_actors::run_correctness_tests_with(&s, &runs.clone().observer(o))
                })?;
                Ok(gate(gates::check_correctness_runs(
                    &runs,
                    s.gates.max_mismatch_rate,
                )))
            })
        }
        None => {
            let env: HashMap<String, String> = std::env::vars().collect();
            cli.load.settings(&env).and_then(|s| {
                stop_on_signals(&stop)?;
                let runs = console::run(&s.report, |o| {
                    llmperf_actors::run_load_tests_with(&s, &runs.clone().observer(o))
                })?;
                Ok(gate(gates::check_load_runs(&runs, &s.gates.fail_on)))
            })
        }
    };
    match result {
        Ok(status) => match stop.exit_code() {
            // Stopped by Ctrl-C / SIGTERM: the results are written, the exit code says it was cut short.
            Some(code) => ExitCode::from(code),
            None => status.map_or(ExitCode::SUCCESS, ExitCode::from),
        },
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

/// Wires Ctrl-C and SIGTERM to the runs' stop handle (only for runs: `serve-sim` keeps the default action).
fn stop_on_signals(stop: &llmperf_actors::StopHandle) -> Result<(), Error> {
    stop.stop_on_signals().map_err(|e| Error::Io {
        what: "installing the SIGINT/SIGTERM handlers".into(),
        source: e,
    })
}

/// Prints what the checks found; returns the exit status they ask for.
fn gate(outcome: gates::GateOutcome) -> Option<u8> {
    print!("{}", outcome.text);
    outcome.status
}

/// The capacity search: each step is a run the console shows like any other; then the capacity and its files.
fn capacity(
    args: &llmperf_actors::cli::CapacityArgs,
    stop: &llmperf_actors::StopHandle,
    runs: &llmperf_actors::RunOptions,
) -> Result<(), Error> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let settings = args.settings(&env)?;
    stop_on_signals(stop)?;
    console::run_then(
        &settings.report,
        |o| llmperf_actors::run_capacity_search(&settings, &runs.clone().observer(o)),
        |(report, files)| (report.text(), files.clone()),
    )?;
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

fn report(args: &ReportArgs) -> Result<Option<u8>, Error> {
    let mut outputs = llmperf_actors::report::ReportOutputs::default();
    let formats = args.output_format.clone().unwrap_or_else(|| "all".into());
    outputs
        .set_formats(&[formats])
        .map_err(|e| Error::Config(format!("--output-format: {e}")))?;
    if let Some(pct) = args.max_regression
        && !(pct.is_finite() && pct >= 0.0)
    {
        return Err(Error::Config(format!(
            "--max-regression must be a percentage of 0 or more (10 = 10 % worse); got {pct}"
        )));
    }
    let rebuilt = llmperf_actors::report::rebuild::report_dir(
        &args.dir,
        args.baseline.as_deref(),
        args.out.as_deref(),
        &outputs,
    )?;
    print!("{}", rebuilt.text);
    Ok(args
        .max_regression
        .and_then(|pct| gate(gates::check_regressions(&rebuilt.changes, pct))))
}

#[cfg(not(feature = "sim"))]
fn serve_sim(_args: SimArgs) -> Result<(), Error> {
    Err(Error::Config(
        "serve-sim: this build has no simulator (built without the `sim` cargo feature); build with the \
         default features"
            .into(),
    ))
}

#[cfg(feature = "sim")]
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
