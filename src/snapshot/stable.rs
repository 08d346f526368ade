//! Open-stable items: what an incremental evaluation may skip while it does
//! not change, until when, and how its rows move with the clock meanwhile
//! ([`OpenStable`], [`RowClock`]). Pure, like the rest of the snapshot.

use std::sync::Arc;

use jiff::Timestamp;

use super::Verdicts;
use super::evaluate::latest_event;
use crate::model::Item;
use crate::report::Row;
use crate::sla::{AtRisk, Calendar, Policy};

/// An open item that is *open-stable* at the evaluation's `now`: it has an
/// open cycle and every event it holds is at or before `now` (a vendor due
/// may lie later: see `open_settles_until`). While it does not change, a
/// later evaluation before [`OpenStable::until`] gives it the same open
/// states, vendor verdicts and finals, and the same rows except for the
/// elapsed and remaining seconds of its running and breached cycles, which
/// move as its [`RowClock`]s say (and with them its time to breach). A
/// cycle that is paused or breached and still open stays so until the item
/// changes; a running one stays running (or at risk) until `until`: the
/// first instant at which it could breach or cross its at-risk threshold.
#[derive(Debug, Clone)]
pub struct OpenStable {
    /// Its position in the evaluation order (0 for the first item
    /// evaluated): ids are not copied, ~66k items are marked at 100k tickets.
    pub item: usize,
    /// The `now` it was evaluated at, in seconds.
    pub at: i64,
    /// Its capped team and priority labels (what its [`super::Series`] carry).
    pub team: Arc<str>,
    pub priority: Arc<str>,
    /// Its vendor comparisons (as [`super::Settled::vendor`]).
    pub vendor: Verdicts,
    /// How each of its rows moves with the clock, in their order.
    pub clocks: Vec<RowClock>,
    /// The first instant (seconds) a later evaluation must evaluate the item
    /// again at: a running cycle may breach or turn at risk then, or an
    /// undecided vendor due flip. `i64::MAX` when neither can happen.
    pub until: i64,
}

/// How the elapsed and remaining seconds of an open cycle of an unchanged
/// open-stable item move from the instant `at` it was evaluated at to a
/// later `now`. Every pause interval of such an item either ended by `at` or
/// is open-ended (a status interval without an end in one of the target's
/// pause statuses; resolved spells of an open resolution cycle all ended at
/// a reopen), so from `at` on the clock either runs on its calendar or stands
/// still, and `elapsed(now) = elapsed(at) + between(at, now)` or
/// `elapsed(at)`; see `TargetClock::run` in `sla/evaluate.rs`.
#[derive(Debug, Clone)]
pub struct RowClock {
    /// The calendar the clock runs on; `None` while it stands still.
    pub runs: Option<Arc<Calendar>>,
    /// How the remaining seconds follow.
    pub remaining: Remaining,
}

/// The remaining seconds of an open cycle as `TargetClock::run` computes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remaining {
    /// `within - elapsed` (business seconds).
    Within(i64),
    /// `due - now`: the vendor's due instant is the measurement
    /// (`use_vendor_due`), in wall seconds.
    Due(i64),
}

impl RowClock {
    /// The elapsed and remaining seconds at `now` of a row that had
    /// `elapsed` at `at` (`now >= at`).
    pub fn at(&self, at: i64, elapsed: i64, now: i64) -> (i64, i64) {
        let elapsed = elapsed + self.runs.as_ref().map_or(0, |c| c.between_secs(at, now));
        let remaining = match self.remaining {
            Remaining::Within(within) => within - elapsed,
            Remaining::Due(due) => due - now,
        };
        (elapsed, remaining)
    }
}

/// Until when (seconds, exclusive) an open item evaluates the same at every
/// later instant but for its clocks ([`OpenStable`]), or `None`: every event
/// it holds must be at or before `now`; a vendor due may lie later, and one
/// neither breached nor completed flips to breached one second after it
/// passes (as in [`settles`]), so it ends the span then.
pub(super) fn open_settles_until(item: &Item, now: Timestamp) -> Option<i64> {
    if latest_event(item) > now {
        return None;
    }
    let undecided = item
        .vendor_due
        .iter()
        .filter(|v| v.breached.is_none() && v.completed_at.is_none() && v.due_at >= now);
    Some(
        undecided
            .map(|v| v.due_at.as_second().saturating_add(1))
            .min()
            .unwrap_or(i64::MAX),
    )
}

/// The [`RowClock`] of each open row of an item whose events are all at or
/// before `now` ([`open_settles_until`]), with the first instant
/// the rows may stop following them ([`OpenStable::until`]), or `None` when
/// a row is not one this rule can move exactly.
///
/// Such a row is paused (the clock stands still until the item changes),
/// breached and still open (`TargetClock::run`'s `End::Open` past the due
/// instant), or running, at risk or not (before its due instant). Each is
/// its target's latest cycle (an open cycle always is), so the vendor due
/// applies to it when the target uses one. Its clock stands still from `now`
/// on iff one of the item's status intervals is open-ended in one of the
/// target's pause statuses: every other pause interval ended at or before
/// `now`. The rule is checked against the row itself: its remaining seconds
/// must be what the rule gives at `now`.
///
/// A running row stays running while `now` is not past its due instant, and
/// one not at risk stays so while its remaining seconds are not below the
/// threshold. They fall by at most the wall seconds that pass (business
/// seconds never outrun wall seconds; a vendor due's fall by exactly those),
/// so the row is surely not at risk while fewer wall seconds have passed than
/// its margin above the threshold.
pub(super) fn open_stable(
    item: &Item,
    policy: &Policy,
    now: Timestamp,
    rows: &[Row],
) -> Option<(Vec<RowClock>, i64)> {
    let now = now.as_second();
    let mut until = i64::MAX;
    let clocks = rows
        .iter()
        .map(|row| {
            // The first spec of a target is the one evaluated.
            let spec = policy.targets.iter().find(|s| s.target == row.target)?;
            let within = spec.within.as_secs().max(0);
            let clock = match row.state {
                "paused" => RowClock {
                    runs: None,
                    remaining: Remaining::Within(within),
                },
                "breached" | "running" | "at_risk" => {
                    let vendor = spec
                        .use_vendor_due
                        .then(|| item.vendor_due.iter().find(|v| v.target == spec.target))
                        .flatten();
                    let stands = item
                        .statuses
                        .iter()
                        .any(|s| s.end.is_none() && spec.pause_statuses.contains(&s.status));
                    RowClock {
                        runs: (!stands).then(|| spec.calendar.clone()),
                        remaining: match vendor {
                            Some(v) => Remaining::Due(v.due_at.as_second()),
                            None => Remaining::Within(within),
                        },
                    }
                }
                _ => return None,
            };
            if row.state == "running" || row.state == "at_risk" {
                until = until.min(row.due_at.seconds()?.checked_add(1)?);
            }
            // One second short of the margin: the threshold of a fraction is
            // a float, compared as `TargetClock::run` compares it.
            let margin = match (row.state, spec.at_risk) {
                ("running", Some(AtRisk::Fraction(f))) => {
                    Some((row.remaining_seconds as f64 - f * within as f64).floor() as i64)
                }
                ("running", Some(AtRisk::Remaining(d))) => {
                    Some(row.remaining_seconds - d.as_secs())
                }
                _ => None,
            };
            if let Some(margin) = margin {
                until = until.min(now.saturating_add(margin.max(0)));
            }
            let exact = clock.at(now, row.elapsed_seconds, now)
                == (row.elapsed_seconds, row.remaining_seconds);
            exact.then_some(clock)
        })
        .collect::<Option<Vec<_>>>()?;
    Some((clocks, until))
}
