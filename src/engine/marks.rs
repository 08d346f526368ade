//! What an incremental evaluation keeps of an open-stable item it skips: its
//! open cycles, whose rows move with the clock by their [`RowClock`]s until
//! the mark's `until` (a settled item keeps only its vendor verdicts, in
//! [`super::skips`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::compact::Interner;
use crate::model::{Channel, Target};
use crate::report::{Row, Stamp};
use crate::snapshot::{Evaluation, Histogram, OpenStable, RowClock, Series, VendorVerdict, share};

/// An open-stable item's share of an evaluation, as of `at`.
#[derive(Debug)]
pub(super) struct OpenMark {
    /// The evaluation instant it was found open-stable at (seconds).
    at: i64,
    /// The first instant (seconds) the item must be evaluated again at
    /// ([`OpenStable::until`]).
    pub(super) until: i64,
    /// The item's id, for its rows.
    id: Box<str>,
    /// The raw team and priority of its rows (interned).
    team: Arc<str>,
    priority: Arc<str>,
    pub(super) vendor: Box<[VendorVerdict]>,
    cycles: Box<[OpenCycle]>,
}

#[cfg(test)]
impl OpenMark {
    /// A mark with no cycles, valid until `until`, for tests of its keeping.
    pub(super) fn until(until: i64, vendor: Box<[VendorVerdict]>) -> OpenMark {
        OpenMark {
            at: 0,
            until,
            id: "".into(),
            team: "".into(),
            priority: "".into(),
            vendor,
            cycles: Box::new([]),
        }
    }
}

/// One open cycle of an [`OpenMark`]: its series and state (an open-state
/// gauge of one, and a time-to-breach observation unless breached) and its
/// row. 64 bytes: instants as [`Stamp`]s (seconds), the state and the vendor
/// verdict as indexes into [`STATES`] and [`VERDICTS`].
#[derive(Debug)]
struct OpenCycle {
    /// Interned: the per-series sums of skipped items are keyed by address.
    series: Arc<Series>,
    channel: Channel,
    target: Target,
    started_at: Stamp,
    due_at: Stamp,
    /// Elapsed seconds at `at`.
    elapsed: i64,
    clock: RowClock,
    cycle: u32,
    state: u8,
    vendor_verdict: u8,
}

/// The open states an [`OpenCycle`] can hold.
const STATES: [&str; 4] = ["breached", "paused", "running", "at_risk"];

/// The row's vendor verdicts ([`Row::vendor_verdict`]) an [`OpenCycle`] can hold.
const VERDICTS: [&str; 3] = ["", "met", "breached"];

impl OpenCycle {
    fn state(&self) -> &'static str {
        STATES[usize::from(self.state)]
    }

    /// Its `/items` row at `now` (seconds, not before `mark.at`).
    fn row(&self, mark: &OpenMark, source: &Arc<str>, now: i64, labels: &mut Interner) -> Row {
        let (elapsed, remaining) = self.clock.at(mark.at, self.elapsed, now);
        Row {
            source: source.clone(),
            channel: self.channel,
            item_id: mark.id.clone(),
            team: mark.team.clone(),
            priority: mark.priority.clone(),
            policy: labels.intern(&self.series.policy),
            target: self.target,
            cycle: self.cycle,
            state: self.state(),
            started_at: self.started_at,
            due_at: self.due_at,
            completed_at: Stamp::NONE,
            elapsed_seconds: elapsed,
            remaining_seconds: remaining,
            vendor_verdict: VERDICTS[usize::from(self.vendor_verdict)],
        }
    }
}

/// The open-stable marks an evaluation skipped, per source.
pub(super) type OpenMarks = Vec<(Arc<str>, Vec<Arc<OpenMark>>)>;

/// Adds what the skipped open-stable items contribute at `now` (seconds,
/// before each mark's `until`) to the aggregates: one open-state gauge per
/// cycle and a time-to-breach observation per cycle not breached, its
/// remaining seconds moved to `now`. Their rows are built only when a page
/// reads them ([`mark_rows`]).
/// Per-series sums are taken by the series' address first, so a `Series` is
/// cloned once per series rather than once per cycle. (Histogram sums are
/// sums of whole seconds, exact in any order.)
pub(super) fn add_open_marks(eval: &mut Evaluation, marks: &OpenMarks, now: i64) {
    let mut open: HashMap<(usize, u8), (&Series, u64)> = HashMap::new();
    let mut waits: HashMap<usize, (&Series, Histogram)> = HashMap::new();
    for mark in marks.iter().flat_map(|(_, m)| m) {
        for c in mark.cycles.iter() {
            let key = Arc::as_ptr(&c.series) as usize;
            open.entry((key, c.state)).or_insert((&c.series, 0)).1 += 1;
            // Every open state but breached has a time to breach.
            if c.state() != "breached" {
                let (_, remaining) = c.clock.at(mark.at, c.elapsed, now);
                waits
                    .entry(key)
                    .or_insert_with(|| (&c.series, Histogram::default()))
                    .1
                    .observe(remaining.max(0) as f64);
            }
        }
    }
    for ((_, state), (series, n)) in open {
        *eval
            .open
            .entry((series.clone(), STATES[usize::from(state)]))
            .or_default() += n;
    }
    for (_, (series, h)) in waits {
        eval.time_to_breach
            .entry(series.clone())
            .or_default()
            .add(&h);
    }
}

/// Adds the rows of the skipped open-stable items at `now` (seconds), their
/// elapsed and remaining seconds moved to `now`: what a page reads of them.
pub(super) fn mark_rows(marks: OpenMarks, now: i64) -> impl FnOnce(&mut Vec<Row>) + Send {
    move |rows: &mut Vec<Row>| {
        let mut labels = Interner::default();
        rows.reserve(
            marks
                .iter()
                .flat_map(|(_, m)| m)
                .map(|m| m.cycles.len())
                .sum(),
        );
        for (source, marks) in &marks {
            for mark in marks {
                for c in mark.cycles.iter() {
                    rows.push(c.row(mark, source, now, &mut labels));
                }
            }
        }
    }
}

/// The mark of an item the evaluation found open-stable, whose rows are
/// `rows`; `None` (the item is evaluated again next time) unless every row
/// rebuilt from the mark at the instant it was evaluated at is the row the
/// evaluation made.
pub(super) fn open_mark(
    s: &OpenStable,
    source: &str,
    id: &str,
    rows: &[Row],
    interner: &mut Interner,
    series: &mut HashSet<Arc<Series>>,
) -> Option<OpenMark> {
    let first = rows.first()?;
    let cycles: Option<Box<[OpenCycle]>> = rows
        .iter()
        .zip(&s.clocks)
        .map(|(row, clock)| {
            let key = Series {
                source: source.to_owned(),
                channel: row.channel.as_str(),
                team: s.team.to_string(),
                priority: s.priority.to_string(),
                policy: row.policy.to_string(),
                target: row.target.as_str(),
            };
            Some(OpenCycle {
                series: share(series, key),
                channel: row.channel,
                target: row.target,
                started_at: row.started_at,
                due_at: row.due_at,
                elapsed: row.elapsed_seconds,
                clock: clock.clone(),
                cycle: row.cycle,
                state: STATES.iter().position(|v| *v == row.state)? as u8,
                vendor_verdict: VERDICTS.iter().position(|v| *v == row.vendor_verdict)? as u8,
            })
        })
        .collect();
    let mark = OpenMark {
        id: id.into(),
        at: s.at,
        until: s.until,
        team: interner.intern(&first.team),
        priority: interner.intern(&first.priority),
        vendor: s.vendor.clone(),
        cycles: cycles?,
    };
    let mut labels = Interner::default();
    let source = labels.intern(source);
    let exact = rows.len() == s.clocks.len()
        && rows
            .iter()
            .zip(mark.cycles.iter())
            .all(|(row, c)| c.row(&mark, &source, s.at, &mut labels) == *row);
    exact.then_some(mark)
}
