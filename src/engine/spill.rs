//! The finals of an evaluation too large to hold, kept as sorted runs until
//! they are counted, all at once, in the store's key order.
//!
//! A first evaluation hands its finals over in batches, in the order the
//! items are evaluated (creation time). Counted batch by batch, every batch
//! reached nearly every page of the store's `counted` table and rewrote it:
//! the writes grew with the square of the items (197 s at 1M tickets,
//! bench/NOTES.md rounds 9 and 10). Here each batch is sorted and appended to
//! a scratch file as one run; [`Spill::merged`] reads the runs back merged,
//! so the store inserts every final in key order, in one pass over the table.
//! Memory stays one batch; the file (~40 bytes a final) goes when the spill
//! is dropped.

use std::collections::{BinaryHeap, HashMap};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::count::{counted_outcome, store_key};
use crate::sla::State;
use crate::snapshot::{Final, Series};
use crate::store::{CountedOutcome, StoreError};

/// The scratch file's name in the store directory.
pub const FILE_NAME: &str = "finals.spill";

/// Outcome states by their encoded byte.
const STATES: [State; 5] = [
    State::Met,
    State::Breached,
    State::Running,
    State::Paused,
    State::NotApplicable,
];

/// Sorted runs of finals: in a scratch file in the store directory, or in
/// memory for a store without one.
pub struct Spill {
    dir: Option<PathBuf>,
    out: Option<Out>,
    /// Bytes written, and the byte range of each run.
    written: u64,
    runs: Vec<(u64, u64)>,
    /// Finals pushed.
    len: usize,
    /// Series by the index a record carries.
    series: Vec<Arc<Series>>,
    index: HashMap<Arc<Series>, u32>,
}

enum Out {
    File { path: PathBuf, w: BufWriter<File> },
    Memory(Vec<u8>),
}

impl Spill {
    /// A spill writing to `dir` (nothing is created before the first run),
    /// or to memory without one.
    pub fn new(dir: Option<&Path>) -> Spill {
        Spill {
            dir: dir.map(Path::to_owned),
            out: None,
            written: 0,
            runs: Vec::new(),
            len: 0,
            series: Vec::new(),
            index: HashMap::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// How many finals were pushed.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Sorts `finals` by the store's key and writes them as one run, leaving
    /// `finals` empty.
    pub fn push(&mut self, finals: &mut Vec<Final>) -> Result<(), StoreError> {
        if finals.is_empty() {
            return Ok(());
        }
        finals.sort_unstable_by(|a, b| store_key(a).cmp(&store_key(b)));
        let start = self.written;
        self.len += finals.len();
        let mut record = Vec::with_capacity(64);
        for f in finals.drain(..) {
            record.clear();
            self.encode(&f, &mut record);
            self.write(&record)?;
        }
        self.runs.push((start, self.written));
        Ok(())
    }

    fn write(&mut self, record: &[u8]) -> Result<(), StoreError> {
        if self.out.is_none() {
            self.out = Some(match &self.dir {
                None => Out::Memory(Vec::new()),
                Some(dir) => {
                    let path = dir.join(FILE_NAME);
                    let file = File::options()
                        .read(true)
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .open(&path)
                        .map_err(|e| scratch(&path, e))?;
                    Out::File {
                        path,
                        w: BufWriter::with_capacity(1 << 16, file),
                    }
                }
            });
        }
        match self.out.as_mut().expect("opened above") {
            Out::Memory(v) => v.extend_from_slice(record),
            Out::File { path, w } => w.write_all(record).map_err(|e| scratch(path, e))?,
        }
        self.written += record.len() as u64;
        Ok(())
    }

    /// A final as bytes: series index, cycle, state, instant, completion
    /// (a flag and the business seconds), then the item id with its length.
    fn encode(&mut self, f: &Final, out: &mut Vec<u8>) {
        let next = self.series.len() as u32;
        let series = *self.index.entry(f.series.clone()).or_insert_with(|| {
            self.series.push(f.series.clone());
            next
        });
        out.extend_from_slice(&series.to_le_bytes());
        out.extend_from_slice(&f.cycle.to_le_bytes());
        let state = STATES.iter().position(|s| *s == f.state).unwrap_or(0) as u8;
        out.push(state);
        out.extend_from_slice(&f.at.as_second().to_le_bytes());
        out.push(u8::from(f.completed_elapsed.is_some()));
        out.extend_from_slice(&f.completed_elapsed.unwrap_or(0).to_le_bytes());
        out.extend_from_slice(&(f.item_id.len() as u32).to_le_bytes());
        out.extend_from_slice(f.item_id.as_bytes());
    }

    /// Every final pushed, as the store counts it, in the store's key order.
    pub fn merged(&mut self) -> Result<Merged<'_>, StoreError> {
        if let Some(Out::File { path, w }) = &mut self.out {
            w.flush().map_err(|e| scratch(path, e))?;
        }
        let mut readers: Vec<Box<dyn BufRead + '_>> = Vec::with_capacity(self.runs.len());
        match &self.out {
            None => {}
            Some(Out::Memory(v)) => {
                for &(start, end) in &self.runs {
                    readers.push(Box::new(&v[start as usize..end as usize]));
                }
            }
            Some(Out::File { path: p, .. }) => {
                for &(start, end) in &self.runs {
                    let mut file = File::open(p).map_err(|e| scratch(p, e))?;
                    file.seek(SeekFrom::Start(start))
                        .map_err(|e| scratch(p, e))?;
                    // 64 KiB per run: ~46 runs at 1M tickets.
                    readers.push(Box::new(BufReader::with_capacity(
                        1 << 16,
                        file.take(end - start),
                    )));
                }
            }
        }
        // Where errors say the runs are (in memory: the file's name).
        let path = match &self.dir {
            Some(dir) => dir.join(FILE_NAME),
            None => PathBuf::from(FILE_NAME),
        };
        let mut merged = Merged {
            series: &self.series,
            readers,
            heap: BinaryHeap::new(),
            path,
            failed: false,
        };
        for run in 0..merged.readers.len() {
            merged.advance(run)?;
        }
        Ok(merged)
    }
}

/// Removes the scratch file a killed exporter left in the store directory
/// `dir`: the next spill would truncate it, but a store whose evaluations
/// stay small would keep it (~120 MB at 1M tickets). The caller holds the
/// store's lock, so no evaluation is using it.
pub fn remove_stale(dir: &Path) {
    let path = dir.join(FILE_NAME);
    match std::fs::remove_file(&path) {
        Ok(()) => tracing::info!(
            path = %path.display(),
            "removed the scratch file of an evaluation that did not finish"
        ),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(
            path = %path.display(),
            error = %e,
            "cannot remove the scratch file of an evaluation that did not finish"
        ),
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        if let Some(Out::File { path, .. }) = &self.out {
            // Best effort: a file left behind is truncated by the next spill.
            let _ = std::fs::remove_file(path);
        }
    }
}

fn scratch(path: &Path, e: io::Error) -> StoreError {
    StoreError::Scratch {
        path: path.to_owned(),
        source: e,
    }
}

/// The runs of a [`Spill`], merged. Yields errors reading them back; after
/// one it yields nothing more.
pub struct Merged<'a> {
    series: &'a [Arc<Series>],
    readers: Vec<Box<dyn BufRead + 'a>>,
    /// The next final of each run not yet exhausted, smallest key on top.
    heap: BinaryHeap<std::cmp::Reverse<Head>>,
    path: PathBuf,
    failed: bool,
}

/// A decoded final and the run it came from.
struct Head {
    series: Arc<Series>,
    item_id: String,
    cycle: u32,
    state: State,
    at: i64,
    completed_elapsed: Option<i64>,
    run: usize,
}

impl Head {
    fn key(&self) -> (&str, &str, &str, u32) {
        (
            &self.series.source,
            &self.item_id,
            self.series.target,
            self.cycle,
        )
    }
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Head {}
impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Head {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl Merged<'_> {
    /// Reads run `run`'s next final onto the heap, if it has one.
    fn advance(&mut self, run: usize) -> Result<(), StoreError> {
        let r = &mut self.readers[run];
        let fail = |e: io::Error| scratch(&self.path, e);
        if r.fill_buf().map_err(fail)?.is_empty() {
            return Ok(());
        }
        let mut fixed = [0u8; 30];
        r.read_exact(&mut fixed).map_err(fail)?;
        let u32_at = |i: usize| u32::from_le_bytes(fixed[i..i + 4].try_into().expect("4 bytes"));
        let i64_at = |i: usize| i64::from_le_bytes(fixed[i..i + 8].try_into().expect("8 bytes"));
        let mut id = vec![0u8; u32_at(26) as usize];
        r.read_exact(&mut id).map_err(fail)?;
        let corrupt =
            |what: &str| fail(io::Error::new(io::ErrorKind::InvalidData, what.to_owned()));
        let series = self
            .series
            .get(u32_at(0) as usize)
            .ok_or_else(|| corrupt("a record names an unknown series"))?
            .clone();
        let state = *STATES
            .get(usize::from(fixed[8]))
            .ok_or_else(|| corrupt("a record has an unknown state"))?;
        let item_id = String::from_utf8(id).map_err(|_| corrupt("an item id is not UTF-8"))?;
        self.heap.push(std::cmp::Reverse(Head {
            series,
            item_id,
            cycle: u32_at(4),
            state,
            at: i64_at(9),
            completed_elapsed: (fixed[17] == 1).then(|| i64_at(18)),
            run,
        }));
        Ok(())
    }
}

impl Iterator for Merged<'_> {
    type Item = Result<CountedOutcome, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let std::cmp::Reverse(head) = self.heap.pop()?;
        if let Err(e) = self.advance(head.run) {
            self.failed = true;
            return Some(Err(e));
        }
        Some(Ok(counted_outcome(
            &head.series,
            head.item_id,
            head.cycle,
            head.state,
            head.at,
            head.completed_elapsed,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;

    fn series(source: &str, target: &'static str) -> Arc<Series> {
        Arc::new(Series {
            source: source.into(),
            channel: "ticket",
            team: "t".into(),
            priority: "p".into(),
            policy: "x".into(),
            target,
        })
    }

    /// Finals over two sources, three targets and two cycles, with item ids
    /// whose byte order differs from their numeric order ("10" < "9").
    fn finals() -> Vec<Final> {
        let mut out = Vec::new();
        for (i, source) in ["b", "a"].into_iter().enumerate() {
            for id in (0..25).rev() {
                for (j, target) in ["resolution", "first_response", "next_response"]
                    .into_iter()
                    .enumerate()
                {
                    for cycle in 0..2u32 {
                        let n = (i * 1000 + id * 10 + j) as i64 + i64::from(cycle);
                        out.push(Final {
                            series: series(source, target),
                            item_id: id.to_string().into(),
                            cycle,
                            state: if n % 3 == 0 {
                                State::Breached
                            } else {
                                State::Met
                            },
                            started_at: Timestamp::UNIX_EPOCH,
                            at: Timestamp::from_second(1_700_000_000 + n).unwrap(),
                            completed_elapsed: (n % 2 == 0).then_some(n * 7),
                        });
                    }
                }
            }
        }
        out
    }

    fn expected() -> Vec<CountedOutcome> {
        let mut all: Vec<CountedOutcome> = finals()
            .into_iter()
            .map(super::super::count::final_outcome)
            .collect();
        all.sort_by(|a, b| {
            (&a.source, &a.item_id, &a.target, a.cycle)
                .cmp(&(&b.source, &b.item_id, &b.target, b.cycle))
        });
        all
    }

    /// Pushes the finals in runs of `run` (in their made order, as an
    /// evaluation flushes them) and reads them back merged.
    fn round_trip(spill: &mut Spill, run: usize) -> Vec<CountedOutcome> {
        for chunk in finals().chunks(run) {
            let mut batch = chunk.to_vec();
            spill.push(&mut batch).unwrap();
            assert!(batch.is_empty());
        }
        spill.merged().unwrap().map(Result::unwrap).collect()
    }

    #[test]
    fn merged_runs_give_every_final_once_in_the_stores_key_order() {
        let want = expected();
        for run in [1, 7, 64, 10_000] {
            assert_eq!(
                round_trip(&mut Spill::new(None), run),
                want,
                "in memory, runs of {run}"
            );
        }
        let dir = std::env::temp_dir().join(format!("hse-spill-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut spill = Spill::new(Some(&dir));
        assert_eq!(round_trip(&mut spill, 13), want, "in a file");
        assert!(dir.join(FILE_NAME).is_file());
        drop(spill);
        assert!(
            !dir.join(FILE_NAME).exists(),
            "the scratch file goes with the spill"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unwritable_scratch_file_is_an_error_naming_it() {
        let dir = std::env::temp_dir().join(format!("hse-spill-gone-{}", std::process::id()));
        let mut spill = Spill::new(Some(&dir));
        let err = spill.push(&mut finals()).unwrap_err().to_string();
        assert!(
            err.contains(&*dir.join(FILE_NAME).to_string_lossy()),
            "{err}"
        );
        assert!(spill.is_empty());
    }
}
