//! `<base>_server_metrics.jsonl`: one JSON object per line, `{"t", "name", "labels", "value"}`, `t` in
//! seconds from the run start (the baseline scrape, taken just before the first request, has `t ≤ 0`),
//! `value` `null` where the server wrote NaN or ±Inf. Each scrape attempt starts with a line named `up`, as
//! Prometheus records it: `value` 1 and then every sample the server sent; or `value` 0 with the reason in
//! the label `error` — a gap. The label `instance` of `up` is the URL scraped.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::prom::PromSample;

/// The name of the line that starts each scrape attempt.
pub const UP: &str = "up";

/// One scrape attempt: the samples, or why there are none (a gap).
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// Seconds from the run start at which the scrape was sent.
    pub t: f64,
    /// The samples, or the reason for the gap.
    pub result: Result<Vec<PromSample>, String>,
}

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleLine {
    /// Seconds from the run start.
    pub t: f64,
    /// Metric name, as the server wrote it.
    pub name: String,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Value; `null` for NaN and ±Inf.
    pub value: Option<f64>,
}

/// Writes an attempt's lines.
pub fn write_attempt(w: &mut impl Write, url: &str, a: &Attempt) -> std::io::Result<()> {
    let t = (a.t * 1e6).round() / 1e6;
    let mut up = SampleLine {
        t,
        name: UP.into(),
        labels: BTreeMap::from([("instance".to_string(), url.to_string())]),
        value: Some(if a.result.is_ok() { 1.0 } else { 0.0 }),
    };
    match &a.result {
        Err(e) => {
            up.labels.insert("error".into(), e.clone());
            write_line(w, &up)
        }
        Ok(samples) => {
            write_line(w, &up)?;
            for s in samples {
                write_line(
                    w,
                    &SampleLine {
                        t,
                        name: s.name.clone(),
                        labels: s.labels.clone(),
                        value: s.value.is_finite().then_some(s.value),
                    },
                )?;
            }
            Ok(())
        }
    }
}

fn write_line(w: &mut impl Write, line: &SampleLine) -> std::io::Result<()> {
    serde_json::to_writer(&mut *w, line)?;
    w.write_all(b"\n")
}

/// Reads a samples file back into its attempts and the URL scraped. A torn last line (a crashed run) is
/// skipped; any other bad line is an error naming it.
pub fn read(path: &Path) -> Result<(String, Vec<Attempt>), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut url = String::new();
    let mut out: Vec<Attempt> = Vec::new();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    for (i, l) in lines.iter().enumerate() {
        let line: SampleLine = match serde_json::from_str(l) {
            Ok(line) => line,
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => break,
            Err(e) => return Err(format!("{} line {}: {e}", path.display(), i + 1)),
        };
        if line.name == UP {
            if url.is_empty()
                && let Some(u) = line.labels.get("instance")
            {
                url = u.clone();
            }
            let result = match line.value {
                Some(v) if v > 0.0 => Ok(Vec::new()),
                _ => Err(line.labels.get("error").cloned().unwrap_or_default()),
            };
            out.push(Attempt { t: line.t, result });
            continue;
        }
        match out.last_mut() {
            Some(Attempt {
                result: Ok(samples),
                ..
            }) => samples.push(PromSample {
                name: line.name,
                labels: line.labels,
                value: line.value.unwrap_or(f64::NAN),
            }),
            _ => {
                return Err(format!(
                    "{} line {}: a sample outside a successful scrape (no `up` line before it)",
                    path.display(),
                    i + 1
                ));
            }
        }
    }
    Ok((url, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b_server_metrics.jsonl");
        let s = PromSample {
            name: "vllm:num_requests_waiting".into(),
            labels: BTreeMap::from([("model_name".to_string(), "m".to_string())]),
            value: 2.0,
        };
        let attempts = vec![
            Attempt {
                t: -0.0012,
                result: Ok(vec![s.clone()]),
            },
            Attempt {
                t: 1.0,
                result: Err("HTTP 500".into()),
            },
        ];
        let mut bytes = Vec::new();
        for a in &attempts {
            write_attempt(&mut bytes, "http://h:1/metrics", a).unwrap();
        }
        let text = String::from_utf8(bytes.clone()).unwrap();
        let first: serde_json::Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
        assert_eq!(first["name"], "vllm:num_requests_waiting");
        assert_eq!(first["labels"]["model_name"], "m");
        assert_eq!(first["value"], 2.0);
        // A torn last line is skipped.
        bytes.extend_from_slice(b"{\"t\": 2.0, \"na");
        std::fs::write(&path, bytes).unwrap();
        let (url, back) = read(&path).unwrap();
        assert_eq!(url, "http://h:1/metrics");
        assert_eq!(back, attempts);
    }
}
