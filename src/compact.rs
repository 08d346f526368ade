//! The compact form the engine keeps a tracked item in between evaluations
//! (issue 19: memory per tracked item). An [`Item`] is 376 bytes inline plus
//! a heap allocation per string and list; here every instant is one `i64`
//! (whole seconds, which is what vendors send) in one boxed slice, team,
//! priority and tags are interned, and the source and id are not stored at
//! all (they are the item set's keys). An evaluation decodes an item back
//! into the exact [`Item`] it was made from, one at a time.
//!
//! Lossless or not used: an item with a sub-second instant, a list longer
//! than `u16::MAX`, a source other than its set's, or a status this module
//! does not know is kept as the whole [`Item`] instead ([`Stored::Full`]).

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use jiff::Timestamp;

use crate::model::{Channel, Item, Status, StatusInterval, VendorDue};

/// Every [`Status`], by its code in [`Compact::times`].
const STATUSES: [Status; 9] = Status::ALL;

/// Status codes share an `i64` with the interval's start: `start * 16 + code`.
const CODES: i64 = 16;

/// `None` in an optional instant. Below [`Timestamp::MIN`], so never a real one.
const NONE: i64 = i64::MIN;

/// One copy of each team, priority and tag string, shared by every item that
/// carries it. Values no item holds any more are dropped by [`Interner::sweep`].
#[derive(Debug, Default)]
pub struct Interner {
    values: HashSet<Arc<str>>,
}

impl Interner {
    pub fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(v) = self.values.get(s) {
            return v.clone();
        }
        let v: Arc<str> = Arc::from(s);
        self.values.insert(v.clone());
        v
    }

    /// Forgets the values only the interner itself still holds.
    pub fn sweep(&mut self) {
        self.values.retain(|v| Arc::strong_count(v) > 1);
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// A tracked item as the engine stores it.
#[derive(Debug)]
pub enum Stored {
    Compact(Compact),
    /// An item [`Compact`] cannot hold exactly.
    Full(Box<Item>),
}

/// An item without its source and id, instants as seconds.
#[derive(Debug)]
pub struct Compact {
    /// `created_at`, `updated_at`, `first_assigned_at`, `answered_at`,
    /// `ended_at` (each [`NONE`] when absent), then the agent replies,
    /// customer messages, resolutions and reopenings (`lens` long), then per
    /// status interval `start * 16 + status code` and `end` (or [`NONE`]).
    times: Box<[i64]>,
    /// Lengths of the four instant lists in `times`.
    lens: [u16; 4],
    channel: Channel,
    team: Option<Arc<str>>,
    priority: Option<Arc<str>>,
    tags: Box<[Arc<str>]>,
    /// Rare (vendors with their own due instants) and empty otherwise, which
    /// allocates nothing.
    vendor_due: Box<[VendorDue]>,
    resolve_voids_answers: bool,
}

const FIXED: usize = 5;

fn secs(t: Timestamp) -> Option<i64> {
    (t.subsec_nanosecond() == 0).then(|| t.as_second())
}

fn opt_secs(t: Option<Timestamp>) -> Option<i64> {
    match t {
        Some(t) => secs(t),
        None => Some(NONE),
    }
}

fn instant(s: i64) -> Timestamp {
    Timestamp::from_second(s).expect("encoded from a Timestamp")
}

fn opt_instant(s: i64) -> Option<Timestamp> {
    (s != NONE).then(|| instant(s))
}

impl Stored {
    /// The stored form of `item`, which belongs to the set of `source`.
    pub fn new(item: Item, source: &str, interner: &mut Interner) -> Stored {
        match Compact::encode(&item, source, interner) {
            Some(c) => Stored::Compact(c),
            None => {
                let mut item = item;
                shrink(&mut item);
                Stored::Full(Box::new(item))
            }
        }
    }

    /// The item itself: borrowed when kept whole, decoded otherwise.
    pub fn item(&self, source: &str, id: &str) -> Cow<'_, Item> {
        match self {
            Stored::Compact(c) => Cow::Owned(c.decode(source, id)),
            Stored::Full(item) => Cow::Borrowed(item),
        }
    }

    pub fn channel(&self) -> Channel {
        match self {
            Stored::Compact(c) => c.channel,
            Stored::Full(item) => item.channel,
        }
    }

    /// `created_at` in seconds (the evaluation's order; sub-second items
    /// are full ones and compare by the whole instant, see [`Stored::created_at`]).
    pub fn created_at(&self) -> Timestamp {
        match self {
            Stored::Compact(c) => instant(c.times[0]),
            Stored::Full(item) => item.created_at,
        }
    }

    pub fn updated_at_second(&self) -> i64 {
        match self {
            Stored::Compact(c) => c.times[1],
            Stored::Full(item) => item.updated_at.as_second(),
        }
    }

    pub fn is_compact(&self) -> bool {
        matches!(self, Stored::Compact(_))
    }
}

/// Gives back the spare capacity a provider's pushes left in a whole item.
fn shrink(item: &mut Item) {
    item.id.shrink_to_fit();
    item.tags.shrink_to_fit();
    item.statuses.shrink_to_fit();
    item.agent_replies.shrink_to_fit();
    item.customer_messages.shrink_to_fit();
    item.resolutions.shrink_to_fit();
    item.reopenings.shrink_to_fit();
    item.vendor_due.shrink_to_fit();
}

impl Compact {
    fn encode(item: &Item, source: &str, interner: &mut Interner) -> Option<Compact> {
        if item.source != source {
            return None;
        }
        let lists = [
            &item.agent_replies,
            &item.customer_messages,
            &item.resolutions,
            &item.reopenings,
        ];
        let mut lens = [0u16; 4];
        for (len, list) in lens.iter_mut().zip(lists) {
            *len = u16::try_from(list.len()).ok()?;
        }
        let mut times = Vec::with_capacity(
            FIXED + lists.iter().map(|l| l.len()).sum::<usize>() + 2 * item.statuses.len(),
        );
        times.push(secs(item.created_at)?);
        times.push(secs(item.updated_at)?);
        times.push(opt_secs(item.first_assigned_at)?);
        times.push(opt_secs(item.answered_at)?);
        times.push(opt_secs(item.ended_at)?);
        for list in lists {
            for t in list {
                times.push(secs(*t)?);
            }
        }
        for s in &item.statuses {
            let code = STATUSES.iter().position(|x| *x == s.status)? as i64;
            times.push(secs(s.start)? * CODES + code);
            times.push(opt_secs(s.end)?);
        }
        let mut intern = |s: &Option<String>| s.as_deref().map(|s| interner.intern(s));
        let team = intern(&item.team);
        let priority = intern(&item.priority);
        Some(Compact {
            times: times.into_boxed_slice(),
            lens,
            channel: item.channel,
            team,
            priority,
            tags: item.tags.iter().map(|t| interner.intern(t)).collect(),
            vendor_due: item.vendor_due.clone().into_boxed_slice(),
            resolve_voids_answers: item.resolve_voids_answers,
        })
    }

    fn decode(&self, source: &str, id: &str) -> Item {
        let t = &self.times;
        let mut rest = &t[FIXED..];
        let mut list = |len: u16| {
            let (head, tail) = rest.split_at(len as usize);
            rest = tail;
            head.iter().map(|s| instant(*s)).collect::<Vec<_>>()
        };
        let agent_replies = list(self.lens[0]);
        let customer_messages = list(self.lens[1]);
        let resolutions = list(self.lens[2]);
        let reopenings = list(self.lens[3]);
        let statuses = rest
            .chunks_exact(2)
            .map(|p| StatusInterval {
                status: STATUSES[p[0].rem_euclid(CODES) as usize],
                start: instant(p[0].div_euclid(CODES)),
                end: opt_instant(p[1]),
            })
            .collect();
        Item {
            source: source.to_owned(),
            id: id.to_owned(),
            channel: self.channel,
            created_at: instant(t[0]),
            team: self.team.as_deref().map(str::to_owned),
            priority: self.priority.as_deref().map(str::to_owned),
            tags: self.tags.iter().map(|s| s.to_string()).collect(),
            statuses,
            agent_replies,
            customer_messages,
            first_assigned_at: opt_instant(t[2]),
            resolutions,
            reopenings,
            answered_at: opt_instant(t[3]),
            ended_at: opt_instant(t[4]),
            vendor_due: self.vendor_due.to_vec(),
            updated_at: instant(t[1]),
            resolve_voids_answers: self.resolve_voids_answers,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Target;
    use proptest::prelude::*;

    fn ts(s: i64, nanos: i32) -> Timestamp {
        Timestamp::new(s, nanos).unwrap()
    }

    prop_compose! {
        fn instant_s()(s in -377_705_116_800i64..253_402_207_200i64) -> Timestamp { ts(s, 0) }
    }

    fn status() -> impl Strategy<Value = Status> {
        proptest::sample::select(STATUSES.to_vec())
    }

    prop_compose! {
        fn interval()(status in status(), start in instant_s(), end in proptest::option::of(instant_s()))
            -> StatusInterval { StatusInterval { status, start, end } }
    }

    prop_compose! {
        fn vendor_due()(target in proptest::sample::select(Target::ALL.to_vec()), due_at in instant_s(),
            completed_at in proptest::option::of(instant_s()), breached in proptest::option::of(any::<bool>()))
            -> VendorDue { VendorDue { target, due_at, completed_at, breached } }
    }

    prop_compose! {
        fn item()(
            id in "[a-z0-9]{1,12}",
            channel in proptest::sample::select(Channel::ALL.to_vec()),
            created_at in instant_s(),
            updated_at in instant_s(),
            team in proptest::option::of("[A-Za-z ]{0,8}"),
            priority in proptest::option::of("[a-z]{0,6}"),
            tags in proptest::collection::vec("[a-z]{0,5}", 0..4),
            statuses in proptest::collection::vec(interval(), 0..6),
            agent_replies in proptest::collection::vec(instant_s(), 0..5),
            customer_messages in proptest::collection::vec(instant_s(), 0..5),
            first_assigned_at in proptest::option::of(instant_s()),
            resolutions in proptest::collection::vec(instant_s(), 0..3),
            reopenings in proptest::collection::vec(instant_s(), 0..3),
            answered_at in proptest::option::of(instant_s()),
            ended_at in proptest::option::of(instant_s()),
            vendor_due in proptest::collection::vec(vendor_due(), 0..3),
            resolve_voids_answers in any::<bool>(),
        ) -> Item {
            Item {
                source: "s".to_owned(), id, channel, created_at, team, priority, tags, statuses,
                agent_replies, customer_messages, first_assigned_at, resolutions, reopenings,
                answered_at, ended_at, vendor_due, updated_at, resolve_voids_answers,
            }
        }
    }

    proptest! {
        #[test]
        fn whole_second_items_are_kept_compact_and_decode_to_themselves(item in item()) {
            let mut interner = Interner::default();
            let stored = Stored::new(item.clone(), "s", &mut interner);
            prop_assert!(stored.is_compact());
            prop_assert_eq!(stored.item("s", &item.id).into_owned(), item.clone());
            prop_assert_eq!(stored.channel(), item.channel);
            prop_assert_eq!(stored.created_at(), item.created_at);
            prop_assert_eq!(stored.updated_at_second(), item.updated_at.as_second());
        }

        #[test]
        fn a_sub_second_instant_keeps_the_whole_item(item in item(), nanos in 1i32..1_000_000_000, which in 0usize..3) {
            let mut item = item;
            match which {
                0 => item.updated_at = ts(item.updated_at.as_second(), nanos),
                1 => item.agent_replies.push(ts(0, nanos)),
                _ => item.statuses.push(StatusInterval { status: Status::Open, start: ts(5, 0), end: Some(ts(6, nanos)) }),
            }
            let stored = Stored::new(item.clone(), "s", &mut Interner::default());
            prop_assert!(!stored.is_compact());
            prop_assert_eq!(stored.item("s", &item.id).into_owned(), item);
        }
    }

    #[test]
    fn an_item_of_another_source_is_kept_whole() {
        let item = Item::new("other", "1", Channel::Ticket, ts(100, 0));
        let stored = Stored::new(item.clone(), "s", &mut Interner::default());
        assert!(!stored.is_compact());
        assert_eq!(stored.item("other", "1").into_owned(), item);
    }

    #[test]
    fn interned_values_are_shared_and_swept_when_unused() {
        let mut interner = Interner::default();
        let mut a = Item::new("s", "1", Channel::Ticket, ts(100, 0));
        a.team = Some("Support".to_owned());
        let mut b = a.clone();
        b.id = "2".to_owned();
        b.tags = vec!["vip".to_owned()];
        let sa = Stored::new(a, "s", &mut interner);
        let sb = Stored::new(b, "s", &mut interner);
        let (Stored::Compact(ca), Stored::Compact(cb)) = (&sa, &sb) else {
            panic!("whole-second items are compact");
        };
        assert!(Arc::ptr_eq(
            ca.team.as_ref().unwrap(),
            cb.team.as_ref().unwrap()
        ));
        assert_eq!(interner.len(), 2);
        drop(sb);
        interner.sweep();
        assert_eq!(interner.len(), 1, "the tag only item 2 had is gone");
        drop(sa);
        interner.sweep();
        assert!(interner.is_empty());
    }
}
