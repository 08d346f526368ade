//! Memory per tracked item: the heap the exporter's in-memory item set
//! (`engine::ItemSet` per source, built with `engine::entry`) holds per item, with
//! items mapped from the benchmark's LiveAgent rows by the real provider
//! mapping. A counting global allocator gives exact live bytes; RSS would add
//! allocator slack and noise (glibc adds 8 bytes per allocation and rounds to
//! 16). Budget (issue 19): 400 bytes per item.
//!
//! Not a criterion benchmark (there is nothing to time); it prints one
//! `memory:` line per channel and one for the mix, which `bench/run` records.

#[path = "../bench/data.rs"]
mod data;

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::atomic::{AtomicIsize, Ordering};

use helpdesk_sla_exporter::compact::Interner;
use helpdesk_sla_exporter::engine::{ItemSet, entry};
use helpdesk_sla_exporter::model::Item;
use helpdesk_sla_exporter::providers::liveagent::map::{
    self as map, Departments, RawCall, RawChat, RawHistoryRow, RawTicket, TicketOutcome,
};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const SOURCE: &str = "bench";

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Items of one channel, mapped from the generated rows.
fn items(d: &data::Data, departments: &Departments, channel: &str) -> Vec<Item> {
    match channel {
        "ticket" => d
            .tickets
            .iter()
            .filter_map(|t| {
                let raw: RawTicket = serde_json::from_str(&t.row).expect("ticket row");
                let history: Vec<RawHistoryRow> = t
                    .history
                    .iter()
                    .map(|h| serde_json::from_str(&h.2).expect("history row"))
                    .collect();
                match map::ticket_item(SOURCE, &raw, &history, departments) {
                    TicketOutcome::Item(i) => Some(*i),
                    TicketOutcome::Removed(_) | TicketOutcome::Elsewhere(_) => None,
                }
            })
            .collect(),
        "chat" => d
            .chats
            .iter()
            .map(|c| {
                let raw: RawChat = serde_json::from_str(&c.row).expect("chat row");
                map::chat_item(SOURCE, &raw, departments)
            })
            .collect(),
        _ => d
            .calls
            .iter()
            .filter_map(|c| {
                let raw: RawCall = serde_json::from_str(&c.row).expect("call row");
                map::call_item(SOURCE, &raw)
            })
            .collect(),
    }
}

/// Heap bytes per item of a map holding `items`, keys and table included, the
/// way `Engine::apply` builds it (one insert per item): everything dropping the
/// map frees, so the figure is exact whatever the map's growth history.
/// The interner of team, priority and tag strings is dropped with the map and
/// counted with it. Also returns how many items were kept whole (not compact).
fn per_item(items: Vec<Item>) -> (usize, f64, usize) {
    let n = items.len();
    let mut interner = Interner::default();
    let mut map: ItemSet = HashMap::new();
    for item in items {
        let (id, item) = entry(item, SOURCE, &mut interner);
        map.insert(id, item);
    }
    let whole = map.values().filter(|t| !t.is_compact()).count();
    let before = live();
    drop(map);
    drop(interner);
    let freed = before - live();
    (n, freed as f64 / n.max(1) as f64, whole)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this
    // without it, as a quick smoke run on a small item set.
    let benching = std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("MEMORY_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benching { 100_000 } else { 2_000 });
    let sizes = data::Sizes {
        tickets: n,
        chats: n / 5,
        calls: n / 5,
        departments: 50,
    };
    let now = jiff::Timestamp::now().as_second();
    let d = data::generate(sizes, 42, now);
    let departments: Departments = (0..sizes.departments)
        .map(|i| (data::dept_id(i), data::dept_name(i)))
        .collect();
    println!(
        "memory: size_of::<Item>() = {} bytes",
        std::mem::size_of::<Item>()
    );
    let mut all = Vec::new();
    for channel in ["ticket", "chat", "call"] {
        // Mapped twice rather than cloned: a clone trims the lists' spare
        // capacity, which the provider's items carry.
        all.extend(items(&d, &departments, channel));
        let (count, bytes, whole) = per_item(items(&d, &departments, channel));
        println!(
            "memory: channel={channel} items={count} bytes_per_item={bytes:.0} kept_whole={whole}"
        );
    }
    // The exporter keeps one map per source with every channel in it.
    let (count, bytes, whole) = per_item(all);
    println!("memory: channel=all items={count} bytes_per_item={bytes:.0} kept_whole={whole}");
}
