//! [`Secret`]: a string that never shows in `Debug` output, so credentials (API keys, header values) cannot
//! reach a log line or an error message through a `{:?}`.

/// A credential. `Debug` prints `Secret(***)`; read it with [`Secret::expose`] where it is sent.
///
/// ```
/// use llmperf_actors::Secret;
/// let s = Secret::new("sk-123");
/// assert_eq!(format!("{s:?}"), "Secret(***)");
/// assert_eq!(s.expose(), "sk-123");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}
