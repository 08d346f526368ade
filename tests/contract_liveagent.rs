//! Contract tests: every body the simulated LiveAgent API and the wiremock
//! fixtures serve is checked against the vendor's published API description
//! (`../shared/reference/liveagent-v3-api.json`: field names, declared types,
//! enum values). A key the vendor does not define, a wrong type or an enum
//! value outside the vendor's list fails.

use std::collections::HashMap;

use helpdesk_sla_exporter::demo::api;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

fn facts() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/reference/liveagent-v3-api.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// `TicketHistory` → `ticket_history`, the facts file's model keys.
fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Problems of `value` as the declared type `ty`, at `at`.
fn check(facts: &Value, ty: &str, value: &Value, at: &str, out: &mut Vec<String>) {
    if value.is_null() {
        return; // every field the vendor declares is optional
    }
    let bad = |out: &mut Vec<String>| out.push(format!("{at}: {value} is not {ty}"));
    match ty {
        "str" | "datetime" => {
            if !value.is_string() {
                bad(out)
            } else if ty == "datetime" && !at.ends_with(".sla_type") {
                // `SlaLogRow.sla_type` is declared `datetime`, but it names an
                // SLA type (`SlaHistory.sla_type` is `str`): a slip in the
                // description; only its string-ness is checked.
                let s = value.as_str().unwrap_or_default();
                if !s.is_empty()
                    && helpdesk_sla_exporter::providers::liveagent::map::parse_time(s).is_none()
                {
                    bad(out)
                }
            }
        }
        "int" => {
            if !(value.is_i64() || value.is_u64()) {
                bad(out)
            }
        }
        "float" => {
            if !value.is_number() {
                bad(out)
            }
        }
        "bool" => {
            if !value.is_boolean() {
                bad(out)
            }
        }
        _ if ty.starts_with("list[") => match value.as_array() {
            None => bad(out),
            Some(items) => {
                let inner = &ty[5..ty.len() - 1];
                for (i, v) in items.iter().enumerate() {
                    check(facts, inner, v, &format!("{at}[{i}]"), out);
                }
            }
        },
        model => {
            let Some(fields) = facts["models"][snake(model)].as_object() else {
                out.push(format!("{at}: unknown model {model}"));
                return;
            };
            let Some(object) = value.as_object() else {
                return bad(out);
            };
            for (key, v) in object {
                let Some(field) = fields.get(key) else {
                    out.push(format!("{at}.{key}: not defined by the vendor for {model}"));
                    continue;
                };
                let ty = field["type"].as_str().unwrap_or("str");
                check(facts, ty, v, &format!("{at}.{key}"), out);
                if let (Some(allowed), Some(s)) = (field["enum"].as_array(), v.as_str())
                    && !allowed.iter().any(|a| a == s)
                {
                    out.push(format!(
                        "{at}.{key}: {s:?} is not among the vendor's values"
                    ));
                }
            }
        }
    }
}

/// Problems of a body served for `GET endpoint` (a template like
/// `/tickets/{ticketId}/history`).
fn problems(facts: &Value, endpoint: &str, body: &str) -> Vec<String> {
    let ty = facts["endpoints"][format!("GET {endpoint}")]["response"]
        .as_str()
        .unwrap_or_else(|| panic!("GET {endpoint} is not in the vendor's description"));
    let value: Value = serde_json::from_str(body).unwrap();
    let mut out = Vec::new();
    check(facts, ty, &value, endpoint, &mut out);
    out
}

#[test]
fn every_body_the_demo_serves_matches_the_vendor_description() {
    let facts = facts();
    let now: Timestamp = "2026-03-11T12:00:00Z".parse().unwrap();
    let headers: HashMap<String, String> = [("apikey", "k"), ("timezone-offset", "0")]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
    let query: HashMap<String, String> = [("_perPage", "200")]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
    let get = |path: &str| {
        let r = api::respond_as(
            api::Undocumented::default(),
            42,
            SignedDuration::from_hours(24 * 3),
            now,
            &format!("/api/v3{path}"),
            &query,
            &headers,
        );
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        r.body
    };
    let tickets: Vec<Value> = serde_json::from_str(&get("/tickets")).unwrap();
    assert!(!tickets.is_empty());
    let id = tickets[0]["id"].as_str().unwrap().to_owned();
    let mut all = Vec::new();
    for (endpoint, path) in [
        ("/tickets", "/tickets".to_owned()),
        ("/tickets/history", "/tickets/history".to_owned()),
        (
            "/tickets/{ticketId}/history",
            format!("/tickets/{id}/history"),
        ),
        ("/tickets/{ticketId}", format!("/tickets/{id}")),
        ("/tickets/{ticketId}/sla", format!("/tickets/{id}/sla")),
        ("/grid/tickets/sla", "/grid/tickets/sla".to_owned()),
        ("/grid/chats/sla", "/grid/chats/sla".to_owned()),
        ("/chats", "/chats".to_owned()),
        ("/calls", "/calls".to_owned()),
        ("/departments", "/departments".to_owned()),
        ("/slas", "/slas".to_owned()),
        ("/settings", "/settings".to_owned()),
        ("/tags", "/tags".to_owned()),
    ] {
        let body = get(&path);
        assert!(body.len() > 2, "{path} served nothing");
        all.extend(problems(&facts, endpoint, &body));
    }
    // Chats and calls as `/tickets` rows (channel types B, I, C, W).
    let conversations: HashMap<String, String> = [
        ("_perPage", "200"),
        ("_filters", r#"[["channel_type","IN","B,I,C,W"]]"#),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .into();
    let r = api::respond_as(
        api::Undocumented::default(),
        42,
        SignedDuration::from_hours(24 * 3),
        now,
        "/api/v3/tickets",
        &conversations,
        &headers,
    );
    let rows: Vec<Value> = serde_json::from_str(&r.body).unwrap();
    assert!(rows.len() > 10, "{} conversation rows", rows.len());
    all.extend(problems(&facts, "/tickets", &r.body));
    assert!(
        all.is_empty(),
        "{} problems:\n{}",
        all.len(),
        all.join("\n")
    );

    // Each ticket's level is one `/slas` lists, and its `date_due` is the
    // level's due instant of the answer still open.
    let slas: Vec<Value> = serde_json::from_str(&get("/slas")).unwrap();
    let names: Vec<&str> = slas.iter().filter_map(|l| l["name"].as_str()).collect();
    for ticket in tickets.iter().take(50) {
        let id = ticket["id"].as_str().unwrap();
        let sla: Value = serde_json::from_str(&get(&format!("/tickets/{id}/sla"))).unwrap();
        assert_eq!(sla["conversationid"], ticket["id"]);
        assert!(names.contains(&sla["sla_level_name"].as_str().unwrap()));
        let open_due = [&sla["first_answer"], &sla["next_answer"]]
            .into_iter()
            .find(|d| !d.is_null())
            .cloned()
            .unwrap_or(Value::Null);
        assert_eq!(ticket["date_due"], open_due, "{id}");
    }
}

#[test]
fn every_wiremock_fixture_matches_the_vendor_description() {
    let facts = facts();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/liveagent");
    let mut all = Vec::new();
    for (file, endpoint) in [
        ("tickets.json", "/tickets"),
        ("history.json", "/tickets/history"),
        ("chats.json", "/chats"),
        ("calls.json", "/calls"),
        ("departments.json", "/departments"),
        ("slas.json", "/slas"),
        ("settings.json", "/settings"),
        ("tags.json", "/tags"),
        ("sla_log_tickets.json", "/grid/tickets/sla"),
        ("sla_log_chats.json", "/grid/chats/sla"),
    ] {
        let body = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
        all.extend(problems(&facts, endpoint, &body));
    }
    // `ticket_sla.json` holds one `/tickets/{ticketId}/sla` answer per ticket.
    let levels: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/ticket_sla.json")).unwrap())
            .unwrap();
    assert!(!levels.is_empty());
    for level in &levels {
        all.extend(problems(
            &facts,
            "/tickets/{ticketId}/sla",
            &level.to_string(),
        ));
    }
    assert!(
        all.is_empty(),
        "{} problems:\n{}",
        all.len(),
        all.join("\n")
    );
}

#[test]
fn the_checker_catches_an_unknown_key_a_wrong_type_and_an_enum_value() {
    let facts = facts();
    let body = r#"[{"id": "t1", "status": "Z", "tags": "vip", "invented": 1, "date_created": 5}]"#;
    let p = problems(&facts, "/tickets", body);
    assert!(p.iter().any(|l| l.contains("invented")), "{p:?}");
    assert!(p.iter().any(|l| l.contains(".tags")), "{p:?}");
    assert!(
        p.iter()
            .any(|l| l.contains(".status") && l.contains("vendor's values")),
        "{p:?}"
    );
    assert!(p.iter().any(|l| l.contains(".date_created")), "{p:?}");
}
