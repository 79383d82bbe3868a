//! The `capacity` subcommand's flags: the load test's (endpoint, workload, reports) plus the search's, which
//! set the keys of the `capacity:` section; `--slo` takes quantile targets here and sets `capacity.slo`.

use std::collections::HashMap;

use clap::Args;
use serde::Serialize;

use super::LoadTestArgs;
use crate::Error;
use crate::capacity::CapacitySection;
use crate::settings::{ConfigLayer, Settings};

/// `capacity` flags.
#[derive(Debug, Default, Clone, Args)]
#[command(mut_arg("slo", |a| {
    a.help(
        "The SLO: latency targets on quantiles, e.g. ttft_p99=500ms,tpot_p99=50ms,e2e_p50=4s (ttft, tpot, e2e; \
         _pQ any percentile; a target without _pQ counts in the goodput only) [required]",
    )
    .help_heading("Capacity search")
}))]
pub struct CapacityArgs {
    /// The load test's flags (endpoint, workload, reports).
    #[command(flatten)]
    pub load: LoadTestArgs,
    /// The search's flags.
    #[command(flatten)]
    pub search: CapacitySearchArgs,
}

/// The search's flags; their names are the keys of the `capacity:` section.
#[derive(Debug, Default, Clone, Args, Serialize)]
pub struct CapacitySearchArgs {
    /// The least fraction of requests that must meet every target [default: 0.95].
    #[arg(long, value_name = "F", help_heading = "Capacity search")]
    pub goodput: Option<f64>,
    /// Search over the open-loop request rate (Poisson arrivals) or the closed-loop concurrency
    /// [default: rate].
    #[arg(
        long,
        value_name = "rate|concurrency",
        help_heading = "Capacity search"
    )]
    pub search: Option<String>,
    /// The lightest load tried: requests/s (a concurrency with --search concurrency) [default: 1].
    #[arg(long, value_name = "R", help_heading = "Capacity search")]
    pub min_rate: Option<f64>,
    /// The heaviest load tried [default: 1000].
    #[arg(long, value_name = "R", help_heading = "Capacity search")]
    pub max_rate: Option<f64>,
    /// The first load tried; the search grows it while steps pass and shrinks it while they fail
    /// [default: --min-rate].
    #[arg(long, value_name = "R", help_heading = "Capacity search")]
    pub start_rate: Option<f64>,
    /// Factor between the loads of bracketing steps [default: 2].
    #[arg(long, value_name = "X", help_heading = "Capacity search")]
    pub growth: Option<f64>,
    /// Stop bisecting when the lowest failing load is within this fraction of the highest passing one
    /// [default: 0.05].
    #[arg(long, value_name = "F", help_heading = "Capacity search")]
    pub tolerance: Option<f64>,
    /// Time for the whole search, e.g. 90s, 10m; no step starts after it and a running step stops sending
    /// [default: 10m].
    #[arg(long, value_name = "DURATION", help_heading = "Capacity search")]
    pub time_budget: Option<String>,
    /// Judged requests a step needs before it can pass (a fail can come sooner) [default: 50].
    #[arg(long, value_name = "N", help_heading = "Capacity search")]
    pub step_requests: Option<u64>,
    /// Requests a step sends at most, warm-up included; an unclear step is then decided by its point
    /// estimates [default: 500].
    #[arg(long, value_name = "N", help_heading = "Capacity search")]
    pub max_step_requests: Option<u64>,
    /// Requests at the start of each step left out of its judgement and its statistics [default: 5].
    #[arg(long, value_name = "N", help_heading = "Capacity search")]
    pub step_warmup: Option<u64>,
    /// A step sends nothing after this long, e.g. 120s [default: 120s].
    #[arg(long, value_name = "DURATION", help_heading = "Capacity search")]
    pub max_step_seconds: Option<String>,
    /// Two-sided confidence level of every interval [default: 0.95].
    #[arg(long, value_name = "F", help_heading = "Capacity search")]
    pub confidence: Option<f64>,
}

impl CapacityArgs {
    /// The flags given, as the top configuration layer: the load test's keys, and the search's in the
    /// `capacity:` section (with `--slo`).
    pub fn to_config(&self) -> Result<ConfigLayer, Error> {
        let mut layer = self.load.to_config()?;
        let mut keys = match serde_json::to_value(&self.search) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        keys.retain(|_, v| !v.is_null());
        if let Some(slo) = layer.slo.take() {
            keys.insert("slo".into(), slo);
        }
        if !keys.is_empty() {
            let section: CapacitySection = serde_json::from_value(serde_json::Value::Object(keys))
                .map_err(|e| Error::Config(format!("capacity flags: {e}")))?;
            layer.capacity = Some(section);
        }
        Ok(layer)
    }

    /// The search's settings: the `--config` file, `env` and these flags, layered and validated.
    pub fn settings(&self, env: &HashMap<String, String>) -> Result<Settings, Error> {
        let mut b = Settings::builder().env(env.clone());
        if let Some(path) = &self.load.config {
            b = b.config_file(path.clone());
        }
        b.layer(&self.to_config()?)?.build()
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;
    use crate::cli::{Cli, Command};

    fn parse(args: &[&str]) -> CapacityArgs {
        let argv = ["llmperf-actors", "capacity"].iter().chain(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Some(Command::Capacity(c)) => *c,
            other => panic!("not the capacity subcommand: {other:?}"),
        }
    }

    #[test]
    fn every_flag_sets_a_key_of_the_schema() {
        let root = Cli::command();
        let cmd = root.find_subcommand("capacity").unwrap();
        let mut seen = 0;
        for arg in cmd.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if ["config", "help"].contains(&long) {
                continue;
            }
            let flag = format!("--{long}");
            let args: Vec<&str> = if arg.get_action().takes_values() {
                vec![&flag, "1"]
            } else {
                vec![&flag]
            };
            let layer = parse(&args).to_config().unwrap();
            assert_ne!(layer, ConfigLayer::default(), "{flag} sets no key");
            seen += 1;
        }
        assert!(seen > 60, "{seen}");
    }

    #[test]
    fn the_flags_fill_the_capacity_section_over_the_files_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("c.yml");
        std::fs::write(
            &cfg,
            "openai_api_base: builtin\nmodel: m\ncapacity: {max_rate: 64, goodput: 0.9, slo: ttft_p50=1s}\n",
        )
        .unwrap();
        let cfg = cfg.to_str().unwrap();
        let s = parse(&[
            "--config",
            cfg,
            "--slo",
            "ttft_p99=500ms",
            "--min-rate",
            "2",
        ])
        .settings(&HashMap::new())
        .unwrap();
        let c = s.capacity.unwrap();
        assert_eq!(c.rules.slo.targets[0].name(), "ttft_p99");
        assert_eq!(
            (c.search.min, c.search.max, c.rules.goodput),
            (2.0, 64.0, 0.9)
        );
        // The load test's --slo keeps its own meaning: the capacity flag does not set the top-level key.
        assert_eq!(s.load.slo, crate::metrics::Slo::default());
    }
}
