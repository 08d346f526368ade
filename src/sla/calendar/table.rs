//! The precomputed open intervals of one calendar, in UTC, with prefix sums.
//!
//! Built once per calendar for local dates 1970-01-01 to 2100-01-01, so every
//! business-time question inside that range is a couple of binary searches:
//! `F(t)`, the business seconds from the table's start to `t`, is a prefix sum
//! plus one partial interval, and the due instant is the inverse of `F`. Years
//! of elapsed time cost the same as minutes.

use super::days::{DAY, Edge, Rules, days_from_civil};
use jiff::civil::Date;

/// First local date the table covers.
pub(crate) const FIRST_DAY: Date = Date::constant(1970, 1, 1);
/// The local date the table stops at (exclusive).
pub(crate) const END_DAY: Date = Date::constant(2100, 1, 1);

/// Coarse index granularity: one bucket per UTC day keeps the binary search
/// inside a handful of intervals.
const BUCKET: i64 = DAY;

#[derive(Debug)]
pub(crate) struct Table {
    /// UTC instant of local midnight starting [`FIRST_DAY`].
    pub lo: i64,
    /// UTC instant of local midnight starting [`END_DAY`].
    pub hi: i64,
    starts: Vec<i64>,
    ends: Vec<i64>,
    /// `cum[i]` is the open seconds in intervals before `i`; `len == starts.len() + 1`.
    cum: Vec<i64>,
    /// `index[k]` is the number of intervals starting at or before `lo + k * BUCKET`.
    index: Vec<u32>,
}

impl Table {
    pub fn build(rules: &Rules) -> Table {
        let lo = local_midnight(rules, FIRST_DAY);
        let hi = local_midnight(rules, END_DAY);
        let mut starts: Vec<i64> = Vec::new();
        let mut ends: Vec<i64> = Vec::new();
        // Start a day early: that day's overnight interval may reach into the range.
        let mut day = FIRST_DAY.yesterday().unwrap_or(FIRST_DAY);
        while day < END_DAY {
            rules.day_intervals(day, |a, b| {
                let (a, b) = (a.max(lo), b.min(hi));
                if a >= b {
                    return;
                }
                match ends.last_mut() {
                    Some(last) if a <= *last => *last = (*last).max(b),
                    _ => {
                        starts.push(a);
                        ends.push(b);
                    }
                }
            });
            let Ok(next) = day.tomorrow() else { break };
            day = next;
        }
        let mut cum = Vec::with_capacity(starts.len() + 1);
        let mut total = 0;
        cum.push(0);
        for (a, b) in starts.iter().zip(&ends) {
            total += b - a;
            cum.push(total);
        }
        let buckets = ((hi - lo) / BUCKET + 2) as usize;
        let mut index = Vec::with_capacity(buckets);
        let mut i = 0usize;
        for k in 0..buckets {
            let edge = lo + k as i64 * BUCKET;
            while i < starts.len() && starts[i] <= edge {
                i += 1;
            }
            index.push(i as u32);
        }
        starts.shrink_to_fit();
        ends.shrink_to_fit();
        Table {
            lo,
            hi,
            starts,
            ends,
            cum,
            index,
        }
    }

    pub fn total(&self) -> i64 {
        self.cum[self.cum.len() - 1]
    }

    /// The number of intervals starting at or before `t` (`lo <= t <= hi`).
    fn rank(&self, t: i64) -> usize {
        let k = ((t - self.lo) / BUCKET) as usize;
        let from = self.index[k.min(self.index.len() - 1)] as usize;
        let to = self.index[(k + 1).min(self.index.len() - 1)] as usize;
        from + self.starts[from..to].partition_point(|&s| s <= t)
    }

    /// Business seconds from `lo` to `t`, for `lo <= t <= hi`.
    pub fn f(&self, t: i64) -> i64 {
        match self.rank(t) {
            0 => 0,
            i => self.cum[i - 1] + t.min(self.ends[i - 1]) - self.starts[i - 1],
        }
    }

    /// The smallest instant whose `f` is `target`, for `0 < target <= total()`.
    pub fn inverse(&self, target: i64) -> i64 {
        let j = self.cum[1..].partition_point(|&c| c < target);
        self.starts[j] + (target - self.cum[j])
    }

    pub fn is_open(&self, t: i64) -> bool {
        match self.rank(t) {
            0 => false,
            i => t < self.ends[i - 1],
        }
    }

    /// `t` if open, else the start of the next interval in the table.
    pub fn next_open(&self, t: i64) -> Option<i64> {
        let i = self.rank(t);
        if i > 0 && t < self.ends[i - 1] {
            return Some(t);
        }
        self.starts.get(i).copied()
    }
}

/// UTC instant of a local midnight; a midnight lost to a DST gap maps to the
/// end of the gap, like any other opening time.
fn local_midnight(rules: &Rules, date: Date) -> i64 {
    rules.local_to_utc(days_from_civil(date) * DAY, Edge::Start)
}
