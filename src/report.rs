//! `helpdesk-sla-exporter report`: one row per (item, target, cycle) as CSV or
//! JSON, evaluated as of `--at`. It is how a manager checks a number they doubt,
//! and the seed's "export SLA data to CSV".
//!
//! The rows come from the same engine as the metrics; only the output differs.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::compact::Interner;
use crate::config::Config;
use crate::model::{Channel, Item, Target};
use crate::providers::{self, ClientMetrics, Cursor};
use crate::sla::{Outcome, PolicySet, State, evaluate_into};
use crate::store::Store;

/// One (item, target, cycle), with the raw team and priority (a report has no
/// cardinality limit).
///
/// The view keeps a row per open cycle (~390k at 100k tickets in the
/// benchmark), so label values are shared through an [`Interner`] and
/// instants are whole seconds: owned strings and full timestamps made the
/// rows the largest allocation of an evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub source: Arc<str>,
    pub channel: Channel,
    pub item_id: Arc<str>,
    pub team: Arc<str>,
    pub priority: Arc<str>,
    pub policy: Arc<str>,
    pub target: Target,
    pub cycle: u32,
    pub state: &'static str,
    pub started_at: Stamp,
    pub due_at: Stamp,
    pub completed_at: Stamp,
    pub elapsed_seconds: i64,
    pub remaining_seconds: i64,
    /// The helpdesk's own verdict on this cycle where it states one:
    /// `met` or `breached` from its explicit flag, or from its completion
    /// against its due instant (LiveAgent's SLA log, JSM's completed cycles);
    /// empty while the vendor has not decided or says nothing. Only the
    /// target's latest cycle carries it (a vendor due is the latest cycle's).
    pub vendor_verdict: &'static str,
}

/// An instant of a row in whole seconds, shown as RFC 3339 text (empty when
/// there is none). Formatted only when the row is written: an evaluation
/// builds a row per open cycle (~390k at 100k tickets), and formatting three
/// instants into three strings for each was a tenth of a steady-state
/// evaluation's CPU. Outcomes' instants are whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp(i64);

impl Stamp {
    pub const NONE: Stamp = Stamp(i64::MIN);

    /// The instant in seconds, if any.
    pub fn seconds(self) -> Option<i64> {
        (self != Stamp::NONE).then_some(self.0)
    }

    pub fn get(self) -> Option<Timestamp> {
        (self != Stamp::NONE)
            .then(|| Timestamp::from_second(self.0).ok())
            .flatten()
    }
}

impl Default for Stamp {
    fn default() -> Stamp {
        Stamp::NONE
    }
}

impl From<Option<Timestamp>> for Stamp {
    fn from(t: Option<Timestamp>) -> Stamp {
        t.map_or(Stamp::NONE, |t| Stamp(t.as_second()))
    }
}

impl std::fmt::Display for Stamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.get() {
            Some(t) => write!(f, "{t}"),
            None => Ok(()),
        }
    }
}

impl Serialize for Stamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

pub const COLUMNS: [&str; 15] = [
    "source",
    "channel",
    "item_id",
    "team",
    "priority",
    "policy",
    "target",
    "cycle",
    "state",
    "started_at",
    "due_at",
    "completed_at",
    "elapsed_seconds",
    "remaining_seconds",
    "vendor_verdict",
];

/// Evaluates `items` as of `at`, sorted by source, item, target and cycle.
pub fn rows(items: &[Item], policies: &PolicySet, at: Timestamp) -> Vec<Row> {
    let mut out = Vec::new();
    let mut outcomes = Vec::new();
    let mut labels = Interner::default();
    let mut sorted: Vec<&Item> = items.iter().collect();
    sorted.sort_by(|a, b| (&a.source, &a.id).cmp(&(&b.source, &b.id)));
    for item in sorted {
        let Some(policy) = policies.select(item) else {
            continue;
        };
        outcomes.clear();
        evaluate_into(item, policy, at, &mut outcomes);
        outcomes.sort_by_key(|o| (o.target, o.cycle));
        for (i, o) in outcomes.iter().enumerate() {
            let last = outcomes.get(i + 1).is_none_or(|n| n.target != o.target);
            out.push(row_of_cycle(item, &policy.name, o, last, &mut labels));
        }
    }
    out
}

/// The row of one outcome. `state` is the outcome's state, except that a
/// running cycle past its `at_risk` threshold is `at_risk` (the same exclusive
/// states as the `helpdesk_sla_open_items` gauge), so `/items` and `report`
/// agree and a reader can filter on it.
pub fn row(item: &Item, policy: &str, o: &Outcome, labels: &mut Interner) -> Row {
    row_of_cycle(item, policy, o, true, labels)
}

/// The vendor's verdict on the target of `o` when the item carries one.
fn vendor_verdict(item: &Item, o: &Outcome) -> &'static str {
    let Some(v) = item.vendor_due.iter().find(|v| v.target == o.target) else {
        return "";
    };
    match v.breached.or(v.completed_at.map(|c| c > v.due_at)) {
        Some(true) => "breached",
        Some(false) => "met",
        None => "",
    }
}

/// [`row`], saying whether `o` is its target's latest cycle (the only one a
/// vendor verdict belongs to).
pub fn row_of_cycle(
    item: &Item,
    policy: &str,
    o: &Outcome,
    last: bool,
    labels: &mut Interner,
) -> Row {
    Row {
        source: labels.intern(&item.source),
        channel: item.channel,
        item_id: item.id.as_str().into(),
        team: labels.intern(item.team.as_deref().unwrap_or_default()),
        priority: labels.intern(item.priority.as_deref().unwrap_or_default()),
        policy: labels.intern(policy),
        target: o.target,
        cycle: o.cycle,
        state: if o.state == State::Running && o.at_risk {
            "at_risk"
        } else {
            o.state.as_str()
        },
        started_at: Stamp::from(Some(o.started_at)),
        due_at: Stamp::from(o.due_at),
        completed_at: Stamp::from(o.completed_at),
        elapsed_seconds: o.elapsed_seconds,
        remaining_seconds: o.remaining_seconds,
        vendor_verdict: if last { vendor_verdict(item, o) } else { "" },
    }
}

/// RFC 4180 CSV with a header line.
pub fn write_csv<'a>(
    rows: impl IntoIterator<Item = &'a Row>,
    out: &mut impl Write,
) -> std::io::Result<()> {
    writeln!(out, "{}", COLUMNS.join(","))?;
    for r in rows {
        let fields = [
            r.source.to_string(),
            r.channel.as_str().to_owned(),
            r.item_id.to_string(),
            r.team.to_string(),
            r.priority.to_string(),
            r.policy.to_string(),
            r.target.as_str().to_owned(),
            r.cycle.to_string(),
            r.state.to_owned(),
            r.started_at.to_string(),
            r.due_at.to_string(),
            r.completed_at.to_string(),
            r.elapsed_seconds.to_string(),
            r.remaining_seconds.to_string(),
            r.vendor_verdict.to_owned(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        writeln!(out, "{}", line.join(","))?;
    }
    Ok(())
}

pub fn write_json(rows: &[Row], out: &mut impl Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, rows)?;
    writeln!(out)
}

fn csv_field(f: &str) -> String {
    if f.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f.to_owned()
    }
}

/// The lookback that makes a first sync started at `now` begin at `since`
/// (none when `since` is not in the past).
pub fn lookback_to(now: Timestamp, since: Timestamp) -> SignedDuration {
    now.duration_since(since).max(SignedDuration::ZERO)
}

/// Where a report as of `at` starts pulling a source: `since` when given,
/// else `at` minus the source's `initial_lookback`.
pub fn pull_start(
    source: &crate::config::SourceConfig,
    at: Timestamp,
    since: Option<Timestamp>,
) -> anyhow::Result<Timestamp> {
    match since {
        Some(t) => Ok(t),
        None => at.checked_sub(source.initial_lookback).map_err(|_| {
            anyhow::anyhow!(
                "source {}: --at minus initial_lookback is out of range",
                source.name
            )
        }),
    }
}

/// Reads the items of every configured source from the store.
pub fn items_from_store(config: &Config, store: &Store) -> anyhow::Result<Vec<Item>> {
    let mut out = Vec::new();
    for s in &config.sources {
        out.extend(store.items(&s.name)?);
    }
    Ok(out)
}

/// Pulls every configured source once, from [`pull_start`] to now.
///
/// A report as of a past instant needs the items of that period, not those
/// of the last `initial_lookback` before today. Providers start a first sync
/// at their clock minus `initial_lookback`, so each source's lookback is
/// stretched to reach back to the start; events after `at` are ignored by
/// the evaluation anyway.
pub async fn items_from_sources(
    config: &Config,
    at: Timestamp,
    since: Option<Timestamp>,
) -> anyhow::Result<Vec<Item>> {
    let metrics = ClientMetrics::new(&prometheus::Registry::new())?;
    let now = Timestamp::now();
    let mut out = Vec::new();
    for s in &config.sources {
        let mut s = s.clone();
        s.initial_lookback = lookback_to(now, pull_start(&s, at, since)?);
        let s = &s;
        let provider = providers::build(s, &metrics)?;
        let mut items: HashMap<String, Item> = HashMap::new();
        let mut cursor = Cursor::default();
        loop {
            let page = provider
                .fetch_page(&cursor)
                .await
                .map_err(|e| anyhow::anyhow!("source {}: {e}", s.name))?;
            for id in &page.removed {
                items.remove(id);
            }
            items.extend(page.items.into_iter().map(|i| (i.id.clone(), i)));
            cursor = page.next;
            if page.done {
                break;
            }
        }
        out.extend(items.into_values());
    }
    Ok(out)
}
