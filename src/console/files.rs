//! The final file list: the files written, one line per run — `DIR/BASE_{summary.json,requests.jsonl,…}`,
//! which a shell expands back into the paths — and files of their own (a sweep's summary) on lines of their
//! own.

use std::fmt::Write;
use std::path::{Path, PathBuf};

/// The run a file belongs to: its directory and the part of its name before the last known suffix.
fn split(path: &Path) -> Option<(PathBuf, String, String)> {
    const SUFFIXES: [&str; 10] = [
        "_summary.json",
        "_individual_responses.json",
        "_requests.jsonl",
        "_run.json",
        "_requests.csv",
        "_summary_table.csv",
        "_latency_cdf.svg",
        "_itl_histogram.svg",
        "_timeline.svg",
        "_correctness.json",
    ];
    let name = path.file_name()?.to_str()?;
    let suffix = SUFFIXES.iter().find(|s| name.ends_with(*s))?;
    let base = &name[..name.len() - suffix.len()];
    Some((
        path.parent().map(Path::to_path_buf).unwrap_or_default(),
        base.to_string(),
        suffix[1..].to_string(),
    ))
}

/// The list printed at the end: a header with the count, then one line per run (or per file that belongs to
/// no run); empty when nothing was written.
pub fn grouped(files: &[PathBuf]) -> String {
    if files.is_empty() {
        return String::new();
    }
    // (directory, base) → suffixes, in first-seen order; `None` base: a file on its own.
    type Run = (PathBuf, Option<String>);
    let mut groups: Vec<(Run, Vec<String>)> = Vec::new();
    for f in files {
        let (key, part) = match split(f) {
            Some((dir, base, suffix)) => ((dir, Some(base)), suffix),
            None => ((PathBuf::new(), None), f.display().to_string()),
        };
        match groups.iter_mut().find(|(k, _)| *k == key && k.1.is_some()) {
            Some((_, parts)) => parts.push(part),
            None => groups.push((key, vec![part])),
        }
    }
    let mut out = format!("\nFiles written ({}):\n", files.len());
    for ((dir, base), parts) in groups {
        match base {
            Some(base) => {
                let path = dir.join(format!("{base}_"));
                let parts = if parts.len() == 1 {
                    parts[0].clone()
                } else {
                    format!("{{{}}}", parts.join(","))
                };
                let _ = writeln!(out, "  {}{parts}", path.display());
            }
            None => {
                for p in parts {
                    let _ = writeln!(out, "  {p}");
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_grouped_per_run() {
        let files: Vec<PathBuf> = [
            "r/m_150_50_summary.json",
            "r/m_150_50_individual_responses.json",
            "r/m_150_50_requests.jsonl",
            "r/m_150_50_run.json",
            "r/m_650_50_summary.json",
            "r/G_sweep_summary.json",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        assert_eq!(
            grouped(&files),
            "\nFiles written (6):\n  r/m_150_50_{summary.json,individual_responses.json,requests.jsonl,run.json}\n  \
             r/m_650_50_summary.json\n  r/G_sweep_summary.json\n"
        );
        assert_eq!(grouped(&[]), "");
    }
}
