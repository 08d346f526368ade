//! The embedded store: atomic pages, exactly-once counting across reopen, and
//! clear errors for a corrupt or newer store.

use std::path::PathBuf;

use helpdesk_sla_exporter::model::{Channel, Item};
use helpdesk_sla_exporter::store::{Count, CountedOutcome, Store, StoreError};

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hse-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn item(id: &str) -> Item {
    Item::new(
        "support",
        id,
        Channel::Ticket,
        "2026-11-02T09:00:00Z".parse().unwrap(),
    )
}

fn outcome(id: &str, cycle: u32, outcome: &'static str) -> CountedOutcome {
    CountedOutcome {
        source: "support".into(),
        item_id: id.into(),
        target: "first_response".into(),
        cycle,
        series: "support|ticket|billing|none|default|first_response".into(),
        outcome,
        at: 1_793_000_000,
        completed_elapsed: None,
    }
}

#[test]
fn pages_cursors_and_counters_survive_a_reopen_and_count_once() {
    let path = dir("reopen");
    {
        let store = Store::open(&path).unwrap();
        assert_eq!(store.cursor("support", "tickets").unwrap(), None);
        store
            .apply_page("support", "tickets", &[item("a"), item("b")], &[], "page-2")
            .unwrap();
        assert_eq!(
            store
                .count_outcomes(
                    &[outcome("a", 0, "met"), outcome("b", 0, "breached")],
                    |_| 0
                )
                .unwrap(),
            2
        );
        // The same outcome again (a re-evaluation) is not counted again.
        assert_eq!(
            store
                .count_outcomes(&[outcome("a", 0, "met")], |_| 0)
                .unwrap(),
            0
        );
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(
        store.cursor("support", "tickets").unwrap().as_deref(),
        Some("page-2")
    );
    let ids: Vec<_> = store
        .items("support")
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(store.items("support").unwrap()[0], item("a"));
    // After the restart, a re-evaluation of the same items counts nothing new;
    // a new cycle does.
    assert_eq!(
        store
            .count_outcomes(
                &[
                    outcome("a", 0, "met"),
                    outcome("b", 0, "breached"),
                    outcome("a", 1, "met")
                ],
                |_| 0
            )
            .unwrap(),
        1
    );
    let series = "support|ticket|billing|none|default|first_response".to_owned();
    assert_eq!(
        store.counters().unwrap(),
        [
            (series.clone(), "breached".to_owned(), 1),
            (series, "met".to_owned(), 2)
        ]
    );
    let _ = std::fs::remove_dir_all(&path);
}

#[test]
fn an_updated_item_replaces_the_stored_one() {
    let store = Store::in_memory().unwrap();
    store
        .apply_page("support", "tickets", &[item("a")], &[], "1")
        .unwrap();
    let mut changed = item("a");
    changed.team = Some("Billing".into());
    store
        .apply_page("support", "tickets", &[changed.clone()], &[], "2")
        .unwrap();
    assert_eq!(store.items("support").unwrap(), [changed]);
}

#[test]
fn a_corrupt_store_is_a_clear_error_naming_the_way_out() {
    let path = dir("corrupt");
    std::fs::create_dir_all(&path).unwrap();
    std::fs::write(
        path.join("state.sqlite"),
        b"this is not a database, just text that is long enough",
    )
    .unwrap();
    let err = match Store::open(&path) {
        Err(e @ StoreError::Unusable { .. }) => e.to_string(),
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("a corrupt store opened"),
    };
    assert!(
        err.starts_with(&format!("store {}: ", path.display())),
        "{err}"
    );
    assert!(err.contains("file is not a database"), "{err}");
    assert!(err.ends_with("Move the directory aside (or delete it) to start with an empty store; the exporter then re-pulls the initial lookback"), "{err}");
    let _ = std::fs::remove_dir_all(&path);
}

#[test]
fn a_store_from_a_newer_exporter_is_refused() {
    let path = dir("newer");
    drop(Store::open(&path).unwrap());
    let conn = rusqlite::Connection::open(path.join("state.sqlite")).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = Store::open(&path).err().expect("refused").to_string();
    assert!(
        err.contains("schema version 99 is newer than this exporter's 4 (downgrade?)"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&path);
}

#[test]
fn a_completion_is_observed_once_even_when_the_breach_was_counted_earlier() {
    let store = Store::in_memory().unwrap();
    let bucket = |secs: i64| if secs <= 60 { 0 } else { 1 };
    // Breached while still open: counted, nothing observed yet.
    store
        .count_outcomes(&[outcome("a", 1, "breached")], bucket)
        .unwrap();
    // Completed late: observed once into bucket 1, however often re-evaluated.
    let mut done = outcome("a", 1, "breached");
    done.completed_elapsed = Some(90);
    for _ in 0..3 {
        assert_eq!(
            store
                .count_outcomes(std::slice::from_ref(&done), bucket)
                .unwrap(),
            0
        );
    }
    let names: Vec<(String, u64)> = store
        .counters()
        .unwrap()
        .into_iter()
        .map(|(_, n, v)| (n, v))
        .collect();
    assert_eq!(
        names,
        [
            ("b1".to_owned(), 1),
            ("breached".to_owned(), 1),
            ("sum".to_owned(), 90)
        ]
    );
}

#[test]
fn prune_forgets_old_finished_items_and_their_counted_keys_but_keeps_counters() {
    let store = Store::in_memory().unwrap();
    let mut old = item("old");
    old.updated_at = "2026-01-01T00:00:00Z".parse().unwrap();
    let mut recent = item("recent");
    recent.updated_at = "2026-11-20T00:00:00Z".parse().unwrap();
    store
        .apply_page("support", "sync", &[old, recent], &[], "c")
        .unwrap();
    let mut counted = outcome("old", 1, "met");
    counted.at = 1_767_225_600; // 2026-01-01
    let mut kept = outcome("recent", 1, "met");
    kept.at = 1_767_225_600;
    store
        .count_outcomes(&[counted.clone(), kept], |_| 0)
        .unwrap();
    let horizon = 1_790_000_000; // 2026-09-21
    let pruned = store
        .prune("support", horizon, &["old".into(), "recent".into()])
        .unwrap();
    assert_eq!(pruned.items, 1);
    assert_eq!(
        pruned.counted,
        [("old".to_owned(), "first_response".to_owned(), 1)],
        "the key of the recent item stays with it"
    );
    let ids: Vec<_> = store
        .items("support")
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, ["recent"]);
    let windows = store.outcome_counts(&[0], i64::MAX).unwrap();
    let left: u64 = windows.iter().map(|(_, _, n)| n[0]).sum();
    assert_eq!(left, 1, "only the stored item's key: {windows:?}");
    assert_eq!(store.counters().unwrap()[0].2, 2, "counters never go down");
}

fn event(
    key: &str,
    at: &str,
    kind: helpdesk_sla_exporter::timeline::EventKind,
) -> helpdesk_sla_exporter::timeline::TimelineEvent {
    helpdesk_sla_exporter::timeline::TimelineEvent {
        key: key.into(),
        at: at.parse().unwrap(),
        kind,
    }
}

/// Timeline events (`Page::events`) are kept by key: they wait for an item
/// that is not stored yet, merge once however often they are re-read, and
/// go with a removed item, which later events never bring back.
#[test]
fn timeline_events_wait_for_their_item_merge_once_and_go_with_it() {
    use helpdesk_sla_exporter::timeline::EventKind;
    let store = Store::in_memory().unwrap();
    let reply = (
        "a".to_owned(),
        event("r1", "2026-11-02T10:00:00Z", EventKind::AgentReply),
    );
    let written = store
        .apply_page_with_events(
            "support",
            "sync",
            vec![],
            &[],
            std::slice::from_ref(&reply),
            "1",
        )
        .unwrap();
    assert!(written.is_empty());
    assert!(
        store.items("support").unwrap().is_empty(),
        "events never create an item"
    );

    let written = store
        .apply_page_with_events("support", "sync", vec![item("a"), item("b")], &[], &[], "2")
        .unwrap();
    let replies: Vec<String> = written[0]
        .agent_replies
        .iter()
        .map(|t| t.to_string())
        .collect();
    assert_eq!(
        replies,
        ["2026-11-02T10:00:00Z"],
        "the waiting event was applied"
    );
    assert!(written[1].agent_replies.is_empty());

    // The same event again (a re-read page): the stored item does not change.
    let again = store
        .apply_page_with_events("support", "sync", vec![], &[], &[reply], "3")
        .unwrap();
    assert_eq!(again, written[..1]);
    assert_eq!(store.items("support").unwrap()[0], written[0]);

    store
        .apply_page_with_events("support", "sync", vec![], &["a".to_owned()], &[], "4")
        .unwrap();
    let late = (
        "a".to_owned(),
        event("m2", "2026-11-02T11:00:00Z", EventKind::CustomerMessage),
    );
    store
        .apply_page_with_events("support", "sync", vec![], &[], &[late], "5")
        .unwrap();
    let ids: Vec<String> = store
        .items("support")
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, ["b"], "a removed item stays removed");
}

/// A store written before timeline events existed (schema 1) is migrated in
/// place and keeps its items.
#[test]
fn a_schema_1_store_gains_the_event_table() {
    use helpdesk_sla_exporter::timeline::EventKind;
    let path = dir("schema1");
    {
        let store = Store::open(&path).unwrap();
        store
            .apply_page("support", "sync", &[item("a")], &[], "c")
            .unwrap();
    }
    let conn = rusqlite::Connection::open(path.join("state.sqlite")).unwrap();
    conn.execute_batch(
        "DROP TABLE item_events; DROP TABLE provider_state; PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(conn);
    let store = Store::open(&path).unwrap();
    let reply = (
        "a".to_owned(),
        event("r1", "2026-11-02T10:00:00Z", EventKind::AgentReply),
    );
    let written = store
        .apply_page_with_events("support", "sync", vec![], &[], &[reply], "d")
        .unwrap();
    assert_eq!(written.len(), 1);
    assert_eq!(written[0].agent_replies.len(), 1);
    drop(store);
    // Migration 3 indexed the events by time.
    let conn = rusqlite::Connection::open(path.join("state.sqlite")).unwrap();
    let indexed: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'item_events_at')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(indexed, "item_events_at after the upgrade");
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 4);
    drop(conn);
    let _ = std::fs::remove_dir_all(&path);
}

/// A page's provider state changes are stored entry by entry with the page,
/// per source, and survive a reopen; `None` forgets an entry. A store of
/// schema 3 gains the table.
#[test]
fn provider_state_is_written_with_its_page_and_read_back_per_source() {
    use helpdesk_sla_exporter::providers::{StateChange, StateRow};
    use helpdesk_sla_exporter::store::PageWrite;
    let path = dir("provider-state");
    let change = |key: &str, value: Option<&str>| StateChange {
        list: "levels",
        key: key.to_owned(),
        value: value.map(str::to_owned),
    };
    fn page(state: &[StateChange]) -> PageWrite<'_> {
        PageWrite {
            items: vec![],
            removed: &[],
            events: &[],
            retain_only: None,
            state,
        }
    }
    {
        let store = Store::open(&path).unwrap();
        let first = [change("a", Some("1")), change("b", Some("2"))];
        store
            .apply_sync_page("support", "sync", page(&first), "c1")
            .unwrap();
        store
            .apply_sync_page("other", "sync", page(&[change("a", Some("9"))]), "c")
            .unwrap();
        let second = [change("a", None), change("b", Some("3"))];
        store
            .apply_sync_page("support", "sync", page(&second), "c2")
            .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let row = |key: &str, value: &str| StateRow {
        list: "levels".to_owned(),
        key: key.to_owned(),
        value: value.to_owned(),
    };
    assert_eq!(store.provider_state("support").unwrap(), [row("b", "3")]);
    assert_eq!(store.provider_state("other").unwrap(), [row("a", "9")]);
    assert_eq!(
        store.cursor("support", "sync").unwrap().as_deref(),
        Some("c2")
    );
    drop(store);
    // Schema 3, without the table: the reopen adds it (empty).
    let conn = rusqlite::Connection::open(path.join("state.sqlite")).unwrap();
    conn.execute_batch("DROP TABLE provider_state; PRAGMA user_version = 3;")
        .unwrap();
    drop(conn);
    let store = Store::open(&path).unwrap();
    assert!(store.provider_state("support").unwrap().is_empty());
    drop(store);
    let _ = std::fs::remove_dir_all(&path);
}

/// An error from the outcomes being counted (a scratch file read back)
/// rolls the whole count back: nothing before it is counted either.
#[test]
fn a_failing_outcome_stream_counts_nothing() {
    let store = Store::in_memory().unwrap();
    let failing = [
        Ok(outcome("a", 0, "met")),
        Err(StoreError::Scratch {
            path: "finals.spill".into(),
            source: std::io::Error::other("short read"),
        }),
    ];
    let mut seen = 0;
    let err = store
        .count_outcomes_each(failing, Count::Each, |_| 0, |_| seen += 1)
        .unwrap_err();
    assert!(err.to_string().contains("short read"), "{err}");
    assert_eq!(seen, 1, "on_new saw the outcome before the error");
    assert!(store.counters().unwrap().is_empty());
    assert_eq!(
        store
            .count_outcomes(&[outcome("a", 0, "met")], |_| 0)
            .unwrap(),
        1,
        "the outcome was not counted by the failed count"
    );
}
