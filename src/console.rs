//! The binary's console: what a person reads while and after a benchmark runs (docs/output.md). It is the
//! library's [`RunObserver`]: live progress on stderr (a bar on a terminal, plain lines otherwise), then for
//! each run its table (the text the library's exporters produced: the original's blocks only with
//! `--llmperf-stdout`), its notices and its warnings, each once; the table across runs; and at the end the
//! files written, grouped per run. With `--quiet` stdout gets only the final file list, and warnings go to
//! stderr. Log lines go through the bar ([`bar::install_logger`]), so nothing is glued to it.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use llmperf_actors::report::{ProgressMode, ReportOutputs};
use llmperf_actors::{ProgressSnapshot, RunDescription, RunObserver, RunSummary};

mod bar;
mod files;

pub use bar::install_logger;

/// What the console prints, and the files to list at the end.
pub struct Console {
    state: Mutex<State>,
}

struct State {
    outputs: ReportOutputs,
    /// Progress as a bar (on a terminal) rather than plain lines.
    bar: bool,
    progress: bar::Progress,
    /// The files written, in order.
    files: Vec<PathBuf>,
}

impl Console {
    /// A console printing what `outputs` asks for.
    pub fn new(outputs: ReportOutputs) -> Arc<Console> {
        Arc::new(Console {
            state: Mutex::new(State {
                bar: bar::use_bar(outputs.progress),
                outputs,
                progress: bar::Progress::default(),
                files: Vec::new(),
            }),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every run is over (or one failed): prints the files written, grouped per run.
    pub fn finish(&self) {
        let state = self.state();
        let list = files::grouped(&state.files);
        if !list.is_empty() {
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "{list}");
            let _ = out.flush();
        }
    }
}

/// Prints `text` on stdout, whole.
fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

impl RunObserver for Console {
    fn run_started(&self, run: &RunDescription, total: Option<u64>) {
        let mut state = self.state();
        state.progress = if state.outputs.progress != ProgressMode::Off && state.bar {
            bar::Progress::bar(&run.base_name, total)
        } else {
            bar::Progress::PlainSince(std::time::Instant::now())
        };
    }

    fn progress(&self, snapshot: &ProgressSnapshot) {
        let mut state = self.state();
        let bar = state.bar;
        state.progress.update(snapshot, bar);
    }

    fn progress_finished(&self, snapshot: &ProgressSnapshot) {
        let mut state = self.state();
        state.progress.finish(snapshot);
    }

    fn notice(&self, _run: &RunDescription, text: &str) {
        if !self.state().outputs.quiet {
            print(&format!("{text}\n"));
        }
    }

    fn warning(&self, run: Option<&RunDescription>, text: &str) {
        let quiet = self.state().outputs.quiet;
        let line = match run {
            Some(r) if quiet => format!("warning: {}: {text}\n", r.base_name),
            _ if quiet => format!("warning: {text}\n"),
            _ => format!("Warning: {text}\n"),
        };
        if quiet {
            bar::eprint(&line);
        } else {
            print(&line);
        }
    }

    fn run_finished(&self, summary: &RunSummary) {
        let mut state = self.state();
        state.files.extend(summary.files.iter().cloned());
        if !state.outputs.quiet {
            print(&summary.text);
        }
    }

    fn across_runs(&self, text: &str, files: &[PathBuf]) {
        let mut state = self.state();
        state.files.extend(files.iter().cloned());
        if !state.outputs.quiet {
            print(text);
        }
    }
}

/// Runs `benchmark` with a console printing what `outputs` asks for, and returns what it returned; lists the
/// files written at the end, also when a later run failed. `--quiet` (unless `RUST_LOG` is set) keeps only
/// warnings and errors in the log.
pub fn run<T>(
    outputs: &ReportOutputs,
    benchmark: impl FnOnce(Arc<dyn RunObserver>) -> Result<T, llmperf_actors::Error>,
) -> Result<T, llmperf_actors::Error> {
    run_then(outputs, benchmark, |_| (String::new(), Vec::new()))
}

/// [`run`], with a result of its own printed (also under `--quiet`: it is the answer) after the runs and
/// before the file list, which ends with its files: `after` gives the text and the files from what
/// `benchmark` returned.
pub fn run_then<T>(
    outputs: &ReportOutputs,
    benchmark: impl FnOnce(Arc<dyn RunObserver>) -> Result<T, llmperf_actors::Error>,
    after: impl FnOnce(&T) -> (String, Vec<PathBuf>),
) -> Result<T, llmperf_actors::Error> {
    if outputs.quiet && std::env::var_os("RUST_LOG").is_none() {
        log::set_max_level(log::LevelFilter::Warn);
    }
    let console = Console::new(*outputs);
    let result = benchmark(console.clone());
    if let Ok(value) = &result {
        let (text, files) = after(value);
        print(&text);
        console.state().files.extend(files);
    }
    console.finish();
    result
}
