//! The engine: the state the pollers and the evaluator share (the store, the
//! in-memory item set, the label caps, the rendered snapshot) and one
//! evaluation: evaluate every item, count new final outcomes once, tally the
//! compliance windows, render the SLA families, prune what can no longer move.
//!
//! Evaluations are incremental: an item that [`crate::snapshot::settles`] (no
//! open cycle, nothing in it after `now`, every vendor verdict decided) and
//! whose finals were counted is not evaluated again until it changes; only its
//! vendor verdicts are added back. Neither is an open-stable item (open,
//! nothing in it after `now`: [`crate::snapshot::OpenStable`]) until a
//! running cycle of it could breach or turn at risk: its open states, time to
//! breach, vendor verdicts and rows are added back, the rows' elapsed and
//! remaining seconds moved to `now` by their [`crate::snapshot::RowClock`].
//! Compliance windows come from counted instants kept in memory ([`Tallies`])
//! instead of a scan of the store. The output is identical to a full
//! evaluation (`tests/incremental.rs` compares the two over random timelines
//! and poll sequences).

mod count;
mod marks;
mod skips;
mod spill;
mod tallies;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use tokio::sync::Notify;

use self::count::{final_key, series_from_key};
use self::marks::{OpenMark, OpenMarks, OpenTotals, add_moving, mark_rows, open_mark};
use self::skips::Skips;
use self::spill::Spill;
use self::tallies::Tallies;
use crate::clock::Clock;
use crate::compact::{Interner, Stored};
use crate::config::Config;
use crate::metrics::sla::{Inputs, render};
use crate::metrics::source::SourceMetrics;
use crate::model::Item;
use crate::pages::View;
use crate::pages::status::compliance_rows;
use crate::report::Row;
use crate::sla::Outcome;
use crate::snapshot::{
    Evaluation, Final, Flush, LabelCaps, OpenStable, Series, VendorVerdict, evaluate_sorted_marking,
};
use crate::store::{Cache, Store, StoreError};

/// Per capped label, how many distinct values folded into `other`.
type Folded = Vec<(&'static str, u64)>;

/// Ids of done items past the retention horizon, per source.
type Aged = HashMap<String, Vec<String>>;

/// How many final outcomes an evaluation holds in memory: a first
/// evaluation at 100k tickets makes ~300k, and holding them all until the
/// end was the largest allocation of its peak memory. Past this many they
/// go to a [`Spill`] in sorted runs and are counted at the end, merged.
pub const FINALS_BATCH: usize = 65_536;

/// How often open items are re-evaluated between syncs, so time to breach
/// and new breaches move by the minute even when nothing is synced.
pub const EVALUATION_INTERVAL: Duration = Duration::from_secs(15);

/// The tracked items of one source, by id. Entries are boxed so the hash
/// table holds two pointers per slot (a table keeps up to twice the slots it
/// uses), and items are kept in their compact form ([`crate::compact`]): the
/// source and id are the keys, instants are seconds, labels are interned.
pub type ItemSet = HashMap<Arc<str>, Box<Tracked>>;

/// One tracked item and what incremental evaluation knows about it.
#[derive(Debug)]
pub struct Tracked {
    stored: Stored,
}

impl Tracked {
    /// The item, decoded from its compact form (or borrowed when kept whole).
    pub fn item(&self, source: &str, id: &str) -> Cow<'_, Item> {
        self.stored.item(source, id)
    }

    /// Whether the item is kept compact (else whole: see [`crate::compact`]).
    pub fn is_compact(&self) -> bool {
        self.stored.is_compact()
    }
}

/// An item of `source` ready for its [`ItemSet`], in its compact form.
pub fn entry(item: Item, source: &str, interner: &mut Interner) -> (Arc<str>, Box<Tracked>) {
    let id: Arc<str> = item.id.as_str().into();
    (
        id,
        Box::new(Tracked {
            stored: Stored::new(item, source, interner),
        }),
    )
}

/// The state the pollers and the evaluator share.
pub struct Engine {
    pub store: Arc<Store>,
    items: RwLock<HashMap<String, ItemSet>>,
    /// Which tracked items are settled or open-stable (skipped by an
    /// incremental evaluation), per source. Lock order: after `items` and
    /// `caps`, before `interner`.
    skips: Mutex<HashMap<String, Skips>>,
    /// Team, priority and tag strings shared by the tracked items. Lock
    /// order: after `items`.
    interner: Mutex<Interner>,
    /// The series of open-stable items' cycles, one copy each. Lock order:
    /// after `items`, `caps` and `interner`.
    series: Mutex<HashSet<Arc<Series>>>,
    caps: Mutex<LabelCaps>,
    /// The rendered SLA families; swapped whole after each evaluation.
    rendered: RwLock<Arc<String>>,
    /// The open rows and compliance the pages read; swapped whole after each
    /// evaluation, so a request never evaluates anything.
    view: RwLock<Arc<View>>,
    pub source_metrics: SourceMetrics,
    /// Hashes of the finals the store holds as counted (with the completion
    /// observed, where there is one) as of the last evaluation. Each
    /// evaluation hands the store only the others: re-offering every final
    /// every 15 s was a third of an evaluation's CPU on a large helpdesk.
    /// A 64-bit hash of a few 100k keys collides with odds of about 1e-8.
    counted: Mutex<HashSet<u64>>,
    /// Whether `counted` holds the store's counted rows (see [`Engine::count`]).
    counted_seeded: AtomicBool,
    /// Off: every evaluation evaluates every item and scans the store for the
    /// compliance windows (the reference the incremental path is tested against).
    incremental: AtomicBool,
    /// Address of the config the settled marks were made under; another
    /// config (a reload) may change any item's evaluation, so it clears them.
    settled_under: AtomicUsize,
    /// Counted instants for the compliance windows; `None` until first used.
    tallies: Mutex<Option<Tallies>>,
    /// How many items the last evaluation evaluated (the rest were settled).
    last_evaluated: AtomicUsize,
    /// How many finals an evaluation holds before it counts them
    /// ([`FINALS_BATCH`]; smaller in tests).
    finals_batch: AtomicUsize,
    /// Wakes the evaluator after a sync.
    pub evaluate_now: Notify,
    /// Sources in a backfill (a first sync from no cursor): their partial
    /// item sets are not evaluated, so an evaluation during a long backfill
    /// neither competes with its page writes for the store nor counts
    /// ~100k finals it would count at the end anyway. See [`Engine::backfill`].
    backfilling: Mutex<HashSet<String>>,
    pub clock: Clock,
    /// Why the last store write of each writer (`evaluation`, or a source's
    /// sync) failed, until that writer's next write succeeds; `/-/ready`
    /// answers 503 meanwhile.
    store_failures: Mutex<std::collections::BTreeMap<String, String>>,
}

impl Engine {
    /// An engine with an empty item set; [`Engine::load`] reads the stored items.
    pub fn new(store: Store, source_metrics: SourceMetrics, clock: Clock) -> Engine {
        if let Some(dir) = store.dir() {
            spill::remove_stale(dir);
        }
        Engine {
            store: Arc::new(store),
            items: RwLock::new(HashMap::new()),
            skips: Mutex::new(HashMap::new()),
            interner: Mutex::new(Interner::default()),
            series: Mutex::new(HashSet::new()),
            caps: Mutex::new(LabelCaps::default()),
            rendered: RwLock::new(Arc::new(String::new())),
            view: RwLock::new(Arc::new(View::default())),
            source_metrics,
            counted: Mutex::new(HashSet::new()),
            counted_seeded: AtomicBool::new(false),
            incremental: AtomicBool::new(true),
            settled_under: AtomicUsize::new(0),
            tallies: Mutex::new(None),
            last_evaluated: AtomicUsize::new(0),
            finals_batch: AtomicUsize::new(FINALS_BATCH),
            evaluate_now: Notify::new(),
            backfilling: Mutex::new(HashSet::new()),
            clock,
            store_failures: Mutex::new(Default::default()),
        }
    }

    /// Records the outcome of a store write by `writer` (`evaluation`, or a
    /// source's name): a failure is kept, and makes the exporter unready,
    /// until the same writer's next write succeeds.
    pub fn note_store_write<T>(&self, writer: &str, result: &Result<T, StoreError>) {
        let mut failures = self.store_failures.lock().expect("lock poisoned");
        match result {
            Ok(_) => {
                failures.remove(writer);
            }
            Err(e) => {
                failures.insert(writer.to_owned(), e.to_string());
            }
        }
    }

    /// The first writer whose last store write failed, with the reason.
    pub fn store_failure(&self) -> Option<String> {
        let failures = self.store_failures.lock().expect("lock poisoned");
        failures
            .iter()
            .next()
            .map(|(writer, e)| format!("{writer}: {e}"))
    }

    /// Turns incremental evaluation on (the default) or off. Off, every
    /// evaluation is a full one; tests compare the two.
    pub fn set_incremental(&self, on: bool) {
        self.incremental.store(on, Ordering::Relaxed);
        if !on {
            self.forget_settled();
            *self.tallies.lock().expect("lock poisoned") = None;
        }
    }

    /// Clears every settled and open-stable mark, so the next evaluation
    /// evaluates every item.
    pub fn forget_settled(&self) {
        let all = self.items.write().expect("lock poisoned");
        let mut skips = self.skips.lock().expect("lock poisoned");
        skips.clear();
        for (source, map) in all.iter() {
            let s = skips.entry(source.clone()).or_default();
            s.reset(map.keys().cloned());
        }
    }

    /// Counts finals every `n` of them instead of every [`FINALS_BATCH`]
    /// (tests make batches small enough to happen).
    pub fn set_finals_batch(&self, n: usize) {
        self.finals_batch.store(n.max(1), Ordering::Relaxed);
    }

    /// How many items the last evaluation evaluated; settled and open-stable
    /// ones are skipped.
    pub fn last_evaluated(&self) -> usize {
        self.last_evaluated.load(Ordering::Relaxed)
    }

    /// The SLA families as of the last evaluation.
    pub fn rendered(&self) -> Arc<String> {
        self.rendered.read().expect("lock poisoned").clone()
    }

    /// The pages' view as of the last evaluation.
    pub fn view(&self) -> Arc<View> {
        self.view.read().expect("lock poisoned").clone()
    }

    /// Marks `source` as backfilling until the guard drops (the sync ends,
    /// fails or is cancelled): evaluations skip its items meanwhile, and the
    /// one the end of the sync wakes evaluates them all.
    pub fn backfill(self: &Arc<Self>, source: &str) -> Backfill {
        self.backfilling
            .lock()
            .expect("lock poisoned")
            .insert(source.to_owned());
        Backfill {
            engine: self.clone(),
            source: source.to_owned(),
        }
    }

    /// Items held in memory per source.
    pub fn tracked(&self) -> HashMap<String, usize> {
        self.items
            .read()
            .expect("lock poisoned")
            .iter()
            .map(|(s, m)| (s.clone(), m.len()))
            .collect()
    }

    /// Brings the item set and admitted labels in line with `config`: sources
    /// it no longer names are forgotten (their stored data stays), sources not
    /// loaded yet are read from the store, and loaded ones are left as they
    /// are, so a reload costs only what it adds.
    pub fn load(&self, config: &Config) -> Result<(), StoreError> {
        let names: Vec<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
        let loaded: Vec<String> = self
            .items
            .read()
            .expect("lock poisoned")
            .keys()
            .cloned()
            .collect();
        let mut items = HashMap::new();
        let mut admitted = HashMap::new();
        for name in names.iter().filter(|n| !loaded.iter().any(|l| l == *n)) {
            // One item decoded at a time, straight into its compact form (a
            // `Vec` of every stored item first was a second copy of the set).
            let mut set = ItemSet::new();
            let mut interner = self.interner.lock().expect("lock poisoned");
            self.store.for_each_item(name, |item| {
                let (id, t) = entry(item, name, &mut interner);
                set.insert(id, t);
            })?;
            drop(interner);
            set.shrink_to_fit();
            items.insert(name.to_string(), set);
            for label in ["team", "priority"] {
                let values = self.store.label_values(name, label)?;
                admitted.insert((name.to_string(), label), values.into_iter().collect());
            }
        }
        // Lock order, here and in `evaluate`: items before caps, never both
        // taken the other way round.
        {
            let mut all = self.items.write().expect("lock poisoned");
            let mut skips = self.skips.lock().expect("lock poisoned");
            all.retain(|s, _| names.contains(&s.as_str()));
            skips.retain(|s, _| names.contains(&s.as_str()));
            for (source, set) in &items {
                let s = skips.entry(source.clone()).or_default();
                s.reset(set.keys().cloned());
            }
            all.extend(items);
        }
        let mut caps = self.caps.lock().expect("lock poisoned");
        caps.team_limit = config.metrics.team_limit;
        caps.priority_limit = config.metrics.priority_limit;
        caps.admitted
            .retain(|(s, _), _| names.contains(&s.as_str()));
        caps.admitted.extend(admitted);
        Ok(())
    }

    /// Settles the store's page cache at its small size once no source
    /// backfills (see [`Cache`]); the evaluation loop calls it before each
    /// evaluation.
    pub fn settle_cache(&self) {
        if self.backfilling.lock().expect("lock poisoned").is_empty() {
            self.store.set_cache(Cache::Settled);
        }
    }

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

    /// Puts a synced page's items into the item set (replacing older
    /// versions, which drops their settled marks; an identical version
    /// changes nothing) and forgets removed ids.
    pub fn apply(&self, source: &str, items: Vec<Item>, removed: &[String]) {
        let mut all = self.items.write().expect("lock poisoned");
        let mut skips = self.skips.lock().expect("lock poisoned");
        let mut interner = self.interner.lock().expect("lock poisoned");
        let map = all.entry(source.to_owned()).or_default();
        let skip = skips.entry(source.to_owned()).or_default();
        for id in removed {
            map.remove(id.as_str());
            skip.forget(id);
        }
        for item in items {
            // A re-read that changed nothing (LiveAgent re-reads an overlap
            // window behind its cursor every poll) keeps the entry and so its
            // settled mark: replacing it would evaluate the item again.
            if map
                .get(item.id.as_str())
                .is_some_and(|t| *t.item(source, &item.id) == item)
            {
                continue;
            }
            let (id, item) = entry(item, source, &mut interner);
            skip.changed(&id);
            map.insert(id, item);
        }
    }
}

/// A source's backfill, from [`Engine::backfill`] until dropped.
pub struct Backfill {
    engine: Arc<Engine>,
    source: String,
}

impl Drop for Backfill {
    fn drop(&mut self) {
        self.engine
            .backfilling
            .lock()
            .expect("lock poisoned")
            .remove(&self.source);
    }
}

/// How long counted outcomes and finished items are kept: the longest rolling
/// window or a month (for month to date), plus a day of margin.
pub fn retention(config: &Config) -> SignedDuration {
    let longest = config
        .metrics
        .compliance_windows
        .iter()
        .map(|(_, d)| *d)
        .max()
        .unwrap_or_default();
    longest.max(SignedDuration::from_hours(31 * 24)) + SignedDuration::from_hours(24)
}
