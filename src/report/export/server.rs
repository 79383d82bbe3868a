//! The server's metrics beside the client's, printed after the run's other blocks when the run scraped them
//! (`--server-metrics`): what was scraped, the server's token counts beside the client's, queue and KV-cache
//! peaks, server TTFT, and a warning when the counts disagree. The summary's keys are written by
//! `LlmperfFiles` (from `server_metrics::summary`), the samples file by the scraper as it goes.

use super::{Exported, Exporter};
use crate::Error;
use crate::report::result::RunReport;

/// Prints the server-metrics block of a run that has one.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerMetricsText;

impl Exporter for ServerMetricsText {
    fn run(&mut self, report: &RunReport, out: &mut Exported) -> Result<(), Error> {
        if let Some(server) = &report.server {
            out.text.push_str(&crate::server_metrics::summary::text(
                server,
                &report.records,
            ));
            for w in crate::server_metrics::summary::warnings(
                server,
                &crate::server_metrics::summary::ClientCounts::of(&report.records),
            ) {
                log::warn!("{}: server metrics: {w}", report.description.base_name);
            }
        }
        Ok(())
    }
}
