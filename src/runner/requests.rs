//! A run's requests, built before the clock starts (the runner's side of the workloads in `crate::workload`):
//! reads and checks the dataset file (all of it, before anything is sent), and builds a run's requests from
//! sonnet prompts or dataset entries, with shared prefixes; the trace-replay schedule; the multi-turn request
//! list (one template per conversation turn).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::plans::Shape;
use crate::Error;
use crate::backend::{RequestConfig, flatten_messages};
use crate::messages::PreparedRequest;
use crate::settings::{DatasetOrder, RunSpec, Settings, WorkloadSettings};
use crate::tokenizer::{TokenCount, Tokenizer};
use crate::workload::dataset::{self, DatasetEntry, DatasetPrompt};
use crate::workload::prefix::build_prefixes;
use crate::workload::pyrandom::PyRandom;
use crate::workload::{PromptSpec, generate_prompts};

/// A dataset read and checked whole.
#[derive(Debug)]
pub(super) struct Dataset {
    /// The file, as given.
    pub file: String,
    /// Its entries, in file order.
    pub entries: Vec<DatasetEntry>,
}

impl Dataset {
    /// Whether every line gives its request's `max_tokens` (its own, or with `output_lengths` its recorded
    /// answer's length), so no output length is sampled from the output-length settings.
    pub fn gives_every_max_tokens(&self, output_lengths: bool) -> bool {
        self.entries
            .iter()
            .all(|e| e.max_tokens.is_some() || (output_lengths && e.answer.is_some()))
    }
}

/// Reads and checks the dataset of `w`, if any. Every error names the file (and the line).
pub(super) fn load_dataset(w: &WorkloadSettings) -> Result<Option<Arc<Dataset>>, Error> {
    let Some(path) = &w.dataset else {
        return Ok(None);
    };
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::Config(format!(
            "cannot read dataset {file} (--dataset / `dataset`): {e}"
        ))
    })?;
    let entries = dataset::parse(&file, &text).map_err(|e| Error::Config(e.to_string()))?;
    if w.replay_timestamps {
        dataset::timestamps(&file, &entries).map_err(|e| Error::Config(e.to_string()))?;
    }
    log::info!("dataset {file}: {} prompts", entries.len());
    Ok(Some(Arc::new(Dataset { file, entries })))
}

/// Trace replay: the dataset's timestamps (checked when it was loaded), the first `n`.
pub(super) fn replay_offsets(d: &Dataset, n: usize) -> Vec<f64> {
    d.entries
        .iter()
        .take(n)
        .map(|e| e.timestamp.unwrap_or(0.0))
        .collect()
}

/// Trace replay: the dataset's timestamps are the open-loop schedule (the first
/// `max_num_completed_requests` lines when that is given, else every line), this shard's share of them.
pub(super) fn replay_shape(settings: &Settings, d: &Dataset) -> Shape {
    let load = &settings.load;
    let shard = settings.shard;
    let n = if load.max_requests_explicit {
        (settings.max_num_completed_requests as usize).min(d.entries.len())
    } else {
        d.entries.len()
    };
    let offsets = shard.select(replay_offsets(d, n));
    if let Some(&last) = offsets.last()
        && last >= settings.timeout.as_secs_f64()
    {
        log::warn!(
            "the trace lasts {last:.1} s but --timeout is {:.1} s: lines due after it are not sent; raise --timeout",
            settings.timeout.as_secs_f64()
        );
    }
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    Shape {
        limit: offsets.len(),
        pool: n,
        concurrency: load
            .max_concurrency
            .map_or(usize::MAX, |c| shard.share(c).max(1) as usize),
        clients: cores,
        schedule: Some(offsets.into()),
        timeout: settings.timeout,
        turns: 1,
    }
}

/// One request's content before it becomes a [`PreparedRequest`].
struct Item {
    text: String,
    messages: Option<Vec<Value>>,
    /// `number_input_tokens`: the sonnet target `P` (+ the prefix), or the real count for a dataset.
    target: Option<u64>,
    max_tokens: u64,
    id: Option<Value>,
}

/// What a run's request builder needs.
pub(super) struct Build {
    pub spec: PromptSpec,
    pub seed: u64,
    pub model: String,
    pub llm_api: String,
    pub extra: Map<String, Value>,
    pub shared_prefix_tokens: u64,
    pub prefix_groups: u64,
    pub order: DatasetOrder,
    pub output_lengths: bool,
}

impl Build {
    /// The builder of one run of `settings`.
    pub fn new(settings: &Settings, spec: &RunSpec) -> Build {
        let w = &settings.workload;
        Build {
            spec: PromptSpec {
                mean_input_tokens: spec.input.mean as f64,
                stddev_input_tokens: spec.input.stddev as f64,
                mean_output_tokens: spec.output.mean as f64,
                stddev_output_tokens: spec.output.stddev as f64,
            },
            seed: settings.seed,
            model: spec.model.clone(),
            llm_api: settings.llm_api.to_string(),
            extra: settings.additional_sampling_params.clone(),
            shared_prefix_tokens: w.shared_prefix_tokens,
            prefix_groups: w.prefix_groups,
            order: w.dataset_order,
            output_lengths: w.dataset_output_lengths,
        }
    }
}

/// Builds `n` requests from the dataset (cycled in the chosen order) or from sonnet prompts, with the
/// shared prefixes in front.
pub(super) fn build_requests(
    b: &Build,
    dataset: Option<&Dataset>,
    n: usize,
    tokenizer: &Tokenizer,
) -> Result<Vec<PreparedRequest>, Error> {
    let mut items = match dataset {
        None => generate_prompts(&b.spec, n, b.seed, tokenizer)?
            .into_iter()
            .map(|p| Item {
                text: p.text,
                messages: None,
                target: Some(p.target_tokens),
                max_tokens: p.max_tokens,
                id: None,
            })
            .collect(),
        Some(d) => dataset_items(b, d, n, tokenizer)?,
    };
    let mut groups = vec![None; items.len()];
    if b.shared_prefix_tokens > 0 {
        let count = |t: &str| tokenizer.count_plain(t);
        let prefixes = build_prefixes(b.shared_prefix_tokens, b.prefix_groups, b.seed, &count);
        for (i, item) in items.iter_mut().enumerate() {
            let g = i % prefixes.len();
            let prefix = &prefixes[g];
            groups[i] = Some(g);
            item.text = format!("{prefix}{}", item.text);
            if let Some(target) = item.target.as_mut() {
                *target += b.shared_prefix_tokens;
            }
            if let Some(first) = item.messages.as_mut().and_then(|m| m.first_mut()) {
                match first.get_mut("content") {
                    Some(Value::String(s)) => *s = format!("{prefix}{s}"),
                    Some(Value::Array(parts)) => {
                        parts.insert(0, json!({"type": "text", "text": prefix}))
                    }
                    _ => {}
                }
                item.text = flatten_messages(item.messages.as_deref().unwrap_or_default());
            }
        }
    }
    Ok(items
        .into_iter()
        .zip(groups)
        .map(|(item, group)| {
            let actual = tokenizer.count(&item.text) as u64;
            let mut sampling_params = Map::new();
            sampling_params.insert("max_tokens".into(), Value::from(item.max_tokens));
            sampling_params.extend(b.extra.clone());
            let mut metadata = Map::new();
            if let Some(id) = item.id {
                metadata.insert("dataset_id".into(), id);
            }
            if let Some(g) = group {
                metadata.insert("prefix_group".into(), Value::from(g));
            }
            PreparedRequest {
                config: RequestConfig {
                    model: b.model.clone(),
                    prompt: (item.text, item.target.unwrap_or(actual)),
                    sampling_params,
                    llm_api: b.llm_api.clone(),
                    metadata,
                    messages: item.messages,
                },
                actual_input_tokens: Some(actual),
            }
        })
        .collect())
}

fn dataset_items(
    b: &Build,
    d: &Dataset,
    n: usize,
    tokenizer: &Tokenizer,
) -> Result<Vec<Item>, Error> {
    let order = dataset::order(d.entries.len(), b.order == DatasetOrder::Shuffle, b.seed);
    let mut rng = PyRandom::new(b.seed);
    let mut out = Vec::with_capacity(n);
    for k in 0..n {
        let e = &d.entries[order[k % order.len()]];
        let max_tokens = match (e.max_tokens, &e.answer) {
            (Some(m), _) => m,
            (None, Some(answer)) if b.output_lengths => (tokenizer.count_plain(answer) as u64).max(1),
            _ => rng
                .sample_random_positive_int(b.spec.mean_output_tokens, b.spec.stddev_output_tokens)
                .ok_or_else(|| {
                    Error::Config(format!(
                        "cannot sample a positive max_tokens from mean {} and stddev {} for dataset {}: \
                         raise --mean-output-tokens or give max_tokens per line",
                        b.spec.mean_output_tokens, b.spec.stddev_output_tokens, d.file
                    ))
                })?,
        };
        let messages = match &e.prompt {
            // A plain dataset prompt is one user message: no empty system message (that is the sonnet
            // prompts' shape only).
            DatasetPrompt::Text(t) => vec![json!({"role": "user", "content": t})],
            DatasetPrompt::Messages(m) => m.clone(),
        };
        out.push(Item {
            text: flatten_messages(&messages),
            messages: Some(messages),
            target: None,
            max_tokens,
            id: e.id.clone(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(prefix: u64, groups: u64) -> Build {
        Build {
            spec: PromptSpec {
                mean_input_tokens: 100.0,
                stddev_input_tokens: 0.0,
                mean_output_tokens: 10.0,
                stddev_output_tokens: 0.0,
            },
            seed: 11111,
            model: "m".into(),
            llm_api: "openai".into(),
            extra: Map::new(),
            shared_prefix_tokens: prefix,
            prefix_groups: groups,
            order: DatasetOrder::Sequential,
            output_lengths: false,
        }
    }

    #[test]
    fn sonnet_prompts_get_the_group_prefix_and_its_tokens() {
        let t = Tokenizer::llama();
        let plain = build_requests(&build(0, 1), None, 4, &t).unwrap();
        let with = build_requests(&build(50, 2), None, 4, &t).unwrap();
        let prefixes = build_prefixes(50, 2, 11111, &|s: &str| t.count_plain(s));
        for (i, (p, w)) in plain.iter().zip(&with).enumerate() {
            // Sonnet prompts stay sonnet prompts: no message list, so the original's body shape.
            assert!(w.config.messages.is_none());
            assert_eq!(
                w.config.prompt.0,
                format!("{}{}", prefixes[i % 2], p.config.prompt.0)
            );
            assert_eq!(w.config.prompt.1, p.config.prompt.1 + 50);
            assert_eq!(w.config.metadata["prefix_group"], Value::from(i % 2));
            assert_eq!(
                w.actual_input_tokens,
                Some(t.count(&w.config.prompt.0) as u64)
            );
        }
    }
}
