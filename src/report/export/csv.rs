//! CSV files for spreadsheets and pandas (RFC 4180: comma-separated, `"`-quoted when needed, `\n` line ends):
//!
//! - `B_requests.csv`: one row per request — `index`, every key of the per-request record in the log's order,
//!   then `max_tokens`; empty cells for null;
//! - `B_summary_table.csv`: one row per metric — `metric`, `count`, p25…p99, p999, mean, min, max, stddev, in
//!   the metric's own unit (seconds, tokens, tokens/s), as in `_summary.json`.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Exported, Exporter, write_atomically, write_atomically_with};
use crate::Error;
use crate::report::result::RunReport;
use crate::report::stats::Stats;
use crate::report::store::RecordStore;

/// Quotes a CSV field when it holds a comma, a quote or a line break.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn value_field(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => field(s),
        Value::Number(n) => n.to_string(),
        other => field(&other.to_string()),
    }
}

fn num(v: Option<f64>) -> String {
    v.filter(|x| x.is_finite())
        .map_or(String::new(), |x| format!("{x:?}"))
}

/// The per-request CSV.
pub fn requests_csv(records: &RecordStore) -> String {
    let mut out = Vec::new();
    write_requests_csv(records, &mut out).expect("writing to memory cannot fail");
    String::from_utf8_lossy(&out).into_owned()
}

/// Writes the per-request CSV to `out`, a row at a time. The columns are the first record's keys (every
/// record has the same; a key only some records have, like `dataset_id`, is in the header when the first
/// one has it).
pub fn write_requests_csv(
    records: &RecordStore,
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    let row = |m: &crate::metrics::Metrics| match serde_json::to_value(m) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let keys: Vec<String> = records
        .iter()
        .next()
        .map(|r| row(&r.metrics).keys().cloned().collect())
        .unwrap_or_default();
    let mut header = vec!["index".to_string()];
    header.extend(keys.iter().cloned());
    header.push("max_tokens".into());
    writeln!(out, "{}", header.join(","))?;
    for r in records.iter() {
        let m = row(&r.metrics);
        let mut cells = vec![r.index.to_string()];
        cells.extend(
            keys.iter()
                .map(|k| m.get(k).map_or(String::new(), value_field)),
        );
        cells.push(r.max_tokens.map_or(String::new(), |t| t.to_string()));
        writeln!(out, "{}", cells.join(","))?;
    }
    Ok(())
}

/// The per-metric summary CSV.
pub fn summary_csv(stats: &Stats) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "metric,p25,p50,p75,p90,p95,p99,p999,mean,min,max,stddev"
    );
    let mut series: Vec<(&str, &crate::metrics::SeriesStats)> =
        stats.series.iter().map(|(m, s)| (m.name(), s)).collect();
    if let Some(g) = &stats.load.inter_chunk_gap_s {
        series.push(("inter_chunk_gap_s", g));
    }
    for (name, s) in series {
        let mut cells = vec![name.to_string()];
        cells.extend(s.quantiles.iter().map(|(_, v)| num(*v)));
        cells.extend([s.p999, s.mean, s.min, s.max, s.stddev].map(num));
        let _ = writeln!(out, "{}", cells.join(","));
    }
    out
}

/// Writes `B_requests.csv` and `B_summary_table.csv` into `dir`; returns their paths.
pub fn write_csv_files(
    dir: &Path,
    base_name: &str,
    stats: &Stats,
    records: &RecordStore,
) -> std::io::Result<Vec<PathBuf>> {
    let requests = dir.join(format!("{base_name}_requests.csv"));
    write_atomically_with(&requests, |w| write_requests_csv(records, w))?;
    let summary = dir.join(format!("{base_name}_summary_table.csv"));
    write_atomically(&summary, summary_csv(stats).as_bytes())?;
    Ok(vec![requests, summary])
}

/// The exporter of the two CSV files into a directory. A file it cannot write is logged and skipped (the
/// llmperf files hold the results).
#[derive(Debug, Clone)]
pub struct Csv {
    dir: PathBuf,
}

impl Csv {
    /// Into `dir`.
    pub fn new(dir: &Path) -> Csv {
        Csv {
            dir: dir.to_path_buf(),
        }
    }
}

impl Exporter for Csv {
    fn run(&mut self, report: &RunReport, out: &mut Exported) -> Result<(), Error> {
        let base_name = &report.description.base_name;
        match write_csv_files(&self.dir, base_name, &report.stats, &report.records) {
            Ok(files) => out.files.extend(files),
            Err(e) => log::error!("writing the CSV files of {base_name}: {e}"),
        }
        Ok(())
    }
}
