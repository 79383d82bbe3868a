//! The per-request log: JSON Lines, one line appended (and handed to the OS) per finished request.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// An append-only JSON Lines file. Each record is written with a single `write` call, so a crash leaves at
/// most the last line incomplete and every earlier line readable.
pub struct RequestLog {
    file: File,
    path: PathBuf,
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
        })
    }

    /// Appends one record as a line.
    pub fn append(&mut self, record: &impl Serialize) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)
    }

    /// Where the log is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
