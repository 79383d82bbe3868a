//! Response framing (RFC 9112 §6.3): how long a response body is, and a decoder that turns the bytes read from a
//! connection into body data **in place** — chunked framing is squeezed out of the read buffer, so a streamed
//! response costs no allocation per read. Pure: bytes in, bytes out, no I/O.
//!
//! The three framings of an HTTP/1.1 response body:
//! - `Content-Length: n` — exactly n bytes;
//! - `Transfer-Encoding: chunked` — `size-in-hex [;ext] CRLF data CRLF` … `0 CRLF [trailers] CRLF`;
//! - neither — the body runs until the server closes the connection (a *close-delimited* body; legal for
//!   HTTP/1.1 and the rule for HTTP/1.0, so the connection cannot be reused).
//!
//! The decoder is lenient where servers are sloppy and harmless (a bare LF for CRLF, spaces before a chunk
//! extension) and strict where a mistake would corrupt data (a chunk size that is not hex, data not followed by
//! a line end, oversized size lines or trailers).

/// How a response body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body at all (1xx, 204, 304).
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Until the server closes the connection.
    UntilClose,
}

/// A body the decoder cannot read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyError(pub String);

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Longest chunk-size line (size plus extensions) accepted.
const MAX_SIZE_LINE: usize = 4096;
/// Most trailer bytes accepted after the last chunk.
const MAX_TRAILERS: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length(u64),
    UntilClose,
    /// Reading a chunk-size line: the size so far, hex digits seen, inside an extension or trailing space.
    Size {
        size: u64,
        digits: u8,
        after: bool,
    },
    /// Inside a chunk's data: bytes left.
    Data(u64),
    /// After a chunk's data: expecting its line end (`cr`: the CR has been seen).
    DataEnd {
        cr: bool,
    },
    /// After the last chunk: trailer lines until an empty one (`empty`: the current line has nothing yet).
    Trailers {
        empty: bool,
    },
    Done,
}

/// Decodes one response body, read by read.
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    state: State,
    /// Length of the current size line or of the trailers so far (limits).
    line: usize,
}

/// What one call of [`BodyDecoder::decode`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// Body data now at the front of the buffer: `buf[..data]`.
    pub data: usize,
    /// Bytes of the input that belonged to this body (less than the input only when the body ended in it).
    pub used: usize,
    /// The body is complete.
    pub done: bool,
}

impl BodyDecoder {
    /// A decoder for a body with this framing.
    pub fn new(framing: Framing) -> Self {
        let state = match framing {
            Framing::Empty | Framing::Length(0) => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::Size {
                size: 0,
                digits: 0,
                after: false,
            },
            Framing::UntilClose => State::UntilClose,
        };
        BodyDecoder { state, line: 0 }
    }

    /// Whether the whole body has been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Whether the body ends when the connection closes (then the close is its normal end).
    pub fn until_close(&self) -> bool {
        self.state == State::UntilClose
    }

    /// The connection closed: `Ok` when that ends the body (a close-delimited body, or one already complete).
    pub fn on_close(&mut self) -> Result<(), BodyError> {
        match self.state {
            State::Done => Ok(()),
            State::UntilClose => {
                self.state = State::Done;
                Ok(())
            }
            State::Length(n) => Err(BodyError(format!(
                "the connection closed {n} bytes before the end of the body (Content-Length)"
            ))),
            _ => Err(BodyError(
                "the connection closed before the last chunk of the body (chunked encoding)".into(),
            )),
        }
    }

    /// Decodes `buf` (the bytes just read) in place: the body data found is moved to `buf[..data]`, framing
    /// bytes are dropped. Everything is used unless the body ends inside `buf`.
    pub fn decode(&mut self, buf: &mut [u8]) -> Result<Decoded, BodyError> {
        let mut r = 0; // read position
        let mut w = 0; // write position of the data
        while r < buf.len() {
            match self.state {
                State::Done => break,
                State::UntilClose => {
                    buf.copy_within(r.., w);
                    w += buf.len() - r;
                    r = buf.len();
                }
                State::Length(left) | State::Data(left) => {
                    let n = left.min((buf.len() - r) as u64) as usize;
                    buf.copy_within(r..r + n, w);
                    r += n;
                    w += n;
                    let left = left - n as u64;
                    self.state = match (self.state, left) {
                        (State::Length(_), 0) => State::Done,
                        (State::Length(_), l) => State::Length(l),
                        (_, 0) => State::DataEnd { cr: false },
                        (_, l) => State::Data(l),
                    };
                }
                State::Size {
                    size,
                    digits,
                    after,
                } => {
                    let b = buf[r];
                    r += 1;
                    self.line += 1;
                    if self.line > MAX_SIZE_LINE {
                        return Err(BodyError(format!(
                            "chunk-size line longer than {MAX_SIZE_LINE} bytes"
                        )));
                    }
                    match b {
                        b'\n' => {
                            if digits == 0 {
                                return Err(BodyError("a chunk-size line without a size".into()));
                            }
                            self.line = 0;
                            self.state = if size == 0 {
                                State::Trailers { empty: true }
                            } else {
                                State::Data(size)
                            };
                        }
                        b'\r' => {} // the LF that must follow ends the line
                        _ if after => {
                            // Extensions are ignored; only a stray byte after whitespace that is neither an
                            // extension nor the line end is an error.
                        }
                        b';' | b' ' | b'\t' => {
                            self.state = State::Size {
                                size,
                                digits,
                                after: true,
                            }
                        }
                        _ => {
                            let d = match b {
                                b'0'..=b'9' => b - b'0',
                                b'a'..=b'f' => b - b'a' + 10,
                                b'A'..=b'F' => b - b'A' + 10,
                                _ => {
                                    return Err(BodyError(format!(
                                        "invalid byte {b:#04x} in a chunk size"
                                    )));
                                }
                            };
                            if digits >= 15 {
                                return Err(BodyError("chunk size too large".into()));
                            }
                            self.state = State::Size {
                                size: size * 16 + u64::from(d),
                                digits: digits + 1,
                                after: false,
                            };
                        }
                    }
                }
                State::DataEnd { cr } => {
                    let b = buf[r];
                    r += 1;
                    self.state = match (b, cr) {
                        (b'\r', false) => State::DataEnd { cr: true },
                        (b'\n', _) => State::Size {
                            size: 0,
                            digits: 0,
                            after: false,
                        },
                        _ => {
                            return Err(BodyError(
                                "chunk data is not followed by a line end (wrong chunk size?)"
                                    .into(),
                            ));
                        }
                    };
                }
                State::Trailers { empty } => {
                    let b = buf[r];
                    r += 1;
                    self.line += 1;
                    if self.line > MAX_TRAILERS {
                        return Err(BodyError(format!(
                            "trailers longer than {MAX_TRAILERS} bytes"
                        )));
                    }
                    self.state = match b {
                        b'\n' if empty => State::Done,
                        b'\n' => State::Trailers { empty: true },
                        b'\r' => State::Trailers { empty },
                        _ => State::Trailers { empty: false },
                    };
                }
            }
        }
        Ok(Decoded {
            data: w,
            used: r,
            done: self.state == State::Done,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Decodes `input` fed in pieces cut at `cuts`; returns the body and the bytes left after it.
    fn decode_in_pieces(
        framing: Framing,
        input: &[u8],
        cuts: &[usize],
    ) -> Result<(Vec<u8>, Vec<u8>, bool), BodyError> {
        let mut d = BodyDecoder::new(framing);
        let mut body = Vec::new();
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        points.push(0);
        points.push(input.len());
        points.sort_unstable();
        points.dedup();
        for w in points.windows(2) {
            let mut piece = input[w[0]..w[1]].to_vec();
            let got = d.decode(&mut piece)?;
            body.extend_from_slice(&piece[..got.data]);
            if got.done {
                let rest = [&piece[got.used..], &input[w[1]..]].concat();
                return Ok((body, rest, true));
            }
        }
        Ok((body, Vec::new(), d.is_done()))
    }

    fn chunked(pieces: &[&[u8]], ext: bool, trailers: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for p in pieces.iter().filter(|p| !p.is_empty()) {
            out.extend_from_slice(format!("{:x}", p.len()).as_bytes());
            if ext {
                out.extend_from_slice(b" ;name=\"v\"");
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(p);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n");
        if trailers {
            out.extend_from_slice(b"X-Trailer: 1\r\nOther: two\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    #[test]
    fn chunked_body_in_one_read() {
        let input = chunked(&[b"data: a\n\n", b"data: [DONE]\n\n"], false, false);
        let (body, rest, done) = decode_in_pieces(Framing::Chunked, &input, &[]).unwrap();
        assert_eq!(body, b"data: a\n\ndata: [DONE]\n\n");
        assert!(done && rest.is_empty());
    }

    #[test]
    fn bytes_after_the_body_are_not_used() {
        let mut input = chunked(&[b"x"], false, false);
        input.extend_from_slice(b"HTTP/1.1 200");
        let (body, rest, done) = decode_in_pieces(Framing::Chunked, &input, &[]).unwrap();
        assert_eq!(
            (body.as_slice(), rest.as_slice(), done),
            (&b"x"[..], &b"HTTP/1.1 200"[..], true)
        );
    }

    #[test]
    fn length_and_close_delimited_bodies() {
        let (body, rest, done) =
            decode_in_pieces(Framing::Length(5), b"hello world", &[2]).unwrap();
        assert_eq!(
            (body.as_slice(), rest.as_slice(), done),
            (&b"hello"[..], &b" world"[..], true)
        );
        let mut d = BodyDecoder::new(Framing::UntilClose);
        let mut buf = b"abc".to_vec();
        assert_eq!(
            d.decode(&mut buf).unwrap(),
            Decoded {
                data: 3,
                used: 3,
                done: false
            }
        );
        assert!(d.on_close().is_ok());
        assert!(d.is_done());
    }

    #[test]
    fn a_close_inside_a_framed_body_is_an_error() {
        let mut d = BodyDecoder::new(Framing::Chunked);
        d.decode(&mut b"5\r\nab".to_vec()).unwrap();
        assert!(d.on_close().unwrap_err().0.contains("last chunk"));
        let mut d = BodyDecoder::new(Framing::Length(10));
        d.decode(&mut b"abc".to_vec()).unwrap();
        assert!(d.on_close().unwrap_err().0.contains("7 bytes"));
    }

    #[test]
    fn lenient_line_ends_and_extensions() {
        let input = b"3;ext=1\nabc\n4 \r\nabcd\r\n0\n\n";
        let (body, _, done) = decode_in_pieces(Framing::Chunked, input, &[]).unwrap();
        assert_eq!(body, b"abcabcd");
        assert!(done);
    }

    #[test]
    fn malformed_chunked_bodies() {
        let bad = |input: &[u8]| {
            decode_in_pieces(Framing::Chunked, input, &[])
                .unwrap_err()
                .0
        };
        assert!(bad(b"zz\r\n").contains("invalid byte"));
        assert!(bad(b"\r\n").contains("without a size"));
        assert!(bad(b"3\r\nabcX\r\n").contains("line end"));
        assert!(bad(b"ffffffffffffffffff\r\n").contains("too large"));
        assert!(bad(&[b'1'; 5000]).contains("too large") || bad(&[b'1'; 5000]).contains("longer"));
        let mut long_ext = b"1;".to_vec();
        long_ext.resize(MAX_SIZE_LINE + 10, b'x');
        assert!(bad(&long_ext).contains("longer"));
    }

    #[test]
    fn empty_framing_is_done_at_once() {
        let mut d = BodyDecoder::new(Framing::Empty);
        assert!(d.is_done());
        assert_eq!(
            d.decode(&mut b"next".to_vec()).unwrap(),
            Decoded {
                data: 0,
                used: 0,
                done: true
            }
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

        /// Any body, chunked any way, with or without extensions and trailers, cut into reads anywhere,
        /// decodes to itself.
        #[test]
        fn chunked_round_trip(
            body in proptest::collection::vec(any::<u8>(), 0..2000),
            sizes in proptest::collection::vec(1usize..300, 1..20),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
            ext in any::<bool>(),
            trailers in any::<bool>(),
        ) {
            let mut pieces: Vec<&[u8]> = Vec::new();
            let mut at = 0;
            for s in sizes.iter().cycle() {
                if at >= body.len() { break; }
                let end = (at + s).min(body.len());
                pieces.push(&body[at..end]);
                at = end;
            }
            let input = chunked(&pieces, ext, trailers);
            let (got, rest, done) = decode_in_pieces(Framing::Chunked, &input, &cuts).unwrap();
            prop_assert_eq!(got, body);
            prop_assert!(done);
            prop_assert!(rest.is_empty());
        }

        /// Garbage never panics: it decodes or fails with an error.
        #[test]
        fn garbage_never_panics(input in proptest::collection::vec(any::<u8>(), 0..500),
                                cuts in proptest::collection::vec(any::<usize>(), 0..6)) {
            let _ = decode_in_pieces(Framing::Chunked, &input, &cuts);
        }
    }
}
