//! The runner's side of the report pipeline: each collected run goes through [`report::export_run`] (its
//! statistics, then its exporters and those across runs), on the runner's thread once the run's client pool
//! is gone — never on a network arbiter — and what it produced is printed. Across runs it keeps the sweep in
//! progress (whose stop rules decide whether the sweep's next steps run) and the table of all runs.

use std::path::PathBuf;

use crate::Error;
use crate::messages::CollectedRun;
use crate::report::export::table::RunsTable;
use crate::report::{
    self, Exported, Exporter, RunDescription, RunSummary, SweepExporter, SweepLimits,
};
use crate::settings::Settings;

/// The outputs across the runs of one invocation.
pub(super) struct AcrossRuns {
    /// The sweep in progress.
    sweep: Option<SweepExporter>,
    /// The table of all runs, when the table is on.
    all_runs: Option<RunsTable>,
    limits: SweepLimits,
    dir: Option<PathBuf>,
    charts: bool,
    html: bool,
}

impl AcrossRuns {
    /// The outputs across runs `settings` asks for.
    pub fn new(settings: &Settings) -> AcrossRuns {
        AcrossRuns {
            sweep: None,
            all_runs: settings.report.table.then(RunsTable::default),
            limits: SweepLimits {
                max_error_rate: settings.load.sweep_max_error_rate,
                max_e2e_p99_s: settings.load.sweep_max_e2e_p99_s,
            },
            dir: settings.results_dir.clone(),
            charts: settings.report.charts,
            html: settings.report.html,
        }
    }

    /// Before the run `next`: ends the sweep in progress when `next` starts another one (printing its
    /// summary). Returns whether to skip `next`: a step of a sweep a limit has stopped.
    pub fn skip(&mut self, next: &RunDescription) -> Result<bool, Error> {
        let Some(step) = &next.sweep else {
            return Ok(false);
        };
        match &self.sweep {
            Some(s) if s.group() == step.group => Ok(s.stopped()),
            _ => {
                finish(self.sweep.take())?;
                self.sweep = Some(
                    SweepExporter::new(step, self.limits, self.dir.as_deref())
                        .with_chart(self.charts)
                        .with_html(self.html),
                );
                Ok(false)
            }
        }
    }

    /// The report pipeline of a collected run; prints its report and the files written.
    pub fn report(&mut self, collected: CollectedRun) -> Result<RunSummary, Error> {
        let CollectedRun {
            result,
            mut exporters,
        } = collected;
        let mut list: Vec<&mut dyn Exporter> = vec![&mut exporters];
        if let Some(s) = self.sweep.as_mut() {
            list.push(s);
        }
        if let Some(t) = self.all_runs.as_mut() {
            list.push(t);
        }
        let summary = report::export_run(result, &mut list)?;
        print(&summary.text, &summary.files);
        Ok(summary)
    }

    /// Every run is over: prints the last sweep's summary, then the table of all runs.
    pub fn finish(self) -> Result<(), Error> {
        finish(self.sweep)?;
        finish(self.all_runs)
    }
}

/// Ends an output across runs and prints what it produced (also when it then fails).
fn finish(exporter: Option<impl Exporter>) -> Result<(), Error> {
    let Some(mut exporter) = exporter else {
        return Ok(());
    };
    let mut out = Exported::default();
    let finished = exporter.finish(&mut out);
    print(&out.text, &out.files);
    finished
}

fn print(text: &str, files: &[PathBuf]) {
    print!("{text}");
    for f in files {
        println!("Wrote {}", f.display());
    }
}
