//! What the simulator's routes answer ([`Response`]: a status, headers, a whole or streamed body) and the bytes
//! of a response head and of chunk framing, with the `Date` every response carries (RFC 9110 §6.6.1, as
//! actix-web sent it). `conn` adds the framing and connection headers and writes them.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// The end of a chunked body: the last (empty) chunk and an empty trailer section.
pub(super) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// What the routes answer; `conn` adds the framing and connection headers and writes it.
pub(super) struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
}

/// A response body.
pub(super) enum Body {
    /// Sent whole, with `Content-Length`.
    Full(Vec<u8>),
    /// Streamed piece by piece on its own schedule (chunked, or close-delimited).
    Stream(super::faults::Stream),
}

impl Response {
    /// `status` with a JSON body.
    pub fn json(status: u16, body: &Value) -> Response {
        Response {
            status,
            headers: vec![("Content-Type", "application/json".into())],
            body: Body::Full(serde_json::to_vec(body).unwrap_or_default()),
        }
    }

    /// `status` with a text body of `content_type`.
    pub fn text(status: u16, content_type: &str, body: String) -> Response {
        Response {
            status,
            headers: vec![("Content-Type", content_type.into())],
            body: Body::Full(body.into_bytes()),
        }
    }

    /// `status` with an empty body.
    pub fn empty(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Body::Full(Vec::new()),
        }
    }

    /// A `text/event-stream` response streamed by `stream`.
    pub fn stream(stream: super::faults::Stream) -> Response {
        Response {
            status: 200,
            headers: vec![
                ("Content-Type", "text/event-stream".into()),
                ("Cache-Control", "no-cache".into()),
            ],
            body: Body::Stream(stream),
        }
    }

    /// The same response with one more header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }
}

/// The reason phrase of `status`.
fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        417 => "Expectation Failed",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

/// Appends a response head (status line, `Date`, and `headers`) to `out`.
pub(super) fn push_head(out: &mut Vec<u8>, status: u16, headers: &[(&str, String)]) {
    out.extend_from_slice(format!("HTTP/1.1 {status} {}\r\n", reason(status)).as_bytes());
    out.extend_from_slice(format!("Date: {}\r\n", http_date(SystemTime::now())).as_bytes());
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends `data` as one chunk of a chunked body (nothing for empty data: an empty chunk would end the body).
pub(super) fn push_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// `t` as an HTTP date (IMF-fixdate), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
fn http_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm), in unsigned arithmetic: the epoch
    // shifted to 0000-03-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_and_heads_are_framed() {
        let mut out = Vec::new();
        push_chunk(&mut out, b"");
        push_chunk(&mut out, &[b'x'; 26]);
        assert_eq!(out, [b"1a\r\n".as_slice(), &[b'x'; 26], b"\r\n"].concat());
        let mut head = Vec::new();
        push_head(&mut head, 404, &[("Content-Length", "0".into())]);
        let head = String::from_utf8(head).expect("ASCII");
        let (status, rest) = head.split_once("\r\n").expect("a status line");
        assert_eq!(status, "HTTP/1.1 404 Not Found");
        assert!(rest.starts_with("Date: ") && rest.ends_with(" GMT\r\nContent-Length: 0\r\n\r\n"));
    }

    #[test]
    fn dates_are_imf_fixdates() {
        let at = |s: u64| http_date(UNIX_EPOCH + std::time::Duration::from_secs(s));
        assert_eq!(at(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(at(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(at(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(at(4_107_542_399), "Sun, 28 Feb 2100 23:59:59 GMT"); // not a leap year
        assert_eq!(at(4_107_542_400), "Mon, 01 Mar 2100 00:00:00 GMT");
    }
}
