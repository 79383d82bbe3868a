//! Pass/fail thresholds on a run's statistics, k6-style: `--fail-on 'error_rate>0.01,ttft_p99>2s,goodput<0.9'`
//! (config key `fail_on`). Each item is `NAME OP VALUE`; the run fails when the condition holds. Evaluated at
//! the end of a run on the typed [`Stats`] (never on a file read back); the binary exits with status 3 when
//! any threshold of any run fails (see `docs/exit-codes.md`). Pure: statistics in, verdicts out.
//!
//! Names: the aggregates ([`Aggregate`]: `error_rate`, `goodput`, `output_throughput`, …) and, for the
//! per-request series ([`Series`]: `ttft`, `itl`, `tpot`, `e2e`, …), a statistic after an underscore
//! (`ttft_p99`, `e2e_mean`, `itl_max`). Latency limits take `2s`, `500ms` or a plain number of seconds;
//! fractions (`error_rate`, `goodput`) take `0.01` or `1%`; the others plain numbers.

use std::fmt;

use super::stats::{Metric, Stats};
use crate::metrics::{SeriesStats, parse_seconds};

/// A number over the whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// Errored / finished requests (cancelled ones are neither), a fraction.
    ErrorRate,
    /// Errored requests.
    Errors,
    /// Successful requests.
    Completed,
    /// Good / measured requests under the goodput targets (`--slo`), a fraction.
    Goodput,
    /// Good requests per second.
    GoodputRate,
    /// Output tokens per second over the run (the table's output throughput).
    OutputThroughput,
    /// Input tokens per second over the run.
    InputThroughput,
    /// Successful requests per second.
    RequestThroughput,
}

impl Aggregate {
    /// Every aggregate, in the order the help lists them.
    pub const ALL: [Aggregate; 8] = [
        Aggregate::ErrorRate,
        Aggregate::Errors,
        Aggregate::Completed,
        Aggregate::Goodput,
        Aggregate::GoodputRate,
        Aggregate::OutputThroughput,
        Aggregate::InputThroughput,
        Aggregate::RequestThroughput,
    ];

    /// Its name in a threshold.
    pub fn name(self) -> &'static str {
        match self {
            Aggregate::ErrorRate => "error_rate",
            Aggregate::Errors => "errors",
            Aggregate::Completed => "completed",
            Aggregate::Goodput => "goodput",
            Aggregate::GoodputRate => "goodput_rate",
            Aggregate::OutputThroughput => "output_throughput",
            Aggregate::InputThroughput => "input_throughput",
            Aggregate::RequestThroughput => "request_throughput",
        }
    }

    fn unit(self) -> Unit {
        match self {
            Aggregate::ErrorRate | Aggregate::Goodput => Unit::Fraction,
            _ => Unit::Number,
        }
    }

    fn of(self, stats: &Stats) -> Option<f64> {
        let l = &stats.load;
        Some(match self {
            Aggregate::ErrorRate => stats.error_rate,
            Aggregate::Errors => stats.number_errors as f64,
            Aggregate::Completed => stats.num_completed_requests as f64,
            Aggregate::Goodput => return l.goodput_fraction,
            Aggregate::GoodputRate => return l.goodput_request_rate,
            Aggregate::OutputThroughput => l.output_token_throughput_token_per_s,
            Aggregate::InputThroughput => l.input_token_throughput_token_per_s,
            Aggregate::RequestThroughput => l.request_throughput_per_s,
        })
    }
}

/// A per-request series, summarized over the successful measured requests (the table's rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    /// Time to first token, seconds.
    Ttft,
    /// Inter-token latency, seconds.
    Itl,
    /// Time per output token after the first, seconds.
    Tpot,
    /// End-to-end latency, seconds.
    E2e,
    /// TTFT from the scheduled start (open loop), seconds.
    ScheduledTtft,
    /// End-to-end latency from the scheduled start (open loop), seconds.
    ScheduledE2e,
    /// Actual start − scheduled start (open loop), seconds.
    DispatchDelay,
    /// Output tokens per second of each request (the table's tok/s/req).
    RequestOutputThroughput,
}

impl Series {
    /// Every series, in the order the help lists them.
    pub const ALL: [Series; 8] = [
        Series::Ttft,
        Series::Itl,
        Series::Tpot,
        Series::E2e,
        Series::ScheduledTtft,
        Series::ScheduledE2e,
        Series::DispatchDelay,
        Series::RequestOutputThroughput,
    ];

    /// Its name in a threshold (before `_p99`, `_mean`, …).
    pub fn name(self) -> &'static str {
        match self {
            Series::Ttft => "ttft",
            Series::Itl => "itl",
            Series::Tpot => "tpot",
            Series::E2e => "e2e",
            Series::ScheduledTtft => "scheduled_ttft",
            Series::ScheduledE2e => "scheduled_e2e",
            Series::DispatchDelay => "dispatch_delay",
            Series::RequestOutputThroughput => "request_output_throughput",
        }
    }

    /// The statistics' series it reads (the same as the table's row).
    pub fn metric(self) -> Metric {
        match self {
            Series::Ttft => Metric::Ttft,
            Series::Itl => Metric::InterTokenLatency,
            Series::Tpot => Metric::Tpot,
            Series::E2e => Metric::EndToEndLatency,
            Series::ScheduledTtft => Metric::ScheduledTtft,
            Series::ScheduledE2e => Metric::ScheduledEndToEndLatency,
            Series::DispatchDelay => Metric::DispatchDelay,
            Series::RequestOutputThroughput => Metric::GenerationThroughput,
        }
    }

    fn unit(self) -> Unit {
        match self {
            Series::RequestOutputThroughput => Unit::Number,
            _ => Unit::Seconds,
        }
    }
}

/// A statistic of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    /// 50th percentile.
    P50,
    /// 90th percentile.
    P90,
    /// 95th percentile.
    P95,
    /// 99th percentile.
    P99,
    /// 99.9th percentile.
    P999,
    /// Mean.
    Mean,
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
}

impl Stat {
    /// Every statistic.
    pub const ALL: [Stat; 8] = [
        Stat::P50,
        Stat::P90,
        Stat::P95,
        Stat::P99,
        Stat::P999,
        Stat::Mean,
        Stat::Min,
        Stat::Max,
    ];

    /// Its suffix in a threshold's name.
    pub fn name(self) -> &'static str {
        match self {
            Stat::P50 => "p50",
            Stat::P90 => "p90",
            Stat::P95 => "p95",
            Stat::P99 => "p99",
            Stat::P999 => "p999",
            Stat::Mean => "mean",
            Stat::Min => "min",
            Stat::Max => "max",
        }
    }

    fn of(self, s: &SeriesStats) -> Option<f64> {
        match self {
            Stat::P50 => s.p50(),
            Stat::P90 => s.p90(),
            Stat::P95 => s.p95(),
            Stat::P99 => s.p99(),
            Stat::P999 => s.p999,
            Stat::Mean => s.mean,
            Stat::Min => s.min,
            Stat::Max => s.max,
        }
    }
}

/// What a threshold measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    /// A number over the run.
    Aggregate(Aggregate),
    /// A statistic of a per-request series.
    Series(Series, Stat),
}

/// How a value is written and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Seconds,
    Fraction,
    Number,
}

impl Quantity {
    /// Its name, e.g. `ttft_p99`.
    pub fn name(&self) -> String {
        match self {
            Quantity::Aggregate(a) => a.name().to_string(),
            Quantity::Series(s, stat) => format!("{}_{}", s.name(), stat.name()),
        }
    }

    fn unit(&self) -> Unit {
        match self {
            Quantity::Aggregate(a) => a.unit(),
            Quantity::Series(s, _) => s.unit(),
        }
    }

    /// Its value in `stats`; `None` when the run has none (no successful request, no goodput targets).
    pub fn of(&self, stats: &Stats) -> Option<f64> {
        match self {
            Quantity::Aggregate(a) => a.of(stats),
            Quantity::Series(s, stat) => stat.of(stats.series(s.metric())),
        }
    }

    /// `value` written in this quantity's unit (`2.35 s`, `1.2 %`, `512.3`).
    pub fn show(&self, value: f64) -> String {
        match self.unit() {
            Unit::Seconds if value.abs() < 1.0 => format!("{:.1} ms", value * 1e3),
            Unit::Seconds => format!("{value:.3} s"),
            Unit::Fraction => format!("{value:.4} ({:.2} %)", value * 100.0),
            Unit::Number => format!("{value:.3}"),
        }
    }

    fn parse(name: &str) -> Option<Quantity> {
        if let Some(a) = Aggregate::ALL.iter().find(|a| a.name() == name) {
            return Some(Quantity::Aggregate(*a));
        }
        Series::ALL.iter().find_map(|s| {
            let stat = name.strip_prefix(s.name())?.strip_prefix('_')?;
            let stat = Stat::ALL.iter().find(|st| st.name() == stat)?;
            Some(Quantity::Series(*s, *stat))
        })
    }
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
        }
    }

    fn holds(self, value: f64, limit: f64) -> bool {
        match self {
            Op::Gt => value > limit,
            Op::Ge => value >= limit,
            Op::Lt => value < limit,
            Op::Le => value <= limit,
        }
    }
}

/// One threshold: the run fails when `quantity op limit` holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// What is measured.
    pub quantity: Quantity,
    /// The comparison that fails the run.
    pub op: Op,
    /// The limit, in the quantity's base unit (seconds, a fraction, a number).
    pub limit: f64,
    /// The item as written.
    pub text: String,
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Every name a threshold may use, for error messages and the docs.
pub fn valid_names() -> String {
    let aggregates: Vec<&str> = Aggregate::ALL.iter().map(|a| a.name()).collect();
    let series: Vec<&str> = Series::ALL.iter().map(|s| s.name()).collect();
    let stats: Vec<&str> = Stat::ALL.iter().map(|s| s.name()).collect();
    format!(
        "{}; or a series {} with _{} (e.g. ttft_p99, e2e_mean)",
        aggregates.join(", "),
        series.join(", "),
        stats.join("/_")
    )
}

const EXAMPLE: &str = "e.g. 'error_rate>0.01,ttft_p99>2s,goodput<0.9'";

/// Parses `error_rate>0.01,ttft_p99>2s,goodput<0.9` (items separated by commas; spaces allowed). The error
/// says which item is wrong and how to write it (the caller adds the flag or key).
///
/// ```
/// use llmperf_actors::report::thresholds::parse_thresholds;
/// let t = parse_thresholds("error_rate>1%, ttft_p99>500ms").unwrap();
/// assert_eq!(t.len(), 2);
/// assert_eq!(t[0].limit, 0.01);
/// assert_eq!(t[1].limit, 0.5);
/// assert!(parse_thresholds("latency>2s").is_err());
/// ```
pub fn parse_thresholds(text: &str) -> Result<Vec<Threshold>, String> {
    let items: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .collect();
    if items.is_empty() {
        return Err(format!("no threshold given; {EXAMPLE}"));
    }
    items.into_iter().map(parse_one).collect()
}

fn parse_one(item: &str) -> Result<Threshold, String> {
    let at = item.find(['<', '>', '=', '!']).ok_or_else(|| {
        format!("'{item}' is not NAME>VALUE or NAME<VALUE (also >=, <=); {EXAMPLE}")
    })?;
    let (name, rest) = item.split_at(at);
    let (op, value) = if let Some(v) = rest.strip_prefix(">=") {
        (Op::Ge, v)
    } else if let Some(v) = rest.strip_prefix("<=") {
        (Op::Le, v)
    } else if let Some(v) = rest.strip_prefix('>') {
        (Op::Gt, v)
    } else if let Some(v) = rest.strip_prefix('<') {
        (Op::Lt, v)
    } else {
        return Err(format!(
            "'{item}': the comparison must be >, >=, < or <= (the run fails when it holds)"
        ));
    };
    let name = name.trim();
    let quantity = Quantity::parse(name).ok_or_else(|| {
        format!(
            "'{item}': unknown metric '{name}'; valid names: {}",
            valid_names()
        )
    })?;
    let value = value.trim();
    let limit = parse_limit(quantity.unit(), value).ok_or_else(|| {
        let form = match quantity.unit() {
            Unit::Seconds => "a duration such as 2s, 500ms or 0.5 (seconds)",
            Unit::Fraction => "a fraction such as 0.01 or a percentage such as 1%",
            Unit::Number => "a plain number (no unit)",
        };
        format!("'{item}': '{value}' is not {form}")
    })?;
    Ok(Threshold {
        quantity,
        op,
        limit,
        text: format!("{}{}{value}", quantity.name(), op.symbol()),
    })
}

fn parse_limit(unit: Unit, value: &str) -> Option<f64> {
    let plain = |v: &str| v.trim().parse::<f64>().ok().filter(|x| x.is_finite());
    match unit {
        Unit::Seconds => parse_seconds(value),
        Unit::Fraction => match value.strip_suffix('%') {
            Some(p) => plain(p).map(|x| x / 100.0),
            None => plain(value),
        },
        Unit::Number => plain(value),
    }
}

/// One threshold's outcome on one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The threshold.
    pub threshold: Threshold,
    /// What the run measured; `None` when it has no such value.
    pub measured: Option<f64>,
    /// Whether it failed the run. A threshold that cannot be evaluated (no value) fails: a gate never
    /// passes on missing data.
    pub failed: bool,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = if self.failed { "FAIL" } else { "pass" };
        let q = &self.threshold.quantity;
        match self.measured {
            Some(v) => write!(f, "{word}  {}  (measured {})", self.threshold, q.show(v)),
            None => write!(
                f,
                "{word}  {}  (not measured: the run has no {})",
                self.threshold,
                q.name()
            ),
        }
    }
}

/// Evaluates every threshold on one run's statistics.
pub fn evaluate(thresholds: &[Threshold], stats: &Stats) -> Vec<Verdict> {
    thresholds
        .iter()
        .map(|t| {
            let measured = t.quantity.of(stats).filter(|v| v.is_finite());
            Verdict {
                threshold: t.clone(),
                measured,
                failed: measured.is_none_or(|v| t.op.holds(v, t.limit)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::stats::testing::record;
    use crate::report::stats::{LoadOptions, summarize, summarize_with};

    #[test]
    fn parses_the_issue_example() {
        let t = parse_thresholds("error_rate>0.01,ttft_p99>2s,goodput<0.9").unwrap();
        assert_eq!(t[0].quantity, Quantity::Aggregate(Aggregate::ErrorRate));
        assert_eq!((t[0].op, t[0].limit), (Op::Gt, 0.01));
        assert_eq!(t[1].quantity, Quantity::Series(Series::Ttft, Stat::P99));
        assert_eq!(t[1].limit, 2.0);
        assert_eq!((t[2].op, t[2].limit), (Op::Lt, 0.9));
        assert_eq!(t[2].to_string(), "goodput<0.9");
    }

    #[test]
    fn units_and_operators() {
        let t = parse_thresholds(
            " e2e_mean >= 500ms , itl_max<=0.25, output_throughput<100, error_rate>2.5%",
        )
        .unwrap();
        assert_eq!((t[0].op, t[0].limit), (Op::Ge, 0.5));
        assert_eq!((t[1].op, t[1].limit), (Op::Le, 0.25));
        assert_eq!(t[2].limit, 100.0);
        assert!((t[3].limit - 0.025).abs() < 1e-12);
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        let e = parse_thresholds("latency_p99>2s").unwrap_err();
        assert!(
            e.contains("unknown metric 'latency_p99'") && e.contains("ttft"),
            "{e}"
        );
        assert!(e.contains("error_rate") && e.contains("p99"), "{e}");
        let e = parse_thresholds("ttft_p99>fast").unwrap_err();
        assert!(e.contains("not a duration"), "{e}");
        let e = parse_thresholds("output_throughput>5s").unwrap_err();
        assert!(e.contains("plain number"), "{e}");
        let e = parse_thresholds("error_rate=0.1").unwrap_err();
        assert!(e.contains(">, >=, < or <="), "{e}");
        let e = parse_thresholds("ttft_p99").unwrap_err();
        assert!(e.contains("NAME>VALUE"), "{e}");
        assert!(parse_thresholds(" , ").is_err());
        assert!(parse_thresholds("ttft_p42>1s").is_err());
    }

    #[test]
    fn evaluates_on_the_statistics() {
        // TTFT 0.1 … 0.4 s, one error in five.
        let recs = vec![
            record(0.1, 1.0, 11, None),
            record(0.2, 2.0, 11, None),
            record(0.3, 3.0, 11, None),
            record(0.4, 4.0, 11, None),
            record(0.0, 0.0, 0, Some(500)),
        ];
        let stats = summarize(&recs, 4.0);
        let t =
            parse_thresholds("error_rate>0.1,ttft_max>450ms,ttft_min>=100ms,completed<4").unwrap();
        let v = evaluate(&t, &stats);
        assert!(v[0].failed, "error rate 0.2 > 0.1");
        assert_eq!(v[0].measured, Some(0.2));
        assert!(!v[1].failed, "ttft max 0.4 s is not above 450 ms");
        assert!(v[2].failed, "ttft min 0.1 s ≥ 100 ms");
        assert!(!v[3].failed, "4 completed is not below 4");
        assert!(
            v[0].to_string()
                .starts_with("FAIL  error_rate>0.1  (measured 0.2000")
        );
        assert!(v[1].to_string().contains("measured 400.0 ms"), "{}", v[1]);
    }

    #[test]
    fn a_threshold_without_data_fails() {
        let stats = summarize(&[record(0.0, 0.0, 0, Some(404))], 1.0);
        let v = evaluate(
            &parse_thresholds("ttft_p99>2s,goodput<0.5").unwrap(),
            &stats,
        );
        assert!(v.iter().all(|v| v.failed && v.measured.is_none()));
        assert!(v[0].to_string().contains("not measured"), "{}", v[0]);
    }

    #[test]
    fn goodput_reads_the_slo_fraction() {
        let opts = LoadOptions {
            slo: crate::metrics::Slo::parse("e2e=2.5s").unwrap(),
            ..LoadOptions::default()
        };
        let recs = vec![record(0.1, 1.0, 11, None), record(0.1, 3.0, 11, None)];
        let stats = summarize_with(&recs, 4.0, &opts);
        let v = evaluate(
            &parse_thresholds("goodput<0.9,goodput<0.4").unwrap(),
            &stats,
        );
        assert_eq!(v[0].measured, Some(0.5));
        assert!(v[0].failed && !v[1].failed);
    }
}
