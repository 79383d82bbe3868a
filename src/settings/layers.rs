//! The layers, merged once: built-in defaults < the config file < the environment (`LLMPERF_<KEY>`, then the
//! well-known variables) < the command line or the builder, each a [`ConfigLayer`]; then validation.

use std::collections::HashMap;
use std::path::Path;

use super::{ConfigLayer, JOB_COMPLETION_INDEX, Settings};
use crate::Error;

/// Which test the settings are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// The load test.
    #[default]
    LoadTest,
    /// The correctness test: the `correctness:` section applies.
    Correctness,
}

/// The settings from the config file, `env` and the top layer `over` (the flags, or the builder).
pub(super) fn layered(
    mode: Mode,
    config_file: Option<&Path>,
    env: &HashMap<String, String>,
    over: &ConfigLayer,
) -> Result<Settings, Error> {
    let mut layer = file_and_env(config_file, env)?.overlay(&well_known_env(mode, env)?)?;
    if mode == Mode::Correctness {
        layer = layer.with_correctness_section()?;
    }
    layer.overlay(over)?.validate(mode, env)
}

/// The config file under the `LLMPERF_*` variables (nested keys with `__`), merged by the `config` crate, which
/// reads numbers and booleans from text and names the key (and the environment) in its errors.
fn file_and_env(
    config_file: Option<&Path>,
    env: &HashMap<String, String>,
) -> Result<ConfigLayer, Error> {
    let mut b = config::Config::builder();
    if let Some(path) = config_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Config(format!(
                "cannot read config file {} given with --config: {e}",
                path.display()
            ))
        })?;
        b = b.add_source(config::File::from_str(&text, config::FileFormat::Yaml));
    }
    let llmperf_env: config::Map<String, String> = env
        .iter()
        .filter(|(k, _)| k.starts_with("LLMPERF_"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    b = b.add_source(
        config::Environment::with_prefix("LLMPERF")
            .prefix_separator("_")
            .separator("__")
            .try_parsing(true)
            .source(Some(llmperf_env)),
    );
    b.build().and_then(|c| c.try_deserialize()).map_err(|e| {
        Error::Config(format!(
            "invalid configuration: {e}. Check the key names and types against settings/config.yml \
             (or `llmperf-actors --help`)"
        ))
    })
}

/// The well-known variables, over `LLMPERF_*`: the API bases and keys as the original and the vendors name them,
/// and, for the load test, Kubernetes' `JOB_COMPLETION_INDEX` as `shard_index`. Empty values are unset.
fn well_known_env(mode: Mode, env: &HashMap<String, String>) -> Result<ConfigLayer, Error> {
    let non_empty = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
    let mut layer = ConfigLayer {
        openai_api_base: non_empty("OPENAI_API_BASE").or_else(|| non_empty("OPENAI_BASE_URL")),
        openai_api_key: non_empty("OPENAI_API_KEY"),
        anthropic_api_key: non_empty("ANTHROPIC_API_KEY"),
        anthropic_base_url: non_empty("ANTHROPIC_BASE_URL"),
        vertexai_base_url: non_empty(crate::backend::vertex::BASE_URL_VAR),
        ..ConfigLayer::default()
    };
    if mode == Mode::LoadTest
        && let Some(v) = env
            .get(JOB_COMPLETION_INDEX)
            .filter(|v| !v.trim().is_empty())
    {
        layer.shard_index = Some(v.trim().parse().map_err(|_| {
            Error::Config(format!(
                "{JOB_COMPLETION_INDEX}='{v}' is not a shard index (a non-negative integer); \
                 unset it or pass --shard-index"
            ))
        })?);
    }
    Ok(layer)
}
