//! Which reports a run produces besides the llmperf JSON files (always written): the summary table on
//! stdout, CSV files and SVG charts in the results directory, and how live progress is shown — and the
//! exporters that produce them ([`run_exporters`], [`rebuild_exporters`]): the one place that says which
//! outputs a run gets.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use super::description::{RunDescription, TestKind};
use super::export::Exporters;
use super::export::charts::Charts;
use super::export::console::OriginalSummary;
use super::export::correctness::{CorrectnessFiles, CorrectnessText};
use super::export::csv::Csv;
use super::export::html::HtmlReport;
use super::export::jsonl::RequestLog;
use super::export::llmperf::LlmperfFiles;
use super::export::server::ServerMetricsText;
use super::export::table::SummaryTable;
use crate::Error;

/// How live progress is shown while a run is going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    /// A bar when stdout and stderr are terminals and `NO_COLOR` is unset; plain lines otherwise.
    #[default]
    Auto,
    /// Always the bar (it is drawn on stderr).
    Bar,
    /// A plain line on stderr every few seconds and one at the end.
    Plain,
    /// Nothing.
    Off,
}

impl FromStr for ProgressMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(ProgressMode::Auto),
            "bar" => Ok(ProgressMode::Bar),
            "plain" => Ok(ProgressMode::Plain),
            "off" | "none" => Ok(ProgressMode::Off),
            other => Err(format!(
                "unknown progress mode '{other}': use auto, bar, plain or off"
            )),
        }
    }
}

/// The reports to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportOutputs {
    /// The summary table (and warnings) after the original's summary on stdout.
    pub table: bool,
    /// `B_requests.csv` and `B_summary_table.csv` in the results directory.
    pub csv: bool,
    /// SVG charts in the results directory.
    pub charts: bool,
    /// One self-contained HTML report per run (and per sweep) in the results directory.
    pub html: bool,
    /// Live progress.
    pub progress: ProgressMode,
}

impl Default for ReportOutputs {
    /// The table and progress; CSV and charts are asked for with `--csv` / `--charts` (or `output_format`).
    fn default() -> Self {
        ReportOutputs {
            table: true,
            csv: false,
            charts: false,
            html: false,
            progress: ProgressMode::Auto,
        }
    }
}

impl ReportOutputs {
    /// Sets `table`, `csv`, `charts` and `html` from an `--output-format` list: names among `table`, `csv`,
    /// `charts` (`svg`), `html`, `all`, or `none`, separated by commas.
    pub fn set_formats(&mut self, list: &[String]) -> Result<(), String> {
        self.table = false;
        self.csv = false;
        self.charts = false;
        self.html = false;
        for name in list.iter().flat_map(|s| s.split(',')).map(str::trim) {
            match name.to_ascii_lowercase().as_str() {
                "table" => self.table = true,
                "csv" => self.csv = true,
                "charts" | "svg" => self.charts = true,
                "html" => self.html = true,
                "all" => (self.table, self.csv, self.charts, self.html) = (true, true, true, true),
                "none" | "" => {}
                other => {
                    return Err(format!(
                        "unknown output format '{other}': use table, csv, charts, html, all or none"
                    ));
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for ReportOutputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = [
            (self.table, "table"),
            (self.csv, "csv"),
            (self.charts, "charts"),
            (self.html, "html"),
        ]
        .into_iter()
        .filter_map(|(on, n)| on.then_some(n))
        .collect();
        if names.is_empty() {
            write!(f, "none")
        } else {
            write!(f, "{}", names.join(","))
        }
    }
}

/// The exporters of one run: the original's outputs (its printed block; its files and the per-request log
/// when there is a results directory), then the reports `outputs` asks for. The log is created here, so an
/// unwritable directory fails before the run starts.
pub fn run_exporters(
    description: &RunDescription,
    outputs: &ReportOutputs,
    dir: Option<&Path>,
) -> Result<Exporters, Error> {
    let mut e = Exporters::default();
    match description.test {
        TestKind::LoadTest => {
            e.push(OriginalSummary);
            e.push(ServerMetricsText);
            if let Some(dir) = dir {
                e.push(LlmperfFiles::new(dir));
            }
            add_reports(&mut e, outputs, dir);
        }
        TestKind::Correctness => {
            e.push(CorrectnessText);
            if let Some(dir) = dir {
                e.push(CorrectnessFiles::new(dir));
            }
        }
    }
    if let Some(dir) = dir {
        e.push(RequestLog::create_in(dir, &description.base_name)?);
    }
    Ok(e)
}

/// The exporters `report DIR` runs on each run it reads back: the original's printed block, then the reports
/// `outputs` asks for, written into `dir`.
pub fn rebuild_exporters(outputs: &ReportOutputs, dir: &Path) -> Exporters {
    let mut e = Exporters::default()
        .with(OriginalSummary)
        .with(ServerMetricsText);
    add_reports(&mut e, outputs, Some(dir));
    e
}

/// The table, CSV files and charts, as `outputs` asks (files only with a directory).
fn add_reports(e: &mut Exporters, outputs: &ReportOutputs, dir: Option<&Path>) {
    if outputs.table {
        e.push(SummaryTable);
    }
    if let Some(dir) = dir {
        if outputs.csv {
            e.push(Csv::new(dir));
        }
        if outputs.charts {
            e.push(Charts::new(dir));
        }
        if outputs.html {
            e.push(HtmlReport::new(dir));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_and_reject_unknown_names() {
        let mut o = ReportOutputs::default();
        o.set_formats(&["csv,charts".into()]).unwrap();
        assert_eq!((o.table, o.csv, o.charts), (false, true, true));
        o.set_formats(&["all".into()]).unwrap();
        assert_eq!(o.to_string(), "table,csv,charts,html");
        o.set_formats(&["none".into()]).unwrap();
        assert_eq!(o.to_string(), "none");
        assert!(o.set_formats(&["pdf".into()]).unwrap_err().contains("pdf"));
        assert_eq!("plain".parse::<ProgressMode>(), Ok(ProgressMode::Plain));
        assert!("x".parse::<ProgressMode>().is_err());
    }
}
