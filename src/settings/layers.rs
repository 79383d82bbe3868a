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
    let mut layer: ConfigLayer = b.build().and_then(|c| c.try_deserialize()).map_err(|e| {
        Error::Config(format!(
            "invalid configuration: {e}. Check the key names and types against settings/config.yml \
             (or `llmperf-actors --help`)"
        ))
    })?;
    // LLMPERF_BASE_URL / LLMPERF_API_KEY are above the file: they replace its per-API bases and keys (the
    // config crate merged the two without knowing that), unless the environment names those too.
    let set = |k: &str| env.get(k).is_some_and(|v| !v.is_empty());
    let generic = ConfigLayer {
        base_url: set("LLMPERF_BASE_URL").then(String::new),
        api_key: set("LLMPERF_API_KEY").then(String::new),
        ..ConfigLayer::default()
    };
    let kept = (
        (
            set("LLMPERF_OPENAI_API_BASE"),
            layer.openai_api_base.clone(),
        ),
        (
            set("LLMPERF_ANTHROPIC_BASE_URL"),
            layer.anthropic_base_url.clone(),
        ),
        (
            set("LLMPERF_VERTEXAI_BASE_URL"),
            layer.vertexai_base_url.clone(),
        ),
        (set("LLMPERF_OPENAI_API_KEY"), layer.openai_api_key.clone()),
        (
            set("LLMPERF_ANTHROPIC_API_KEY"),
            layer.anthropic_api_key.clone(),
        ),
        (
            set("LLMPERF_VERTEXAI_ACCESS_TOKEN"),
            layer.vertexai_access_token.clone(),
        ),
    );
    layer.yield_endpoint_to(&generic);
    let restore = |(from_env, v): (bool, Option<String>), slot: &mut Option<String>| {
        if from_env {
            *slot = v;
        }
    };
    restore(kept.0, &mut layer.openai_api_base);
    restore(kept.1, &mut layer.anthropic_base_url);
    restore(kept.2, &mut layer.vertexai_base_url);
    restore(kept.3, &mut layer.openai_api_key);
    restore(kept.4, &mut layer.anthropic_api_key);
    restore(kept.5, &mut layer.vertexai_access_token);
    Ok(layer)
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
        vertexai_access_token: non_empty(crate::backend::vertex::TOKEN_VAR),
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
