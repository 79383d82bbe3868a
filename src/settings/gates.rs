//! What fails a run for CI and Kubernetes Jobs (exit status 3, see `docs/exit-codes.md`): the load test's
//! thresholds (`fail_on`, parsed by [`crate::report::thresholds`]) and the correctness test's mismatch limit
//! (`max_mismatch_rate`), validated from the raw keys.

use serde_json::Value;

use super::{ConfigLayer, LoadSettings};
use crate::Error;
use crate::report::thresholds::{Aggregate, Quantity, Threshold, parse_thresholds};

/// The conditions that fail a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gates {
    /// Load test: the run fails when any of these holds (`--fail-on`).
    pub fail_on: Vec<Threshold>,
    /// Correctness test: the run fails when its mismatch rate is above this fraction.
    pub max_mismatch_rate: Option<f64>,
}

impl ConfigLayer {
    /// Checks `fail_on` (text `a>1,b<2` or a list of such items) and `max_mismatch_rate`; goodput thresholds
    /// need goodput targets.
    pub(super) fn gates(&self, load: &LoadSettings) -> Result<Gates, Error> {
        let bad = |e: String| Error::Config(format!("--fail-on / fail_on: {e}"));
        let text = match &self.fail_on {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => Ok(s.clone()),
                        other => Err(bad(format!(
                            "list items must be text such as 'ttft_p99>2s'; got {other}"
                        ))),
                    })
                    .collect::<Result<Vec<_>, _>>()?
                    .join(","),
            ),
            Some(other) => {
                return Err(bad(format!(
                    "must be text such as 'error_rate>0.01,ttft_p99>2s' or a list of such items; got {other}"
                )));
            }
        };
        let fail_on = match text {
            None => Vec::new(),
            Some(t) => parse_thresholds(&t).map_err(bad)?,
        };
        let goodput = [Aggregate::Goodput, Aggregate::GoodputRate].map(Quantity::Aggregate);
        if let Some(t) = fail_on
            .iter()
            .find(|t| goodput.contains(&t.quantity) && load.slo.is_empty())
        {
            return Err(bad(format!(
                "'{t}' needs goodput targets: add --slo (e.g. --slo ttft=500ms,e2e=10s) or the `slo` key"
            )));
        }
        let max_mismatch_rate = match self.max_mismatch_rate {
            Some(x) if !(0.0..=1.0).contains(&x) => {
                return Err(Error::Config(format!(
                    "--max-mismatch-rate / max_mismatch_rate must be a fraction from 0 to 1 (0.05 = 5 %); got {x}"
                )));
            }
            x => x,
        };
        Ok(Gates {
            fail_on,
            max_mismatch_rate,
        })
    }
}
