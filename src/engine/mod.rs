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
//! Compliance windows come from counted instants kept in memory (`tallies.rs`)
//! instead of a scan of the store. The output is identical to a full
//! evaluation (`tests/incremental.rs` compares the two over random timelines
//! and poll sequences).

mod count;
mod evaluate;
mod marks;
mod skips;
mod spill;
mod tallies;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use jiff::SignedDuration;
use tokio::sync::Notify;

use self::skips::Skips;
use self::tallies::Tallies;
use crate::clock::Clock;
use crate::compact::{Interner, Stored};
use crate::config::Config;
use crate::metrics::source::SourceMetrics;
use crate::model::Item;
use crate::pages::View;
use crate::snapshot::{LabelCaps, Series};
use crate::store::{Cache, Store, StoreError};

/// Per capped label, how many distinct values folded into `other`.
type Folded = Vec<(&'static str, u64)>;

/// Ids of done items past the retention horizon, per source.
type Aged = HashMap<String, Vec<String>>;

/// How many final outcomes an evaluation holds in memory: a first
/// evaluation at 100k tickets makes ~300k, and holding them all until the
/// end was the largest allocation of its peak memory. Past this many they
/// go to a `Spill` (`spill.rs`) in sorted runs and are counted at the end, merged.
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
