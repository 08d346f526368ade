//! Fault suite: mutated Zendesk (tickets, calls, groups, metric events) and
//! Jira Service Management pages fed through the same decoding and mapping
//! steps their providers take (page, then rows one by one with quarantine,
//! then the pure mapping): no panic, a typed error or a rejected row, never a
//! hang.

mod common;

use std::path::Path;

use common::mutate::{VALUES, mutate};
use helpdesk_sla_exporter::model::{Channel, Target};
use helpdesk_sla_exporter::providers::client::{decode, decode_values};
use helpdesk_sla_exporter::providers::jira_sm::map as jsm;
use helpdesk_sla_exporter::providers::zendesk::map as zd;
use helpdesk_sla_exporter::providers::zendesk::{events as zd_events, raw as zd_raw};
use proptest::prelude::*;

fn fixture(vendor: &str, name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(vendor)
            .join(name),
    )
    .unwrap()
}

const PAGES: &[(&str, &str)] = &[
    ("zendesk", "tickets.json"),
    ("zendesk", "calls.json"),
    ("zendesk", "groups.json"),
    ("zendesk", "timeline_events_1a.json"),
    ("jira_sm", "search-page1.json"),
    ("jira_sm", "search-page2.json"),
    ("jira_sm", "changelog-10003-page1.json"),
    ("jira_sm", "fields.json"),
    ("jira_sm", "statuses.json"),
    ("jira_sm", "myself.json"),
];

/// The JSM field ids the search fixtures carry: every `sd-sla-field` of
/// `fields.json`, one target each, so the SLA cycles are mapped too.
fn jsm_fields() -> jsm::Fields {
    let rows: Vec<jsm::RawField> = decode("field", &fixture("jira_sm", "fields.json")).unwrap();
    let targets = [Target::FirstResponse, Target::Resolution];
    let sla = rows
        .iter()
        .filter(|r| {
            r.schema.as_ref().and_then(|s| s.custom.as_deref()) == Some(jsm::SLA_FIELD_TYPE)
        })
        .zip(targets.iter().cycle())
        .map(|(r, t)| (r.id.clone(), *t))
        .collect();
    jsm::Fields {
        sla,
        team: Some("components".into()),
        ..jsm::Fields::default()
    }
}

/// Decodes and maps one page the way the provider of `vendor` does; returns
/// how many items and rejected rows it produced.
fn decode_everything(vendor: &str, file: &str, body: &[u8]) -> (usize, usize) {
    match (vendor, file) {
        ("zendesk", "tickets.json") => {
            let Ok(page) = decode::<zd::RawTicketPage>("tickets", body) else {
                return (0, 0);
            };
            let (tickets, mut rejected): (Vec<zd::RawTicket>, _) =
                decode_values("tickets", page.tickets);
            let (sets, bad): (Vec<zd::RawMetricSet>, _) =
                decode_values("metric_sets", page.metric_sets);
            rejected.extend(bad);
            let groups = zd::Groups::default();
            let mut items = 0;
            for t in &tickets {
                let m = sets.iter().find(|m| m.ticket_id == t.id);
                let channels = [Channel::Ticket, Channel::Chat];
                if let zd::TicketOutcome::Item(item) =
                    zd::ticket_item("s", t, m, &groups, &channels)
                {
                    let _ = zd::vendor_due(t, item.channel, &item);
                    items += 1;
                }
            }
            (items, rejected.len())
        }
        ("zendesk", "calls.json") => {
            let Ok(page) = decode::<zd::RawCallPage>("calls", body) else {
                return (0, 0);
            };
            let (calls, rejected): (Vec<zd::RawCall>, _) = decode_values("calls", page.calls);
            let items = calls.iter().filter_map(|c| zd::call_item("s", c)).count();
            (items, rejected.len())
        }
        ("zendesk", f) if f.starts_with("timeline_events") => {
            let Ok(page) = decode::<zd_raw::RawMetricEventPage>("metric_events", body) else {
                return (0, 0);
            };
            let (rows, rejected): (Vec<zd_raw::RawMetricEvent>, _) =
                decode_values("metric_events", page.ticket_metric_events);
            (zd_events::timeline(&rows).len(), rejected.len())
        }
        ("zendesk", _) => match decode::<zd::RawGroupPage>("groups", body) {
            Ok(page) => (zd::groups(&page.groups).len(), 0),
            Err(_) => (0, 0),
        },
        ("jira_sm", f) if f.starts_with("search") => {
            let Ok(mut page) = decode::<jsm::RawSearchPage>("search", body) else {
                return (0, 0);
            };
            let (issues, rejected): (Vec<jsm::RawIssue>, _) =
                decode_values("issues", std::mem::take(&mut page.issues));
            let fields = jsm_fields();
            for issue in &issues {
                let histories = issue
                    .changelog
                    .as_ref()
                    .map(|c| c.histories.clone())
                    .unwrap_or_default();
                let comments = issue
                    .fields
                    .comment
                    .as_ref()
                    .map(|c| c.comments.clone())
                    .unwrap_or_default();
                let _ = jsm::issue_item("s", issue, &histories, &comments, &fields, &[]);
            }
            (issues.len(), rejected.len())
        }
        ("jira_sm", f) if f.starts_with("changelog") => {
            match decode::<jsm::RawChangelogPage>("changelog", body) {
                Ok(page) => (page.values.len(), 0),
                Err(_) => (0, 0),
            }
        }
        ("jira_sm", "fields.json") => match decode::<Vec<jsm::RawField>>("field", body) {
            Ok(rows) => (rows.len(), 0),
            Err(_) => (0, 0),
        },
        ("jira_sm", "statuses.json") => match decode::<Vec<jsm::RawStatus>>("status", body) {
            Ok(rows) => (jsm::status_categories(&rows).len(), 0),
            Err(_) => (0, 0),
        },
        _ => match decode::<jsm::RawMyself>("myself", body) {
            Ok(_) => (1, 0),
            Err(_) => (0, 0),
        },
    }
}

#[test]
fn the_unmutated_fixtures_decode_and_map_without_rejections() {
    for (vendor, file) in PAGES {
        let (items, rejected) = decode_everything(vendor, file, &fixture(vendor, file));
        assert!(items > 0, "{vendor}/{file}: nothing decoded");
        assert_eq!(rejected, 0, "{vendor}/{file}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mutated_zendesk_and_jsm_pages_never_panic(
        which in 0..PAGES.len(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0..3usize, prop::sample::select(VALUES), any::<u8>()), 1..6)
    ) {
        let (vendor, file) = PAGES[which];
        let body = mutate(&fixture(vendor, file), &edits);
        let started = std::time::Instant::now();
        // A panic fails the property; a typed error or rejected rows pass.
        decode_everything(vendor, file, &body);
        prop_assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
