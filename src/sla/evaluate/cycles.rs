//! Where each target's cycles start and end on an item's timeline.
//!
//! - first response: creation to the first agent reply;
//! - next response: the first customer message (or reopen) after an agent
//!   reply opens a cycle; the next agent reply closes it;
//! - resolution: creation to resolution; a reopen continues the same clock or
//!   starts a new cycle, as the spec says;
//! - assignment: creation to the first assignment;
//! - pickup/answer: creation to the answer, or the unanswered end.
//!
//! A resolution before a reply or assignment cancels that cycle (`End::Cancelled`).
//! For items that say the vendor keeps no record then (`resolve_voids_answers`,
//! LiveAgent), a resolution while new or open voids a response cycle
//! (`End::Voided`: not applicable even past its due instant).

use jiff::Timestamp;

use super::{End, Outcome, TargetClock, Timeline};
use crate::model::{Status, Target};
use crate::sla::policy::ReopenMode;

pub(crate) fn emit(clock: &TargetClock<'_>, tl: &Timeline<'_>, out: &mut Vec<Outcome>) {
    let start = tl.created;
    let none = std::iter::empty;
    match clock.spec.target {
        Target::FirstResponse => {
            let reply = first_from(&tl.replies, start);
            let end = void_if_unrecorded(end_or_cancel(reply, tl), tl);
            out.push(clock.run(1, start, end, none(), true));
        }
        Target::Assignment => {
            let assigned = tl.first_assigned.map(|t| t.max(start));
            out.push(clock.run(1, start, end_or_cancel(assigned, tl), none(), true));
        }
        Target::Pickup | Target::Answer => {
            let end = match (tl.answered, tl.ended) {
                (Some(a), e) if e.is_none_or(|e| a <= e) => End::Done(a.max(start)),
                (_, Some(e)) => End::Unanswered(e.max(start)),
                _ => End::Open,
            };
            out.push(clock.run(1, start, end, none(), true));
        }
        Target::Resolution => match clock.spec.reopen {
            ReopenMode::Continue => {
                let spells = Spells::new(tl);
                let end = spells
                    .clone()
                    .find(|s| s.1.is_none())
                    .map_or(End::Open, |(r, _)| End::Done(r));
                let gaps = spells.filter_map(|(r, o)| o.map(|o| (r, o)));
                out.push(clock.run(1, start, end, gaps, true));
            }
            ReopenMode::Restart => {
                let spells = Spells::new(tl);
                let reopened = spells.clone().filter(|s| s.1.is_some()).count() as u32;
                let total = reopened + 1;
                let (mut cycle, mut from, mut closed) = (1u32, start, false);
                for (r, o) in spells {
                    out.push(clock.run(cycle, from, End::Done(r), none(), cycle == total));
                    closed = true;
                    if let Some(o) = o {
                        (cycle, from, closed) = (cycle + 1, o, false);
                    }
                }
                if !closed {
                    out.push(clock.run(cycle, from, End::Open, none(), true));
                }
            }
        },
        Target::NextResponse => next_response(clock, tl, out),
    }
}

/// The first instant in a sorted list at or after `from`.
fn first_from(list: &[Timestamp], from: i64) -> Option<i64> {
    list.iter().map(|t| t.as_second()).find(|&t| t >= from)
}

/// A cycle from creation that ends at `done`, unless the item was resolved first.
fn end_or_cancel(done: Option<i64>, tl: &Timeline<'_>) -> End {
    let resolved = first_from(&tl.resolutions, tl.created);
    match (done, resolved) {
        (Some(d), Some(r)) if r < d => End::Cancelled(r),
        (Some(d), _) => End::Done(d),
        (None, Some(r)) => End::Cancelled(r),
        (None, None) => End::Open,
    }
}

/// A response cycle cancelled by a resolution while the item was new or open
/// is void when the item says the vendor keeps no record of it.
fn void_if_unrecorded(end: End, tl: &Timeline<'_>) -> End {
    match end {
        End::Cancelled(r) if tl.voids_answers => {
            let before = tl
                .statuses
                .iter()
                .find(|s| s.start.as_second() < r && s.end.is_none_or(|e| e.as_second() >= r))
                .map(|s| s.status);
            if matches!(before, Some(Status::New | Status::Open)) {
                End::Voided(r)
            } else {
                end
            }
        }
        _ => end,
    }
}

/// Event kinds in the order they apply at the same instant: a reply closes a
/// cycle before a simultaneous message could open one.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Reply,
    Resolution,
    Message,
}

fn next_response(clock: &TargetClock<'_>, tl: &Timeline<'_>, out: &mut Vec<Outcome>) {
    let lists: [(&[Timestamp], Kind); 4] = [
        (&tl.replies, Kind::Reply),
        (&tl.resolutions, Kind::Resolution),
        (&tl.messages, Kind::Message),
        (&tl.reopenings, Kind::Message),
    ];
    let mut idx = [0usize; 4];
    let mut last_reply: Option<i64> = None;
    let mut open: Option<i64> = None;
    let mut cycle = 0u32;
    // A finished cycle is held back one step, so the last one is known to be last.
    let mut held: Option<(u32, i64, End)> = None;
    let mut flush = |held: &mut Option<(u32, i64, End)>, next: Option<(u32, i64, End)>| {
        if let Some((n, s, e)) = held.take() {
            out.push(clock.run(n, s, e, std::iter::empty(), next.is_none()));
        }
        *held = next;
    };
    loop {
        let next = (0..4)
            .filter_map(|k| {
                lists[k]
                    .0
                    .get(idx[k])
                    .map(|t| (t.as_second(), lists[k].1, k))
            })
            .min_by_key(|&(t, kind, _)| (t, kind));
        let Some((t, kind, k)) = next else { break };
        idx[k] += 1;
        if t < tl.created {
            continue;
        }
        match kind {
            Kind::Reply => {
                if let Some(s) = open.take() {
                    flush(&mut held, Some((cycle, s, End::Done(t))));
                }
                last_reply = Some(t);
            }
            Kind::Resolution => {
                if let Some(s) = open.take() {
                    let end = void_if_unrecorded(End::Cancelled(t), tl);
                    flush(&mut held, Some((cycle, s, end)));
                }
            }
            Kind::Message => {
                if open.is_none() && last_reply.is_some_and(|r| t > r) {
                    cycle += 1;
                    open = Some(t);
                }
            }
        }
    }
    if let Some(s) = open {
        flush(&mut held, Some((cycle, s, End::Open)));
    }
    flush(&mut held, None);
}

/// The item's resolved spells: (resolved at, reopened at). A spell without a
/// reopen is the final resolution. Resolutions while already resolved and
/// reopens while not resolved are noise and skipped.
#[derive(Clone)]
struct Spells<'a> {
    res: &'a [Timestamp],
    reo: &'a [Timestamp],
    i: usize,
    j: usize,
    cursor: i64,
    done: bool,
}

impl<'a> Spells<'a> {
    fn new(tl: &'a Timeline<'_>) -> Spells<'a> {
        Spells {
            res: &tl.resolutions,
            reo: &tl.reopenings,
            i: 0,
            j: 0,
            cursor: tl.created,
            done: false,
        }
    }
}

impl Iterator for Spells<'_> {
    type Item = (i64, Option<i64>);

    fn next(&mut self) -> Option<(i64, Option<i64>)> {
        if self.done {
            return None;
        }
        while self
            .res
            .get(self.i)
            .is_some_and(|r| r.as_second() < self.cursor)
        {
            self.i += 1;
        }
        let r = self.res.get(self.i)?.as_second();
        self.i += 1;
        while self.reo.get(self.j).is_some_and(|o| o.as_second() <= r) {
            self.j += 1;
        }
        match self.reo.get(self.j) {
            Some(o) => {
                self.cursor = o.as_second();
                self.j += 1;
                Some((r, Some(self.cursor)))
            }
            None => {
                self.done = true;
                Some((r, None))
            }
        }
    }
}
