//! Where requests go and what they carry, per `llm_api`: the API base, the credential, and the custom headers.
//!
//! | `llm_api` | base (key / env) | credential (env) |
//! |---|---|---|
//! | `openai`, `openai-completions` | `openai_api_base` / `OPENAI_API_BASE` (required) | `OPENAI_API_KEY` (optional) |
//! | `anthropic` | `anthropic_base_url` / `ANTHROPIC_BASE_URL`, default `https://api.anthropic.com` | `ANTHROPIC_API_KEY` (required for a real endpoint unless a custom `x-api-key` or `Authorization` header is given) |
//! | `vertexai` | `vertexai_base_url` / `VERTEXAI_BASE_URL`, else built from `GCLOUD_PROJECT_ID` and `GCLOUD_REGION` | `GCLOUD_ACCESS_TOKEN` (required for a real endpoint) |
//!
//! Any base may be `builtin`: the built-in simulator, which serves every shape.

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
                    "no endpoint: set OPENAI_API_BASE (e.g. http://localhost:8000/v1), or `openai_api_base` in \
                     the --config file; `openai_api_base: builtin` uses the built-in simulator"
                        .into(),
                ));
            };
            let endpoint = parse_endpoint("openai_api_base", &base)?;
            Ok((
                endpoint,
                non_empty(bases.openai_key.clone()).map(Secret::new),
            ))
        }
        LlmApi::Anthropic => {
            let base = non_empty(bases.anthropic.clone())
                .unwrap_or_else(|| defaults::ANTHROPIC_BASE_URL.to_string());
            let endpoint = parse_endpoint("anthropic_base_url", &base)?;
            let key = non_empty(bases.anthropic_key.clone()).map(Secret::new);
            if key.is_none()
                && endpoint != Endpoint::Builtin
                && !has_header(&["x-api-key", "authorization"])
            {
                return Err(Error::Config(
                    "--llm-api anthropic needs an API key: set ANTHROPIC_API_KEY (or `anthropic_api_key`, or a \
                     custom --header 'x-api-key: …' for a gateway)"
                        .into(),
                ));
            }
            Ok((endpoint, key))
        }
        LlmApi::VertexAi => {
            let get = |k: &str| non_empty(env.get(k).cloned());
            let base = vertex::base_from_env(non_empty(bases.vertexai.clone()).as_deref(), get)
                .map_err(Error::Config)?;
            let endpoint = parse_endpoint("vertexai_base_url", &base)?;
            let token = get(vertex::TOKEN_VAR).map(Secret::new);
            if token.is_none() && endpoint != Endpoint::Builtin && !has_header(&["authorization"]) {
                return Err(Error::Config(format!(
                    "--llm-api vertexai needs {}: export {}=$(gcloud auth print-access-token)",
                    vertex::TOKEN_VAR,
                    vertex::TOKEN_VAR
                )));
            }
            Ok((endpoint, token))
        }
    }
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

    fn bases() -> Bases {
        Bases {
            openai: None,
            openai_key: None,
            anthropic: None,
            anthropic_key: None,
            vertexai: None,
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
