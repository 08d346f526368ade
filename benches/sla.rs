//! The SLA engine's hot path: one evaluation pass over 1M tickets with three
//! targets (first response, next response, resolution) on an office calendar
//! with holidays, a realistic mix of open and closed items, and the same with
//! every item still open (no resolution yet). Budget: 1 s on one core.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use helpdesk_sla_exporter::model::{Channel, Item, Status, StatusInterval, Target};
use helpdesk_sla_exporter::sla::{
    AtRisk, Calendar, Holiday, OpeningInterval, Policy, ReopenMode, TargetSpec, evaluate_into,
};
use jiff::civil::{Weekday, date, time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

const ITEMS: usize = 1_000_000;

fn calendar() -> Arc<Calendar> {
    let mut week = Vec::new();
    for wd in [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
    ] {
        week.push(OpeningInterval {
            weekday: wd,
            start: time(8, 0, 0, 0),
            end: time(12, 0, 0, 0),
        });
        week.push(OpeningInterval {
            weekday: wd,
            start: time(13, 0, 0, 0),
            end: time(17, 0, 0, 0),
        });
    }
    let holidays = vec![
        Holiday::Yearly { month: 1, day: 1 },
        Holiday::Yearly { month: 5, day: 1 },
        Holiday::Yearly { month: 12, day: 25 },
        Holiday::Date(date(2026, 4, 6)),
        Holiday::Date(date(2026, 6, 25)),
    ];
    let tz = TimeZone::get("Europe/Ljubljana").expect("bundled tzdb");
    Arc::new(Calendar::new("office", tz, week, holidays).expect("valid calendar"))
}

fn policy(cal: Arc<Calendar>) -> Policy {
    let spec = |target, hours| {
        let mut s = TargetSpec::new(target, SignedDuration::from_hours(hours), 0.9, cal.clone());
        s.at_risk = Some(AtRisk::Fraction(0.25));
        s
    };
    let mut resolution = spec(Target::Resolution, 16);
    resolution.pause_statuses = vec![Status::Answered];
    resolution.reopen = ReopenMode::Continue;
    Policy {
        name: "bench".into(),
        matcher: None,
        targets: vec![
            spec(Target::FirstResponse, 4),
            resolution,
            spec(Target::NextResponse, 8),
        ],
    }
}

/// Tickets created over the 60 days before `now`: about a third still open,
/// most with one or two reply rounds and an `answered` spell. With `open_only`
/// no item is resolved.
fn items(now: Timestamp, open_only: bool) -> Vec<Item> {
    let mut rng = fastrand::Rng::with_seed(42);
    let now_s = now.as_second();
    let t = |s: i64| Timestamp::from_second(s).expect("in range");
    (0..ITEMS)
        .map(|i| {
            let created = now_s - rng.i64(0..60 * 86_400);
            let mut item = Item::new("bench", &i.to_string(), Channel::Ticket, t(created));
            let mut at = created;
            item.customer_messages.push(t(at));
            let rounds = rng.u32(0..4);
            let mut status_from = created;
            let mut status = Status::New;
            for _ in 0..rounds {
                at += rng.i64(600..30 * 3600);
                if at > now_s {
                    break;
                }
                item.agent_replies.push(t(at));
                item.statuses.push(StatusInterval {
                    status,
                    start: t(status_from),
                    end: Some(t(at)),
                });
                (status, status_from) = (Status::Answered, at);
                at += rng.i64(600..48 * 3600);
                if at > now_s {
                    break;
                }
                item.customer_messages.push(t(at));
                item.statuses.push(StatusInterval {
                    status,
                    start: t(status_from),
                    end: Some(t(at)),
                });
                (status, status_from) = (Status::Open, at);
            }
            if rng.u8(0..3) > 0 && !item.agent_replies.is_empty() && !open_only {
                let resolved = at + rng.i64(60..7200);
                if resolved <= now_s {
                    item.resolutions.push(t(resolved));
                    item.statuses.push(StatusInterval {
                        status,
                        start: t(status_from),
                        end: Some(t(resolved)),
                    });
                    (status, status_from) = (Status::Resolved, resolved);
                }
            }
            item.statuses.push(StatusInterval {
                status,
                start: t(status_from),
                end: None,
            });
            item
        })
        .collect()
}

fn evaluate_pass(c: &mut Criterion, name: &str, items: &[Item], policy: &Policy, now: Timestamp) {
    let mut out = Vec::with_capacity(16);
    // Print the state mix once, so the figure can be judged against it.
    let mut mix = std::collections::BTreeMap::new();
    for item in items {
        out.clear();
        evaluate_into(item, policy, now, &mut out);
        for o in &out {
            *mix.entry((o.target.as_str(), o.state.as_str()))
                .or_insert(0u32) += 1;
        }
    }
    eprintln!("outcome mix ({name}): {mix:?}");
    c.bench_function(name, |b| {
        b.iter(|| {
            let mut breached = 0usize;
            for item in items {
                out.clear();
                evaluate_into(item, policy, now, &mut out);
                breached += out
                    .iter()
                    .filter(|o| o.state == helpdesk_sla_exporter::sla::State::Breached)
                    .count();
            }
            black_box(breached)
        })
    });
}

fn bench(c: &mut Criterion) {
    let now: Timestamp = "2026-06-15T12:00:00Z".parse().expect("valid instant");
    let policy = policy(calendar());
    let mixed = items(now, false);
    evaluate_pass(c, "evaluate 1M tickets x 3 targets", &mixed, &policy, now);
    drop(mixed);
    let open = items(now, true);
    evaluate_pass(
        c,
        "evaluate 1M open tickets x 3 targets",
        &open,
        &policy,
        now,
    );
    drop(open);
    c.bench_function("build an office calendar (1970-2100 table)", |b| {
        b.iter(|| black_box(calendar()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
