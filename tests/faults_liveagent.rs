//! Fault suite: mutated LiveAgent pages fed to every decoder of
//! `providers::liveagent::raw` and `map`: no panic, a typed error or a
//! rejected row, never a hang.

use std::collections::HashMap;
use std::path::Path;

use helpdesk_sla_exporter::providers::client::decode_rows;
use helpdesk_sla_exporter::providers::liveagent::map::{
    self, RawCall, RawChat, RawDepartment, RawHistoryRow, RawSlaLevel, RawTicket,
};
use proptest::prelude::*;

mod common;

use common::mutate::{VALUES, mutate};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/liveagent")
            .join(name),
    )
    .unwrap()
}

fn decode_everything(endpoint: &str, body: &[u8]) {
    let departments: map::Departments = HashMap::from([("d1".into(), "Support".into())]);
    match endpoint {
        "tickets" => {
            if let Ok((tickets, _)) = decode_rows::<RawTicket>(endpoint, "tickets", body) {
                for t in &tickets {
                    let _ = map::ticket_item("s", t, &[], &departments);
                }
            }
        }
        "history" => {
            if let Ok((rows, _)) = decode_rows::<RawHistoryRow>(endpoint, "tickets", body) {
                let tickets: Vec<RawTicket> =
                    decode_rows(endpoint, "tickets", &fixture("tickets.json"))
                        .unwrap()
                        .0;
                for t in &tickets {
                    let _ = map::ticket_item("s", t, &rows, &departments);
                }
            }
        }
        "chats" => {
            if let Ok((chats, _)) = decode_rows::<RawChat>(endpoint, "chats", body) {
                for c in &chats {
                    let _ = map::chat_item("s", c, &departments);
                }
            }
        }
        "calls" => {
            if let Ok((calls, _)) = decode_rows::<RawCall>(endpoint, "calls", body) {
                for c in &calls {
                    let _ = map::call_item("s", c);
                }
            }
        }
        "departments" => {
            let _ = decode_rows::<RawDepartment>(endpoint, "departments", body);
        }
        _ => {
            if let Ok((levels, _)) = decode_rows::<RawSlaLevel>(endpoint, "slas", body) {
                for l in &levels {
                    let _ = map::sla_level(l);
                }
            }
        }
    }
}

#[test]
fn the_unmutated_fixtures_decode_without_rejections() {
    for (endpoint, file) in [
        ("tickets", "tickets.json"),
        ("history", "history.json"),
        ("chats", "chats.json"),
        ("calls", "calls.json"),
        ("departments", "departments.json"),
    ] {
        let body = fixture(file);
        let (rows, rejected) =
            decode_rows::<serde_json::Value>(endpoint, "x", &body).expect(endpoint);
        assert!(!rows.is_empty() && rejected.is_empty(), "{endpoint}");
        decode_everything(endpoint, &body);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mutated_vendor_pages_never_panic(
        which in 0..6usize,
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0..3usize, prop::sample::select(VALUES), any::<u8>()), 1..6)
    ) {
        let (endpoint, file) = [
            ("tickets", "tickets.json"),
            ("history", "history.json"),
            ("chats", "chats.json"),
            ("calls", "calls.json"),
            ("departments", "departments.json"),
            ("slas", "slas.json"),
        ][which];
        let body = mutate(&fixture(file), &edits);
        let started = std::time::Instant::now();
        // A panic here fails the property; a typed error or rejected rows pass.
        decode_everything(endpoint, &body);
        prop_assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}

mod lists {
    use helpdesk_sla_exporter::providers::liveagent::{self, LiveAgentProvider};
    use helpdesk_sla_exporter::providers::{ClientMetrics, Provider};
    use helpdesk_sla_exporter::secret::Secret;
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn provider(server: &MockServer) -> LiveAgentProvider {
        let metrics = ClientMetrics::new(&prometheus::Registry::new()).unwrap();
        let mut s = liveagent::source_config(
            "support",
            &format!("{}/api/v3", server.uri()),
            Secret::new("k"),
        );
        s.page_size = 1;
        s.requests_per_minute = 10_000;
        let mut client = liveagent::client_settings(&s);
        client.retry.max_retries = 0;
        LiveAgentProvider::with_client_settings(s, client, metrics).unwrap()
    }

    fn level(i: usize) -> serde_json::Value {
        serde_json::json!([{"id": format!("lvl{i}"), "name": format!("Level {i}"), "values": {}}])
    }

    /// `/departments` and `/slas` share the list reader; more than the old
    /// 20 pages are read to the end.
    #[tokio::test]
    async fn vendor_lists_are_read_past_twenty_pages_to_the_end() {
        let server = MockServer::start().await;
        for page in 1..=30 {
            Mock::given(method("GET"))
                .and(path("/api/v3/slas"))
                .and(query_param("_page", page.to_string()))
                .respond_with(ResponseTemplate::new(200).set_body_json(level(page)))
                .expect(1)
                .mount(&server)
                .await;
        }
        Mock::given(method("GET"))
            .and(path("/api/v3/slas"))
            .and(query_param("_page", "31"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([])))
            .expect(1)
            .mount(&server)
            .await;
        let levels = provider(&server).sla_levels().await.unwrap();
        assert_eq!(levels.len(), 30);
    }

    /// A server that ignores `_page` answers every page the same: the list
    /// ends at the first repeat instead of re-reading it.
    #[tokio::test]
    async fn a_list_endpoint_that_ignores_the_page_ends_at_the_first_repeat() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/api/v3/slas"))
            .respond_with(ResponseTemplate::new(200).set_body_json(level(1)))
            .expect(2)
            .mount(&server)
            .await;
        let levels = provider(&server).sla_levels().await.unwrap();
        assert_eq!(levels.len(), 1);
    }
}
