//! The server's view beside the client's: `--server-metrics [URL]` scrapes the endpoint's Prometheus metrics
//! during each run (the [`scraper::Scraper`] actor, on an arbiter of its own), writes every sample to
//! `<base>_server_metrics.jsonl`, and reads the few series that the known servers (vLLM, SGLang, TGI,
//! llama.cpp; [`roles`]) name for queue depth, KV-cache usage, latency histograms and token counters into a
//! [`ServerRun`] ([`view`]) — the summary's `results_server_*` keys ([`summary`]) and the HTML report's
//! server panels. User documentation: `docs/server-metrics.md`.

pub mod prom;
pub mod roles;
pub mod samples;
pub mod scraper;
pub mod summary;
pub mod view;

use std::time::Duration;

use serde_json::Value;

use crate::Error;
use crate::backend::http::Endpoint;
pub use view::ServerRun;

/// The default time between two scrapes.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// `--server-metrics` as validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerMetricsSettings {
    /// The metrics URL; `None`: the endpoint's scheme, host and port with `/metrics`.
    pub url: Option<String>,
    /// Time between scrapes.
    pub interval: Duration,
}

impl ServerMetricsSettings {
    /// The URL to scrape for an endpoint whose API base is `base_url`.
    pub fn url_for(&self, base_url: &str) -> Result<String, Error> {
        match &self.url {
            Some(u) => Ok(u.clone()),
            None => default_url(base_url),
        }
    }
}

/// `http(s)://host:port/metrics` of an API base URL (its path dropped: servers serve `/metrics` at the root).
pub fn default_url(base_url: &str) -> Result<String, Error> {
    let e = Endpoint::parse(base_url).map_err(|e| {
        Error::Config(format!(
            "server_metrics: cannot derive the metrics URL from the API base: {e}; give it: --server-metrics URL"
        ))
    })?;
    let host = if e.host.contains(':') {
        format!("[{}]", e.host)
    } else {
        e.host.clone()
    };
    let scheme = if e.tls { "https" } else { "http" };
    Ok(format!("{scheme}://{host}:{}/metrics", e.port))
}

/// The samples file of run `base_name` in `dir`.
pub fn file_path(dir: &std::path::Path, base_name: &str) -> std::path::PathBuf {
    dir.join(format!("{base_name}_server_metrics.jsonl"))
}

/// Reads run `base_name`'s samples back (`report DIR`); `None` when the run scraped nothing.
pub fn read_run(dir: &std::path::Path, base_name: &str) -> Result<Option<ServerRun>, Error> {
    let path = file_path(dir, base_name);
    if !path.exists() {
        return Ok(None);
    }
    let (url, attempts) = samples::read(&path).map_err(Error::Config)?;
    Ok(Some(ServerRun::of(&url, &attempts)))
}

/// Validates the `server_metrics` and `server_metrics_interval` keys: `server_metrics` is a URL, `true` /
/// `auto` / `on` (the endpoint's `/metrics`), or `false` / `off` / empty (no scraping, the default); the
/// interval is seconds or text such as `500ms` or `2s`.
pub fn settings(
    url: Option<Value>,
    interval: Option<Value>,
) -> Result<Option<ServerMetricsSettings>, Error> {
    let url = match url {
        None | Some(Value::Null) | Some(Value::Bool(false)) => None,
        Some(Value::Bool(true)) => Some(None),
        Some(Value::String(s)) => match s.trim() {
            "" | "off" | "false" | "no" => None,
            "auto" | "on" | "true" | "yes" => Some(None),
            u => {
                Endpoint::parse(u).map_err(|e| {
                    Error::Config(format!(
                        "server_metrics / --server-metrics: {e}; give the metrics URL, e.g. \
                         http://localhost:8000/metrics"
                    ))
                })?;
                Some(Some(u.to_string()))
            }
        },
        Some(other) => {
            return Err(Error::Config(format!(
                "server_metrics: {other} is neither a URL nor on/off; give e.g. http://localhost:8000/metrics"
            )));
        }
    };
    let bad = |got: &dyn std::fmt::Display| {
        Error::Config(format!(
            "server_metrics_interval / --server-metrics-interval must be a duration of at least 10ms, such as \
             1, 1s or 500ms; got {got}"
        ))
    };
    let interval = match interval {
        None | Some(Value::Null) => DEFAULT_INTERVAL.as_secs_f64(),
        Some(Value::Number(n)) => n.as_f64().ok_or_else(|| bad(&n))?,
        Some(Value::String(s)) => crate::metrics::parse_seconds(s.trim()).ok_or_else(|| bad(&s))?,
        Some(other) => return Err(bad(&other)),
    };
    if !(interval.is_finite() && (0.01..=86_400.0).contains(&interval)) {
        return Err(bad(&interval));
    }
    Ok(url.map(|url| ServerMetricsSettings {
        url,
        interval: Duration::from_secs_f64(interval),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_url_is_the_endpoints_root_metrics() {
        assert_eq!(
            default_url("http://127.0.0.1:8000/v1").unwrap(),
            "http://127.0.0.1:8000/metrics"
        );
        assert_eq!(
            default_url("https://h.example/v1/").unwrap(),
            "https://h.example:443/metrics"
        );
        assert_eq!(
            default_url("http://[::1]:9/v1").unwrap(),
            "http://[::1]:9/metrics"
        );
        assert!(default_url("builtin").is_err());
    }

    #[test]
    fn keys_parse_and_bad_values_name_the_key() {
        assert_eq!(settings(None, None).unwrap(), None);
        assert_eq!(settings(Some(Value::from("off")), None).unwrap(), None);
        let on = settings(Some(Value::from(true)), Some(Value::from("250ms")))
            .unwrap()
            .unwrap();
        assert_eq!((on.url, on.interval), (None, Duration::from_millis(250)));
        let u = settings(
            Some(Value::from("http://h:1/metrics")),
            Some(Value::from(2)),
        )
        .unwrap()
        .unwrap();
        assert_eq!(u.url.as_deref(), Some("http://h:1/metrics"));
        assert_eq!(u.interval, Duration::from_secs(2));
        let e = settings(Some(Value::from("ftp://x")), None).unwrap_err();
        assert!(e.to_string().contains("--server-metrics"), "{e}");
        let e = settings(Some(Value::from("auto")), Some(Value::from("0s"))).unwrap_err();
        assert!(e.to_string().contains("server_metrics_interval"), "{e}");
    }
}
