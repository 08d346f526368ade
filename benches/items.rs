//! Answering `/items` with 100k tracked items: what one request costs once
//! the evaluation has built the page view (`pages::View`), and what building
//! that view costs per evaluation. Figures go to bench/RESULTS.md (section
//! "Items page (`/items`) with 100k tracked items"); nothing here asserts.
//!
//! The rows are synthetic but shaped like a large helpdesk: 100k open
//! tickets over 50 teams and 4 priorities, each with two open targets
//! (first response and resolution), so 200k rows, with a spread of remaining
//! times and states. The HTTP layer (hyper, a copy of the body) is not
//! included: the handler only parses the query and renders from the view.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use helpdesk_sla_exporter::model::{Channel, Target};
use helpdesk_sla_exporter::pages::View;
use helpdesk_sla_exporter::pages::items::{self, Links};
use helpdesk_sla_exporter::report::{Row, Stamp};

const ITEMS: usize = 100_000;
const TEAMS: usize = 50;
const PRIORITIES: [&str; 4] = ["low", "normal", "high", "urgent"];

fn rows() -> Vec<Row> {
    let mut out = Vec::with_capacity(ITEMS * 2);
    for i in 0..ITEMS {
        for (k, target) in [Target::FirstResponse, Target::Resolution]
            .into_iter()
            .enumerate()
        {
            // A deterministic spread of remaining times, -2 h .. +46 h.
            let remaining = ((i * 7919 + k * 104_729) % 172_800) as i64 - 7_200;
            let state = match remaining {
                r if r < 0 => "breached",
                r if r < 900 => "at_risk",
                _ if i % 10 == 0 => "paused",
                _ => "running",
            };
            out.push(Row {
                source: "support".into(),
                channel: Channel::Ticket,
                item_id: format!("t{i:07}").into(),
                team: format!("Team {:02}", i % TEAMS).into(),
                priority: PRIORITIES[i % PRIORITIES.len()].into(),
                policy: "tickets".into(),
                target,
                cycle: 1,
                state,
                started_at: Stamp::from(Some("2026-11-29T08:00:00Z".parse().unwrap())),
                due_at: Stamp::from(Some("2026-11-30T08:00:00Z".parse().unwrap())),
                completed_at: Stamp::default(),
                elapsed_seconds: 3_600,
                remaining_seconds: remaining,
                vendor_verdict: "",
            });
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let at = "2026-11-29T19:30:00Z".parse().unwrap();
    let rows = rows();
    let links: Links = [(
        "support".to_owned(),
        "https://support.example.com/agent/#Conversation;id={id}".to_owned(),
    )]
    .into();
    c.bench_function("items view: sort 200k rows (per evaluation)", |b| {
        b.iter_batched(
            || rows.clone(),
            |rows| black_box(View::new(at, rows, Vec::new())),
            criterion::BatchSize::LargeInput,
        )
    });
    let view = View::new(at, rows, Vec::new());
    let mut answer = |name: &str, query: &str| {
        let q = items::parse(Some(query)).unwrap();
        c.bench_function(&format!("items answer: {name}"), |b| {
            b.iter(|| black_box(items::render(&view, &q, &links, false)))
        });
    };
    answer("first page, HTML (100 rows)", "");
    answer(
        "team + state filter, HTML",
        "team=Team%2007&state=at_risk,breached",
    );
    answer(
        "1000 rows at offset 100000, CSV",
        "format=csv&limit=1000&offset=100000",
    );
    answer("1000 rows, JSON", "format=json&limit=1000");
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
