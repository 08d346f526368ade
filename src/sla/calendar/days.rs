//! Civil-day resolution of a weekly pattern: which UTC stretches one local day
//! owns, and a forward walk over them for instants outside the precomputed table.
//!
//! Everything is in whole UTC seconds (`i64`); jiff resolves the zone's offsets,
//! including the DST gap and fold rules documented in `docs/sla-semantics.md`.

use jiff::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};

use crate::sla::intervals::Coalesce;

/// Seconds in a civil day; opening times are seconds after local midnight.
pub(crate) const DAY: i64 = 86_400;

/// One opening interval of the weekly pattern in seconds after local midnight.
/// `end` exceeds [`DAY`] for an overnight interval, which ends on the next day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slot {
    pub start: i64,
    pub end: i64,
}

/// Which side of an interval a local time is; picks the instant in a DST fold.
#[derive(Clone, Copy)]
pub(crate) enum Edge {
    Start,
    End,
}

/// The zone, weekly pattern and holidays: enough to say what any civil day owns.
#[derive(Debug)]
pub(crate) struct Rules {
    pub tz: TimeZone,
    /// Slots per weekday, Monday first, sorted by start.
    pub week: [Vec<Slot>; 7],
    /// Dated holidays, sorted, for binary search.
    pub dated: Vec<Date>,
    /// Yearly holidays as (month, day).
    pub yearly: Vec<(i8, i8)>,
}

impl Rules {
    pub fn is_holiday(&self, date: Date) -> bool {
        self.dated.binary_search(&date).is_ok()
            || self
                .yearly
                .iter()
                .any(|&(m, d)| date.month() == m && date.day() == d)
    }

    /// Calls `out(start, end)` for each opening interval owned by `date` (an
    /// interval belongs to the day it starts on), in start order, skipping the
    /// ones a DST gap squeezes to nothing.
    pub fn day_intervals(&self, date: Date, mut out: impl FnMut(i64, i64)) {
        if self.is_holiday(date) {
            return;
        }
        let wd = date.weekday().to_monday_zero_offset() as usize;
        let midnight = days_from_civil(date) * DAY;
        for slot in &self.week[wd] {
            let a = self.local_to_utc(midnight + slot.start, Edge::Start);
            let b = self.local_to_utc(midnight + slot.end, Edge::End);
            if b > a {
                out(a, b);
            }
        }
    }

    /// Converts local civil seconds (since 1970-01-01T00:00 local) to UTC seconds.
    ///
    /// A local time inside a spring-forward gap does not exist; both edges map
    /// to the transition, the first instant after the gap. A local time inside a
    /// fall-back fold exists twice; a start takes the earlier instant and an end
    /// the later one, so the interval counts every real second of the repeated hour.
    pub(crate) fn local_to_utc(&self, civil: i64, edge: Edge) -> i64 {
        let Some(dt) = civil_to_datetime(civil) else {
            return civil;
        };
        match self.tz.to_ambiguous_timestamp(dt).offset() {
            AmbiguousOffset::Unambiguous { offset } => civil - i64::from(offset.seconds()),
            AmbiguousOffset::Gap { before, after } => {
                // Read with the later offset the instant lies before the transition,
                // so the first transition after it is the end of this gap.
                let early = civil - i64::from(after.seconds()).max(i64::from(before.seconds()));
                let late = civil - i64::from(after.seconds()).min(i64::from(before.seconds()));
                Timestamp::from_second(early)
                    .ok()
                    .and_then(|ts| self.tz.following(ts).next())
                    .map(|tr| tr.timestamp().as_second())
                    .filter(|&t| t <= late)
                    .unwrap_or(late)
            }
            AmbiguousOffset::Fold { before, after } => {
                let x = civil - i64::from(before.seconds());
                let y = civil - i64::from(after.seconds());
                match edge {
                    Edge::Start => x.min(y),
                    Edge::End => x.max(y),
                }
            }
        }
    }

    /// The local civil date an instant falls on.
    pub fn local_date(&self, t: i64) -> Date {
        let ts = Timestamp::from_second(t).unwrap_or(if t < 0 {
            Timestamp::MIN
        } else {
            Timestamp::MAX
        });
        self.tz.to_datetime(ts).date()
    }
}

/// Days since 1970-01-01 of a civil date (H. Hinnant's `days_from_civil`), so
/// local midnights are plain arithmetic instead of a zone lookup each.
pub(crate) fn days_from_civil(date: Date) -> i64 {
    let (y, m, d) = (
        i64::from(date.year()),
        i64::from(date.month()),
        i64::from(date.day()),
    );
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`] plus a time of day; `None` outside jiff's range.
fn civil_to_datetime(civil: i64) -> Option<jiff::civil::DateTime> {
    let days = civil.div_euclid(DAY);
    let secs = civil.rem_euclid(DAY);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let date = Date::new(i16::try_from(y).ok()?, m as i8, d as i8).ok()?;
    let time = Time::new(
        (secs / 3600) as i8,
        (secs / 60 % 60) as i8,
        (secs % 60) as i8,
        0,
    )
    .ok()?;
    Some(date.to_datetime(time))
}

/// Walks the merged opening intervals forward, day by day, from the day before
/// `from`'s local date (an overnight interval of that day may still be open).
/// The slow path for instants outside the precomputed table, and the oracle the
/// table is tested against.
pub(crate) fn walk(rules: &Rules, from: i64) -> Coalesce<Walk<'_>> {
    Coalesce::new(Walk::new(rules, from))
}

/// Each day's opening intervals in turn, unmerged: an overnight interval can
/// overlap or touch the next day's first, which [`walk`] merges.
pub(crate) struct Walk<'r> {
    rules: &'r Rules,
    day: Option<Date>,
    buf: Vec<(i64, i64)>,
    /// Closed days in a row; a calendar whose holidays close every day would
    /// otherwise walk forever.
    closed_run: u32,
}

/// Ten years of consecutive closed days ends a walk: such a calendar never opens.
const MAX_CLOSED_RUN: u32 = 3_660;

impl<'r> Walk<'r> {
    pub fn new(rules: &'r Rules, from: i64) -> Walk<'r> {
        let day = rules.local_date(from).yesterday().ok();
        Walk {
            rules,
            day,
            buf: Vec::new(),
            closed_run: 0,
        }
    }

    /// Generates the next day's intervals into `buf` (reversed, to pop in order).
    fn fill(&mut self) -> bool {
        while self.buf.is_empty() {
            let Some(day) = self.day else { return false };
            if self.closed_run >= MAX_CLOSED_RUN {
                return false;
            }
            let buf = &mut self.buf;
            self.rules.day_intervals(day, |a, b| buf.push((a, b)));
            self.buf.reverse();
            self.closed_run = if self.buf.is_empty() {
                self.closed_run + 1
            } else {
                0
            };
            self.day = day.tomorrow().ok();
        }
        true
    }
}

impl Iterator for Walk<'_> {
    type Item = (i64, i64);

    fn next(&mut self) -> Option<(i64, i64)> {
        if !self.fill() {
            return None;
        }
        self.buf.pop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for date in [
            Date::constant(1970, 1, 1),
            Date::constant(2000, 2, 29),
            Date::constant(2026, 3, 29),
            Date::constant(1969, 12, 31),
            Date::constant(2100, 3, 1),
        ] {
            let days = days_from_civil(date);
            let dt = civil_to_datetime(days * DAY + 3_723).unwrap();
            assert_eq!(dt.date(), date);
            assert_eq!(dt.time(), Time::constant(1, 2, 3, 0));
        }
        assert_eq!(days_from_civil(Date::constant(1970, 1, 2)), 1);
        assert_eq!(days_from_civil(Date::constant(1969, 12, 31)), -1);
    }
}
