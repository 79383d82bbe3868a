//! The URL requests go to, as warnings show it: built the way each client builds it, without secrets (no
//! user info, no query values — some gateways take the key as `?key=…`).

use crate::backend::anthropic::AnthropicConfig;
use crate::backend::openai::{OpenAiConfig, OpenAiShape};
use crate::backend::{ClientSpec, LlmApi};

/// The URL the client of `spec` sends its requests to.
pub(super) fn request_url(spec: &ClientSpec) -> String {
    let openai = |shape| OpenAiConfig {
        base_url: spec.base_url.clone(),
        shape,
        ..OpenAiConfig::default()
    };
    match spec.api {
        LlmApi::OpenAi | LlmApi::VertexAi => openai(OpenAiShape::Chat).url(),
        LlmApi::OpenAiCompletions => openai(OpenAiShape::Completions).url(),
        LlmApi::Anthropic => AnthropicConfig {
            base_url: spec.base_url.clone(),
            api_key: None,
            http: Default::default(),
        }
        .url(),
    }
}

/// `url` without user info (`user:password@`) and with every query value replaced by `***`.
pub(super) fn shown_url(url: &str) -> String {
    let (before_query, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = match before_query.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{host}{path}")
        }
        None => before_query.to_string(),
    };
    if let Some(q) = query {
        let redacted: Vec<String> = q
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) => format!("{name}=***"),
                None => pair.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&redacted.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_secrets() {
        assert_eq!(
            shown_url("https://user:pw@gw.example/v1/chat/completions?key=abc&x"),
            "https://gw.example/v1/chat/completions?key=***&x"
        );
        assert_eq!(
            shown_url("http://127.0.0.1:8000/v1/chat/completions"),
            "http://127.0.0.1:8000/v1/chat/completions"
        );
    }

    #[test]
    fn each_api_gets_its_path() {
        let spec = |api| ClientSpec {
            api,
            base_url: "http://h:1/v1".into(),
            api_key: Some("secret".into()),
            include_usage: false,
            http: Default::default(),
        };
        assert_eq!(
            request_url(&spec(LlmApi::OpenAi)),
            "http://h:1/v1/chat/completions"
        );
        assert_eq!(
            request_url(&spec(LlmApi::OpenAiCompletions)),
            "http://h:1/v1/completions"
        );
        assert_eq!(
            request_url(&spec(LlmApi::Anthropic)),
            "http://h:1/v1/messages"
        );
    }
}
