//! The simulator's timing log (`timing_log`): the ground truth of each streamed response — when the request
//! had been read, when its first content piece and its last piece were handed to the socket writer (at their
//! due time; pieces due at once share a write that follows at once) — one line per response, written after
//! its last byte so it does not delay the stream it describes.
//!
//! Line format: `n arrival_unix_us first_content_us last_item_us items earlier_on_connection` (offsets in
//! microseconds from the arrival, `-1` when there was no such piece).

use std::sync::Arc;

use tokio::time::Instant;

/// One streamed response's ground-truth timings, written to the timing log when dropped.
pub(super) struct TimingRecord {
    log: Arc<std::fs::File>,
    n: u64,
    /// When the request had been read (the offsets below are from this).
    arrived: Instant,
    arrived_unix_us: u128,
    /// Requests served earlier on the same connection (0: the request opened it).
    earlier_on_connection: u64,
    first_content: Option<Instant>,
    last_item: Option<Instant>,
    items: u64,
}

impl TimingRecord {
    /// A record for request `n`, read at `arrived`.
    pub fn new(
        log: Arc<std::fs::File>,
        n: u64,
        arrived: Instant,
        earlier_on_connection: u64,
    ) -> TimingRecord {
        TimingRecord {
            log,
            n,
            arrived,
            arrived_unix_us: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros()),
            earlier_on_connection,
            first_content: None,
            last_item: None,
            items: 0,
        }
    }

    /// Notes that one more piece is handed to the socket writer (item 0 is the role chunk, sent at once;
    /// item 1 is the first content piece).
    pub fn saw_item(&mut self) {
        let now = Instant::now();
        self.items += 1;
        if self.items == 2 {
            self.first_content = Some(now);
        }
        self.last_item = Some(now);
    }
}

impl Drop for TimingRecord {
    fn drop(&mut self) {
        use std::io::Write;
        let us = |t: Option<Instant>| {
            t.map_or(-1.0, |t| {
                t.saturating_duration_since(self.arrived).as_secs_f64() * 1e6
            })
        };
        let line = format!(
            "{} {} {:.1} {:.1} {} {}\n",
            self.n,
            self.arrived_unix_us,
            us(self.first_content),
            us(self.last_item),
            self.items,
            self.earlier_on_connection
        );
        // One write per line on an O_APPEND file: lines from different workers never interleave.
        let _ = (&*self.log).write_all(line.as_bytes());
    }
}
