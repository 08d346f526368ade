//! Business-hours calendars: a time zone, weekly opening intervals and holidays,
//! and the three questions the SLA engine asks of them: how many business seconds
//! lie between two instants, which instant is N business seconds after another,
//! and when the calendar next opens.
//!
//! A calendar resolves its weekly pattern into UTC intervals once, at
//! construction, for local dates 1970 to 2100 (see `table`); queries are binary
//! searches over that table, so a year-long span costs the same as a minute.
//! Instants outside the table fall back to a day-by-day walk over the same rules.
//! A calendar has no interior mutability and is cheap to share behind an `Arc`.
//!
//! Instants are handled in whole seconds: sub-second parts are truncated.

mod days;
mod table;

use std::fmt;

use jiff::Timestamp;
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;

use days::{DAY, Rules, Slot, walk};
use table::Table;

/// One weekly opening interval in the calendar's zone. `end <= start` means the
/// interval crosses midnight and ends on the next day; it still belongs to
/// `weekday`, the day it starts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpeningInterval {
    pub weekday: Weekday,
    pub start: Time,
    pub end: Time,
}

/// A day on which the calendar is closed: the whole civil day in the calendar's
/// zone. Intervals that start on the previous day and run past midnight are not
/// cut (an interval belongs to the day it starts on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holiday {
    /// One date.
    Date(Date),
    /// The same month and day every year; 02-29 only closes leap days.
    Yearly { month: i8, day: i8 },
}

/// Why a calendar definition was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("calendar {calendar:?}: no opening hours on any weekday")]
    EmptyWeek { calendar: String },
    #[error(
        "calendar {calendar:?}: {interval} has zero length (start equals end); split a whole day as 00:00-12:00 and 12:00-00:00"
    )]
    ZeroLength { calendar: String, interval: String },
    #[error("calendar {calendar:?}: {first} overlaps {second}")]
    Overlap {
        calendar: String,
        first: String,
        second: String,
    },
    #[error("calendar {calendar:?}: yearly holiday *-{month:02}-{day:02} is not a day of any year")]
    InvalidHoliday {
        calendar: String,
        month: i8,
        day: i8,
    },
}

/// A business-hours calendar. See the module documentation.
pub struct Calendar {
    name: String,
    /// `None` for the always-open calendar, which needs no table at all.
    zoned: Option<Box<Zoned>>,
}

struct Zoned {
    rules: Rules,
    table: Table,
}

impl fmt::Debug for Calendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Calendar");
        d.field("name", &self.name);
        if let Some(z) = &self.zoned {
            d.field("time_zone", &z.rules.tz.iana_name().unwrap_or("?"));
            d.field("week", &z.rules.week);
        }
        d.finish()
    }
}

impl Calendar {
    /// The 24x7 calendar: every second is a business second.
    pub fn always() -> Calendar {
        Calendar {
            name: "24x7".to_owned(),
            zoned: None,
        }
    }

    /// Builds a calendar, rejecting an empty week, zero-length intervals and
    /// intervals that overlap (an overnight interval included).
    pub fn new(
        name: &str,
        tz: TimeZone,
        weekly: Vec<OpeningInterval>,
        holidays: Vec<Holiday>,
    ) -> Result<Calendar, CalendarError> {
        let err_name = || name.to_owned();
        if weekly.is_empty() {
            return Err(CalendarError::EmptyWeek {
                calendar: err_name(),
            });
        }
        let mut week: [Vec<Slot>; 7] = Default::default();
        // Each interval as seconds of the week, for the overlap check.
        let mut spans: Vec<(i64, i64, OpeningInterval)> = Vec::with_capacity(weekly.len());
        for iv in &weekly {
            let start = seconds_of_day(iv.start);
            let mut end = seconds_of_day(iv.end);
            if start == end {
                return Err(CalendarError::ZeroLength {
                    calendar: err_name(),
                    interval: describe(iv),
                });
            }
            if end < start {
                end += DAY;
            }
            let wd = iv.weekday.to_monday_zero_offset() as usize;
            week[wd].push(Slot { start, end });
            let base = wd as i64 * DAY;
            spans.push((base + start, base + end, *iv));
        }
        spans.sort_by_key(|s| s.0);
        for (i, a) in spans.iter().enumerate() {
            // Compare with the next one, and the last with the first a week
            // later: that catches a Sunday night shift running into Monday.
            let (b, shift) = match spans.get(i + 1) {
                Some(b) => (b, 0),
                None => (&spans[0], 7 * DAY),
            };
            if a.1 > b.0 + shift {
                return Err(CalendarError::Overlap {
                    calendar: err_name(),
                    first: describe(&a.2),
                    second: describe(&b.2),
                });
            }
        }
        for slots in &mut week {
            slots.sort_by_key(|s| s.start);
        }
        let mut dated = Vec::new();
        let mut yearly = Vec::new();
        for h in holidays {
            match h {
                Holiday::Date(d) => dated.push(d),
                Holiday::Yearly { month, day } => {
                    if Date::new(2000, month, day).is_err() {
                        return Err(CalendarError::InvalidHoliday {
                            calendar: err_name(),
                            month,
                            day,
                        });
                    }
                    yearly.push((month, day));
                }
            }
        }
        dated.sort();
        dated.dedup();
        let rules = Rules {
            tz,
            week,
            dated,
            yearly,
        };
        let table = Table::build(&rules);
        Ok(Calendar {
            name: name.to_owned(),
            zoned: Some(Box::new(Zoned { rules, table })),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The calendar's time zone; UTC for the always-open calendar. Reports use
    /// it for calendar-month windows.
    pub fn time_zone(&self) -> TimeZone {
        self.zoned
            .as_ref()
            .map_or(TimeZone::UTC, |z| z.rules.tz.clone())
    }

    /// Business seconds in `[a, b)`; negative when `b` is before `a`.
    pub fn business_seconds_between(&self, a: Timestamp, b: Timestamp) -> i64 {
        self.between_secs(a.as_second(), b.as_second())
    }

    /// The first instant at which `secs` business seconds have passed since
    /// `start`: the smallest `t` with `business_seconds_between(start, t) == secs`.
    /// So a result always lies inside or at the end of an open stretch, never in
    /// closed time. `secs <= 0` returns `start` (the engine never subtracts).
    pub fn add_business_seconds(&self, start: Timestamp, secs: i64) -> Timestamp {
        to_ts(self.add_secs(start.as_second(), secs))
    }

    /// `t` if the calendar is open at `t`, else the start of the next opening.
    /// A calendar whose holidays close it for ten years running has no next
    /// opening; then this is the largest representable instant.
    pub fn next_open(&self, t: Timestamp) -> Timestamp {
        to_ts(self.next_open_secs(t.as_second()))
    }

    pub fn is_open(&self, t: Timestamp) -> bool {
        let t = t.as_second();
        match &self.zoned {
            None => true,
            Some(z) if (z.table.lo..z.table.hi).contains(&t) => z.table.is_open(t),
            Some(_) => self.next_open_secs(t) == t,
        }
    }

    pub(crate) fn between_secs(&self, a: i64, b: i64) -> i64 {
        if a > b {
            return -self.between_secs(b, a);
        }
        let Some(z) = &self.zoned else {
            return b - a;
        };
        let (lo, hi) = (z.table.lo, z.table.hi);
        let mut sum = 0;
        if a < lo {
            sum += walk_between(&z.rules, a, b.min(lo));
        }
        let (ta, tb) = (a.max(lo), b.min(hi));
        if ta < tb {
            sum += z.table.f(tb) - z.table.f(ta);
        }
        if b > hi {
            sum += walk_between(&z.rules, a.max(hi), b);
        }
        sum
    }

    pub(crate) fn add_secs(&self, start: i64, secs: i64) -> i64 {
        if secs <= 0 {
            return start;
        }
        let Some(z) = &self.zoned else {
            return start.saturating_add(secs);
        };
        let (lo, hi) = (z.table.lo, z.table.hi);
        let (mut t, mut rem) = (start, secs);
        if t < lo {
            match walk_add(&z.rules, t, rem, lo) {
                Ok(due) => return due,
                Err(left) => (t, rem) = (lo, left),
            }
        }
        if t < hi {
            let target = z.table.f(t) + rem;
            if target <= z.table.total() {
                return z.table.inverse(target);
            }
            (t, rem) = (hi, target - z.table.total());
        }
        walk_add(&z.rules, t, rem, i64::MAX).unwrap_or(MAX_SECS)
    }

    pub(crate) fn next_open_secs(&self, t: i64) -> i64 {
        let Some(z) = &self.zoned else {
            return t;
        };
        if (z.table.lo..z.table.hi).contains(&t)
            && let Some(open) = z.table.next_open(t)
        {
            return open;
        }
        walk(&z.rules, t)
            .find(|&(_, b)| b > t)
            .map_or(MAX_SECS, |(a, _)| a.max(t))
    }
}

/// The largest instant jiff represents, in seconds.
const MAX_SECS: i64 = 253_402_207_200;

fn to_ts(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).unwrap_or(if secs < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

fn walk_between(rules: &Rules, a: i64, b: i64) -> i64 {
    walk(rules, a)
        .take_while(|&(s, _)| s < b)
        .map(|(s, e)| (e.min(b) - s.max(a)).max(0))
        .sum()
}

/// Adds `rem` business seconds to `t` without passing `limit`; `Err` carries
/// what is left when `limit` (or the end of the walk) comes first.
fn walk_add(rules: &Rules, t: i64, mut rem: i64, limit: i64) -> Result<i64, i64> {
    for (s, e) in walk(rules, t) {
        let (s, e) = (s.max(t), e.min(limit));
        if s >= limit {
            break;
        }
        if e <= s {
            continue;
        }
        if e - s >= rem {
            return Ok(s + rem);
        }
        rem -= e - s;
    }
    Err(rem)
}

fn seconds_of_day(t: Time) -> i64 {
    i64::from(t.hour()) * 3600 + i64::from(t.minute()) * 60 + i64::from(t.second())
}

fn describe(iv: &OpeningInterval) -> String {
    let hm = |t: Time| {
        if t.second() == 0 {
            format!("{:02}:{:02}", t.hour(), t.minute())
        } else {
            format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
        }
    };
    format!(
        "{} {}-{}",
        weekday_name(iv.weekday),
        hm(iv.start),
        hm(iv.end)
    )
}

fn weekday_name(wd: Weekday) -> &'static str {
    match wd {
        Weekday::Monday => "monday",
        Weekday::Tuesday => "tuesday",
        Weekday::Wednesday => "wednesday",
        Weekday::Thursday => "thursday",
        Weekday::Friday => "friday",
        Weekday::Saturday => "saturday",
        Weekday::Sunday => "sunday",
    }
}

#[cfg(test)]
mod tests;
