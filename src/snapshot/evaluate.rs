//! Evaluating items at one instant: all of them, or the changed ones with
//! the marks that say when each must be evaluated again, compared with the
//! vendor's own verdicts.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use jiff::Timestamp;

use super::stable::{OpenStable, open_settles_until, open_stable};
use super::{
    AGREE_BREACHED, AGREE_MET, EXPORTER_BREACHED_ONLY, Evaluation, Final, LabelCaps, Series,
    Settled, VENDOR_BREACHED_ONLY, VendorVerdict, Verdicts, share,
};
use crate::model::Item;
use crate::report::Row;
use crate::sla::{Outcome, PolicySet, State, evaluate_into};

/// Whether an item with no open cycle at `now` evaluates the same at every
/// later instant while it is unchanged: every instant it holds is at or
/// before `now` (evaluating as of `now` ignored none of its events), and
/// each vendor verdict is already decided (a vendor due with neither a
/// verdict nor a completion flips to breached when `now` passes it).
pub fn settles(item: &Item, now: Timestamp) -> bool {
    latest_instant(item) <= now
        && item
            .vendor_due
            .iter()
            .all(|v| v.breached.is_some() || v.completed_at.is_some() || now > v.due_at)
}

/// The latest instant an item holds.
fn latest_instant(item: &Item) -> Timestamp {
    let dues = item.vendor_due.iter().map(|v| v.due_at);
    dues.chain([latest_event(item)])
        .max()
        .unwrap_or(item.created_at)
}

/// The latest instant an item holds other than a vendor's due instant: its
/// events, which an evaluation as of an earlier instant ignores.
pub(super) fn latest_event(item: &Item) -> Timestamp {
    let lists = [
        &item.agent_replies[..],
        &item.customer_messages[..],
        &item.resolutions[..],
        &item.reopenings[..],
    ];
    let statuses = item
        .statuses
        .iter()
        .flat_map(|s| std::iter::once(s.start).chain(s.end));
    let completed = item.vendor_due.iter().filter_map(|v| v.completed_at);
    lists
        .into_iter()
        .flatten()
        .copied()
        .chain(statuses)
        .chain(completed)
        .chain(item.first_assigned_at)
        .chain(item.answered_at)
        .chain(item.ended_at)
        .chain([item.created_at, item.updated_at])
        .max()
        .unwrap_or(item.created_at)
}

/// Compares the vendor's verdict on each of the item's targets with ours. The
/// vendor's verdict is its explicit `breached` flag, else completion after the
/// due instant (or no completion by `now` past it); ours is the outcome of the
/// same target's cycle (the last one for next response, whose vendor due is the
/// current cycle's). A side still undecided, or a target measured by the
/// vendor's due instant itself (`use_vendor_due`), is not compared.
fn compare_with_vendor(
    item: &Item,
    policy: &crate::sla::Policy,
    outcomes: &[Outcome],
    now: Timestamp,
    into: &mut Vec<VendorVerdict>,
) {
    for vd in &item.vendor_due {
        let measured_by_vendor = policy
            .targets
            .iter()
            .any(|t| t.target == vd.target && t.use_vendor_due);
        if measured_by_vendor {
            continue;
        }
        let vendor = vd.breached.or(match vd.completed_at {
            Some(done) => Some(done > vd.due_at),
            None => (now > vd.due_at).then_some(true),
        });
        let ours = outcomes
            .iter()
            .filter(|o| o.target == vd.target)
            .max_by_key(|o| o.cycle)
            .and_then(|o| match o.state {
                State::Met => Some(false),
                State::Breached => Some(true),
                _ => None,
            });
        let result = match (vendor, ours) {
            (Some(false), Some(false)) => AGREE_MET,
            (Some(true), Some(true)) => AGREE_BREACHED,
            (Some(true), Some(false)) => VENDOR_BREACHED_ONLY,
            (Some(false), Some(true)) => EXPORTER_BREACHED_ONLY,
            _ => continue,
        };
        into.push((vd.target.as_str(), result));
    }
}

/// Adds one item's vendor verdicts to the aggregate.
pub fn add_vendor(
    vendor: &mut BTreeMap<(String, &'static str, &'static str, &'static str), u64>,
    source: &str,
    channel: &'static str,
    verdicts: &[VendorVerdict],
) {
    for (target, result) in verdicts {
        *vendor
            .entry((source.to_owned(), channel, target, result))
            .or_default() += 1;
    }
}

/// Evaluates every item at `now`. Items no policy selects are not measured.
///
/// Items are evaluated oldest first (creation time, then source and id),
/// whatever order they come in: the label caps admit values in that order, so
/// the teams and priorities that get their own label are those of the oldest
/// measured items, the same on every run over the same data (the engine keeps
/// items in hash maps, whose order differs between runs).
pub fn evaluate_all<'a>(
    items: impl IntoIterator<Item = &'a Item>,
    policies: &PolicySet,
    now: Timestamp,
    caps: &mut LabelCaps,
) -> Evaluation {
    let mut items: Vec<&Item> = items.into_iter().collect();
    items.sort_unstable_by(|a, b| {
        (a.created_at, &a.source, &a.id).cmp(&(b.created_at, &b.source, &b.id))
    });
    evaluate_sorted(items, policies, now, caps, |_, _| true)
}

/// [`evaluate_all`] over items already in its order (`created_at`, source,
/// id), owned or borrowed: the engine decodes each compact item only while it
/// is evaluated. Only the final outcomes `keep_final` accepts go into
/// [`Evaluation::finals`]: the engine drops the ones it has counted before
/// building them (at 300k finals they were the evaluation's largest
/// allocation, ~140 MB with the growth of the `Vec`, only to be found known).
pub fn evaluate_sorted<I: std::borrow::Borrow<Item>>(
    items: impl IntoIterator<Item = I>,
    policies: &PolicySet,
    now: Timestamp,
    caps: &mut LabelCaps,
    keep_final: impl FnMut(&Item, &Outcome) -> bool,
) -> Evaluation {
    let no_marks: Option<fn(OpenStable, &[Row]) -> bool> = None;
    evaluate_sorted_marking(items, policies, now, caps, keep_final, no_marks, None)
}

/// A batch of final outcomes for [`evaluate_sorted_marking`]'s `flush`.
pub type Flush<'a> = &'a mut dyn FnMut(&mut Vec<Final>);

/// [`evaluate_sorted`], also handing each open item that is open-stable at
/// `now` (see [`OpenStable`]) to `mark_open` with its rows, when given (an
/// incremental evaluator skips such items until they change). When it
/// returns true it has taken the rows over (it builds them again when they
/// are read), and they leave [`Evaluation::open_rows`]; the open states,
/// time to breach and vendor verdicts stay.
///
/// With `flush` as `Some((batch, f))`, the finals are handed to `f` every
/// `batch` of them, which takes them (the engine spills them to disk); the last
/// ones stay in [`Evaluation::finals`]. A first evaluation at 100k tickets
/// makes ~300k finals, and their `Vec` with its growth was the largest
/// allocation of its peak (~42 MB of a 174 MB heap).
pub fn evaluate_sorted_marking<I: std::borrow::Borrow<Item>>(
    items: impl IntoIterator<Item = I>,
    policies: &PolicySet,
    now: Timestamp,
    caps: &mut LabelCaps,
    mut keep_final: impl FnMut(&Item, &Outcome) -> bool,
    mut mark_open: Option<impl FnMut(OpenStable, &[Row]) -> bool>,
    mut flush: Option<(usize, Flush<'_>)>,
) -> Evaluation {
    let mut eval = Evaluation::default();
    let mut outcomes = Vec::new();
    let mut verdicts = Vec::new();
    let mut shared: HashSet<Arc<Series>> = HashSet::new();
    let mut labels = crate::compact::Interner::default();
    for item in items {
        let item: &Item = item.borrow();
        eval.evaluated += 1;
        // An item no policy measures, or with nothing to measure, can never
        // move a metric: it is done (and pruned once past the retention).
        let mut done = || {
            eval.done
                .entry(item.source.clone())
                .or_default()
                .push(item.id.clone())
        };
        let Some(policy) = policies.select(item) else {
            done();
            settle(&mut eval, item, now, &[]);
            continue;
        };
        outcomes.clear();
        evaluate_into(item, policy, now, &mut outcomes);
        if outcomes.is_empty() {
            done();
            settle(&mut eval, item, now, &[]);
            continue;
        }
        verdicts.clear();
        if !item.vendor_due.is_empty() {
            compare_with_vendor(item, policy, &outcomes, now, &mut verdicts);
            add_vendor(
                &mut eval.vendor,
                &item.source,
                item.channel.as_str(),
                &verdicts,
            );
        }
        let team = caps.label(&item.source, "team", item.team.as_deref());
        let priority = caps.label(&item.source, "priority", item.priority.as_deref());
        let mut open = false;
        let rows_from = eval.open_rows.len();
        for o in outcomes.drain(..) {
            let series = Series {
                source: item.source.clone(),
                channel: item.channel.as_str(),
                team: team.clone(),
                priority: priority.clone(),
                policy: policy.name.clone(),
                target: o.target.as_str(),
            };
            let still_open = o.completed_at.is_none() && o.state != State::NotApplicable;
            open |= still_open;
            let state = match o.state {
                State::Breached if still_open => Some("breached"),
                State::Running if o.at_risk => Some("at_risk"),
                State::Running => Some("running"),
                State::Paused => Some("paused"),
                _ => None,
            };
            if let Some(state) = state {
                *eval.open.entry((series.clone(), state)).or_default() += 1;
                eval.open_rows
                    .push(crate::report::row(item, &policy.name, &o, &mut labels));
            }
            if matches!(o.state, State::Running | State::Paused) {
                eval.time_to_breach
                    .entry(series.clone())
                    .or_default()
                    .observe(o.remaining_seconds.max(0) as f64);
            }
            if matches!(o.state, State::Met | State::Breached)
                && let Some(at) = o.breached_at.or(o.completed_at)
                && keep_final(item, &o)
            {
                eval.finals.push(Final {
                    series: share(&mut shared, series),
                    item_id: item.id.as_str().into(),
                    cycle: o.cycle,
                    state: o.state,
                    started_at: o.started_at,
                    at,
                    completed_elapsed: o.completed_at.map(|_| o.elapsed_seconds),
                });
                if let Some((batch, f)) = flush.as_mut()
                    && eval.finals.len() >= *batch
                {
                    f(&mut eval.finals);
                }
            }
        }
        if !open {
            eval.done
                .entry(item.source.clone())
                .or_default()
                .push(item.id.clone());
            settle(&mut eval, item, now, &verdicts);
        } else if let Some(mark) = mark_open.as_mut()
            && let Some(vendor_until) = open_settles_until(item, now)
        {
            let rows = &eval.open_rows[rows_from..];
            if let Some((clocks, until)) = open_stable(item, policy, now, rows) {
                let stable = OpenStable {
                    item: eval.evaluated - 1,
                    at: now.as_second(),
                    team: labels.intern(&team),
                    priority: labels.intern(&priority),
                    vendor: Verdicts::new(&verdicts),
                    clocks,
                    until: until.min(vendor_until),
                };
                if mark(stable, rows) {
                    eval.open_rows.truncate(rows_from);
                }
            }
        }
    }
    eval
}

/// Records a done item as settled when [`settles`] holds for it.
fn settle(eval: &mut Evaluation, item: &Item, now: Timestamp, verdicts: &[VendorVerdict]) {
    if settles(item, now) {
        eval.settled.push(Settled {
            source: item.source.clone(),
            id: item.id.clone(),
            vendor: Verdicts::new(verdicts),
        });
    }
}
