//! A decoder of the chunked transfer coding (RFC 9112 §7.1) for request bodies, fed bytes as they arrive:
//! chunk-size lines (extensions ignored), data, the line end after each chunk's data, the last (empty) chunk
//! and the trailer section (read and dropped). Pure: no I/O, so it is tested here piece by piece.
//!
//! Limits: a chunk-size line of 4 KiB, a trailer section of 64 KiB (both 400 beyond), a body of 64 MiB (413).
//! Bad input is refused, never a panic.

use super::read_error::{BODY_LIMIT, HEAD_LIMIT, ReadError, refuse};

/// The longest chunk-size line (size and extensions) of a chunked request body.
const CHUNK_LINE_LIMIT: usize = 4096;

/// Where a chunked body's decoder is.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
enum ChunkState {
    /// Reading a chunk-size line.
    #[default]
    Size,
    /// Reading chunk data, this many bytes still to come.
    Data(u64),
    /// Reading the line end after a chunk's data.
    DataEnd,
    /// Reading trailer lines, up to an empty one.
    Trailer,
    /// The body is complete.
    Done,
}

/// A decoder of the chunked transfer coding, fed bytes as they arrive.
#[derive(Debug, Default)]
pub(super) struct ChunkedDecoder {
    state: ChunkState,
    line: Vec<u8>,
    trailer_bytes: usize,
    /// The body decoded so far.
    pub body: Vec<u8>,
}

impl ChunkedDecoder {
    /// Whether the last chunk and the trailer section have been read.
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Decodes what it can of `input`; returns how many bytes it used (it stops at the end of the body).
    pub fn feed(&mut self, input: &[u8]) -> Result<usize, ReadError> {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                ChunkState::Done => break,
                ChunkState::Data(left) => {
                    let take =
                        usize::try_from(left).map_or(input.len() - i, |l| l.min(input.len() - i));
                    self.body.extend_from_slice(&input[i..i + take]);
                    i += take;
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                }
                ChunkState::Size | ChunkState::DataEnd | ChunkState::Trailer => {
                    let rest = &input[i..];
                    match rest.iter().position(|&b| b == b'\n') {
                        Some(end) => {
                            self.line.extend_from_slice(&rest[..end]);
                            i += end + 1;
                            let mut line = std::mem::take(&mut self.line);
                            if line.last() == Some(&b'\r') {
                                line.pop();
                            }
                            self.end_line(&line)?;
                        }
                        None => {
                            self.line.extend_from_slice(rest);
                            i = input.len();
                        }
                    }
                    let limit = match self.state {
                        ChunkState::Trailer => HEAD_LIMIT - self.trailer_bytes.min(HEAD_LIMIT),
                        _ => CHUNK_LINE_LIMIT,
                    };
                    if self.line.len() > limit {
                        return Err(refuse(400, "chunked body: line too long"));
                    }
                }
            }
        }
        Ok(i)
    }

    fn end_line(&mut self, line: &[u8]) -> Result<(), ReadError> {
        match self.state {
            ChunkState::Size => {
                let size = line.split(|&b| b == b';').next().unwrap_or_default();
                let size = String::from_utf8_lossy(size);
                let size = size.trim_matches([' ', '\t']);
                if size.is_empty()
                    || size.len() > 16
                    || !size.bytes().all(|b| b.is_ascii_hexdigit())
                {
                    return Err(refuse(
                        400,
                        format!("chunked body: bad chunk size '{size}'"),
                    ));
                }
                let size = u64::from_str_radix(size, 16)
                    .map_err(|_| refuse(400, "chunked body: bad chunk size"))?;
                if size > (BODY_LIMIT - self.body.len().min(BODY_LIMIT)) as u64 {
                    return Err(refuse(413, "request body larger than 64 MiB"));
                }
                self.state = if size == 0 {
                    ChunkState::Trailer
                } else {
                    ChunkState::Data(size)
                };
            }
            ChunkState::DataEnd if line.is_empty() => self.state = ChunkState::Size,
            ChunkState::DataEnd => {
                return Err(refuse(400, "chunked body: chunk data longer than its size"));
            }
            ChunkState::Trailer if line.is_empty() => self.state = ChunkState::Done,
            ChunkState::Trailer => {
                self.trailer_bytes += line.len() + 2;
                if self.trailer_bytes > HEAD_LIMIT {
                    return Err(refuse(400, "chunked body: trailer section too large"));
                }
            }
            ChunkState::Data(_) | ChunkState::Done => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces of `step` bytes; the body and the bytes left after it.
    fn decode(input: &[u8], step: usize) -> Result<(Vec<u8>, Vec<u8>), ReadError> {
        let mut d = ChunkedDecoder::default();
        let mut pending: Vec<u8> = Vec::new();
        let mut fed = 0;
        while !d.is_done() && fed < input.len() {
            let end = (fed + step).min(input.len());
            pending.extend_from_slice(&input[fed..end]);
            fed = end;
            let used = d.feed(&pending)?;
            pending.drain(..used);
        }
        assert!(d.is_done(), "incomplete");
        pending.extend_from_slice(&input[fed..]);
        Ok((d.body, pending))
    }

    fn status(r: Result<(Vec<u8>, Vec<u8>), ReadError>) -> u16 {
        match r {
            Err(ReadError::Refuse { status, .. }) => status,
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn any_split_decodes_the_same_body() {
        let input = b"3\r\nabc\r\n10;name=value\r\n0123456789abcdef\r\n0\r\nX-T: 1\r\n\r\nrest";
        for step in 1..input.len() {
            let (body, rest) = decode(input, step).expect("valid");
            assert_eq!(body, b"abc0123456789abcdef", "step {step}");
            assert_eq!(rest, b"rest", "step {step}");
        }
    }

    proptest::proptest! {
        /// Arbitrary bytes, with or without a plausible chunk in front: decoded or refused, never a panic,
        /// and never more consumed than given.
        #[test]
        fn any_bytes_are_decoded_or_refused_never_a_panic(
            prefix in proptest::sample::select(vec!["", "5\r\nhello\r\n", "0\r\n", "ff;x=\"y\"\r\n"]),
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            step in 1usize..80,
        ) {
            let input = [prefix.as_bytes(), &tail].concat();
            let mut d = ChunkedDecoder::default();
            let mut pending: Vec<u8> = Vec::new();
            for piece in input.chunks(step) {
                pending.extend_from_slice(piece);
                match d.feed(&pending) {
                    Ok(used) => {
                        proptest::prop_assert!(used <= pending.len());
                        pending.drain(..used);
                    }
                    Err(_) => break,
                }
                if d.is_done() {
                    break;
                }
            }
        }
    }

    #[test]
    fn bare_line_feeds_and_upper_case_sizes_are_accepted() {
        let (body, _) = decode(b"A\nhelloworld\n0\n\n", 4).expect("valid");
        assert_eq!(body, b"helloworld");
    }

    #[test]
    fn bad_chunks_are_refused() {
        assert_eq!(status(decode(b"x\r\n", 10)), 400);
        assert_eq!(status(decode(b"\r\n", 10)), 400);
        assert_eq!(status(decode(b"2\r\nabc\r\n", 10)), 400);
        assert_eq!(status(decode(b"11111111111111111\r\n", 30)), 400);
        assert_eq!(status(decode(b"4000001\r\n", 30)), 413);
        let long = [b"1;".as_slice(), &[b'e'; 5000]].concat();
        assert_eq!(status(decode(&long, 1000)), 400);
        let mut trailers = b"0\r\n".to_vec();
        for _ in 0..5000 {
            trailers.extend_from_slice(b"X-Trailer: 0123456789\r\n");
        }
        assert_eq!(status(decode(&trailers, 4096)), 400);
    }
}
