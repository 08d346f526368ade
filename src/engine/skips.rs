//! The marks of every source's tracked items, kept beside the item set so an
//! incremental evaluation visits only the items without a valid mark: new or
//! changed ones, those whose open-stable mark expired, and those no
//! evaluation could mark.
//!
//! Until issue 19's round 8 the marks lived in each tracked item, and every
//! evaluation visited all of them (~140k at 100k tickets) to find the few to
//! evaluate: three or four cache misses per item, a fifth of a poll's CPU.
//! Here settled marks sit in one table whose scan for pruning touches no
//! item, open-stable marks leave in the order of their `until`, and the
//! vendor verdicts of every marked item are counted as marks come and go.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use super::marks::{OpenMark, OpenTotals};
use crate::model::Channel;
use crate::snapshot::{VendorVerdict, Verdicts};

/// A settled item's mark: the second it was last updated, its channel and
/// its vendor verdicts.
type SettledMark = (i64, Channel, Verdicts);

/// The marks of one source (see the module docs). Every tracked item of the
/// source is either unmarked, settled or open-stable, never two of them.
#[derive(Debug, Default)]
pub(super) struct Skips {
    /// Items the next evaluation evaluates.
    pub(super) unmarked: HashSet<Arc<str>>,
    /// Settled items ([`crate::snapshot::settles`]): the second they were last
    /// updated (done items past the horizon are pruned), their channel and
    /// vendor verdicts.
    settled: HashMap<Arc<str>, SettledMark>,
    /// Open-stable items ([`crate::snapshot::OpenStable`]) with their channel
    /// and whether some cycle's time to breach moves ([`OpenMark::moves`]),
    /// and their ids by the mark's `until`.
    open: HashMap<Arc<str>, (Channel, bool, Arc<OpenMark>)>,
    expiry: BTreeSet<(i64, Arc<str>)>,
    /// What the open-stable marks add that does not move with the clock.
    pub(super) totals: OpenTotals,
    /// The vendor verdicts of the marked items, per channel.
    verdicts: HashMap<(Channel, VendorVerdict), u64>,
}

impl Skips {
    /// Every item of `ids` unmarked, nothing marked.
    pub(super) fn reset(&mut self, ids: impl Iterator<Item = Arc<str>>) {
        *self = Skips {
            unmarked: ids.collect(),
            ..Skips::default()
        };
    }

    /// A new or changed item: its mark goes, the next evaluation evaluates it.
    pub(super) fn changed(&mut self, id: &Arc<str>) {
        self.forget(id);
        self.unmarked.insert(id.clone());
    }

    /// An item that left the item set.
    pub(super) fn forget(&mut self, id: &str) {
        self.unmarked.remove(id);
        if let Some((_, channel, vendor)) = self.settled.remove(id) {
            self.count(channel, &vendor, false);
        }
        if let Some((id, (channel, _, mark))) = self.open.remove_entry(id) {
            self.expiry.remove(&(mark.until, id));
            self.count(channel, &mark.vendor, false);
            self.totals.remove(&mark);
        }
    }

    pub(super) fn mark_settled(
        &mut self,
        id: Arc<str>,
        updated: i64,
        channel: Channel,
        vendor: Verdicts,
    ) {
        self.forget(&id);
        self.count(channel, &vendor, true);
        self.settled.insert(id, (updated, channel, vendor));
    }

    pub(super) fn mark_open(&mut self, id: Arc<str>, channel: Channel, mark: Arc<OpenMark>) {
        self.forget(&id);
        self.count(channel, &mark.vendor, true);
        self.totals.add(&mark);
        self.expiry.insert((mark.until, id.clone()));
        self.open.insert(id, (channel, mark.moves(), mark));
    }

    /// Unmarks the open-stable items whose mark is not valid at `now`
    /// (seconds): at or after its `until`.
    pub(super) fn expire(&mut self, now: i64) {
        while let Some((until, id)) = self.expiry.first().cloned() {
            if until > now {
                break;
            }
            self.changed(&id);
        }
    }

    /// The open-stable marks, those with a cycle whose time to breach moves
    /// first, and how many those are (a flag in the table picks them: the
    /// others are not read).
    pub(super) fn open_marks(&self) -> (Vec<Arc<OpenMark>>, usize) {
        let mut marks = Vec::with_capacity(self.open.len());
        let with = |moves: bool| {
            let marks = self.open.values().filter(move |(_, m, _)| *m == moves);
            marks.map(|(.., mark)| mark.clone())
        };
        marks.extend(with(true));
        let moving = marks.len();
        marks.extend(with(false));
        (marks, moving)
    }

    /// The settled items last updated before `horizon` (seconds).
    pub(super) fn aged(&self, horizon: i64) -> Vec<String> {
        let aged = self.settled.iter().filter(|(_, (at, ..))| *at < horizon);
        aged.map(|(id, _)| id.to_string()).collect()
    }

    /// The marked items' vendor verdicts, per channel.
    pub(super) fn verdicts(&self) -> impl Iterator<Item = (Channel, VendorVerdict, u64)> + '_ {
        self.verdicts.iter().map(|((c, v), n)| (*c, *v, *n))
    }

    /// Gives back the unmarked set's room once most items are marked (at
    /// the first evaluation every item is unmarked).
    pub(super) fn shrink(&mut self) {
        if self.unmarked.capacity() > 4 * self.unmarked.len().max(1024) {
            self.unmarked.shrink_to_fit();
        }
    }

    fn count(&mut self, channel: Channel, vendor: &Verdicts, add: bool) {
        for v in vendor.iter() {
            let n = self.verdicts.entry((channel, v)).or_default();
            if add {
                *n += 1;
            } else {
                *n -= 1;
                if *n == 0 {
                    self.verdicts.remove(&(channel, v));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_item_is_unmarked_settled_or_open_and_verdicts_follow_the_marks() {
        let mut s = Skips::default();
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        s.reset([a.clone(), b.clone()].into_iter());
        let met: VendorVerdict = ("first_response", "met");
        s.mark_settled(a.clone(), 100, Channel::Ticket, Verdicts::new(&[met, met]));
        assert!(!s.unmarked.contains("a") && s.unmarked.contains("b"));
        assert_eq!(
            s.verdicts().collect::<Vec<_>>(),
            [(Channel::Ticket, met, 2)]
        );
        assert_eq!(s.aged(101), ["a"]);
        assert!(s.aged(100).is_empty());
        // A change unmarks it and takes its verdicts back.
        s.changed(&a);
        assert!(s.unmarked.contains("a"));
        assert_eq!(s.verdicts().count(), 0);
        assert!(s.aged(101).is_empty());
        s.forget("b");
        assert!(!s.unmarked.contains("b"));
    }

    #[test]
    fn an_open_mark_is_valid_before_its_until_and_goes_at_it() {
        let mut s = Skips::default();
        let a: Arc<str> = "a".into();
        s.reset([a.clone()].into_iter());
        let breached: VendorVerdict = ("resolution", "breached");
        let mark = Arc::new(OpenMark::until(100, Verdicts::new(&[breached])));
        s.mark_open(a.clone(), Channel::Chat, mark);
        assert_eq!(s.open_marks().0.len(), 1);
        assert_eq!(
            s.verdicts().collect::<Vec<_>>(),
            [(Channel::Chat, breached, 1)]
        );
        s.expire(99);
        assert!(!s.unmarked.contains("a"), "valid before its until");
        s.expire(100);
        assert!(s.unmarked.contains("a"), "evaluated again at its until");
        assert!(s.open_marks().0.is_empty());
        assert_eq!(s.verdicts().count(), 0);
    }
}
