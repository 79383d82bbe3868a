//! The per-request log: JSON Lines, one line appended (and handed to the OS) per finished request.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

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

/// Parsed log lines `(line number, record)`, and whether a torn final line was skipped.
pub type ParsedLog = (Vec<(usize, Value)>, bool);

/// The records of a per-request log's text, with their 1-based line numbers. A final line without its newline
/// that does not parse (the process was killed while writing it) is skipped and reported as `torn = true`;
/// any other bad line is an error `(line number, message)`.
pub fn parse_log(text: &str) -> Result<ParsedLog, (usize, String)> {
    let mut out = Vec::new();
    let mut torn = false;
    let complete = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    for (n, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(v) => out.push((n + 1, v)),
            Err(_) if n + 1 == lines.len() && !complete => torn = true,
            Err(e) => return Err((n + 1, e.to_string())),
        }
    }
    Ok((out, torn))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_last_line_is_skipped_and_others_are_errors() {
        let (v, torn) = parse_log("{\"a\":1}\n{\"a\":2}\n{\"a\":").unwrap();
        assert_eq!((v.len(), torn), (2, true));
        let (v, torn) = parse_log("{\"a\":1}\n\n{\"a\":2}\n").unwrap();
        assert_eq!((v.len(), torn), (2, false));
        assert_eq!(
            parse_log("{\"a\":1}\n{\"a\":\n{\"a\":2}\n").unwrap_err().0,
            2
        );
        // A complete last line that does not parse is not a torn write.
        assert_eq!(parse_log("{\"a\":1}\n{\"a\":\n").unwrap_err().0, 2);
    }
}
