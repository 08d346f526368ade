//! Evaluation: an item's timeline + its policy + `now` -> one [`Outcome`] per
//! target and cycle.
//!
//! Evaluation is "as of" `now`: every event after it is ignored and status
//! intervals are clipped at it, so a report for a past instant gives that
//! instant's answer. Event lists may arrive in any order; sorted lists (what
//! providers deliver) are read in place, others are sorted in a copy.
//!
//! A clock runs from its cycle's start over the target's calendar, minus the
//! business time spent in the target's pause statuses (and, for a continued
//! resolution clock, while the item was resolved). The due instant is found by
//! walking the pause intervals in order; see `TargetClock::run`.

mod cycles;

use std::borrow::Cow;

use jiff::Timestamp;

use super::intervals::{Coalesce, MergeSorted};

use crate::model::{Item, StatusInterval, Target, VendorDue};
use crate::sla::policy::{AtRisk, Policy, TargetSpec, UnansweredMode, applies};

/// Where one clock cycle stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// Completed by its due instant.
    Met,
    /// Not completed by its due instant (whether completed later or not yet).
    Breached,
    /// Open and counting.
    Running,
    /// Open, in a pause status: the clock stands still and no due instant exists.
    Paused,
    /// Not measured: cancelled by a resolution before completion, or an
    /// unanswered chat/call under `unanswered: ignore`.
    NotApplicable,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Met => "met",
            State::Breached => "breached",
            State::Running => "running",
            State::Paused => "paused",
            State::NotApplicable => "not_applicable",
        }
    }
}

/// The verdict for one (item, target, cycle).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub target: Target,
    /// 1 for every target's first (often only) cycle; next response and
    /// restarted resolution count 1, 2, 3, ...
    pub cycle: u32,
    pub state: State,
    pub started_at: Timestamp,
    /// `None` only while paused.
    pub due_at: Option<Timestamp>,
    /// When the cycle ended: the reply, assignment, answer or resolution; for
    /// `NotApplicable`, the cancelling resolution or the end of the conversation.
    pub completed_at: Option<Timestamp>,
    /// Equal to `due_at` for breached cycles, else `None`.
    pub breached_at: Option<Timestamp>,
    /// Business seconds the clock ran, up to completion or `now`.
    pub elapsed_seconds: i64,
    /// `within - elapsed` in business seconds (≤ 0 once breached); with a
    /// vendor due instant, `due - (completion or now)` in wall seconds.
    pub remaining_seconds: i64,
    /// Running and the remaining time is below the target's `at_risk` threshold.
    pub at_risk: bool,
}

/// Evaluates every target of `policy` that applies to the item's channel.
pub fn evaluate(item: &Item, policy: &Policy, now: Timestamp) -> Vec<Outcome> {
    let mut out = Vec::new();
    evaluate_into(item, policy, now, &mut out);
    out
}

/// Like [`evaluate`], appending to `out` (which is not cleared). It allocates
/// nothing beyond `out`'s growth when the item's event lists are sorted.
pub fn evaluate_into(item: &Item, policy: &Policy, now: Timestamp, out: &mut Vec<Outcome>) {
    let now = now.as_second();
    let created = item.created_at.as_second();
    // The item did not exist yet at `now`.
    if created > now {
        return;
    }
    let tl = Timeline::new(item, now);
    for (i, spec) in policy.targets.iter().enumerate() {
        let duplicate = policy.targets[..i].iter().any(|s| s.target == spec.target);
        if duplicate || !applies(spec.target, item.channel) {
            continue;
        }
        let clock = TargetClock {
            spec,
            within: spec.within.as_secs().max(0),
            now,
            statuses: &tl.statuses,
            vendor: spec
                .use_vendor_due
                .then(|| item.vendor_due.iter().find(|v| v.target == spec.target))
                .flatten(),
        };
        cycles::emit(&clock, &tl, out);
    }
}

/// The item's event lists, sorted, in seconds, cut at `now`.
pub(crate) struct Timeline<'a> {
    pub created: i64,
    pub statuses: Cow<'a, [StatusInterval]>,
    pub replies: Cow<'a, [Timestamp]>,
    pub messages: Cow<'a, [Timestamp]>,
    pub resolutions: Cow<'a, [Timestamp]>,
    pub reopenings: Cow<'a, [Timestamp]>,
    pub first_assigned: Option<i64>,
    pub answered: Option<i64>,
    pub ended: Option<i64>,
    /// [`Item::resolve_voids_answers`].
    pub voids_answers: bool,
}

impl<'a> Timeline<'a> {
    fn new(item: &'a Item, now: i64) -> Timeline<'a> {
        let statuses = if item.statuses.is_sorted_by_key(|s| s.start) {
            Cow::Borrowed(&item.statuses[..])
        } else {
            let mut v = item.statuses.clone();
            v.sort_by_key(|s| s.start);
            Cow::Owned(v)
        };
        let upto = |t: Option<Timestamp>| t.map(|t| t.as_second()).filter(|&t| t <= now);
        Timeline {
            created: item.created_at.as_second(),
            statuses,
            replies: sorted(&item.agent_replies, now),
            messages: sorted(&item.customer_messages, now),
            resolutions: sorted(&item.resolutions, now),
            reopenings: sorted(&item.reopenings, now),
            first_assigned: upto(item.first_assigned_at),
            answered: upto(item.answered_at),
            ended: upto(item.ended_at),
            voids_answers: item.resolve_voids_answers,
        }
    }
}

/// The list sorted and cut after `now` (borrowed when it already was sorted).
fn sorted(list: &[Timestamp], now: i64) -> Cow<'_, [Timestamp]> {
    if list.is_sorted() {
        let n = list.partition_point(|t| t.as_second() <= now);
        Cow::Borrowed(&list[..n])
    } else {
        let mut v: Vec<Timestamp> = list
            .iter()
            .copied()
            .filter(|t| t.as_second() <= now)
            .collect();
        v.sort();
        Cow::Owned(v)
    }
}

/// How a cycle ended, as of `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Open,
    /// The target was fulfilled at this instant.
    Done(i64),
    /// The item was resolved first; the clock is void unless already breached.
    Cancelled(i64),
    /// The chat or call ended at this instant without being answered.
    Unanswered(i64),
    /// The item was resolved first and the vendor keeps no record of the
    /// cycle (a response cycle under `resolve_voids_answers`): not
    /// applicable, whatever its due instant.
    Voided(i64),
}

/// One target's clock settings, bound to an item.
pub(crate) struct TargetClock<'a> {
    pub spec: &'a TargetSpec,
    /// The target in whole seconds, never negative.
    pub within: i64,
    pub now: i64,
    pub statuses: &'a [StatusInterval],
    /// The vendor's due instant for this target, if the spec asks to use it.
    pub vendor: Option<&'a VendorDue>,
}

impl TargetClock<'_> {
    /// Evaluates one cycle. `gaps` are extra pause intervals (sorted by start),
    /// used for the time a continued resolution clock spent resolved. `last`
    /// says whether this is the target's latest cycle, the only one a vendor
    /// due instant applies to.
    pub fn run(
        &self,
        cycle: u32,
        start: i64,
        end: End,
        gaps: impl Iterator<Item = (i64, i64)>,
        last: bool,
    ) -> Outcome {
        let cal = &*self.spec.calendar;
        let vendor = self.vendor.filter(|_| last);
        let mut end = end;
        if let (End::Open, Some(v)) = (end, vendor)
            && let Some(c) = v.completed_at.map(|c| c.as_second())
            && c <= self.now
        {
            end = End::Done(c.max(start));
        }
        // An unanswered chat or call under `breach` counts as still waiting
        // until its due instant has passed.
        let waiting =
            matches!(end, End::Unanswered(_)) && self.spec.unanswered == UnansweredMode::Breach;
        let stop = match end {
            End::Open => self.now,
            End::Unanswered(_) if waiting => self.now,
            End::Done(t) | End::Cancelled(t) | End::Unanswered(t) | End::Voided(t) => t.max(start),
        };

        // Elapsed is business time minus business time paused. The due instant
        // is where the clock reaches `within`: try to finish before the next
        // pause; if it cannot, bank the business time up to the pause and
        // resume where the pause ends.
        let mut elapsed = cal.between_secs(start, stop);
        let (mut t, mut rem) = (start, self.within);
        let mut due = None;
        let mut paused = false;
        let pause_statuses = &self.spec.pause_statuses[..];
        let status_pauses = self
            .statuses
            .iter()
            .filter(|s| pause_statuses.contains(&s.status))
            .map(|s| {
                (
                    s.start.as_second(),
                    s.end.map_or(i64::MAX, |e| e.as_second()),
                )
            });
        for (ps, pe_raw) in Coalesce::new(MergeSorted::new(status_pauses, gaps)) {
            let (ps, pe) = (ps.max(start), pe_raw.min(stop));
            if ps >= stop {
                break;
            }
            if ps >= pe {
                continue;
            }
            elapsed -= cal.between_secs(ps, pe);
            if due.is_none() && !paused {
                let candidate = cal.add_secs(t, rem);
                if candidate <= ps {
                    due = Some(candidate);
                } else {
                    rem -= cal.between_secs(t, ps);
                    t = pe;
                    paused = end == End::Open && pe_raw > stop;
                }
            }
        }
        if due.is_none() && !paused {
            due = Some(cal.add_secs(t, rem));
        }
        if let Some(v) = vendor {
            due = Some(v.due_at.as_second());
            paused = false;
        }
        if let (End::Unanswered(e), true, Some(d)) = (end, waiting, due) {
            // Once breached, the wait is over at the later of its end and the due instant.
            if d < self.now {
                elapsed = self.net_elapsed(start, e.max(d).max(start));
            }
        }

        let late = |at: i64| due.is_some_and(|d| at > d);
        let (state, completed, breached) = match end {
            End::Done(c) if late(c) => (State::Breached, Some(c), due),
            End::Done(c) => (State::Met, Some(c), None),
            End::Cancelled(c) if late(c) => (State::Breached, Some(c), due),
            End::Cancelled(c) | End::Voided(c) => (State::NotApplicable, Some(c), None),
            End::Unanswered(c) if self.spec.unanswered == UnansweredMode::Ignore => {
                (State::NotApplicable, Some(c), None)
            }
            End::Unanswered(c) if late(self.now) => (State::Breached, Some(c), due),
            End::Unanswered(_) => (State::Running, None, None),
            End::Open if paused => (State::Paused, None, None),
            End::Open if late(self.now) => (State::Breached, None, due),
            End::Open => (State::Running, None, None),
        };
        let remaining = match (vendor, due) {
            (Some(_), Some(d)) => d - stop,
            _ => self.within - elapsed,
        };
        let at_risk = state == State::Running
            && match self.spec.at_risk {
                Some(AtRisk::Fraction(f)) => (remaining as f64) < f * self.within as f64,
                Some(AtRisk::Remaining(d)) => remaining < d.as_secs(),
                None => false,
            };
        Outcome {
            target: self.spec.target,
            cycle,
            state,
            started_at: ts(start),
            due_at: due.map(ts),
            completed_at: completed.map(ts),
            breached_at: breached.map(ts),
            elapsed_seconds: elapsed,
            remaining_seconds: remaining,
            at_risk,
        }
    }
}

impl TargetClock<'_> {
    /// The pause intervals from the status timeline, sorted by start.
    fn status_pauses(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        let pause = &self.spec.pause_statuses[..];
        self.statuses
            .iter()
            .filter(move |s| pause.contains(&s.status))
            .map(|s| {
                (
                    s.start.as_second(),
                    s.end.map_or(i64::MAX, |e| e.as_second()),
                )
            })
    }

    /// Business seconds in `[start, stop)` outside the status pauses.
    fn net_elapsed(&self, start: i64, stop: i64) -> i64 {
        let cal = &*self.spec.calendar;
        let paused: i64 = Coalesce::new(self.status_pauses())
            .map(|(a, b)| (a.max(start), b.min(stop)))
            .filter(|(a, b)| a < b)
            .map(|(a, b)| cal.between_secs(a, b))
            .sum();
        cal.between_secs(start, stop) - paused
    }
}

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).unwrap_or(if secs < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}
