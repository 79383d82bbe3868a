//! What a request that cannot be read becomes, and the limits that refuse one: shared by the request reader
//! (`http`) and the chunked body decoder (`chunked`), which both depend on this and not on each other.

/// The largest request head (request line and header fields) read, in bytes.
pub(super) const HEAD_LIMIT: usize = 64 * 1024;
/// The largest request body read, in bytes.
pub(super) const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// Why no request came off the connection.
#[derive(Debug, PartialEq)]
pub(super) enum ReadError {
    /// The connection ended (EOF, reset, an error) before a request began or in the middle of one.
    Gone,
    /// The idle time passed without a byte of a new request.
    Idle,
    /// A request to answer with this status and message, and then close the connection.
    Refuse { status: u16, message: String },
}

pub(super) fn refuse(status: u16, message: impl Into<String>) -> ReadError {
    ReadError::Refuse {
        status,
        message: message.into(),
    }
}
