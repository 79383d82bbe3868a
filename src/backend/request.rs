//! Building a [`RequestConfig`] and reading its common sampling parameters without indexing a JSON map.

use serde_json::{Map, Value};

use super::RequestConfig;

/// `max_tokens` in sampling parameters (or OpenAI's newer `max_completion_tokens`), when it is a whole
/// number.
pub(crate) fn max_tokens_in(sampling_params: &Map<String, Value>) -> Option<u64> {
    sampling_params
        .get("max_tokens")
        .or_else(|| sampling_params.get("max_completion_tokens"))
        .and_then(Value::as_u64)
}

impl RequestConfig {
    /// A request for `model` with the prompt `text`, `input_tokens` long (its target length in tokens, the
    /// original's `number_input_tokens`), for the OpenAI API, with no sampling parameters yet.
    ///
    /// ```
    /// use llmperf_actors::RequestConfig;
    ///
    /// let config = RequestConfig::new("my-model", "Tell me a story.", 5)
    ///     .with_max_tokens(64)
    ///     .with_temperature(0.0);
    /// assert_eq!(config.max_tokens(), Some(64));
    /// assert_eq!(config.temperature(), Some(0.0));
    /// assert_eq!(config.top_p(), None);
    /// assert_eq!(config.prompt_text(), "Tell me a story.");
    /// ```
    pub fn new(model: impl Into<String>, text: impl Into<String>, input_tokens: u64) -> Self {
        RequestConfig {
            model: model.into(),
            prompt: (text.into(), input_tokens),
            sampling_params: Map::new(),
            llm_api: "openai".into(),
            metadata: Map::new(),
            messages: None,
        }
    }

    /// Sets the sampling parameter `key` (sent in the request body) to `value`.
    pub fn with_sampling_param(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.sampling_params.insert(key.into(), value.into());
        self
    }

    /// Sets `max_tokens`.
    pub fn with_max_tokens(self, max_tokens: u64) -> Self {
        self.with_sampling_param("max_tokens", max_tokens)
    }

    /// Sets `temperature`.
    pub fn with_temperature(self, temperature: f64) -> Self {
        self.with_sampling_param("temperature", temperature)
    }

    /// Sends this chat message list (OpenAI shape) instead of the prompt text.
    pub fn with_messages(mut self, messages: Vec<Value>) -> Self {
        self.messages = Some(messages);
        self
    }

    /// The prompt text (for a message list, its flattened text).
    pub fn prompt_text(&self) -> &str {
        &self.prompt.0
    }

    /// The prompt's target length in tokens.
    pub fn input_tokens(&self) -> u64 {
        self.prompt.1
    }

    /// The sampling parameter `key`, if set.
    pub fn sampling_param(&self, key: &str) -> Option<&Value> {
        self.sampling_params.get(key)
    }

    /// `max_tokens` (or `max_completion_tokens`), if set to a whole number.
    pub fn max_tokens(&self) -> Option<u64> {
        max_tokens_in(&self.sampling_params)
    }

    /// `temperature`, if set to a number.
    pub fn temperature(&self) -> Option<f64> {
        self.sampling_param("temperature").and_then(Value::as_f64)
    }

    /// `top_p`, if set to a number.
    pub fn top_p(&self) -> Option<f64> {
        self.sampling_param("top_p").and_then(Value::as_f64)
    }

    /// `stop`: the stop sequences, if set (a single string counts as one).
    pub fn stop_sequences(&self) -> Option<Vec<&str>> {
        match self.sampling_param("stop")? {
            Value::String(s) => Some(vec![s.as_str()]),
            Value::Array(a) => Some(a.iter().filter_map(Value::as_str).collect()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accessors_read_what_is_there_and_none_otherwise() {
        let c = RequestConfig::new("m", "hi", 1);
        assert_eq!(
            (
                c.max_tokens(),
                c.temperature(),
                c.top_p(),
                c.stop_sequences()
            ),
            (None, None, None, None)
        );
        assert_eq!(c.llm_api, "openai");
        let c = c
            .with_sampling_param("max_completion_tokens", 9)
            .with_sampling_param("top_p", 0.9)
            .with_sampling_param("stop", json!(["\n", "END"]))
            .with_sampling_param("temperature", "hot");
        assert_eq!(c.max_tokens(), Some(9));
        assert_eq!(c.top_p(), Some(0.9));
        assert_eq!(c.stop_sequences(), Some(vec!["\n", "END"]));
        // Not a number: absent, not a panic.
        assert_eq!(c.temperature(), None);
        // max_tokens wins over max_completion_tokens.
        assert_eq!(c.with_max_tokens(3).max_tokens(), Some(3));
    }
}
