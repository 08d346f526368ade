//! Property tests for business-time arithmetic and evaluation.
//!
//! `add_business_seconds(a, n)` is defined as the smallest `t >= a` with
//! `business_seconds_between(a, t) == n`. So `add(a, between(a, b))` is `b`
//! when the second before `b` was open, and otherwise the end of the last open
//! stretch before `b` (or `a` itself when nothing was open in `[a, b)`).

use std::sync::{Arc, LazyLock};

use helpdesk_sla_exporter::model::{Channel, Item, Status, StatusInterval, Target};
use helpdesk_sla_exporter::sla::{
    Calendar, Holiday, OpeningInterval, Policy, ReopenMode, TargetSpec, evaluate,
};
use jiff::civil::{Weekday, date, time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

static CALENDARS: LazyLock<Vec<Arc<Calendar>>> = LazyLock::new(|| {
    use Weekday::*;
    let iv = |weekday, h1, h2| OpeningInterval {
        weekday,
        start: time(h1, 0, 0, 0),
        end: time(h2, 0, 0, 0),
    };
    let days = [
        Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday,
    ];
    let mut office = Vec::new();
    for d in &days[..5] {
        office.push(iv(*d, 8, 12));
        office.push(iv(*d, 13, 17));
    }
    let hol = vec![
        Holiday::Date(date(2026, 6, 25)),
        Holiday::Yearly { month: 12, day: 25 },
        Holiday::Yearly { month: 1, day: 1 },
    ];
    let tz = |n| TimeZone::get(n).unwrap();
    vec![
        Arc::new(Calendar::always()),
        Arc::new(Calendar::new("office", tz("Europe/Ljubljana"), office, hol).unwrap()),
        Arc::new(
            Calendar::new(
                "night",
                tz("America/New_York"),
                days.map(|d| iv(d, 20, 4)).to_vec(),
                vec![],
            )
            .unwrap(),
        ),
        Arc::new(
            Calendar::new(
                "day",
                tz("Europe/Ljubljana"),
                days.iter()
                    .flat_map(|&d| [iv(d, 0, 12), iv(d, 12, 0)])
                    .collect(),
                vec![],
            )
            .unwrap(),
        ),
    ]
});

/// 2025-01-01 to 2028-01-01, which holds six DST changes in each zone.
const FROM: i64 = 1_735_689_600;
const TO: i64 = 1_830_297_600;

fn ts(s: i64) -> Timestamp {
    Timestamp::from_second(s).unwrap()
}

fn instants3() -> impl Strategy<Value = (usize, i64, i64, i64)> {
    (0..4usize, FROM..TO, 0..40 * 86_400i64, 0..40 * 86_400i64)
        .prop_map(|(c, a, d1, d2)| (c, a, a + d1, a + d1 + d2))
}

proptest! {
    #[test]
    fn between_is_additive_monotone_and_bounded((c, a, b, d) in instants3()) {
        let cal = &CALENDARS[c];
        let ab = cal.business_seconds_between(ts(a), ts(b));
        let bd = cal.business_seconds_between(ts(b), ts(d));
        let ad = cal.business_seconds_between(ts(a), ts(d));
        prop_assert_eq!(ab + bd, ad);
        prop_assert!(ab >= 0 && bd >= 0);
        prop_assert!(ab <= ad);
        prop_assert!(ab <= b - a);
        prop_assert_eq!(cal.business_seconds_between(ts(b), ts(a)), -ab);
    }

    #[test]
    fn add_inverts_between((c, a, b, _) in instants3()) {
        let cal = &CALENDARS[c];
        let n = cal.business_seconds_between(ts(a), ts(b));
        let r = cal.add_business_seconds(ts(a), n).as_second();
        prop_assert!(a <= r && r <= b);
        prop_assert_eq!(cal.business_seconds_between(ts(a), ts(r)), n);
        if n == 0 {
            prop_assert_eq!(r, a);
        } else {
            // r ends an open stretch, and nothing is open between r and b.
            prop_assert!(cal.is_open(ts(r - 1)));
            prop_assert_eq!(cal.business_seconds_between(ts(r), ts(b)), 0);
        }
        if b > a && cal.is_open(ts(b - 1)) {
            prop_assert_eq!(r, b);
        }
    }

    #[test]
    fn add_then_measure_round_trips((c, a, _, _) in instants3(), n in 0..2_000_000i64) {
        let cal = &CALENDARS[c];
        let due = cal.add_business_seconds(ts(a), n);
        prop_assert_eq!(cal.business_seconds_between(ts(a), due), n);
    }

    #[test]
    fn next_open_is_open_and_skips_only_closed_time((c, a, _, _) in instants3()) {
        let cal = &CALENDARS[c];
        let o = cal.next_open(ts(a));
        prop_assert!(o >= ts(a));
        prop_assert!(cal.is_open(o));
        prop_assert_eq!(cal.business_seconds_between(ts(a), o), 0);
        prop_assert_eq!(cal.is_open(ts(a)), o == ts(a));
    }

    #[test]
    fn evaluation_ignores_event_order(
        c in 0..4usize,
        created in FROM..TO,
        gaps in proptest::collection::vec((0..4u8, 60..200_000i64), 0..12),
        now_after in 0..2_000_000i64,
        restart in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let item = build_item(created, &gaps);
        let policy = policy(&CALENDARS[c], restart);
        let now = ts(created + now_after);
        let expected = evaluate(&item, &policy, now);
        let mut shuffled = item.clone();
        let mut rng = fastrand::Rng::with_seed(seed);
        rng.shuffle(&mut shuffled.statuses);
        rng.shuffle(&mut shuffled.agent_replies);
        rng.shuffle(&mut shuffled.customer_messages);
        rng.shuffle(&mut shuffled.resolutions);
        rng.shuffle(&mut shuffled.reopenings);
        prop_assert_eq!(evaluate(&shuffled, &policy, now), expected.clone());
        // Without vendor due instants, remaining is always within - elapsed,
        // and a breached cycle's due instant lies before the evaluation instant.
        for o in &expected {
            let within = policy.target(o.target).unwrap().within.as_secs();
            prop_assert_eq!(o.elapsed_seconds + o.remaining_seconds, within);
            prop_assert!(o.elapsed_seconds >= 0);
            if let Some(b) = o.breached_at {
                prop_assert!(b < now);
            }
        }
    }
}

fn policy(cal: &Arc<Calendar>, restart: bool) -> Policy {
    let spec = |t, h| TargetSpec::new(t, SignedDuration::from_hours(h), 0.9, cal.clone());
    let mut res = spec(Target::Resolution, 20);
    res.pause_statuses = vec![Status::Answered, Status::Pending];
    if restart {
        res.reopen = ReopenMode::Restart;
    }
    let mut fr = spec(Target::FirstResponse, 4);
    fr.pause_statuses = vec![Status::Pending];
    Policy {
        name: "p".into(),
        matcher: None,
        targets: vec![
            fr,
            spec(Target::NextResponse, 8),
            res,
            spec(Target::Assignment, 1),
        ],
    }
}

/// A ticket whose events follow each other by the given gaps; kind 0 is an
/// agent reply (item goes `answered`), 1 a customer message (`open`), 2 a
/// resolution, 3 a reopen.
fn build_item(created: i64, gaps: &[(u8, i64)]) -> Item {
    let mut item = Item::new("p", "1", Channel::Ticket, ts(created));
    item.customer_messages.push(ts(created));
    let (mut at, mut status, mut since) = (created, Status::New, created);
    for &(kind, gap) in gaps {
        at += gap;
        let next = match kind {
            0 => {
                item.agent_replies.push(ts(at));
                item.first_assigned_at.get_or_insert(ts(at));
                Status::Answered
            }
            1 => {
                item.customer_messages.push(ts(at));
                Status::Open
            }
            2 => {
                item.resolutions.push(ts(at));
                Status::Resolved
            }
            _ => {
                item.reopenings.push(ts(at));
                Status::Pending
            }
        };
        item.statuses.push(StatusInterval {
            status,
            start: ts(since),
            end: Some(ts(at)),
        });
        (status, since) = (next, at);
    }
    item.statuses.push(StatusInterval {
        status,
        start: ts(since),
        end: None,
    });
    item
}
