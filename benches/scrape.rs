//! Rendering the SLA families (`metrics::sla::render`) for a snapshot of about
//! 10k series: what every evaluation does before `/metrics` can serve a copy.
//! Budget: 5 ms median.
//!
//! The snapshot is synthetic but shaped like a large helpdesk: 63 teams x 4
//! ticket targets, every series with all four open states, a time-to-breach
//! histogram, met/breached counters, a completion histogram and three
//! compliance windows.

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use helpdesk_sla_exporter::metrics::sla::{Inputs, Tally, render};
use helpdesk_sla_exporter::snapshot::{BUCKETS, Evaluation, Histogram, OPEN_STATES, Series};
use helpdesk_sla_exporter::store::bucket_counter;

const TEAMS: usize = 63;
const TARGETS: [&str; 4] = [
    "first_response",
    "next_response",
    "resolution",
    "assignment",
];

fn series() -> Vec<Series> {
    (0..TEAMS)
        .flat_map(|t| {
            TARGETS.iter().map(move |target| Series {
                source: "support".into(),
                channel: "ticket",
                team: format!("Team {t:03}"),
                priority: "none".into(),
                policy: "tickets".into(),
                target,
            })
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let all = series();
    let mut eval = Evaluation::default();
    let mut counters = Vec::new();
    let mut compliance = BTreeMap::new();
    for (i, s) in all.iter().enumerate() {
        for (j, state) in OPEN_STATES.iter().enumerate() {
            eval.open.insert((s.clone(), *state), (i * 7 + j) as u64);
        }
        let mut h = Histogram::default();
        for k in 0..50 {
            h.observe((k * 997 % 700_000) as f64);
        }
        eval.time_to_breach.insert(s.clone(), h);
        counters.push((s.clone(), "met".to_owned(), 1000 + i as u64));
        counters.push((s.clone(), "breached".to_owned(), 10 + i as u64));
        for b in 0..=BUCKETS.len() {
            counters.push((s.clone(), bucket_counter(b), (b * 3) as u64));
        }
        counters.push((s.clone(), "sum".to_owned(), 123_456));
        for window in ["7d", "30d", "month"] {
            compliance.insert(
                (s.clone(), window.to_owned()),
                Tally {
                    met: 90,
                    total: 100,
                },
            );
        }
    }
    let objectives: Vec<(String, &'static str, f64)> = TARGETS
        .iter()
        .map(|t| ("tickets".to_owned(), *t, 0.95))
        .collect();
    let folded = [("priority", 0u64), ("team", 0u64)];
    let inputs = Inputs {
        eval: &eval,
        counters: &counters,
        compliance: &compliance,
        objectives: &objectives,
        folded: &folded,
    };
    let mut text = String::new();
    render(&inputs, &mut text);
    let samples = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .count();
    eprintln!(
        "scrape: series={samples} bytes={} label_sets={}",
        text.len(),
        all.len()
    );
    c.bench_function("render SLA families (~10k series)", |b| {
        b.iter(|| {
            let mut out = String::with_capacity(text.len() + 1024);
            render(black_box(&inputs), &mut out);
            black_box(out)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
