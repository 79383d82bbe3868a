//! Where requests go and what they carry, per `llm_api`: the API base, the credential, and the custom headers.
//!
//! | `llm_api` | base (key / env) | credential (env) |
//! |---|---|---|
//! | `openai`, `openai-completions` | `openai_api_base` / `OPENAI_API_BASE` (required) | `OPENAI_API_KEY` (optional) |
//! | `anthropic` | `anthropic_base_url` / `ANTHROPIC_BASE_URL`, default `https://api.anthropic.com` | `ANTHROPIC_API_KEY` (required for a real endpoint unless a custom `x-api-key` or `Authorization` header is given) |
//! | `vertexai` | `vertexai_base_url` / `VERTEXAI_BASE_URL`, else built from `GCLOUD_PROJECT_ID` and `GCLOUD_REGION` | `GCLOUD_ACCESS_TOKEN` (required for a real endpoint) |
//!
//! Any base may be `builtin`: the built-in simulator, which serves every shape.
//!
//! `--base-url` and `--api-key` (keys `base_url`, `api_key`) set the base and the credential of whichever API
//! is chosen. They layer like every key — flags over the environment over the config file — and a layer that
//! sets them replaces the per-API bases and keys of the layers below it (so `--base-url` beats
//! `OPENAI_API_BASE`, and `OPENAI_API_BASE` beats a `base_url` in the config file). Within one layer the per-API
//! key wins for its API. The credential is a [`Secret`]: never printed, and refused (without showing it) if it
//! cannot be sent in a header.

use std::collections::HashMap;

use serde_json::Value;

use super::{BUILTIN_ENDPOINT, Endpoint, defaults};
use crate::backend::{LlmApi, vertex};
use crate::{Error, Secret};

/// The bases and keys from the config layers.
pub(super) struct Bases {
    pub openai: Option<String>,
    pub openai_key: Option<String>,
    pub anthropic: Option<String>,
    pub anthropic_key: Option<String>,
    pub vertexai: Option<String>,
    pub vertexai_key: Option<String>,
}

/// `builtin`, or an http(s) URL; errors name `key`.
fn parse_endpoint(key: &str, value: &str) -> Result<Endpoint, Error> {
    match value.trim() {
        BUILTIN_ENDPOINT => Ok(Endpoint::Builtin),
        url if url.starts_with("http://") || url.starts_with("https://") => {
            url.parse::<http::Uri>()
                .map_err(|e| Error::Config(format!("{key} '{url}' is not a valid URL: {e}")))?;
            Ok(Endpoint::Url(url.to_string()))
        }
        other => Err(Error::Config(format!(
            "{key} '{other}' must start with http:// or https:// (or be `builtin`)"
        ))),
    }
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// The endpoint and credential for `api`.
pub(super) fn resolve_endpoint(
    api: LlmApi,
    bases: &Bases,
    headers: &[(String, Secret)],
    env: &HashMap<String, String>,
) -> Result<(Endpoint, Option<Secret>), Error> {
    let has_header = |names: &[&str]| {
        headers
            .iter()
            .any(|(n, _)| names.iter().any(|m| n.eq_ignore_ascii_case(m)))
    };
    match api {
        LlmApi::OpenAi | LlmApi::OpenAiCompletions => {
            let Some(base) = non_empty(bases.openai.clone()) else {
                return Err(Error::Config(
                    "no endpoint: pass --base-url URL (e.g. http://localhost:8000/v1) or set OPENAI_API_BASE, \
                     or `base_url` / `openai_api_base` in the --config file; `builtin` uses the built-in \
                     simulator"
                        .into(),
                ));
            };
            let endpoint = parse_endpoint("the API base (--base-url / OPENAI_API_BASE)", &base)?;
            Ok((
                endpoint,
                credential("--api-key / OPENAI_API_KEY", bases.openai_key.clone())?,
            ))
        }
        LlmApi::Anthropic => {
            let base = non_empty(bases.anthropic.clone())
                .unwrap_or_else(|| defaults::ANTHROPIC_BASE_URL.to_string());
            let endpoint = parse_endpoint("the API base (--base-url / ANTHROPIC_BASE_URL)", &base)?;
            let key = credential("--api-key / ANTHROPIC_API_KEY", bases.anthropic_key.clone())?;
            if key.is_none()
                && endpoint != Endpoint::Builtin
                && !has_header(&["x-api-key", "authorization"])
            {
                return Err(Error::Config(
                    "--llm-api anthropic needs an API key: pass --api-key or set ANTHROPIC_API_KEY (or \
                     `anthropic_api_key`, or a custom --header 'x-api-key: …' for a gateway)"
                        .into(),
                ));
            }
            Ok((endpoint, key))
        }
        LlmApi::VertexAi => {
            let get = |k: &str| non_empty(env.get(k).cloned());
            let base = vertex::base_from_env(non_empty(bases.vertexai.clone()).as_deref(), get)
                .map_err(Error::Config)?;
            let endpoint = parse_endpoint("the API base (--base-url / VERTEXAI_BASE_URL)", &base)?;
            let token = credential(
                "--api-key / GCLOUD_ACCESS_TOKEN",
                non_empty(bases.vertexai_key.clone()).or_else(|| get(vertex::TOKEN_VAR)),
            )?;
            if token.is_none() && endpoint != Endpoint::Builtin && !has_header(&["authorization"]) {
                return Err(Error::Config(format!(
                    "--llm-api vertexai needs {}: export {}=$(gcloud auth print-access-token) (or pass \
                     --api-key)",
                    vertex::TOKEN_VAR,
                    vertex::TOKEN_VAR
                )));
            }
            Ok((endpoint, token))
        }
    }
}

/// The credential, if given, checked as a header value can carry it; the error names where it came from and
/// never shows it.
fn credential(source: &str, key: Option<String>) -> Result<Option<Secret>, Error> {
    let Some(key) = non_empty(key) else {
        return Ok(None);
    };
    if http::header::HeaderValue::from_str(&key).is_err() {
        return Err(Error::Config(format!(
            "the API key ({source}, {} characters; not shown) cannot be sent in an HTTP header: it has a \
             control character or a non-ASCII one; copy it again without line breaks",
            key.chars().count()
        )));
    }
    Ok(Some(Secret::new(key)))
}

/// One `Name: value` header (the `--header` syntax).
fn parse_header_line(line: &str) -> Result<(String, String), Error> {
    let (name, value) = line.split_once(':').ok_or_else(|| {
        Error::Config(format!(
            "a header (--header / `headers`, {} characters; not shown, it may be a credential) has no ':'; \
             it must be 'Name: value', e.g. --header 'X-Team: infra'",
            line.chars().count()
        ))
    })?;
    Ok((name.trim().to_string(), value.trim().to_string()))
}

/// The JSON type of `v`, for error messages that must not show a value (it may be a credential).
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "mapping",
    }
}

/// `headers:` as a mapping (`{Name: value}`), a list of `Name: value` strings, or one such string; each name
/// and value checked as HTTP allows.
pub(super) fn parse_headers(v: Option<Value>) -> Result<Vec<(String, Secret)>, Error> {
    let pairs: Vec<(String, String)> = match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(m)) => m
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, v)
            })
            .collect(),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|i| match i {
                Value::String(s) => parse_header_line(&s),
                other => Err(Error::Config(format!(
                    "headers: list items must be 'Name: value' strings; got a {}",
                    json_type(&other)
                ))),
            })
            .collect::<Result<_, _>>()?,
        Some(Value::String(s)) if s.trim().is_empty() => Vec::new(),
        Some(Value::String(s)) => vec![parse_header_line(&s)?],
        Some(other) => {
            return Err(Error::Config(format!(
                "headers must be a mapping {{Name: value}} or a list of 'Name: value'; got a {}",
                json_type(&other)
            )));
        }
    };
    pairs
        .into_iter()
        .map(|(name, value)| {
            http::header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                Error::Config(format!(
                    "header name '{name}' (--header / `headers`) is not a valid HTTP header name"
                ))
            })?;
            http::header::HeaderValue::from_str(&value).map_err(|_| {
                Error::Config(format!(
                    "the value of header '{name}' (--header / `headers`) is not a valid HTTP header value"
                ))
            })?;
            Ok((name, Secret::new(value)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::ConfigLayer;

    fn bases() -> Bases {
        Bases {
            openai: None,
            openai_key: None,
            anthropic: None,
            anthropic_key: None,
            vertexai: None,
            vertexai_key: None,
        }
    }

    #[test]
    fn headers_in_every_form() {
        let m = parse_headers(Some(serde_json::json!({"X-A": "1", "x-b": 2}))).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].0.as_str(), m[0].1.expose()), ("X-A", "1"));
        assert_eq!(m[1].1.expose(), "2");
        let l = parse_headers(Some(serde_json::json!(["X-Gw: a: b", " Y :z "]))).unwrap();
        assert_eq!((l[0].0.as_str(), l[0].1.expose()), ("X-Gw", "a: b"));
        assert_eq!((l[1].0.as_str(), l[1].1.expose()), ("Y", "z"));
        let e = parse_headers(Some(serde_json::json!(["novalue"]))).unwrap_err();
        assert!(e.to_string().contains("--header"), "{e}");
        let e = parse_headers(Some(serde_json::json!({"bad name": "x"}))).unwrap_err();
        assert!(e.to_string().contains("bad name"), "{e}");
        let e = parse_headers(Some(serde_json::json!({"X": "a\nb"}))).unwrap_err();
        assert!(e.to_string().contains("value of header 'X'"), "{e}");
    }

    #[test]
    fn anthropic_defaults_and_key_rules() {
        let env = HashMap::new();
        let e = resolve_endpoint(LlmApi::Anthropic, &bases(), &[], &env).unwrap_err();
        assert!(e.to_string().contains("ANTHROPIC_API_KEY"), "{e}");
        let mut b = bases();
        b.anthropic_key = Some("k".into());
        let (ep, key) = resolve_endpoint(LlmApi::Anthropic, &b, &[], &env).unwrap();
        assert_eq!(ep, Endpoint::Url("https://api.anthropic.com".into()));
        assert_eq!(key.unwrap().expose(), "k");
        let gw = [("X-Api-Key".to_string(), Secret::new("g"))];
        assert!(resolve_endpoint(LlmApi::Anthropic, &bases(), &gw, &env).is_ok());
        let mut b = bases();
        b.anthropic = Some("builtin".into());
        assert_eq!(
            resolve_endpoint(LlmApi::Anthropic, &b, &[], &env)
                .unwrap()
                .0,
            Endpoint::Builtin
        );
    }

    #[test]
    fn vertex_errors_name_the_missing_variable() {
        let env: HashMap<String, String> =
            [("GCLOUD_PROJECT_ID", "p"), ("GCLOUD_REGION", "us-central1")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let e = resolve_endpoint(LlmApi::VertexAi, &bases(), &[], &env).unwrap_err();
        assert!(e.to_string().contains("GCLOUD_ACCESS_TOKEN"), "{e}");
        let mut with_token = env.clone();
        with_token.insert("GCLOUD_ACCESS_TOKEN".into(), "ya29".into());
        let (ep, tok) = resolve_endpoint(LlmApi::VertexAi, &bases(), &[], &with_token).unwrap();
        assert_eq!(
            ep,
            Endpoint::Url(
                "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/endpoints/openapi"
                    .into()
            )
        );
        assert_eq!(tok.unwrap().expose(), "ya29");
        let mut no_region = with_token;
        no_region.remove("GCLOUD_REGION");
        let e = resolve_endpoint(LlmApi::VertexAi, &bases(), &[], &no_region).unwrap_err();
        assert!(e.to_string().contains("GCLOUD_REGION"), "{e}");
    }

    /// The endpoint and key `file` (a config file's text), `env` and the flag-level `cli` layer give.
    fn resolved(
        file: &str,
        env: &[(&str, &str)],
        cli: ConfigLayer,
    ) -> Result<(Endpoint, Option<String>), String> {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("c.yml");
        std::fs::write(&cfg, format!("model: m\n{file}")).unwrap();
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        super::super::Settings::builder()
            .config_file(cfg)
            .env(env)
            .layer(&cli)
            .and_then(|b| b.build())
            .map(|s| (s.endpoint, s.api_key.map(|k| k.expose().to_string())))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn base_url_and_api_key_layer_over_the_per_api_keys() {
        let url = |u: &str| Endpoint::Url(u.into());
        let flags = |base: &str, key: &str| ConfigLayer {
            base_url: Some(base.into()),
            api_key: Some(key.into()),
            ..ConfigLayer::default()
        };
        let file = "openai_api_base: http://file/v1\nopenai_api_key: file-key\n";
        let env = [
            ("OPENAI_API_BASE", "http://env/v1"),
            ("OPENAI_API_KEY", "env-key"),
        ];
        // flags > environment > file.
        assert_eq!(
            resolved(file, &env, flags("http://flag/v1", "flag-key")),
            Ok((url("http://flag/v1"), Some("flag-key".into())))
        );
        assert_eq!(
            resolved(file, &env, ConfigLayer::default()),
            Ok((url("http://env/v1"), Some("env-key".into())))
        );
        let generic_file = "base_url: http://file/v1\napi_key: file-key\n";
        assert_eq!(
            resolved(generic_file, &env, ConfigLayer::default()),
            Ok((url("http://env/v1"), Some("env-key".into())))
        );
        assert_eq!(
            resolved(generic_file, &[], ConfigLayer::default()),
            Ok((url("http://file/v1"), Some("file-key".into())))
        );
        // LLMPERF_BASE_URL is environment too: above the file's per-API base.
        assert_eq!(
            resolved(
                file,
                &[("LLMPERF_BASE_URL", "http://llmperf/v1")],
                ConfigLayer::default()
            ),
            Ok((url("http://llmperf/v1"), Some("file-key".into())))
        );
        // The generic keys serve whichever API is chosen.
        let anthropic = ConfigLayer {
            llm_api: Some("anthropic".into()),
            ..flags("http://gw", "ant-key")
        };
        let env = [
            ("ANTHROPIC_API_KEY", "env-ant"),
            ("ANTHROPIC_BASE_URL", "http://a"),
        ];
        assert_eq!(
            resolved("", &env, anthropic),
            Ok((url("http://gw"), Some("ant-key".into())))
        );
        let vertex = ConfigLayer {
            llm_api: Some("vertexai".into()),
            ..flags("builtin", "ya29-flag")
        };
        assert_eq!(
            resolved("", &[("GCLOUD_ACCESS_TOKEN", "ya29-env")], vertex),
            Ok((Endpoint::Builtin, Some("ya29-flag".into())))
        );
        // Within one layer, the per-API key wins for its API.
        let both = "base_url: http://generic\nanthropic_base_url: http://ant\nllm_api: anthropic\n\
                    anthropic_api_key: k\n";
        assert_eq!(
            resolved(both, &[], ConfigLayer::default()).map(|r| r.0),
            Ok(url("http://ant"))
        );
        let e = resolved("", &[], ConfigLayer::default()).unwrap_err();
        assert!(e.contains("--base-url"), "{e}");
    }

    #[test]
    fn new_keys_layer_like_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let tok = dir.path().join("tokenizer.json");
        std::fs::write(&tok, "{}").unwrap();
        let cfg = dir.path().join("c.yml");
        std::fs::write(
            &cfg,
            format!(
                "model: m
llm_api: anthropic
anthropic_base_url: builtin
headers: {{X-Team: perf, X-Other: '1'}}
insecure: true
tokenizer: {}
use_server_token_counts: true
",
                tok.display()
            ),
        )
        .unwrap();
        let env: HashMap<String, String> = [("ANTHROPIC_API_KEY", "sk-ant")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let from_file = super::super::Settings::builder().config_file(cfg).env(env);
        let s = from_file.clone().build().unwrap();
        assert_eq!(s.llm_api, LlmApi::Anthropic);
        assert_eq!(s.endpoint, Endpoint::Builtin);
        assert_eq!(s.api_key.as_ref().map(Secret::expose), Some("sk-ant"));
        let mut names: Vec<String> = s.headers.iter().map(|(n, _)| n.to_lowercase()).collect();
        names.sort();
        assert_eq!(names, ["x-other", "x-team"]);
        assert!(s.insecure && s.use_server_token_counts);
        assert_eq!(s.tokenizer.as_deref(), Some(tok.as_path()));
        assert!(!format!("{s:?}").contains("sk-ant"), "Debug hides the key");
        let with_header = from_file.header("X-Cli", "yes");
        let e = with_header
            .clone()
            .configure(|c| c.llm_api = Some("openai_completions".into()))
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("OPENAI_API_BASE"), "{e}");
        let s = with_header.build().unwrap();
        assert_eq!(
            s.headers.len(),
            1,
            "the top layer's headers replace the file's"
        );
        assert_eq!(s.headers[0].1.expose(), "yes");
    }
}
