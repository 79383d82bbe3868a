//! Errors that stop the tool before or around a run (per-request errors are data, see `metrics`).

/// A startup or run-level error. Each message names the flag or key at fault and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad or missing settings (CLI, config file, environment).
    #[error("{0}")]
    Config(String),
    /// The endpoint cannot be reached at all.
    #[error("{0}")]
    Unreachable(String),
    /// Prompts cannot be built from the requested lengths.
    #[error(transparent)]
    Prompt(#[from] crate::workload::PromptError),
    /// A file or socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, naming the path.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The actor system failed in a way that is a bug, not bad input.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The process exit code for this error: 2 for bad input, 1 otherwise. The binary's other codes (stable,
    /// see `docs/exit-codes.md`): 0 success, 3 a threshold failed, 4 every request of a run failed, 130 / 143
    /// stopped by SIGINT / SIGTERM.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) | Error::Prompt(_) => 2,
            _ => 1,
        }
    }
}
