//! A reader of the Prometheus text exposition format (version 0.0.4, and the sample lines OpenMetrics shares
//! with it), as inference servers write it. Written here rather than taken from a crate: the one maintained
//! candidate, `prometheus-parse` 0.2.5, reads metric names as `\w+`, so it cannot read a single name of
//! vLLM's, SGLang's or llama.cpp's (`vllm:num_requests_running`: the colon), and stops label values at the
//! first `}`.
//!
//! Like Prometheus itself, a scrape with one malformed sample line is refused as a whole (the caller records
//! it as a gap) rather than read in part: a half-read scrape would make counters look like they reset.
//! Comments (`# HELP`, `# TYPE`, `# EOF`, others) and blank lines are skipped; a sample's optional timestamp
//! and an OpenMetrics exemplar (`# {…} v`) after the value are ignored.

use std::collections::BTreeMap;

/// One sample line: `name{labels} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct PromSample {
    /// The metric name, with its `_bucket` / `_sum` / `_count` / `_total` suffix as written.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value (`NaN`, `+Inf`, `-Inf` included).
    pub value: f64,
}

/// Parses a whole scrape; the error names the first bad line (1-based) and what is wrong with it.
pub fn parse(text: &str) -> Result<Vec<PromSample>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(parse_sample(line).map_err(|e| format!("line {}: {e}", i + 1))?);
    }
    Ok(out)
}

fn is_name_char(c: char, first: bool) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':' || (!first && c.is_ascii_digit())
}

/// A Go-style float: `NaN`, `+Inf`, `-Inf`, `Inf`, or a decimal number.
fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "NaN" | "nan" => Ok(f64::NAN),
        "+Inf" | "Inf" | "+inf" | "inf" => Ok(f64::INFINITY),
        "-Inf" | "-inf" => Ok(f64::NEG_INFINITY),
        _ => s
            .parse::<f64>()
            .map_err(|_| format!("'{}' is not a number", cut(s))),
    }
}

/// At most 40 characters of `s`, for messages.
fn cut(s: &str) -> String {
    s.chars().take(40).collect()
}

fn parse_sample(line: &str) -> Result<PromSample, String> {
    let name_end = line
        .char_indices()
        .find(|&(i, c)| !is_name_char(c, i == 0))
        .map_or(line.len(), |(i, _)| i);
    if name_end == 0 {
        return Err(format!("no metric name at '{}'", cut(line)));
    }
    let name = &line[..name_end];
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(body) = rest.strip_prefix('{') {
        let (parsed, after) = parse_labels(body)?;
        labels = parsed;
        rest = after;
    }
    if !rest.starts_with([' ', '\t']) {
        return Err(format!("no value after '{}'", cut(name)));
    }
    let mut fields = rest.split_whitespace();
    let value = parse_value(fields.next().ok_or("no value")?)?;
    // An optional timestamp, then possibly an OpenMetrics exemplar: neither is kept.
    if let Some(ts) = fields.next()
        && ts != "#"
        && ts.parse::<f64>().is_err()
    {
        return Err(format!("'{}' after the value is not a timestamp", cut(ts)));
    }
    Ok(PromSample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// Reads `k="v",…}` (the text after `{`); returns the labels and the text after the closing `}`.
fn parse_labels(body: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let mut s = body.trim_start();
    loop {
        if let Some(after) = s.strip_prefix('}') {
            return Ok((labels, after));
        }
        let key_end = s
            .char_indices()
            .find(|&(i, c)| !(is_name_char(c, i == 0) && c != ':'))
            .map_or(s.len(), |(i, _)| i);
        if key_end == 0 {
            return Err(format!("bad label name at '{}'", cut(s)));
        }
        let key = &s[..key_end];
        s = s[key_end..].trim_start();
        s = s
            .strip_prefix('=')
            .ok_or_else(|| format!("no '=' after label {key}"))?
            .trim_start();
        s = s
            .strip_prefix('"')
            .ok_or_else(|| format!("label {key}'s value is not quoted"))?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    Some((_, c)) => {
                        value.push('\\');
                        value.push(c);
                    }
                    None => return Err(format!("label {key}'s value is not closed")),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => return Err(format!("label {key}'s value is not closed")),
            }
        };
        labels.insert(key.to_string(), value);
        s = s[end + 1..].trim_start();
        if let Some(after) = s.strip_prefix(',') {
            s = after.trim_start();
        } else if !s.starts_with('}') {
            return Err(format!("expected ',' or '}}' after label {key}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_with_colons_labels_escapes_and_special_values() {
        let text = "# HELP vllm:num_requests_running Number of requests.\n\
                    # TYPE vllm:num_requests_running gauge\n\
                    vllm:num_requests_running{engine=\"0\",model_name=\"m\"} 3.0\n\
                    \n\
                    x_bucket{le=\"+Inf\", path=\"a}b\\\"c\\\\d\\ne\"} 7 1700000000000\n\
                    tgi_queue_size 0\n\
                    llamacpp:kv_cache_usage_ratio NaN\n\
                    m_total{a=\"1\",} -Inf # {trace_id=\"x\"} 1\n\
                    # EOF\n";
        let s = parse(text).unwrap();
        assert_eq!(s.len(), 5);
        assert_eq!(s[0].name, "vllm:num_requests_running");
        assert_eq!(s[0].labels["model_name"], "m");
        assert_eq!(s[0].value, 3.0);
        assert_eq!(s[1].labels["path"], "a}b\"c\\d\ne");
        assert_eq!(s[1].labels["le"], "+Inf");
        assert_eq!(s[1].value, 7.0);
        assert!(s[2].labels.is_empty());
        assert!(s[3].value.is_nan());
        assert_eq!(s[4].value, f64::NEG_INFINITY);
    }

    #[test]
    fn refuses_a_scrape_with_a_bad_line_and_names_it() {
        for (text, what) in [
            ("ok 1\n<html>garbage</html>\n", "line 2"),
            ("a{b=1} 2\n", "not quoted"),
            ("a{b=\"1\" 2\n", "expected ','"),
            ("a one\n", "not a number"),
            ("a\n", "no value"),
            ("a 1 soon\n", "timestamp"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(what), "{text:?}: {e}");
        }
        assert_eq!(parse("").unwrap(), vec![]);
    }
}
