//! Incremental evaluation is exact: two engines receive the same random poll
//! sequence (item versions with random timelines, removals, and clock steps
//! from minutes to weeks, past the retention horizon), one evaluating
//! incrementally (settled items skipped, compliance windows from in-memory
//! tallies, open-stable items skipped with their rows moved by the clock) and
//! one fully (every item, windows scanned from the store). After every
//! evaluation `/metrics`' SLA families and the pages' view must be equal.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use helpdesk_sla_exporter::config::{Config, parse};
use helpdesk_sla_exporter::engine::Engine;
use helpdesk_sla_exporter::metrics::source::SourceMetrics;
use helpdesk_sla_exporter::model::{Channel, Item, Status, StatusInterval, Target, VendorDue};
use helpdesk_sla_exporter::store::{Cache, Store};
use jiff::Timestamp;
use proptest::prelude::*;

/// 2026-03-02T07:00:00Z, a Monday morning in Europe.
const T0: i64 = 1_772_434_800;
const SOURCES: [&str; 2] = ["east", "west"];

/// Two sources, an office calendar with a holiday, tickets on business time
/// with at-risk, pause and vendor-due targets (first response compared with
/// the vendor's verdict, resolution measured by the vendor's due instant when
/// there is one), chats and calls on wall time,
/// and team/priority caps of 2 so folding into `other` is exercised.
fn config() -> Config {
    let mut text = String::from("metrics:\n  label_limits: {team: 2, priority: 2}\nsources:\n");
    for s in SOURCES {
        text.push_str(&format!(
            "  - name: {s}\n    type: liveagent\n    base_url: http://127.0.0.1:9/api/v3\n    api_key_env: KEY\n"
        ));
    }
    text.push_str(
        r#"calendars:
  - name: office
    time_zone: Europe/Ljubljana
    hours:
      monday: ["08:00-12:00", "13:00-17:00"]
      tuesday: ["08:00-12:00", "13:00-17:00"]
      wednesday: ["08:00-12:00", "13:00-17:00"]
      thursday: ["08:00-12:00", "13:00-17:00"]
      friday: ["08:00-12:00", "13:00-17:00"]
    holidays: ["2026-03-04"]
policies:
  - name: tickets
    match: {channels: [ticket]}
    targets:
      first_response: {within: 2h, objective: 0.95, calendar: office, at_risk: 25%}
      next_response: {within: 4h, objective: 0.9, calendar: office}
      resolution: {within: 1d, objective: 0.9, calendar: office, pause_statuses: [answered], use_vendor_due: true}
      assignment: {within: 30m, objective: 0.9, calendar: office}
  - name: live
    targets:
      pickup: {within: 60s, objective: 0.9}
      answer: {within: 30s, objective: 0.9}
"#,
    );
    parse(&text, Path::new("incremental.yml"), Path::new("."), &|_| {
        Some("key".to_owned())
    })
    .expect("the test config is valid")
}

fn ts(s: i64) -> Timestamp {
    Timestamp::from_second(s).unwrap()
}

/// One step of a poll sequence.
#[derive(Debug, Clone)]
enum Step {
    /// A new version of an item (a sync page of one).
    Upsert(Box<Item>),
    /// The source reports the item deleted.
    Remove(usize, u8),
    /// The clock moves on by this many seconds, then both engines evaluate.
    Advance(i64),
}

/// A random item: a timeline of statuses, replies, messages and resolutions
/// starting somewhere around `T0` plus `base`, with some events possibly
/// later than the clock (vendors' clocks differ).
fn item(base: i64) -> impl Strategy<Value = Item> {
    item_within(base, 5 * 86_400)
}

/// [`item`], created within `span` seconds after `T0` plus `base`.
fn item_within(base: i64, span: i64) -> impl Strategy<Value = Item> {
    (
        (0..2usize, 0..8u8, 0..3u8),
        0..span,
        prop::collection::vec((0..6u8, 60..30_000i64), 0..6),
        prop::collection::vec(0..80_000i64, 0..4),
        prop::option::of(0..20_000i64),
        (0..5u8, 0..4u8),
        prop::option::of((
            0..40_000i64,
            prop::option::of(0..40_000i64),
            prop::option::of(any::<bool>()),
        )),
        (prop::option::of(0..600i64), prop::option::of(0..4_000i64)),
        prop::option::of(0..200_000i64),
    )
        .prop_map(
            move |(
                (source, id, channel),
                start,
                steps,
                replies,
                assigned,
                (team, priority),
                due,
                (answered, ended),
                resolution_due,
            )| {
                let channel = [Channel::Ticket, Channel::Chat, Channel::Call][channel as usize];
                let created = T0 + base + start;
                let mut it = Item::new(SOURCES[source], &format!("{id}"), channel, ts(created));
                it.team = [None, Some("Billing"), Some("Tech"), Some("Sales"), Some("")]
                    [team as usize]
                    .map(str::to_owned);
                it.priority = [None, Some("Gold"), Some("Silver"), Some("Bronze")]
                    [priority as usize]
                    .map(str::to_owned);
                let mut latest = created;
                match channel {
                    Channel::Ticket => {
                        let statuses = [
                            Status::New,
                            Status::Open,
                            Status::Answered,
                            Status::Resolved,
                            Status::Closed,
                            Status::Postponed,
                        ];
                        let mut at = created;
                        let mut current = Status::New;
                        let mut was_done = false;
                        it.customer_messages.push(ts(created));
                        for (s, gap) in steps {
                            at += gap;
                            it.statuses.push(StatusInterval {
                                status: current,
                                start: ts(at - gap),
                                end: Some(ts(at)),
                            });
                            current = statuses[s as usize];
                            if current.is_done() && !was_done {
                                it.resolutions.push(ts(at));
                            }
                            if !current.is_done() && was_done {
                                it.reopenings.push(ts(at));
                                it.customer_messages.push(ts(at));
                            }
                            was_done = current.is_done();
                        }
                        it.statuses.push(StatusInterval {
                            status: current,
                            start: ts(at),
                            end: None,
                        });
                        latest = latest.max(at);
                        let mut r: Vec<i64> = replies.iter().map(|d| created + d).collect();
                        r.sort_unstable();
                        for (i, reply) in r.iter().enumerate() {
                            it.agent_replies.push(ts(*reply));
                            if i % 2 == 0 {
                                it.customer_messages.push(ts(reply + 600));
                                latest = latest.max(reply + 600);
                            }
                            latest = latest.max(*reply);
                        }
                        it.customer_messages.sort();
                        it.first_assigned_at = assigned.map(|a| ts(created + a));
                        if let Some((due, done, breached)) = due {
                            it.vendor_due.push(VendorDue {
                                target: Target::FirstResponse,
                                due_at: ts(created + due),
                                completed_at: done.map(|d| ts(created + d)),
                                breached,
                            });
                        }
                        if let Some(due) = resolution_due {
                            it.vendor_due.push(VendorDue {
                                target: Target::Resolution,
                                due_at: ts(created + due),
                                completed_at: it.resolutions.last().copied(),
                                breached: None,
                            });
                        }
                    }
                    _ => {
                        it.answered_at = answered.map(|a| ts(created + a));
                        it.ended_at = ended.map(|e| ts(created + e));
                        latest = latest.max(created + ended.unwrap_or(0));
                    }
                }
                it.updated_at = ts(latest);
                it
            },
        )
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => (0..40 * 86_400i64).prop_flat_map(item).prop_map(|i| Step::Upsert(Box::new(i))),
        // Around the first clock (`T0` + 3 days, Thursday 08:00 in the
        // office calendar): cycles that are running when an evaluation skips
        // them and turn at risk or breach during the next steps.
        2 => (3 * 86_400 - 6 * 3_600..3 * 86_400i64)
            .prop_flat_map(|base| item_within(base, 6 * 3_600))
            .prop_map(|i| Step::Upsert(Box::new(i))),
        1 => (0..2usize, 0..8u8).prop_map(|(s, id)| Step::Remove(s, id)),
        3 => prop_oneof![
            0..1_200i64,
            0..3_600i64,
            3_600..3 * 86_400i64,
            10 * 86_400..20 * 86_400i64
        ]
        .prop_map(Step::Advance),
    ]
}

struct Side {
    engine: Arc<Engine>,
}

fn engine(now: &Arc<AtomicI64>, config: &Config, incremental: bool) -> Side {
    let registry = prometheus::Registry::new();
    let now = now.clone();
    let engine = Arc::new(Engine::new(
        Store::in_memory().unwrap(),
        SourceMetrics::new(&registry).unwrap(),
        Arc::new(move || ts(now.load(Ordering::Relaxed))),
    ));
    engine.set_incremental(incremental);
    // The incremental side counts its finals two at a time, in batches
    // during the evaluation; the full side (the reference) at the end.
    if incremental {
        engine.set_finals_batch(2);
    }
    engine.load(config).unwrap();
    Side { engine }
}

impl Side {
    fn apply(&self, step: &Step) {
        match step {
            Step::Upsert(item) => {
                let e = &self.engine;
                e.store
                    .apply_page(
                        &item.source,
                        "tickets",
                        std::slice::from_ref(item),
                        &[],
                        "c",
                    )
                    .unwrap();
                e.apply(&item.source, vec![(**item).clone()], &[]);
            }
            Step::Remove(s, id) => {
                let removed = [format!("{id}")];
                self.engine
                    .store
                    .apply_page(SOURCES[*s], "tickets", &[], &removed, "c")
                    .unwrap();
                self.engine.apply(SOURCES[*s], Vec::new(), &removed);
            }
            Step::Advance(_) => {}
        }
    }

    fn output(&self) -> (String, String) {
        (
            self.engine.rendered().to_string(),
            format!("{:?}", self.engine.view()),
        )
    }
}

proptest! {
    // 64 cases by default; `PROPTEST_CASES=2000` for a deeper search by hand.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
        ..ProptestConfig::default()
    })]

    #[test]
    fn incremental_evaluation_equals_full_evaluation(steps in prop::collection::vec(step(), 1..40)) {
        let config = config();
        // The clock starts a little after T0 and only moves forward.
        let now = Arc::new(AtomicI64::new(T0 + 3 * 86_400));
        let full = engine(&now, &config, false);
        let incremental = engine(&now, &config, true);
        for (i, step) in steps.iter().enumerate() {
            full.apply(step);
            incremental.apply(step);
            if let Step::Advance(by) = step {
                now.fetch_add(*by, Ordering::Relaxed);
            }
            if matches!(step, Step::Advance(_)) || i + 1 == steps.len() {
                let a = full.engine.evaluate(&config).unwrap();
                let b = incremental.engine.evaluate(&config).unwrap();
                prop_assert_eq!(a, b, "outcomes counted for the first time, step {}", i);
                let (fm, fv) = full.output();
                let (im, iv) = incremental.output();
                prop_assert_eq!(&fm, &im, "SLA families after step {}", i);
                prop_assert_eq!(&fv, &iv, "view after step {}", i);
                prop_assert_eq!(full.engine.tracked(), incremental.engine.tracked());
            }
        }
    }
}

/// The incremental engine really skips: after one evaluation of settled
/// items, the next evaluates none of them (the figure is in the debug log
/// and in `Engine::last_evaluated`), while the output stays the same.
#[test]
fn settled_items_are_not_evaluated_again() {
    let config = config();
    let now = Arc::new(AtomicI64::new(T0 + 20 * 86_400));
    let side = engine(&now, &config, true);
    let mut done = Item::new("east", "1", Channel::Chat, ts(T0));
    done.answered_at = Some(ts(T0 + 20));
    done.ended_at = Some(ts(T0 + 300));
    done.updated_at = ts(T0 + 300);
    // Waiting 10 s: pickup and answer still running (a breached one would
    // be open-stable and skipped too, see below).
    let mut open = Item::new("east", "2", Channel::Chat, ts(T0 + 20 * 86_400 - 10));
    open.updated_at = open.created_at;
    side.apply(&Step::Upsert(Box::new(done.clone())));
    side.apply(&Step::Upsert(Box::new(open)));
    side.engine.evaluate(&config).unwrap();
    assert_eq!(side.engine.last_evaluated(), 2);
    let first = side.output();
    side.engine.evaluate(&config).unwrap();
    assert_eq!(
        side.engine.last_evaluated(),
        0,
        "the running chat too: nothing changes before its pickup's due instant"
    );
    assert_eq!(side.output(), first);
    // 55 s later its pickup (60 s) has breached: the chat is evaluated
    // again, and marked again (breached and still open).
    now.fetch_add(55, Ordering::Relaxed);
    side.engine.evaluate(&config).unwrap();
    assert_eq!(side.engine.last_evaluated(), 1, "only the open chat");
    let second = side.output();
    side.engine.evaluate(&config).unwrap();
    assert_eq!(side.engine.last_evaluated(), 0);
    assert_eq!(side.output(), second);
    // Re-reading the settled chat unchanged keeps it settled; a changed
    // version is evaluated again.
    side.apply(&Step::Upsert(Box::new(done.clone())));
    side.engine.evaluate(&config).unwrap();
    assert_eq!(
        side.engine.last_evaluated(),
        0,
        "an identical re-read stays settled"
    );
    assert_eq!(side.output(), second);
    let mut changed = done.clone();
    changed.updated_at = ts(T0 + 301);
    side.apply(&Step::Upsert(Box::new(changed)));
    side.engine.evaluate(&config).unwrap();
    assert_eq!(
        side.engine.last_evaluated(),
        1,
        "a changed version is evaluated"
    );
    // A new config (a reload) evaluates everything again.
    let reloaded = self::config();
    side.engine.evaluate(&reloaded).unwrap();
    assert_eq!(side.engine.last_evaluated(), 2);
}

/// The open rows of one item in the view: (target, state, elapsed, remaining).
fn rows_of(side: &Side, id: &str) -> Vec<(&'static str, &'static str, i64, i64)> {
    let mut rows: Vec<_> = side
        .engine
        .view()
        .rows()
        .iter()
        .filter(|r| &*r.item_id == id)
        .map(|r| {
            (
                r.target.as_str(),
                r.state,
                r.elapsed_seconds,
                r.remaining_seconds,
            )
        })
        .collect();
    rows.sort();
    rows
}

/// An open ticket whose cycles all breached long ago (or are paused) is
/// open-stable: the next evaluation does not evaluate it, yet its rows'
/// elapsed seconds grow by the business time that passed (and not while
/// paused), exactly as a full evaluation has them; a new version of it is
/// evaluated again.
#[test]
fn open_breached_items_are_not_evaluated_again_but_their_rows_move() {
    let config = config();
    // Monday 2026-03-23 10:00 in Ljubljana, three weeks after T0.
    let now = Arc::new(AtomicI64::new(T0 + 21 * 86_400 + 2 * 3_600));
    let incremental = engine(&now, &config, true);
    let full = engine(&now, &config, false);
    // Never answered, assigned or resolved: first response, assignment and
    // resolution all breached and still open; open status, so every clock runs.
    let mut breached = Item::new("east", "1", Channel::Ticket, ts(T0));
    breached.customer_messages.push(ts(T0));
    breached.statuses.push(StatusInterval {
        status: Status::Open,
        start: ts(T0),
        end: None,
    });
    // Answered within the hour and waiting on the customer since: first
    // response met, assignment breached (its clock runs), resolution paused.
    let mut paused = Item::new("east", "2", Channel::Ticket, ts(T0));
    paused.customer_messages.push(ts(T0));
    paused.agent_replies.push(ts(T0 + 3_600));
    paused.statuses.push(StatusInterval {
        status: Status::Open,
        start: ts(T0),
        end: Some(ts(T0 + 3_600)),
    });
    paused.statuses.push(StatusInterval {
        status: Status::Answered,
        start: ts(T0 + 3_600),
        end: None,
    });
    paused.updated_at = ts(T0 + 3_600);
    for side in [&incremental, &full] {
        side.apply(&Step::Upsert(Box::new(breached.clone())));
        side.apply(&Step::Upsert(Box::new(paused.clone())));
        side.engine.evaluate(&config).unwrap();
    }
    assert_eq!(incremental.engine.last_evaluated(), 2);
    assert_eq!(incremental.output(), full.output());
    let before = (rows_of(&incremental, "1"), rows_of(&incremental, "2"));
    assert_eq!(
        before.0.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(),
        [
            ("assignment", "breached"),
            ("first_response", "breached"),
            ("resolution", "breached")
        ]
    );
    assert_eq!(
        before.1.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(),
        [("assignment", "breached"), ("resolution", "paused")]
    );

    // 10:00 to 13:30 local: three and a half hours, of which the lunch
    // hour (12:00-13:00) is not business time.
    now.fetch_add(3 * 3_600 + 1_800, Ordering::Relaxed);
    for side in [&incremental, &full] {
        side.engine.evaluate(&config).unwrap();
    }
    assert_eq!(incremental.engine.last_evaluated(), 0, "both are skipped");
    assert_eq!(full.engine.last_evaluated(), 2);
    assert_eq!(incremental.output(), full.output());
    let business = 9_000;
    let moved = |rows: &[(&'static str, &'static str, i64, i64)], by: &dyn Fn(&str) -> i64| {
        rows.iter()
            .map(|&(t, s, e, r)| (t, s, e + by(t), r - by(t)))
            .collect::<Vec<_>>()
    };
    assert_eq!(rows_of(&incremental, "1"), moved(&before.0, &|_| business));
    assert_eq!(
        rows_of(&incremental, "2"),
        moved(&before.1, &|t| if t == "resolution" { 0 } else { business }),
        "the paused resolution stands still"
    );

    // A new version (the ticket is assigned) is evaluated again.
    let mut assigned = breached.clone();
    assigned.first_assigned_at = Some(ts(T0 + 21 * 86_400 + 5 * 3_600));
    assigned.updated_at = ts(T0 + 21 * 86_400 + 5 * 3_600);
    now.fetch_add(1_800, Ordering::Relaxed);
    for side in [&incremental, &full] {
        side.apply(&Step::Upsert(Box::new(assigned.clone())));
        side.engine.evaluate(&config).unwrap();
    }
    assert_eq!(
        incremental.engine.last_evaluated(),
        1,
        "only the new version"
    );
    assert_eq!(incremental.output(), full.output());
    assert_eq!(
        rows_of(&incremental, "1")
            .iter()
            .map(|r| r.0)
            .collect::<Vec<_>>(),
        ["first_response", "resolution"],
        "the assignment cycle is no longer open"
    );
}

/// A source in its backfill (a first sync from no cursor) is not evaluated:
/// its partial item set neither shows nor counts until the backfill ends,
/// while other sources are evaluated as usual.
#[test]
fn a_backfilling_source_is_evaluated_only_when_its_backfill_ends() {
    let config = config();
    let now = Arc::new(AtomicI64::new(T0 + 20 * 86_400));
    let side = engine(&now, &config, true);
    let chat = |source: &str, id: &str| {
        let mut c = Item::new(source, id, Channel::Chat, ts(T0 + 19 * 86_400));
        c.answered_at = Some(ts(T0 + 19 * 86_400 + 300));
        c.ended_at = Some(ts(T0 + 19 * 86_400 + 600));
        c.updated_at = ts(T0 + 19 * 86_400 + 600);
        c
    };
    let backfill = side.engine.backfill("east");
    // What the sync does as a backfill starts; evaluations leave it so.
    side.engine.store.set_cache(Cache::Backfill);
    side.engine.settle_cache();
    assert_eq!(side.engine.store.cache(), Cache::Backfill);
    side.apply(&Step::Upsert(Box::new(chat("east", "1"))));
    side.apply(&Step::Upsert(Box::new(chat("west", "1"))));
    let counted = side.engine.evaluate(&config).unwrap();
    assert_eq!(side.engine.last_evaluated(), 1, "only west's chat");
    assert_eq!(counted, 1, "west's pickup breach");
    let metrics = side.engine.rendered().to_string();
    assert!(metrics.contains("source=\"west\""), "{metrics}");
    assert!(!metrics.contains("source=\"east\""), "{metrics}");
    drop(backfill);
    side.engine.settle_cache();
    assert_eq!(side.engine.store.cache(), Cache::Settled);
    let counted = side.engine.evaluate(&config).unwrap();
    assert_eq!(
        side.engine.last_evaluated(),
        1,
        "east's chat; west's is settled"
    );
    assert_eq!(counted, 1, "east's pickup breach");
    assert!(side.engine.rendered().contains("source=\"east\""));
}

/// An open ticket whose cycles are running is skipped until the first
/// instant one of them could turn at risk or breach: until then its rows'
/// remaining seconds fall by the business time that passed, exactly as a
/// full evaluation has them; past that instant it is evaluated again, and
/// the state it turns to and the breach counted once are the full
/// evaluation's.
#[test]
fn running_items_are_skipped_until_their_next_transition() {
    let config = config();
    // Monday 2026-03-23 10:10 in Ljubljana; the ticket came in at 10:00.
    let monday_10 = T0 + 21 * 86_400 + 2 * 3_600;
    let now = Arc::new(AtomicI64::new(monday_10 + 600));
    let incremental = engine(&now, &config, true);
    let full = engine(&now, &config, false);
    // Assigned at once; first response (2 h, at risk below 25%: 30 min) is
    // due at 12:00 and resolution (1 business day) runs.
    let mut ticket = Item::new("east", "1", Channel::Ticket, ts(monday_10));
    ticket.customer_messages.push(ts(monday_10));
    ticket.first_assigned_at = Some(ts(monday_10 + 60));
    ticket.statuses.push(StatusInterval {
        status: Status::Open,
        start: ts(monday_10),
        end: None,
    });
    ticket.updated_at = ts(monday_10 + 60);
    let step = |by: i64| {
        now.fetch_add(by, Ordering::Relaxed);
        let counted: Vec<usize> = [&incremental, &full]
            .iter()
            .map(|side| side.engine.evaluate(&config).unwrap())
            .collect();
        assert_eq!(counted[0], counted[1], "newly counted outcomes");
        assert_eq!(incremental.output(), full.output());
        (
            incremental.engine.last_evaluated(),
            rows_of(&incremental, "1"),
        )
    };
    for side in [&incremental, &full] {
        side.apply(&Step::Upsert(Box::new(ticket.clone())));
    }
    let (evaluated, before) = step(0);
    assert_eq!(evaluated, 1);
    assert_eq!(
        before.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(),
        [("first_response", "running"), ("resolution", "running")]
    );
    // 10:10 to 11:29: still more than 30 minutes to the due instant.
    let (evaluated, rows) = step(79 * 60);
    assert_eq!(evaluated, 0, "running, skipped");
    let moved: Vec<_> = before
        .iter()
        .map(|&(t, s, e, r)| (t, s, e + 79 * 60, r - 79 * 60))
        .collect();
    assert_eq!(rows, moved);
    // 11:31: first response is at risk, so the ticket was evaluated again.
    let (evaluated, rows) = step(2 * 60);
    assert_eq!(evaluated, 1);
    assert_eq!((rows[0].0, rows[0].1), ("first_response", "at_risk"));
    let (evaluated, _) = step(60);
    assert_eq!(evaluated, 0, "at risk, skipped until due");
    // 13:30 (the lunch hour is not business time): breached, and counted
    // once by both.
    let (evaluated, rows) = step(118 * 60);
    assert_eq!(evaluated, 1);
    assert_eq!((rows[0].0, rows[0].1), ("first_response", "breached"));
    assert_eq!(rows[0].3, -30 * 60, "due at 12:00, 30 business minutes ago");
    let (evaluated, _) = step(600);
    assert_eq!(evaluated, 0);
}

/// Finals past a batch leave memory for a scratch file in the store
/// directory and are counted at the end: the same counts and output as an
/// evaluation that held them all, no file left behind, and a scratch file
/// that cannot be written fails the evaluation without losing an outcome.
#[test]
fn finals_past_a_batch_are_counted_through_a_scratch_file_in_the_store() {
    let config = config();
    let now = Arc::new(AtomicI64::new(T0 + 2 * 86_400));
    let reference = engine(&now, &config, false);
    let dir = std::env::temp_dir().join(format!("hse-spill-engine-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // What a killed exporter left goes when the engine starts.
    std::fs::create_dir_all(&dir).unwrap();
    let scratch = dir.join("finals.spill");
    std::fs::write(&scratch, b"left by a killed evaluation").unwrap();
    let registry = prometheus::Registry::new();
    let clock = now.clone();
    let spilling = Side {
        engine: Arc::new(Engine::new(
            Store::open(&dir).unwrap(),
            SourceMetrics::new(&registry).unwrap(),
            Arc::new(move || ts(clock.load(Ordering::Relaxed))),
        )),
    };
    assert!(!scratch.exists(), "a stale scratch file goes at start");
    spilling.engine.set_finals_batch(3);
    spilling.engine.load(&config).unwrap();
    for n in 0..40i64 {
        let mut chat = Item::new(
            SOURCES[n as usize % 2],
            &n.to_string(),
            Channel::Chat,
            ts(T0 + n * 100),
        );
        chat.answered_at = Some(ts(T0 + n * 100 + n * 3));
        chat.ended_at = Some(ts(T0 + n * 100 + 600));
        chat.updated_at = ts(T0 + n * 100 + 600);
        for side in [&reference, &spilling] {
            side.apply(&Step::Upsert(Box::new(chat.clone())));
        }
    }
    std::fs::create_dir(&scratch).unwrap();
    let err = spilling.engine.evaluate(&config).unwrap_err().to_string();
    assert!(
        err.contains("scratch file") && err.contains("finals.spill"),
        "{err}"
    );
    std::fs::remove_dir(&scratch).unwrap();

    let counted = reference.engine.evaluate(&config).unwrap();
    assert_eq!(counted, 40, "the pickup of each chat");
    assert_eq!(spilling.engine.evaluate(&config).unwrap(), counted);
    assert_eq!(spilling.output(), reference.output());
    assert!(
        !scratch.exists(),
        "the scratch file goes after the evaluation"
    );
    // Nothing is counted twice by the next evaluation.
    assert_eq!(spilling.engine.evaluate(&config).unwrap(), 0);
    assert_eq!(spilling.output(), reference.output());
    std::fs::remove_dir_all(&dir).unwrap();
}
