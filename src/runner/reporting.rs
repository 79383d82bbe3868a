//! The runner's side of the report pipeline: each collected run goes through its statistics, then its
//! exporters and those across runs ([`report::export_report`]), on the runner's thread once the run's client
//! pool is gone — never on a network arbiter — and what it produced goes to the [`RunObserver`]: the run's
//! summary, then its warnings. Across runs it keeps the sweep in progress (whose stop rules decide whether
//! the sweep's next steps run) and the table of all runs.

use std::path::PathBuf;
use std::sync::Arc;

use crate::Error;
use crate::messages::CollectedRun;
use crate::observer::RunObserver;
use crate::report::export::table::{RunsTable, WarningContext, warnings};
use crate::report::{
    self, Exported, Exporter, RunDescription, RunReport, RunSummary, SweepExporter, SweepLimits,
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
    observer: Arc<dyn RunObserver>,
    context: WarningContext,
}

impl AcrossRuns {
    /// The outputs across runs `settings` asks for, reported to `observer`; `context` is what the warnings
    /// need to know beyond the run's results.
    pub fn new(
        settings: &Settings,
        observer: Arc<dyn RunObserver>,
        context: WarningContext,
    ) -> AcrossRuns {
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
            observer,
            context,
        }
    }

    /// Before the run `next`: ends the sweep in progress when `next` starts another one (reporting its
    /// summary). Returns whether to skip `next`: a step of a sweep a limit has stopped.
    pub fn skip(&mut self, next: &RunDescription) -> Result<bool, Error> {
        let Some(step) = &next.sweep else {
            return Ok(false);
        };
        match &self.sweep {
            Some(s) if s.group() == step.group => Ok(s.stopped()),
            _ => {
                finish(self.sweep.take(), &*self.observer)?;
                self.sweep = Some(
                    SweepExporter::new(step, self.limits, self.dir.as_deref())
                        .with_chart(self.charts)
                        .with_html(self.html),
                );
                Ok(false)
            }
        }
    }

    /// The report pipeline of a collected run; reports its summary (text and files), then its warnings.
    pub fn report(&mut self, collected: CollectedRun) -> Result<RunSummary, Error> {
        let CollectedRun {
            result,
            mut exporters,
        } = collected;
        let report = RunReport::new(result);
        let context = WarningContext {
            correctness: report.scores.is_some(),
            ..self.context.clone()
        };
        let found = warnings(&report.stats, &report.records, &context);
        let mut list: Vec<&mut dyn Exporter> = vec![&mut exporters];
        if let Some(s) = self.sweep.as_mut() {
            list.push(s);
        }
        if let Some(t) = self.all_runs.as_mut() {
            list.push(t);
        }
        let summary = report::export_report(report, &mut list)?;
        self.observer.run_finished(&summary);
        for w in &found {
            self.observer.warning(Some(&summary.description), w);
        }
        Ok(summary)
    }

    /// Every run is over: reports the last sweep's summary, then the table of all runs.
    pub fn finish(self) -> Result<(), Error> {
        finish(self.sweep, &*self.observer)?;
        finish(self.all_runs, &*self.observer)
    }
}

/// Ends an output across runs and reports what it produced (also when it then fails).
fn finish(exporter: Option<impl Exporter>, observer: &dyn RunObserver) -> Result<(), Error> {
    let Some(mut exporter) = exporter else {
        return Ok(());
    };
    let mut out = Exported::default();
    let finished = exporter.finish(&mut out);
    if !out.text.is_empty() || !out.files.is_empty() {
        observer.across_runs(&out.text, &out.files);
    }
    finished
}
