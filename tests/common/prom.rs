//! A small reader of the Prometheus text exposition format (0.0.4), written for the simulator's `GET /metrics`
//! tests and strict about what it reads: every sample's family has `# HELP` and `# TYPE` before it, label
//! values are quoted and escaped, values are numbers. Not the tool's scraper (that is another part's).
#![allow(dead_code)] // each test file uses its own subset

use std::collections::{BTreeMap, HashMap};

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed scrape.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    pub samples: Vec<Sample>,
    /// Family name → its `# TYPE`.
    pub types: HashMap<String, String>,
}

impl Scrape {
    /// Parses `text`, panicking on anything malformed.
    pub fn parse(text: &str) -> Scrape {
        let mut s = Scrape::default();
        let mut helped = std::collections::HashSet::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().expect("a name");
                helped.insert(name.to_string());
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                    "{line}"
                );
                assert!(helped.contains(name), "# TYPE before # HELP: {line}");
                s.types.insert(name.to_string(), kind.to_string());
            } else {
                assert!(!line.starts_with('#'), "unknown comment: {line}");
                let sample = parse_sample(line);
                let family = family(&sample.name, &s.types);
                assert!(s.types.contains_key(&family), "no # TYPE for {line}");
                s.samples.push(sample);
            }
        }
        s
    }

    /// The samples named `name` whose labels include `with`.
    pub fn find<'a>(
        &'a self,
        name: &'a str,
        with: &'a [(&str, &str)],
    ) -> impl Iterator<Item = &'a Sample> {
        self.samples.iter().filter(move |s| {
            s.name == name
                && with
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }

    /// The sum of the samples named `name` whose labels include `with` (panics if there is none).
    pub fn value(&self, name: &str, with: &[(&str, &str)]) -> f64 {
        let found: Vec<f64> = self.find(name, with).map(|s| s.value).collect();
        assert!(!found.is_empty(), "no sample {name} {with:?}");
        found.iter().sum()
    }

    /// A histogram's cumulative buckets (`le` → count, in order), with checks: increasing bounds, counts that
    /// never decrease, `+Inf` last and equal to `_count`.
    pub fn buckets(&self, name: &str) -> Vec<(f64, f64)> {
        assert_eq!(
            self.types.get(name).map(String::as_str),
            Some("histogram"),
            "{name}"
        );
        let bucket = format!("{name}_bucket");
        let b: Vec<(f64, f64)> = self
            .find(&bucket, &[])
            .map(|s| {
                let le = &s.labels["le"];
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().expect("a bound")
                };
                (le, s.value)
            })
            .collect();
        assert!(!b.is_empty(), "no buckets for {name}");
        for w in b.windows(2) {
            assert!(w[0].0 < w[1].0 && w[0].1 <= w[1].1, "{name}: {w:?}");
        }
        let (last_le, last) = b[b.len() - 1];
        assert!(last_le.is_infinite(), "{name}: +Inf last");
        assert_eq!(
            last,
            self.value(&format!("{name}_count"), &[]),
            "{name}: +Inf = count"
        );
        b
    }
}

/// The family a sample belongs to: its name, or the histogram's for `_bucket`, `_count`, `_sum`.
fn family(name: &str, types: &HashMap<String, String>) -> String {
    for suffix in ["_bucket", "_count", "_sum"] {
        if let Some(f) = name.strip_suffix(suffix)
            && types
                .get(f)
                .is_some_and(|k| k == "histogram" || k == "summary")
        {
            return f.to_string();
        }
    }
    name.to_string()
}

/// `name{k="v",…} value` or `name value`.
fn parse_sample(line: &str) -> Sample {
    let (head, value) = line
        .rsplit_once(' ')
        .unwrap_or_else(|| panic!("no value: {line}"));
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().unwrap_or_else(|_| panic!("not a number: {line}")),
    };
    let (name, labels) = match head.split_once('{') {
        None => (head, BTreeMap::new()),
        Some((name, rest)) => {
            let body = rest
                .strip_suffix('}')
                .unwrap_or_else(|| panic!("unclosed labels: {line}"));
            (name, parse_labels(body, line))
        }
    };
    assert!(
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
        "bad name: {line}"
    );
    Sample {
        name: name.to_string(),
        labels,
        value,
    }
}

fn parse_labels(body: &str, line: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut chars = body.chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "label value not quoted: {line}");
        let mut value = String::new();
        loop {
            match chars.next() {
                Some('\\') => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(c @ ('\\' | '"')) => value.push(c),
                    other => panic!("bad escape {other:?}: {line}"),
                },
                Some('"') => break,
                Some(c) => value.push(c),
                None => panic!("unterminated label value: {line}"),
            }
        }
        assert!(
            labels.insert(key.clone(), value).is_none(),
            "label {key} twice: {line}"
        );
        match chars.next() {
            Some(',') | None => {}
            Some(c) => panic!("unexpected {c:?} after a label: {line}"),
        }
    }
    labels
}
