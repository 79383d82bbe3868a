//! The per-request log `B_requests.jsonl`: JSON Lines, one line appended (and handed to the OS) per finished
//! request, as it is recorded — so a crash loses nothing that was measured. Reading it back is in
//! [`crate::report::records`].

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Exported, Exporter, RecordedRequest};
use crate::Error;
use crate::report::result::RunReport;

/// An append-only JSON Lines file. Each record is written with a single `write` call, so a crash leaves at
/// most the last line incomplete and every earlier line readable.
#[derive(Debug)]
pub struct RequestLog {
    file: File,
    path: PathBuf,
    /// An append failed (logged once; the records stay in memory and reach the final files).
    failed: bool,
}

impl RequestLog {
    /// Creates (truncates) the log at `path`.
    pub fn create(path: &Path) -> std::io::Result<RequestLog> {
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)?;
        Ok(RequestLog {
            file,
            path: path.to_path_buf(),
            failed: false,
        })
    }

    /// Creates `B_requests.jsonl` in `dir`; the error names the file.
    pub fn create_in(dir: &Path, base_name: &str) -> Result<RequestLog, Error> {
        let path = dir.join(format!("{base_name}_requests.jsonl"));
        RequestLog::create(&path).map_err(|source| Error::Io {
            what: format!("creating {}", path.display()),
            source,
        })
    }

    /// Appends one record as a line.
    pub fn append(&mut self, record: &impl Serialize) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)
    }
}

impl Exporter for RequestLog {
    fn record(&mut self, request: &RecordedRequest<'_>) {
        if let Err(e) = self.append(request) {
            // Keep measuring: the record stays in memory and reaches the final files.
            if !self.failed {
                log::error!("cannot append to {}: {e}", self.path.display());
            }
            self.failed = true;
        }
    }

    fn run(&mut self, _: &RunReport, out: &mut Exported) -> Result<(), Error> {
        out.files.push(self.path.clone());
        Ok(())
    }
}
