//! A run's scrapes read into what the report compares with the client: each gauge role over time, each
//! counter role's increase over the run (Prometheus' `increase()`: a drop is a reset, and the new value
//! counts), each histogram role's bucket increase between the first and last scrape (quantiles by linear
//! interpolation inside a bucket, as Prometheus' `histogram_quantile`) and its mean per scrape interval.
//! Label sets are summed (a server with several engines or ranks is one server).

use std::collections::BTreeMap;

use super::prom::PromSample;
use super::roles::{self, Kind, Role, Server};
use super::samples::Attempt;

/// A failed scrape: when, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Gap {
    /// Seconds from the run start.
    pub t: f64,
    /// What went wrong.
    pub error: String,
}

/// Cumulative histogram buckets (upper bound → count), with the sum and count.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Buckets {
    /// `(le, cumulative count)`, increasing bounds, `+Inf` last.
    pub le: Vec<(f64, f64)>,
    /// `_sum`.
    pub sum: f64,
    /// `_count`.
    pub count: f64,
}

impl Buckets {
    /// `self − before`, bucket by bucket (a bound `before` lacks counts from 0); `self` whole if the counts
    /// dropped (a reset).
    pub fn minus(&self, before: &Buckets) -> Buckets {
        if self.count < before.count {
            return self.clone();
        }
        let prior = |le: f64| {
            before
                .le
                .iter()
                .find(|(b, _)| *b == le)
                .map_or(0.0, |(_, c)| *c)
        };
        Buckets {
            le: self.le.iter().map(|&(b, c)| (b, c - prior(b))).collect(),
            sum: self.sum - before.sum,
            count: self.count - before.count,
        }
    }

    /// The `q` quantile (0–1) by linear interpolation inside the bucket that holds it, the lower edge of the
    /// first bucket being 0; in the `+Inf` bucket, the highest finite bound. `None` without observations.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.le.last().map_or(0.0, |(_, c)| *c);
        if total <= 0.0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * total;
        let (mut lo, mut below) = (0.0, 0.0);
        for &(le, c) in &self.le {
            if c >= rank && c > below {
                if le.is_infinite() {
                    return Some(lo);
                }
                return Some(lo + (le - lo) * (rank - below) / (c - below));
            }
            if le.is_finite() {
                lo = le;
            }
            below = c;
        }
        Some(lo)
    }

    /// The mean observation, `sum / count`.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0.0).then(|| self.sum / self.count)
    }
}

/// A histogram role over the run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistogramTrack {
    /// At the first successful scrape.
    pub first: Option<Buckets>,
    /// At the last one.
    pub last: Option<Buckets>,
    /// The mean observation of each scrape interval that had any: `(t of the later scrape, mean)`.
    pub means: Vec<(f64, f64)>,
}

impl HistogramTrack {
    /// The observations made during the run.
    pub fn delta(&self) -> Option<Buckets> {
        match (&self.last, &self.first) {
            (Some(l), Some(f)) => Some(l.minus(f)),
            _ => None,
        }
    }
}

/// What a run's scrapes say, by role.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerRun {
    /// The URL scraped.
    pub url: String,
    /// Which server's names were found.
    pub server: Option<Server>,
    /// The name read for each role.
    pub names: BTreeMap<Role, &'static str>,
    /// Successful scrapes.
    pub scrapes: u64,
    /// Failed scrapes.
    pub gaps: Vec<Gap>,
    /// Gauge roles: `(t, value)` at each successful scrape.
    pub gauges: BTreeMap<Role, Vec<(f64, f64)>>,
    /// Counter roles: the increase over the run.
    pub counters: BTreeMap<Role, f64>,
    /// Histogram roles.
    pub histograms: BTreeMap<Role, HistogramTrack>,
    /// Counter roles: the last value seen (for the next increase).
    last_counter: BTreeMap<Role, f64>,
}

impl ServerRun {
    /// An empty view of scrapes of `url`.
    pub fn new(url: &str) -> ServerRun {
        ServerRun {
            url: url.to_string(),
            ..ServerRun::default()
        }
    }

    /// The view of a run's attempts, in order.
    pub fn of(url: &str, attempts: &[Attempt]) -> ServerRun {
        let mut v = ServerRun::new(url);
        for a in attempts {
            v.add(a);
        }
        v
    }

    /// Adds one scrape attempt (attempts come in time order).
    pub fn add(&mut self, a: &Attempt) {
        match &a.result {
            Err(e) => self.gaps.push(Gap {
                t: a.t,
                error: e.clone(),
            }),
            Ok(samples) => self.add_scrape(a.t, samples),
        }
    }

    fn add_scrape(&mut self, t: f64, samples: &[PromSample]) {
        self.scrapes += 1;
        let present = |family: &str| {
            samples.iter().any(|s| {
                s.name == family
                    || s.name
                        .strip_prefix(family)
                        .is_some_and(|x| ["_bucket", "_sum", "_count"].contains(&x))
            })
        };
        for (role, name, kind, server) in roles::pick(&present) {
            // A role keeps the name it was first read under.
            let name = *self.names.entry(role).or_insert(name);
            self.server.get_or_insert(server);
            match kind {
                Kind::Gauge => {
                    let v = sum(samples, name, "");
                    self.gauges.entry(role).or_default().push((t, v));
                }
                Kind::Counter => self.count(role, sum(samples, name, "")),
                Kind::HistogramSum => self.count(role, sum(samples, name, "_sum")),
                Kind::Histogram => {
                    let b = buckets(samples, name);
                    let track = self.histograms.entry(role).or_default();
                    if let Some(prev) = &track.last {
                        let d = b.minus(prev);
                        if let Some(m) = d.mean() {
                            track.means.push((t, m));
                        }
                    }
                    track.first.get_or_insert_with(|| b.clone());
                    track.last = Some(b);
                }
            }
        }
    }

    fn count(&mut self, role: Role, v: f64) {
        let increase = match self.last_counter.insert(role, v) {
            None => 0.0,
            Some(prev) if v >= prev => v - prev,
            Some(_) => v, // reset
        };
        *self.counters.entry(role).or_insert(0.0) += increase;
    }

    /// A gauge role's peak and mean over the scrapes.
    pub fn gauge_max_mean(&self, role: Role) -> Option<(f64, f64)> {
        let pts = self.gauges.get(&role).filter(|p| !p.is_empty())?;
        let max = pts.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
        let mean = pts.iter().map(|p| p.1).sum::<f64>() / pts.len() as f64;
        Some((max, mean))
    }
}

/// The sum of the samples named `family` + `suffix` over their label sets (NaN left out).
fn sum(samples: &[PromSample], family: &str, suffix: &str) -> f64 {
    samples
        .iter()
        .filter(|s| s.name.len() == family.len() + suffix.len())
        .filter(|s| s.name.starts_with(family) && s.name.ends_with(suffix))
        .map(|s| s.value)
        .filter(|v| !v.is_nan())
        .sum()
}

/// A histogram's buckets, summed over label sets (other than `le`).
fn buckets(samples: &[PromSample], family: &str) -> Buckets {
    let bucket = format!("{family}_bucket");
    let mut by_le: Vec<(f64, f64)> = Vec::new();
    for s in samples.iter().filter(|s| s.name == bucket) {
        let Some(le) = s.labels.get("le").and_then(|l| match l.as_str() {
            "+Inf" | "Inf" => Some(f64::INFINITY),
            l => l.parse::<f64>().ok(),
        }) else {
            continue;
        };
        match by_le.iter_mut().find(|(b, _)| *b == le) {
            Some(slot) => slot.1 += s.value,
            None => by_le.push((le, s.value)),
        }
    }
    by_le.sort_by(|a, b| a.0.total_cmp(&b.0));
    Buckets {
        le: by_le,
        sum: sum(samples, family, "_sum"),
        count: sum(samples, family, "_count"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server_metrics::prom::parse;

    fn at(t: f64, text: &str) -> Attempt {
        Attempt {
            t,
            result: Ok(parse(text).unwrap()),
        }
    }

    #[test]
    fn quantiles_interpolate_inside_buckets() {
        let b = Buckets {
            le: vec![(0.1, 0.0), (0.2, 10.0), (0.4, 20.0), (f64::INFINITY, 20.0)],
            sum: 5.0,
            count: 20.0,
        };
        assert!((b.quantile(0.5).unwrap() - 0.2).abs() < 1e-12);
        assert!((b.quantile(0.25).unwrap() - 0.15).abs() < 1e-12);
        assert!((b.quantile(0.75).unwrap() - 0.3).abs() < 1e-12);
        assert_eq!(b.mean(), Some(0.25));
        let over = Buckets {
            le: vec![(1.0, 0.0), (f64::INFINITY, 4.0)],
            ..Buckets::default()
        };
        assert_eq!(over.quantile(0.99), Some(1.0));
        assert_eq!(Buckets::default().quantile(0.5), None);
    }

    #[test]
    fn counters_increase_histograms_subtract_and_gauges_sum_labels() {
        let s0 = "vllm:num_requests_waiting{e=\"0\"} 0\nvllm:num_requests_waiting{e=\"1\"} 1\n\
                  vllm:prompt_tokens_total 100\n\
                  vllm:time_to_first_token_seconds_bucket{le=\"0.1\"} 5\n\
                  vllm:time_to_first_token_seconds_bucket{le=\"+Inf\"} 5\n\
                  vllm:time_to_first_token_seconds_sum 0.25\nvllm:time_to_first_token_seconds_count 5\n";
        let s1 = "vllm:num_requests_waiting{e=\"0\"} 3\nvllm:num_requests_waiting{e=\"1\"} 4\n\
                  vllm:prompt_tokens_total 150\n\
                  vllm:time_to_first_token_seconds_bucket{le=\"0.1\"} 5\n\
                  vllm:time_to_first_token_seconds_bucket{le=\"+Inf\"} 7\n\
                  vllm:time_to_first_token_seconds_sum 1.25\nvllm:time_to_first_token_seconds_count 7\n";
        // The server restarted: the counter starts again.
        let s2 = "vllm:prompt_tokens_total 20\n";
        let v = ServerRun::of(
            "u",
            &[
                at(-0.01, s0),
                Attempt {
                    t: 0.5,
                    result: Err("HTTP 500".into()),
                },
                at(1.0, s1),
                at(2.0, s2),
            ],
        );
        assert_eq!(v.server, Some(Server::Vllm));
        assert_eq!((v.scrapes, v.gaps.len()), (3, 1));
        assert_eq!(v.gauge_max_mean(Role::Waiting), Some((7.0, 4.0)));
        assert_eq!(v.counters[&Role::PromptTokens], 50.0 + 20.0);
        let ttft = &v.histograms[&Role::Ttft];
        let d = ttft.delta().unwrap();
        assert_eq!((d.count, d.sum), (2.0, 1.0));
        assert_eq!(d.quantile(0.5), Some(0.1));
        assert_eq!(ttft.means, vec![(1.0, 0.5)]);
    }
}
