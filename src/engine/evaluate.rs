//! One evaluation, in four steps: evaluate the items an incremental
//! evaluation cannot skip (adding back what the skipped ones contribute),
//! count new final outcomes once (`count.rs`), render the SLA families and
//! the view `/` and `/items` read, and prune what can no longer move.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use jiff::Timestamp;

use super::count::{final_key, series_from_key};
use super::marks::{OpenMark, OpenMarks, OpenTotals, add_moving, mark_rows, open_mark};
use super::skips::Skips;
use super::spill::Spill;
use super::{Aged, Engine, Folded, Tracked, retention};
use crate::config::Config;
use crate::metrics::sla::{Inputs, render};
use crate::model::Item;
use crate::pages::View;
use crate::pages::status::compliance_rows;
use crate::report::Row;
use crate::sla::Outcome;
use crate::snapshot::{
    Evaluation, Final, Flush, OpenStable, Series, VendorVerdict, evaluate_sorted_marking,
};
use crate::store::StoreError;

impl Engine {
    /// One evaluation: evaluate every item, count new final outcomes once, and
    /// render the snapshot. Blocking (SQLite); run it off the async workers.
    /// Returns how many outcomes were counted for the first time.
    pub fn evaluate(&self, config: &Config) -> Result<usize, StoreError> {
        let started = Instant::now();
        let now = (self.clock)();
        let horizon = now
            .checked_sub(retention(config))
            .unwrap_or(jiff::Timestamp::MIN)
            .as_second();
        let incremental = self.incremental.load(Ordering::Relaxed);
        let address = config as *const Config as usize;
        if incremental && self.settled_under.swap(address, Ordering::Relaxed) != address {
            self.forget_settled();
        }
        // Finals are filtered while they are evaluated: only those neither
        // counted before (`known`) nor past the horizon become a `Final`.
        let known = match self.known_finals() {
            Ok(k) => k,
            Err(e) => {
                self.forget_settled();
                return Err(e);
            }
        };
        let mut seen = HashSet::with_capacity(known.len());
        let keep_final = |item: &Item, o: &Outcome| {
            let Some(at) = o.breached_at.or(o.completed_at) else {
                return false;
            };
            // Outcomes older than the retention horizon were counted (or
            // pruned) long ago; counting them now would count them twice.
            if at.as_second() < horizon {
                return false;
            }
            let key = final_key(
                &item.source,
                &item.id,
                o.target.as_str(),
                o.cycle,
                o.completed_at.is_some(),
            );
            seen.insert(key) && !known.contains(&key)
        };
        // Past a batch, finals leave memory in sorted runs and are counted
        // after the evaluation, merged; after a failed write the rest are
        // dropped and the evaluation fails as a failed count does.
        let mut spill = Spill::new(self.store.dir());
        let mut spilled: Result<(), StoreError> = Ok(());
        let mut flush = |finals: &mut Vec<Final>| {
            if spilled.is_ok() {
                spilled = spill.push(finals);
            }
            finals.clear();
        };
        let evaluated =
            self.evaluate_items(config, now, horizon, incremental, keep_final, &mut flush);
        let (mut eval, folded, aged, skipped) = match evaluated {
            Ok(v) => v,
            Err(e) => {
                // Items were marked settled before their finals were counted.
                self.counted_seeded.store(false, Ordering::Relaxed);
                self.forget_settled();
                return Err(e);
            }
        };
        drop(known);
        let evaluated = started.elapsed();
        self.last_evaluated.store(eval.evaluated, Ordering::Relaxed);
        let finals = spill.len() + eval.finals.len();
        let last = spilled.and_then(|()| {
            // The known set holds only what the last evaluation saw (an
            // incremental one skips settled items), so only the store can
            // say how large the table is.
            let how = Engine::how_to_count(finals, || self.store.count_counted())?;
            if spill.is_empty() {
                self.count(std::mem::take(&mut eval.finals), how, incremental)
            } else {
                spill.push(&mut eval.finals)?;
                self.count_sorted(spill.merged()?, how, incremental)
            }
        });
        drop(spill);
        let counted = match last {
            Ok(n) => {
                *self.counted.lock().expect("lock poisoned") = seen;
                n
            }
            Err(e) => {
                // The items marked settled above had finals in this count;
                // they must be offered again, and the set of counted finals
                // is read from the store again.
                self.counted_seeded.store(false, Ordering::Relaxed);
                self.forget_settled();
                return Err(e);
            }
        };
        let counted_at = started.elapsed();
        self.render(config, now, &mut eval, skipped, &folded, incremental)?;
        let rendered_at = started.elapsed();
        self.prune(&eval, aged, horizon)?;
        tracing::debug!(
            evaluated_items = eval.evaluated,
            evaluate_seconds = evaluated.as_secs_f64(),
            count_seconds = (counted_at - evaluated).as_secs_f64(),
            render_seconds = (rendered_at - counted_at).as_secs_f64(),
            prune_seconds = (started.elapsed() - rendered_at).as_secs_f64(),
            "evaluation steps"
        );
        Ok(counted)
    }

    /// Evaluates every item under the label caps and persists label values
    /// admitted for the first time. Returns the evaluation and how many values
    /// each capped label has folded into `other`.
    ///
    /// Incrementally, settled items are skipped (their vendor verdicts are
    /// added back), so are open-stable ones before their mark's `until`
    /// (their open states, time to breach, vendor verdicts and rows, moved
    /// to `now`, are added back), and the ones this evaluation finds settled
    /// or open-stable are marked.
    /// Also returns the settled items older than `horizon`, per source: done
    /// items a full evaluation would offer to [`Engine::prune`].
    fn evaluate_items(
        &self,
        config: &Config,
        now: Timestamp,
        horizon: i64,
        incremental: bool,
        keep_final: impl FnMut(&Item, &Outcome) -> bool,
        flush: Flush<'_>,
    ) -> Result<(Evaluation, Folded, Aged, OpenMarks), StoreError> {
        let (eval, admitted, folded, aged, open_marks) = {
            let items = self.items.read().expect("lock poisoned");
            let mut caps = self.caps.lock().expect("lock poisoned");
            caps.team_limit = config.metrics.team_limit;
            caps.priority_limit = config.metrics.priority_limit;
            let mut skips = self.skips.lock().expect("lock poisoned");
            let mut pending: Vec<(Timestamp, &str, &Arc<str>, &Tracked)> = Vec::new();
            let mut verdicts: HashMap<(&str, &'static str, VendorVerdict), u64> = HashMap::new();
            let mut aged: Aged = HashMap::new();
            let mut open_marks: OpenMarks = Vec::new();
            // Beside each source's entry of `open_marks`: its totals, and how
            // many of its marks (the first ones) have a moving cycle.
            let mut fixed: Vec<(OpenTotals, usize)> = Vec::new();
            let backfilling = self.backfilling.lock().expect("lock poisoned").clone();
            for (source, map) in items.iter() {
                if backfilling.contains(source) {
                    continue;
                }
                // Sized exactly: at a first evaluation every item is pending,
                // and growing by doubling held up to twice the ~8 MB it needs.
                if !incremental {
                    pending.reserve_exact(map.len());
                    for (id, t) in map {
                        pending.push((t.stored.created_at(), source.as_str(), id, &**t));
                    }
                    continue;
                }
                // Only the unmarked items are visited: a mark found expired
                // goes, and the evaluation may mark the item again.
                let skip = skips.entry(source.clone()).or_default();
                skip.expire(now.as_second());
                pending.reserve_exact(skip.unmarked.len());
                for id in &skip.unmarked {
                    if let Some((id, t)) = map.get_key_value(&**id) {
                        pending.push((t.stored.created_at(), source.as_str(), id, &**t));
                    }
                }
                for (channel, v, n) in skip.verdicts() {
                    *verdicts
                        .entry((source.as_str(), channel.as_str(), v))
                        .or_default() += n;
                }
                let old = skip.aged(horizon);
                if !old.is_empty() {
                    aged.insert(source.clone(), old);
                }
                let (open, moving) = skip.open_marks();
                if !open.is_empty() {
                    open_marks.push((source.as_str().into(), open));
                    fixed.push((skip.totals.clone(), moving));
                }
            }
            // The order `evaluate_all` would sort the items in; each is
            // decoded only while it is evaluated. Skipped items call no
            // label cap: their values were admitted or folded when they were
            // evaluated, admitted values stay admitted and the caps only fill
            // up, so a full evaluation gives them the same labels and admits
            // the other items' values in the same order.
            pending.sort_unstable_by(|a, b| (a.0, a.1, &**a.2).cmp(&(b.0, b.1, &**b.2)));
            // Items found open-stable are marked as they are evaluated, and
            // their rows are dropped at once: the view builds them from the
            // marks (at the first evaluation, ~400k rows at 100k tickets).
            let mut interner = self.interner.lock().expect("lock poisoned");
            let mut series = self.series.lock().expect("lock poisoned");
            let mut marked: Vec<(&str, Arc<OpenMark>)> = Vec::new();
            let mark = |s: OpenStable, rows: &[Row]| {
                let Some(&(_, source, id, t)) = pending.get(s.item) else {
                    return false;
                };
                let Some(mark) = open_mark(&s, source, id, rows, &mut interner, &mut series) else {
                    return false;
                };
                let mark = Arc::new(mark);
                if let Some(skip) = skips.get_mut(source) {
                    skip.mark_open(id.clone(), t.stored.channel(), mark.clone());
                }
                marked.push((source, mark));
                true
            };
            let mut eval = evaluate_sorted_marking(
                pending.iter().map(|(_, source, id, t)| t.item(source, id)),
                &config.policies,
                now,
                &mut caps,
                keep_final,
                incremental.then_some(mark),
                Some((self.finals_batch.load(Ordering::Relaxed), flush)),
            );
            drop((interner, series));
            // What the skipped marks add (taken before this evaluation
            // marked more); the new marks' share is in the evaluation.
            for ((_, marks), (totals, moving)) in open_marks.iter().zip(&fixed) {
                totals.add_to(&mut eval);
                add_moving(&mut eval, &marks[..*moving], now.as_second());
            }
            for (source, mark) in marked {
                match open_marks.iter_mut().find(|(s, _)| &**s == source) {
                    Some((_, marks)) => marks.push(mark),
                    None => open_marks.push((source.into(), vec![mark])),
                }
            }
            for ((source, channel, (target, result)), n) in verdicts {
                *eval
                    .vendor
                    .entry((source.to_owned(), channel, target, result))
                    .or_default() += n;
            }
            if incremental {
                for s in std::mem::take(&mut eval.settled) {
                    let map = items.get(&s.source);
                    let found = map.and_then(|m| m.get_key_value(s.id.as_str()));
                    if let (Some((id, t)), Some(skip)) = (found, skips.get_mut(&s.source)) {
                        let (updated, channel) = (t.stored.updated_at_second(), t.stored.channel());
                        skip.mark_settled(id.clone(), updated, channel, s.vendor);
                    }
                }
                skips.values_mut().for_each(Skips::shrink);
            }
            drop(skips);
            let admitted = std::mem::take(&mut caps.newly_admitted);
            let folded: Vec<(&'static str, u64)> = ["priority", "team"]
                .into_iter()
                .map(|l| (l, caps.folded.get(l).map_or(0, |s| s.len() as u64)))
                .collect();
            (eval, admitted, folded, aged, open_marks)
        };
        for (source, label, value) in &admitted {
            self.store.admit_label_value(source, label, value)?;
        }
        Ok((eval, folded, aged, open_marks))
    }

    /// Renders the SLA families from the evaluation, the stored counters and
    /// the compliance windows, and swaps them in for `/metrics`; moves the
    /// open rows, and the skipped items' rows to build on first read, into
    /// the view `/` and `/items` read.
    fn render(
        &self,
        config: &Config,
        now: Timestamp,
        eval: &mut Evaluation,
        skipped: OpenMarks,
        folded: &[(&'static str, u64)],
        incremental: bool,
    ) -> Result<(), StoreError> {
        // Stored counters of sources the config no longer names (or another
        // shard now owns) stay in the store but leave `/metrics`, so a source
        // is served by exactly one replica.
        let configured = |s: &Series| config.sources.iter().any(|c| c.name == s.source);
        let counters: Vec<(Series, String, u64)> = self
            .store
            .counters()?
            .into_iter()
            .filter_map(|(key, name, value)| Some((series_from_key(&key)?, name, value)))
            .filter(|(s, _, _)| configured(s))
            .collect();
        let compliance = self.compliance(config, now, incremental)?;
        let objectives: Vec<(String, &'static str, f64)> = config
            .policies
            .policies()
            .iter()
            .flat_map(|p| {
                p.targets
                    .iter()
                    .map(|t| (p.name.clone(), t.target.as_str(), t.objective))
            })
            .collect();
        let mut text = String::with_capacity(self.rendered().len() + 1024);
        render(
            &Inputs {
                eval: &*eval,
                counters: &counters,
                compliance: &compliance,
                objectives: &objectives,
                folded,
            },
            &mut text,
        );
        *self.rendered.write().expect("lock poisoned") = Arc::new(text);
        // One open row per open-state gauge of one.
        let states = eval.open.iter().map(|((_, s), n)| (*s, *n as usize));
        let view = View::deferred(
            now,
            std::mem::take(&mut eval.open_rows),
            Some(Box::new(mark_rows(skipped, now.as_second()))),
            states,
            compliance_rows(&compliance, &objectives),
        );
        *self.view.write().expect("lock poisoned") = Arc::new(view);
        Ok(())
    }
}
