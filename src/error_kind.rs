//! Stable kinds of request failure: the `error_kind` of every errored per-request record and the keys of the
//! summary's `results_error_kind_counts`.
//!
//! `error_code` keeps the original's meaning (HTTP status, the stream's `error.code`, -1 for everything on the
//! transport side), so every transport failure shares code -1; the kind tells them apart. Pure: no I/O.

use serde_json::Value;

/// Why a request failed. [`ErrorKind::as_str`] is the stable spelling written into the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The server answered with an HTTP status ≥ 400 (`error_code` = the status, `error_msg` = the body).
    HttpStatus,
    /// The server answered with a redirect (3xx); redirects are not followed.
    HttpRedirect,
    /// An error object inside the event stream (OpenAI `{"error": …}`, Anthropic `event: error`).
    StreamError,
    /// The TCP/TLS connection could not be made.
    Connect,
    /// The server closed (or reset) the connection before any byte of a response. A request written into a
    /// kept-alive connection the server had already closed is not this: it is sent again on a new connection,
    /// because the server's reset proves it never read it.
    ConnectionClosed,
    /// The connection was not made within `connect_timeout`.
    ConnectTimeout,
    /// No response headers within `first_byte_timeout`.
    FirstByteTimeout,
    /// No bytes for `idle_timeout` between two reads of the stream.
    IdleTimeout,
    /// The whole request took longer than `request_timeout`.
    RequestTimeout,
    /// The connection broke in the middle of the response (reset, cut).
    StreamReset,
    /// The stream ended cleanly but before its final event (`[DONE]`, `message_stop`).
    IncompleteStream,
    /// A data event that is not the JSON expected.
    MalformedChunk,
    /// A line of the stream that is not UTF-8.
    InvalidUtf8,
    /// A line of the stream longer than `max_line_bytes`.
    LineTooLong,
    /// A response body larger than `max_response_bytes`.
    ResponseTooLarge,
    /// Still in flight when the run was stopped (signal, or `--timeout` plus the grace period).
    Cancelled,
    /// The client actor was gone.
    ClientUnavailable,
    /// Anything else on the transport side.
    Transport,
}

impl ErrorKind {
    /// Every kind.
    pub const ALL: [ErrorKind; 18] = [
        ErrorKind::HttpStatus,
        ErrorKind::HttpRedirect,
        ErrorKind::StreamError,
        ErrorKind::Connect,
        ErrorKind::ConnectionClosed,
        ErrorKind::ConnectTimeout,
        ErrorKind::FirstByteTimeout,
        ErrorKind::IdleTimeout,
        ErrorKind::RequestTimeout,
        ErrorKind::StreamReset,
        ErrorKind::IncompleteStream,
        ErrorKind::MalformedChunk,
        ErrorKind::InvalidUtf8,
        ErrorKind::LineTooLong,
        ErrorKind::ResponseTooLarge,
        ErrorKind::Cancelled,
        ErrorKind::ClientUnavailable,
        ErrorKind::Transport,
    ];

    /// The stable name, e.g. `idle_timeout`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::HttpStatus => "http_status",
            ErrorKind::HttpRedirect => "http_redirect",
            ErrorKind::StreamError => "stream_error",
            ErrorKind::Connect => "connect",
            ErrorKind::ConnectionClosed => "connection_closed",
            ErrorKind::ConnectTimeout => "connect_timeout",
            ErrorKind::FirstByteTimeout => "first_byte_timeout",
            ErrorKind::IdleTimeout => "idle_timeout",
            ErrorKind::RequestTimeout => "request_timeout",
            ErrorKind::StreamReset => "stream_reset",
            ErrorKind::IncompleteStream => "incomplete_stream",
            ErrorKind::MalformedChunk => "malformed_chunk",
            ErrorKind::InvalidUtf8 => "invalid_utf8",
            ErrorKind::LineTooLong => "line_too_long",
            ErrorKind::ResponseTooLarge => "response_too_large",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::ClientUnavailable => "client_unavailable",
            ErrorKind::Transport => "transport",
        }
    }

    /// A best guess from the code and message alone, for clients that do not say (custom [`LlmClient`]s):
    /// a 3xx code is a redirect, another number ≥ 100 an HTTP status, -1 a transport error, a string an error
    /// object from the stream.
    ///
    /// [`LlmClient`]: crate::LlmClient
    ///
    /// ```
    /// use llmperf_actors::ErrorKind;
    /// use serde_json::json;
    /// assert_eq!(ErrorKind::guess(&json!(503)), ErrorKind::HttpStatus);
    /// assert_eq!(ErrorKind::guess(&json!(-1)), ErrorKind::Transport);
    /// assert_eq!(ErrorKind::guess(&json!("overloaded_error")), ErrorKind::StreamError);
    /// ```
    pub fn guess(code: &Value) -> ErrorKind {
        match code.as_i64() {
            Some(300..=399) => ErrorKind::HttpRedirect,
            Some(100..) => ErrorKind::HttpStatus,
            Some(_) => ErrorKind::Transport,
            None => ErrorKind::StreamError,
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct() {
        let mut names: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorKind::ALL.len());
    }
}
