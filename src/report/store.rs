//! A run's records in memory that stays flat however long the run: the latest few thousand in memory, the
//! rest spilled to an anonymous file in a compact binary form (module `codec`), read back in order each time the
//! report pipeline walks them. The statistics take a few passes ([`crate::metrics::exact_series_stats`]),
//! every exporter streams; nothing holds all records at once.
//!
//! The spill file has no name (the system removes it when the store is dropped, or the process dies) and is
//! created in the results directory when there is one (a container's root may be read-only), else in the
//! system's temporary directory (`TMPDIR`). About 170 bytes a request. If it cannot be created or written,
//! the records stay in memory and a warning says why: nothing measured is lost.

mod codec;

use std::borrow::Cow;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::records::RunRecord;
use crate::metrics::Metrics;

/// How many records stay in memory before they are spilled (about 2 MB).
pub const MEMORY_RECORDS: usize = 4096;

/// A run's records, in the order they were recorded (see the module docs).
pub struct RecordStore {
    /// The latest records, not yet spilled.
    tail: Vec<RunRecord>,
    /// Spill once this many are in memory.
    limit: usize,
    /// Where the spill file goes (`None`: the system's temporary directory).
    dir: Option<PathBuf>,
    spill: Option<Spill>,
    /// Spilling failed once: everything stays in memory from then on.
    in_memory_only: bool,
}

/// The spilled records: `records` of them in the first `bytes` bytes of `file`.
struct Spill {
    file: File,
    bytes: u64,
    records: usize,
}

impl Default for RecordStore {
    fn default() -> Self {
        RecordStore::new()
    }
}

impl std::fmt::Debug for RecordStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RecordStore({} records, {} spilled)",
            self.len(),
            self.spilled()
        )
    }
}

impl RecordStore {
    /// An empty store that spills into the system's temporary directory.
    pub fn new() -> RecordStore {
        RecordStore {
            tail: Vec::new(),
            limit: MEMORY_RECORDS,
            dir: None,
            spill: None,
            in_memory_only: false,
        }
    }

    /// Spills into `dir` (the results directory) rather than the system's temporary directory.
    pub fn spilling_into(mut self, dir: Option<&Path>) -> RecordStore {
        self.dir = dir.map(Path::to_path_buf);
        self
    }

    /// Keeps at most `records` in memory (at least one).
    pub fn with_memory_limit(mut self, records: usize) -> RecordStore {
        self.limit = records.max(1);
        self
    }

    /// How many records it holds.
    pub fn len(&self) -> usize {
        self.spilled() + self.tail.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many of them are on disk.
    pub fn spilled(&self) -> usize {
        self.spill.as_ref().map_or(0, |s| s.records)
    }

    /// Adds a record after the others.
    pub fn push(&mut self, record: RunRecord) {
        self.tail.push(record);
        if self.tail.len() >= self.limit
            && !self.in_memory_only
            && let Err(e) = self.spill_tail()
        {
            log::warn!(
                "could not spill the run's records to disk ({e}); they stay in memory, which now grows with \
                 the run — set --results-dir (or TMPDIR) to a writable directory with room"
            );
            self.in_memory_only = true;
        }
    }

    /// Appends the records in memory to the spill file (creating it the first time) and drops them.
    fn spill_tail(&mut self) -> std::io::Result<()> {
        if self.spill.is_none() {
            let file = match &self.dir {
                Some(dir) => tempfile::tempfile_in(dir)?,
                None => tempfile::tempfile()?,
            };
            self.spill = Some(Spill {
                file,
                bytes: 0,
                records: 0,
            });
        }
        let spill = self.spill.as_mut().expect("created above");
        let mut bytes = Vec::with_capacity(self.tail.len() * 192);
        for r in &self.tail {
            codec::encode(r, &mut bytes);
        }
        spill.file.write_all_at(&bytes, spill.bytes)?;
        spill.bytes += bytes.len() as u64;
        spill.records += self.tail.len();
        self.tail.clear();
        Ok(())
    }

    /// Every record, in order: those on disk decoded as they are read (owned), those in memory borrowed.
    pub fn iter(&self) -> Records<'_> {
        Records {
            spilled: self.spill.as_ref().map(|s| SpillReader {
                file: &s.file,
                offset: 0,
                end: s.bytes,
                buf: Vec::new(),
                pos: 0,
                left: s.records,
            }),
            tail: self.tail.iter(),
        }
    }
}

impl From<Vec<RunRecord>> for RecordStore {
    fn from(records: Vec<RunRecord>) -> Self {
        records.into_iter().collect()
    }
}

impl FromIterator<RunRecord> for RecordStore {
    fn from_iter<I: IntoIterator<Item = RunRecord>>(records: I) -> Self {
        let mut store = RecordStore::new();
        records.into_iter().for_each(|r| store.push(r));
        store
    }
}

/// The per-request record of a record [`RecordStore::iter`] yields, borrowed when the record is.
pub fn metrics_of(r: Cow<'_, RunRecord>) -> Cow<'_, Metrics> {
    match r {
        Cow::Borrowed(r) => Cow::Borrowed(&r.metrics),
        Cow::Owned(r) => Cow::Owned(r.metrics),
    }
}

/// The iterator of [`RecordStore::iter`].
pub struct Records<'a> {
    spilled: Option<SpillReader<'a>>,
    tail: std::slice::Iter<'a, RunRecord>,
}

impl<'a> Iterator for Records<'a> {
    type Item = Cow<'a, RunRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(reader) = &mut self.spilled {
            match reader.next_record() {
                Ok(Some(r)) => return Some(Cow::Owned(r)),
                Ok(None) => {}
                Err(e) => log::error!(
                    "reading the run's records back from its spill file failed ({e}); the statistics leave \
                     out {} records — the per-request log has them all (`llmperf-actors report DIR` rebuilds \
                     the summary from it)",
                    reader.left
                ),
            }
            self.spilled = None;
        }
        self.tail.next().map(Cow::Borrowed)
    }
}

/// Reads spilled records back in order, in large reads at explicit offsets (several readers may walk one
/// file at once).
struct SpillReader<'a> {
    file: &'a File,
    /// The file offset `buf` was read from, plus what was consumed before it.
    offset: u64,
    end: u64,
    buf: Vec<u8>,
    pos: usize,
    /// Records not yet read.
    left: usize,
}

impl SpillReader<'_> {
    /// Makes at least `n` unread bytes available in `buf[pos..]`.
    fn fill(&mut self, n: usize) -> std::io::Result<()> {
        let have = self.buf.len() - self.pos;
        if have >= n {
            return Ok(());
        }
        self.buf.drain(..self.pos);
        self.offset += self.pos as u64;
        self.pos = 0;
        let file_at = self.offset + have as u64;
        let want = (n - have).max(1 << 18).min((self.end - file_at) as usize);
        if want < n - have {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the spill file ends inside a record",
            ));
        }
        self.buf.resize(have + want, 0);
        self.file.read_exact_at(&mut self.buf[have..], file_at)
    }

    fn next_record(&mut self) -> std::io::Result<Option<RunRecord>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.fill(4)?;
        let len = u32::from_le_bytes(
            self.buf[self.pos..self.pos + 4]
                .try_into()
                .expect("4 bytes"),
        ) as usize;
        self.fill(4 + len)?;
        let body = &self.buf[self.pos + 4..self.pos + 4 + len];
        let record = codec::decode(body).map_err(std::io::Error::other)?;
        self.pos += 4 + len;
        self.left -= 1;
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::stats::testing::record;

    fn records(n: u64) -> Vec<RunRecord> {
        (0..n)
            .map(|i| {
                let error = (i % 7 == 3).then_some(500);
                let mut r = RunRecord::new(
                    i,
                    record(0.01 * i as f64, 1.0 + i as f64, i, error),
                    Some(i),
                );
                r.metrics.warmup = i < 2;
                r
            })
            .collect()
    }

    #[test]
    fn spilled_records_come_back_in_order_and_equal() {
        let want = records(1000);
        let mut store = RecordStore::new().with_memory_limit(64);
        for r in want.iter().cloned() {
            store.push(r);
        }
        assert_eq!(store.len(), 1000);
        assert_eq!(
            store.spilled(),
            960,
            "15 batches of 64 on disk, 40 in memory"
        );
        let got: Vec<RunRecord> = store.iter().map(Cow::into_owned).collect();
        assert_eq!(got, want);
        // Two walks at once see the same records.
        let (a, b) = (store.iter(), store.iter());
        assert!(a.zip(b).all(|(x, y)| x == y));
    }

    #[test]
    fn statistics_over_a_spilled_store_equal_those_in_memory() {
        let all = records(3000);
        let mut store = RecordStore::new().with_memory_limit(100);
        all.iter().cloned().for_each(|r| store.push(r));
        assert!(store.spilled() > 2000);
        let metrics: Vec<Metrics> = all.into_iter().map(|r| r.metrics).collect();
        let opts = crate::report::stats::LoadOptions::default();
        let want = crate::report::stats::summarize_with(&metrics, 10.0, &opts);
        assert_eq!(
            crate::report::stats::summarize_store(&store, 10.0, &opts),
            want
        );
        assert_eq!(want.num_requests_started, 2998, "warm-up left out");
    }

    #[test]
    fn a_store_that_cannot_spill_keeps_everything_in_memory() {
        let mut store = RecordStore::new()
            .with_memory_limit(4)
            .spilling_into(Some(Path::new("/nonexistent/llmperf-actors-spill")));
        for r in records(10) {
            store.push(r);
        }
        assert_eq!((store.len(), store.spilled()), (10, 0));
        assert_eq!(store.iter().count(), 10);
    }
}
