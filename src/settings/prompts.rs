//! Workload settings beyond sonnet lines: `dataset`, `dataset_order`, `dataset_output_lengths`,
//! `shared_prefix_tokens`, `prefix_groups`, `multi_turn`, `replay_timestamps` — validated once, with errors
//! naming the key and the fix.

use std::path::PathBuf;

use super::{ConfigLayer, LoadSettings, Shard};
use crate::Error;

/// The order dataset entries are sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DatasetOrder {
    /// File order (the default).
    #[default]
    Sequential,
    /// Shuffled with the run's seed.
    Shuffle,
}

/// What is sent: sonnet prompts or a dataset, shared prefixes, conversations, a replayed trace.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WorkloadSettings {
    /// Prompts from this file (JSON Lines or ShareGPT JSON) instead of sonnet lines.
    pub dataset: Option<PathBuf>,
    /// Sequential or shuffled.
    pub dataset_order: DatasetOrder,
    /// ShareGPT: `max_tokens` = the recorded answer's token count.
    pub dataset_output_lengths: bool,
    /// Every prompt starts with a shared prefix of this many tokens (0: none).
    pub shared_prefix_tokens: u64,
    /// Number of different prefixes.
    pub prefix_groups: u64,
    /// Turns per conversation (1: single requests, the original's behaviour).
    pub multi_turn: u64,
    /// Send dataset lines at their `timestamp` offsets.
    pub replay_timestamps: bool,
}

impl ConfigLayer {
    /// The workload keys, checked alone and against the load settings they must agree with.
    pub(super) fn workload_settings(
        &self,
        load: &LoadSettings,
        shard: Shard,
    ) -> Result<WorkloadSettings, Error> {
        let cfg = |m: String| Err(Error::Config(m));
        let dataset = match self.dataset.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(p) => {
                let p = PathBuf::from(p);
                if !p.is_file() {
                    return cfg(format!(
                        "dataset file {} (--dataset / `dataset`) does not exist or is not a file; pass the path \
                         of a JSON Lines or ShareGPT JSON file",
                        p.display()
                    ));
                }
                Some(p)
            }
        };
        let dataset_order = match self.dataset_order.as_deref().map(str::trim) {
            None | Some("sequential") => DatasetOrder::Sequential,
            Some("shuffle") => DatasetOrder::Shuffle,
            Some(other) => {
                return cfg(format!(
                    "dataset_order '{other}' is not supported; use --dataset-order sequential or shuffle"
                ));
            }
        };
        let dataset_output_lengths = self.dataset_output_lengths.unwrap_or(false);
        let replay_timestamps = self.replay_timestamps.unwrap_or(false);
        let shared_prefix_tokens = self.shared_prefix_tokens.unwrap_or(0);
        let prefix_groups = self.prefix_groups.unwrap_or(1);
        let multi_turn = self.multi_turn.unwrap_or(1);
        let needs_dataset =
            |key: &str| format!("{key} needs a dataset: pass --dataset PATH (or set `dataset`)");
        if dataset.is_none() && self.dataset_order.is_some() {
            return cfg(needs_dataset("dataset_order"));
        }
        if dataset.is_none() && dataset_output_lengths {
            return cfg(needs_dataset("dataset_output_lengths"));
        }
        if dataset.is_none() && replay_timestamps {
            return cfg(needs_dataset("replay_timestamps"));
        }
        if prefix_groups == 0 {
            return cfg("prefix_groups must be at least 1; got 0".into());
        }
        if prefix_groups > 1 && shared_prefix_tokens == 0 {
            return cfg(
                "prefix_groups needs shared_prefix_tokens: pass --shared-prefix-tokens N too"
                    .into(),
            );
        }
        if multi_turn == 0 {
            return cfg("multi_turn must be at least 1 (turns per conversation); got 0".into());
        }
        if replay_timestamps {
            if dataset_order == DatasetOrder::Shuffle {
                return cfg("replay_timestamps sends lines in timestamp order: drop --dataset-order shuffle".into());
            }
            if load.request_rate.is_some() || load.sweep.is_some() || load.duration.is_some() {
                return cfg(
                    "replay_timestamps takes its schedule from the dataset: drop request_rate, duration and \
                     the sweeps"
                        .into(),
                );
            }
            if multi_turn > 1 {
                return cfg("replay_timestamps and multi_turn cannot be combined; drop one".into());
            }
        }
        if multi_turn > 1 {
            if load.request_rate.is_some() || load.sweep.is_some() || load.duration.is_some() {
                return cfg(
                    "multi_turn runs a closed loop of conversations: drop request_rate, duration and the sweeps"
                        .into(),
                );
            }
            if shard.is_sharded() {
                return cfg("multi_turn cannot be sharded yet: drop shard_count".into());
            }
        }
        Ok(WorkloadSettings {
            dataset,
            dataset_order,
            dataset_output_lengths,
            shared_prefix_tokens,
            prefix_groups,
            multi_turn,
            replay_timestamps,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::settings::{ConfigLayer, DatasetOrder, Settings};

    fn load(layer: ConfigLayer) -> Result<Settings, String> {
        let env = HashMap::from([("OPENAI_API_BASE".to_string(), "builtin".to_string())]);
        Settings::builder()
            .model("m")
            .env(env)
            .layer(&layer)
            .and_then(|b| b.build())
            .map_err(|e| e.to_string())
    }

    fn dataset() -> Option<String> {
        Some(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/prompts.jsonl").to_string())
    }

    #[test]
    fn defaults_send_sonnet_prompts_one_turn() {
        let w = load(ConfigLayer::default()).unwrap().workload;
        assert_eq!(w.dataset, None);
        assert_eq!(w.multi_turn, 1);
        assert_eq!(w.prefix_groups, 1);
        assert_eq!(w.shared_prefix_tokens, 0);
    }

    #[test]
    fn flags_are_validated_with_the_key_and_the_fix() {
        let w = load(ConfigLayer {
            dataset: dataset(),
            dataset_order: Some("shuffle".into()),
            ..Default::default()
        })
        .unwrap()
        .workload;
        assert_eq!(w.dataset_order, DatasetOrder::Shuffle);
        let cases = [
            (
                ConfigLayer {
                    dataset: Some("/no/such/file.jsonl".into()),
                    ..Default::default()
                },
                "--dataset",
            ),
            (
                ConfigLayer {
                    dataset: dataset(),
                    dataset_order: Some("random".into()),
                    ..Default::default()
                },
                "--dataset-order sequential or shuffle",
            ),
            (
                ConfigLayer {
                    replay_timestamps: Some(true),
                    ..Default::default()
                },
                "replay_timestamps needs a dataset",
            ),
            (
                ConfigLayer {
                    prefix_groups: Some(3),
                    ..Default::default()
                },
                "--shared-prefix-tokens",
            ),
            (
                ConfigLayer {
                    multi_turn: Some(2),
                    request_rate: Some(3.0),
                    ..Default::default()
                },
                "multi_turn runs a closed loop",
            ),
            (
                ConfigLayer {
                    dataset: dataset(),
                    replay_timestamps: Some(true),
                    request_rate: Some(3.0),
                    ..Default::default()
                },
                "replay_timestamps takes its schedule",
            ),
        ];
        for (args, needle) in cases {
            let err = load(args).unwrap_err();
            assert!(err.contains(needle), "{needle:?} not in {err}");
        }
    }
}
