//! The line scan both bench readers share (`raw_reader`, `actor_floor`): where one streamed chat completion
//! ends in the bytes a keep-alive connection delivers, and how many `data: {…}` events it held. Nothing is
//! parsed: a line is only compared with the few prefixes the end of a response needs.
//!
//! Line ends are found with `memchr` (SIMD), as any lean reader would. The byte-at-a-time loop this replaced
//! cost 13–17 % more CPU a chunk in one build than in another with the very same instructions: its loop's
//! fused compare-and-branch straddled a 32-byte boundary, which this VM's CPU penalises (docs/performance.md,
//! sixth session). A bar that moves with code alignment is no bar.

/// One response's progress through a read buffer.
#[derive(Default)]
pub struct ResponseScan {
    line_start: usize,
    filled: usize,
    done: bool,
    zero: bool,
    /// `data: {…}` events seen so far.
    pub events: u64,
}

impl ResponseScan {
    /// The part of `buf` the next read fills. When `buf` is full, the partial line at its end moves to the
    /// front first.
    pub fn spare<'b>(&mut self, buf: &'b mut [u8]) -> &'b mut [u8] {
        if self.filled == buf.len() {
            buf.copy_within(self.line_start..self.filled, 0);
            self.filled -= self.line_start;
            self.line_start = 0;
        }
        &mut buf[self.filled..]
    }

    /// Scans the `n` bytes the last read put into [`spare`](Self::spare); `true` when the response has ended
    /// (`data: [DONE]`, then the chunked body's `0` terminator and its empty line).
    pub fn scan(&mut self, buf: &[u8], n: usize) -> bool {
        // Locals, written back once: the loop below is the whole of a reader's user-space work a chunk.
        let (mut line_start, mut events) = (self.line_start, self.events);
        let mut i = self.filled;
        let filled = self.filled + n;
        let mut ended = false;
        while let Some(off) = memchr::memchr(b'\n', &buf[i..filled]) {
            let line = &buf[line_start..i + off];
            if line.starts_with(b"data: {") {
                events += 1;
            } else if line.starts_with(b"data: [DONE]") {
                self.done = true;
            } else if self.done && line == b"0\r" {
                self.zero = true;
            } else if self.zero && line == b"\r" {
                ended = true;
                break;
            }
            i += off + 1;
            line_start = i;
        }
        (self.line_start, self.filled, self.events) = (line_start, filled, events);
        ended
    }
}
