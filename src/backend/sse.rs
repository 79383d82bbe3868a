//! Server-sent events framing (the `text/event-stream` format), done right (spec §12.7).
//!
//! Bytes arrive in arbitrary pieces: an event can be split across network reads, or many events can share one.
//! [`SseFramer`] buffers bytes until a line ends (LF, CRLF or CR, even when the CR and LF arrive in different
//! reads), decodes each line as UTF-8 only once it is complete (so a multi-byte character split across reads is
//! fine), and yields an event at each blank line:
//! - `data:` with or without the space after the colon; several `data:` lines of one event are joined with `\n`;
//! - `event:` sets the event type; comment lines (`: keep-alive`) and other fields are ignored;
//! - a line longer than the configured cap is an error, so a broken server cannot exhaust memory.
//!
//! Events are lent to a callback, not handed out: the framer keeps its line, data and event-type buffers
//! from one event to the next, so framing a stream allocates only while its buffers grow to the longest
//! line (issue 20: no per-chunk allocation on the common path).

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

/// Why an event stream cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// A line exceeded the framer's cap.
    #[error("SSE line longer than {0} bytes")]
    LineTooLong(usize),
    /// A line was not UTF-8.
    #[error("SSE line is not valid UTF-8")]
    InvalidUtf8,
}

/// Incremental SSE parser: feed it bytes as they arrive, take events as they complete.
///
/// ```
/// use llmperf_actors::backend::sse::SseFramer;
/// let mut framer = SseFramer::default();
/// let mut data = Vec::new();
/// for piece in [&b"data: {\"a\""[..], b":1}\r\n\r\n: ping\n\ndata:[DONE]\n\n"] {
///     framer.feed(piece, |event| { data.push(event.data.clone()); true }).unwrap();
/// }
/// assert_eq!(data, ["{\"a\":1}", "[DONE]"]);
/// ```
#[derive(Debug)]
pub struct SseFramer {
    line: Vec<u8>,
    after_cr: bool,
    /// The event being built; lent to the callback when a blank line completes it.
    current: SseEvent,
    /// The `event:` buffer of the last event, kept for the next one's.
    spare_event: String,
    has_data: bool,
    max_line: usize,
}

impl Default for SseFramer {
    fn default() -> Self {
        SseFramer::new(16 * 1024 * 1024)
    }
}

impl SseFramer {
    /// A framer that rejects lines longer than `max_line` bytes.
    pub fn new(max_line: usize) -> Self {
        SseFramer {
            line: Vec::new(),
            after_cr: false,
            current: SseEvent {
                event: None,
                data: String::new(),
            },
            spare_event: String::new(),
            has_data: false,
            max_line,
        }
    }

    /// Feeds bytes; calls `on_event` for each event completed by them. `on_event` returns `false` to stop early
    /// (the rest of the bytes are then ignored). The event is lent: copy what must outlive the call.
    pub fn feed(
        &mut self,
        bytes: &[u8],
        mut on_event: impl FnMut(&SseEvent) -> bool,
    ) -> Result<(), SseError> {
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.after_cr {
                self.after_cr = false;
                if rest[0] == b'\n' {
                    rest = &rest[1..];
                    continue;
                }
            }
            match memchr::memchr2(b'\n', b'\r', rest) {
                Some(i) => {
                    let ends_event = if self.line.is_empty() {
                        // The whole line is in this read: read it where it lies, without copying it.
                        if i > self.max_line {
                            return Err(SseError::LineTooLong(self.max_line));
                        }
                        self.take_line(&rest[..i])?
                    } else {
                        self.push_bytes(&rest[..i])?;
                        self.end_line()?
                    };
                    self.after_cr = rest[i] == b'\r';
                    rest = &rest[i + 1..];
                    if ends_event {
                        let go_on = on_event(&self.current);
                        self.dispatched();
                        if !go_on {
                            return Ok(());
                        }
                    }
                }
                None => {
                    self.push_bytes(rest)?;
                    rest = &[];
                }
            }
        }
        Ok(())
    }

    /// Ends the stream: a final event that was not followed by a blank line is still delivered.
    pub fn finish(&mut self) -> Result<Option<SseEvent>, SseError> {
        let complete = if self.line.is_empty() {
            self.has_data
        } else {
            self.end_line()? || self.has_data
        };
        let event = complete.then(|| self.current.clone());
        self.dispatched();
        Ok(event)
    }

    fn push_bytes(&mut self, b: &[u8]) -> Result<(), SseError> {
        if self.line.len() + b.len() > self.max_line {
            return Err(SseError::LineTooLong(self.max_line));
        }
        self.line.extend_from_slice(b);
        Ok(())
    }

    /// Ends the line in `self.line`; `true` when it was the blank line that completes an event with data.
    fn end_line(&mut self) -> Result<bool, SseError> {
        let line = std::mem::take(&mut self.line);
        let ends_event = self.take_line(&line);
        self.line = line;
        self.line.clear();
        ends_event
    }

    /// Reads one complete line (without its end); `true` when it was the blank line that completes an event
    /// with data.
    fn take_line(&mut self, line: &[u8]) -> Result<bool, SseError> {
        if line.is_empty() {
            if self.has_data {
                return Ok(true);
            }
            // A blank line with no data dispatches nothing, and resets the event type.
            self.dispatched();
            return Ok(false);
        }
        let line = std::str::from_utf8(line).map_err(|_| SseError::InvalidUtf8)?;
        // Nearly every line is a `data:` line, whose first colon is its fifth byte.
        let colon = match line.strip_prefix("data") {
            Some(rest) if rest.starts_with(':') => Some(4),
            _ => line.find(':'),
        };
        let (field, value) = match colon {
            Some(0) => return Ok(false), // comment
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (line, ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.current.data.push('\n');
                }
                self.current.data.push_str(value);
                self.has_data = true;
            }
            "event" => {
                let mut buf = match self.current.event.take() {
                    Some(buf) => buf,
                    None => std::mem::take(&mut self.spare_event),
                };
                buf.clear();
                buf.push_str(value);
                self.current.event = Some(buf);
            }
            _ => {}
        }
        Ok(false)
    }

    /// Clears the event just dispatched (or dropped), keeping its buffers for the next one.
    fn dispatched(&mut self) {
        if let Some(buf) = self.current.event.take() {
            self.spare_event = buf;
        }
        self.current.data.clear();
        self.has_data = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(pieces: &[&[u8]]) -> Result<Vec<SseEvent>, SseError> {
        let mut f = SseFramer::default();
        let mut out = Vec::new();
        for p in pieces {
            f.feed(p, |e| {
                out.push(e.clone());
                true
            })?;
        }
        out.extend(f.finish()?);
        Ok(out)
    }

    fn data(events: &[SseEvent]) -> Vec<&str> {
        events.iter().map(|e| e.data.as_str()).collect()
    }

    const STREAM: &str = ": keep-alive\n\nevent: message\ndata: {\"a\":1}\n\ndata:{\"b\":\"é✓\"}\r\n\r\ndata: [DONE]\n\n";

    #[test]
    fn framing_variants() {
        let ev = parse_in_pieces(&[STREAM.as_bytes()]).unwrap();
        assert_eq!(data(&ev), ["{\"a\":1}", "{\"b\":\"é✓\"}", "[DONE]"]);
        assert_eq!(ev[0].event.as_deref(), Some("message"));
        assert_eq!(ev[1].event, None);
    }

    #[test]
    fn split_at_every_byte_boundary_gives_the_same_events() {
        let whole = parse_in_pieces(&[STREAM.as_bytes()]).unwrap();
        let b = STREAM.as_bytes();
        for i in 0..=b.len() {
            for j in i..=b.len() {
                let got = parse_in_pieces(&[&b[..i], &b[i..j], &b[j..]]).unwrap();
                assert_eq!(got, whole, "split at {i} and {j}");
            }
        }
        let bytewise: Vec<&[u8]> = b.chunks(1).collect();
        assert_eq!(parse_in_pieces(&bytewise).unwrap(), whole);
    }

    #[test]
    fn only_the_field_named_data_is_data() {
        // `data` without a colon is an empty data line; `datum:` and `data2:` are other fields.
        let ev = parse_in_pieces(&[b"datum: x\ndata2: y\ndata\ndata:z\n\n"]).unwrap();
        assert_eq!(data(&ev), ["\nz"]);
    }

    #[test]
    fn cr_only_line_endings_and_multi_line_data() {
        let ev = parse_in_pieces(&[b"data: a\rdata: b\r\rdata: c\n"]).unwrap();
        assert_eq!(data(&ev), ["a\nb", "c"]);
    }

    #[test]
    fn last_event_without_blank_line_is_delivered() {
        let ev = parse_in_pieces(&[b"data: x\n\ndata: y"]).unwrap();
        assert_eq!(data(&ev), ["x", "y"]);
    }

    #[test]
    fn stop_early() {
        let mut f = SseFramer::default();
        let mut n = 0;
        f.feed(b"data: 1\n\ndata: 2\n\n", |_| {
            n += 1;
            false
        })
        .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn long_lines_and_bad_utf8_are_errors() {
        let mut f = SseFramer::new(8);
        assert_eq!(
            f.feed(b"data: 0123456789", |_| true),
            Err(SseError::LineTooLong(8))
        );
        assert_eq!(
            parse_in_pieces(&[b"data: \xff\xfe\n\n"]),
            Err(SseError::InvalidUtf8)
        );
        // A whole line in one read (read where it lies) and one built across reads meet the same cap.
        let mut f = SseFramer::new(8);
        assert_eq!(
            f.feed(b"data: 012\n\n", |_| true),
            Err(SseError::LineTooLong(8))
        );
        let mut f = SseFramer::new(8);
        assert_eq!(
            f.feed(b"data: 0", |_| true)
                .and_then(|()| f.feed(b"12\n\n", |_| true)),
            Err(SseError::LineTooLong(8))
        );
        for pieces in [&[&b"data: 01\n\n"[..]][..], &[b"data", b": 01\n\n"]] {
            let mut f = SseFramer::new(8);
            let mut got = Vec::new();
            for p in pieces {
                f.feed(p, |e| {
                    got.push(e.data.clone());
                    true
                })
                .unwrap();
            }
            assert_eq!(got, ["01"], "a line of exactly the cap is read");
        }
    }
}
