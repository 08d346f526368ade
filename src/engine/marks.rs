//! What an incremental evaluation keeps of an open-stable item it skips: its
//! open cycles, whose rows move with the clock by their [`RowClock`]s until
//! the mark's `until` (a settled item keeps only its vendor verdicts, in
//! [`super::skips`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::compact::Interner;
use crate::model::{Channel, Target};
use crate::report::{Row, Stamp};
use crate::snapshot::{
    Evaluation, Histogram, OpenStable, Remaining, RowClock, Series, Verdicts, share,
};

/// An open-stable item's share of an evaluation, as of `at`.
#[derive(Debug)]
pub(super) struct OpenMark {
    /// The evaluation instant it was found open-stable at (seconds).
    at: i64,
    /// The first instant (seconds) the item must be evaluated again at
    /// ([`OpenStable::until`]).
    pub(super) until: i64,
    /// The item's id, for its rows: the item set's key, shared.
    id: Arc<str>,
    /// The raw team and priority of its rows (interned).
    team: Arc<str>,
    priority: Arc<str>,
    pub(super) vendor: Verdicts,
    cycles: Box<[OpenCycle]>,
}

#[cfg(test)]
impl OpenMark {
    /// A mark with no cycles, valid until `until`, for tests of its keeping.
    pub(super) fn until(until: i64, vendor: Verdicts) -> OpenMark {
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

impl OpenCycle {
    /// Its time to breach stands still while the mark is valid: not
    /// breached, its clock stopped, and its remaining seconds its own budget
    /// (a vendor due's remaining seconds move with the wall clock).
    fn stands_still(&self) -> bool {
        self.clock.runs.is_none() && matches!(self.clock.remaining, Remaining::Within(_))
    }

    /// Its time to breach moves with `now`.
    fn moves(&self) -> bool {
        self.state() != "breached" && !self.stands_still()
    }
}

impl OpenMark {
    /// Some cycle's time to breach moves with `now` ([`add_moving`]).
    pub(super) fn moves(&self) -> bool {
        self.cycles.iter().any(OpenCycle::moves)
    }
}

/// What open-stable marks add to every evaluation that does not move with
/// the clock, summed as marks come and go: one open-state gauge per cycle,
/// and the time to breach of the cycles whose remaining seconds stand still.
/// At 100k tickets four open cycles in five are breached and most of the
/// rest paused, so an evaluation computes only the few that move instead of
/// visiting every mark (a sixth of a poll's CPU, nearly all of it cache
/// misses). Per series, by its address. Histogram sums are sums of whole
/// seconds, exact in any order and under subtraction.
#[derive(Debug, Default, Clone)]
pub(super) struct OpenTotals {
    gauges: HashMap<(usize, u8), (Arc<Series>, u64)>,
    waits: HashMap<usize, (Arc<Series>, Histogram, u64)>,
}

impl OpenTotals {
    pub(super) fn add(&mut self, mark: &OpenMark) {
        self.change(mark, true);
    }

    pub(super) fn remove(&mut self, mark: &OpenMark) {
        self.change(mark, false);
    }

    fn change(&mut self, mark: &OpenMark, add: bool) {
        for c in mark.cycles.iter() {
            let key = Arc::as_ptr(&c.series) as usize;
            let gauge = self
                .gauges
                .entry((key, c.state))
                .or_insert_with(|| (c.series.clone(), 0));
            if add {
                gauge.1 += 1;
            } else {
                gauge.1 -= 1;
                if gauge.1 == 0 {
                    self.gauges.remove(&(key, c.state));
                }
            }
            if c.state() == "breached" || !c.stands_still() {
                continue;
            }
            // Standing still: its remaining seconds at any instant are those
            // at the mark's.
            let (_, remaining) = c.clock.at(mark.at, c.elapsed, mark.at);
            let v = remaining.max(0) as f64;
            let wait = self
                .waits
                .entry(key)
                .or_insert_with(|| (c.series.clone(), Histogram::default(), 0));
            if add {
                wait.1.observe(v);
                wait.2 += 1;
            } else {
                wait.1.unobserve(v);
                wait.2 -= 1;
                if wait.2 == 0 {
                    self.waits.remove(&key);
                }
            }
        }
    }

    /// Adds these sums to the aggregates of `eval`.
    pub(super) fn add_to(&self, eval: &mut Evaluation) {
        for ((_, state), (series, n)) in &self.gauges {
            *eval
                .open
                .entry(((**series).clone(), STATES[usize::from(*state)]))
                .or_default() += n;
        }
        for (series, h, _) in self.waits.values() {
            eval.time_to_breach
                .entry((**series).clone())
                .or_default()
                .add(h);
        }
    }
}

/// Adds the time to breach at `now` (seconds, before each mark's `until`) of
/// the skipped marks' cycles whose remaining seconds move with the clock;
/// the rest of what skipped marks add is in their [`OpenTotals`]. Their rows
/// are built only when a page reads them ([`mark_rows`]). Per-series sums
/// are taken by the series' address first, so a `Series` is cloned once per
/// series rather than once per cycle.
pub(super) fn add_moving(eval: &mut Evaluation, marks: &[Arc<OpenMark>], now: i64) {
    let mut waits: HashMap<usize, (&Series, Histogram)> = HashMap::new();
    for mark in marks {
        for c in mark.cycles.iter().filter(|c| c.moves()) {
            let (_, remaining) = c.clock.at(mark.at, c.elapsed, now);
            waits
                .entry(Arc::as_ptr(&c.series) as usize)
                .or_insert_with(|| (&c.series, Histogram::default()))
                .1
                .observe(remaining.max(0) as f64);
        }
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
    id: &Arc<str>,
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
        id: id.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Remaining;

    fn mark(state: &str, remaining: Remaining) -> OpenMark {
        let series = Arc::new(Series {
            source: "s".into(),
            channel: "ticket",
            team: "".into(),
            priority: "".into(),
            policy: "p".into(),
            target: "resolution",
        });
        let cycle = OpenCycle {
            series,
            channel: Channel::Ticket,
            target: Target::Resolution,
            started_at: Stamp::NONE,
            due_at: Stamp::NONE,
            elapsed: 100,
            clock: RowClock {
                runs: None,
                remaining,
            },
            cycle: 0,
            state: STATES.iter().position(|s| *s == state).unwrap() as u8,
            vendor_verdict: 0,
        };
        let mut m = OpenMark::until(i64::MAX, Verdicts::new(&[]));
        m.at = 1_000;
        m.cycles = Box::new([cycle]);
        m
    }

    /// A paused cycle on its own budget stands still; one measured against a
    /// vendor due moves with the wall clock; a breached one has no time to
    /// breach. The totals hold what stands still, and take it back.
    #[test]
    fn only_cycles_whose_time_to_breach_moves_are_computed_per_evaluation() {
        assert!(!mark("paused", Remaining::Within(3_600)).moves());
        assert!(mark("paused", Remaining::Due(5_000)).moves());
        assert!(!mark("breached", Remaining::Due(5_000)).moves());

        let still = mark("paused", Remaining::Within(3_600));
        let mut totals = OpenTotals::default();
        totals.add(&still);
        let mut eval = Evaluation::default();
        totals.add_to(&mut eval);
        let h = eval.time_to_breach.values().next().unwrap();
        assert_eq!((h.counts.iter().sum::<u64>(), h.sum), (1, 3_500.0));
        assert_eq!(eval.open.values().sum::<u64>(), 1);
        totals.remove(&still);
        let mut eval = Evaluation::default();
        totals.add_to(&mut eval);
        assert!(eval.time_to_breach.is_empty() && eval.open.is_empty());

        // The moving one at a later instant: its due came 500 s closer.
        let due = Arc::new(mark("paused", Remaining::Due(5_000)));
        let mut eval = Evaluation::default();
        add_moving(&mut eval, &[due], 1_500);
        let h = eval.time_to_breach.values().next().unwrap();
        assert_eq!(h.sum, 3_500.0);
    }
}
