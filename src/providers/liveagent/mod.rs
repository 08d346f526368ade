//! LiveAgent v3: the IO half. Pages through `/tickets` (+ `/tickets/history`),
//! `/chats` and `/calls` (one page of each in `streams`), keeps department
//! names fresh, and hands the JSON to the pure [`map`].
//!
//! A sync visits the enabled streams in the order tickets, chats, calls; each
//! `fetch_page` call fetches one page of one stream and returns a cursor that
//! says which stream and where, so a restart resumes mid-sync. The streams
//! are independent: each keeps its own cursor, and one that fails (a refused
//! request, a page that does not decode) keeps its cursor, is reported through
//! [`Provider::take_stream_reports`], and the sync goes on with the next one.
//! Only account-wide errors (the key, the rate limit, the host) end the sync.

use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};

mod compact;
mod config;
mod cursor;
mod fallbacks;
mod levels;
mod lists;
pub mod map;
mod probes;
pub mod raw;
pub mod sla_log;
mod streams;

pub use config::{LiveAgentConfig, SOURCE_TYPE, client_settings, source_config};
pub use cursor::{CachedLevel, LiveAgentCursor, ScanCursor, TicketCursor};

use super::client::{ClientMetrics, ClientSettings, HttpClient, decode_rows};
use super::{
    BoxFuture, BuildError, Cursor, Page, Progress, Provider, ProviderError, StateRow,
    StreamFailure, StreamPage, StreamReport, VendorSlaLevel,
};
use crate::clock::{self, Clock};
use crate::config::SourceConfig;
use crate::model::{Channel, Item};
use lists::Lists;
use map::Departments;

/// How often department names are re-read: they change rarely, and a stale
/// name only affects a label until the next refresh.
const DEPARTMENTS_TTL: SignedDuration = SignedDuration::from_hours(1);

/// Ticket ids per `/tickets/history` request, to keep the `IN` filter's URL
/// well under common 8 KiB limits.
const HISTORY_IDS_PER_REQUEST: usize = 100;

/// The most ticket ids the cursor remembers for its boundary second. A bulk
/// update can put thousands of tickets in one second; past this bound the
/// second's rows are read again on every poll (harmless: the store replaces by
/// id) instead of the cursor growing.
const MAX_SEEN_IDS: usize = 20_000;

/// The tickets fallback scan keeps changes from this long before it began,
/// for clock skew between the exporter and the vendor.
const SCAN_SKEW: SignedDuration = SignedDuration::from_mins(5);

/// A guard against a server that keeps sending the same `next_page_cursor`.
const MAX_CURSOR_PAGES: usize = 10_000;

/// `/departments` and `/slas` are read to the end, at the client's request
/// budget; a page identical to the one before means the server ignores
/// `_page` and ends the list. This is only a last guard (5 million rows at the
/// default page size) against a server that varies its answer forever.
const MAX_LIST_PAGES: usize = 10_000;

pub struct LiveAgentProvider {
    /// The source as validated, kept as is: name, account URL, budget, channels.
    source: SourceConfig,
    client: HttpClient,
    clock: Clock,
    departments: Mutex<(Departments, Option<Timestamp>)>,
    /// Tag names by id and when they were read (or last failed to be).
    tags: Mutex<(map::Tags, Option<Timestamp>)>,
    /// How streams ended since the sync loop last asked.
    reports: Mutex<Vec<StreamReport>>,
    metrics: ClientMetrics,
    /// The `liveagent:` block.
    options: LiveAgentConfig,
    /// `/settings` was read (once per process; see [`LiveAgentProvider::check_settings`]).
    settings_read: std::sync::atomic::AtomicBool,
    /// Undocumented requests found refused or ignored: the provider uses the
    /// documented fallback from then on (until a restart re-checks).
    fallbacks: Mutex<Fallbacks>,
    /// The cursor the last page returned, as JSON and typed: the next page
    /// nearly always starts from it, and then takes the typed one instead of
    /// reading the JSON again.
    last: Mutex<Option<(serde_json::Value, LiveAgentCursor)>>,
    /// The level cache, pending reads, overlap set and SLA log records,
    /// persisted entry by entry through [`Page::state`]. Held for a whole
    /// page, which changes them as one.
    lists: tokio::sync::Mutex<Lists>,
}

/// The undocumented requests the provider relies on, each checked on every
/// response (docs/providers.md, "Documented calls and assumptions"): the
/// `assumption` label of `helpdesk_sla_source_assumption_fallbacks_total`.
pub const ASSUMPTIONS: [&str; 6] = [
    HISTORY_FILTER,
    CHANGED_FILTER,
    NEXT_PAGE_CURSOR,
    SLA_LOG_FILTER,
    CHATS_FILTER,
    CALLS_FILTER,
];
/// `/tickets/history` filtered by `conversation_id IN` (not a documented filter).
pub const HISTORY_FILTER: &str = "history_conversation_filter";
/// `/tickets` filtered and sorted by `date_changed` (the vendor's filter list
/// for `/tickets` names `date_created`, `status`, `channel_type`, `departmentid`, `tags`).
pub const CHANGED_FILTER: &str = "tickets_date_changed_filter";
/// The `next_page_cursor` response header (response headers are not described).
pub const NEXT_PAGE_CURSOR: &str = "next_page_cursor_header";
/// The SLA log (`/grid/*/sla`) filtered and sorted by `date_closed` (its
/// `_filters` and `_sortField` are documented, the field names are not).
pub const SLA_LOG_FILTER: &str = "sla_log_date_closed_filter";
/// `/chats` filtered by `date_created` `D>=` and sorted by it (field and
/// parameters documented, the operator's behaviour not).
pub const CHATS_FILTER: &str = "chats_date_created_filter";
/// `/calls` filtered by `dateCreated` `D>=` and sorted by it (as for chats).
pub const CALLS_FILTER: &str = "calls_date_created_filter";

/// Which fallbacks are in use.
#[derive(Debug, Default, Clone, Copy)]
pub struct Fallbacks {
    /// History per ticket (`/tickets/{id}/history`, documented).
    pub history_per_ticket: bool,
    /// Tickets by the documented `date_created` filter over the lookback window.
    pub tickets_by_created: bool,
    /// The SLA log is not read (its `date_changed` filter does not hold).
    pub sla_log_off: bool,
    /// Chats or calls came back outside their `date_created` filter or out
    /// of its order: every page is still read to the end, so nothing is
    /// lost, at the cost of reading (and re-sending) older rows.
    pub scans_filtered_here: bool,
}

/// A stream's cursor after a page, applied only when the page worked.
enum StreamCursor {
    Ticket(TicketCursor),
    Chat(ScanCursor),
    Call(ScanCursor),
}

/// The `stream` label of a LiveAgent stream (as in rejected rows).
pub fn stream_label(stream: Channel) -> &'static str {
    match stream {
        Channel::Ticket => "tickets",
        Channel::Chat => "chats",
        Channel::Call => "calls",
    }
}

impl LiveAgentProvider {
    pub fn new(source: SourceConfig, metrics: ClientMetrics) -> Result<Self, BuildError> {
        let client_settings = client_settings(&source);
        Self::with_client_settings(source, client_settings, metrics)
    }

    /// Like [`LiveAgentProvider::new`] with adjusted client settings (tests: no
    /// IO timers on a paused clock, a short retry policy).
    pub fn with_client_settings(
        source: SourceConfig,
        client: ClientSettings,
        metrics: ClientMetrics,
    ) -> Result<Self, BuildError> {
        let client = HttpClient::new(client, metrics.clone())?;
        metrics.init_assumptions(&source.name, &ASSUMPTIONS);
        Ok(LiveAgentProvider {
            source,
            client,
            clock: clock::wall(),
            departments: Mutex::new((Departments::new(), None)),
            reports: Mutex::new(Vec::new()),
            tags: Mutex::new((map::Tags::new(), None)),
            metrics,
            options: LiveAgentConfig::default(),
            settings_read: std::sync::atomic::AtomicBool::new(false),
            fallbacks: Mutex::new(Fallbacks::default()),
            last: Mutex::new(None),
            lists: tokio::sync::Mutex::new(Lists::default()),
        })
    }

    /// The settings of the `liveagent:` block (the default without one).
    pub fn with_options(mut self, options: LiveAgentConfig) -> Self {
        self.options = options;
        self
    }

    pub fn with_clock(mut self, clock: impl Fn() -> Timestamp + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    fn streams(&self) -> Vec<Channel> {
        Channel::ALL
            .into_iter()
            .filter(|c| self.source.channels.contains(c))
            .collect()
    }

    fn per_page(&self) -> String {
        self.source.page_size.max(1).to_string()
    }

    /// One page; its changes to the lists are the page's `state`, or undone
    /// when it fails.
    async fn page(&self, raw: &Cursor) -> Result<Page, ProviderError> {
        let mut lists = self.lists.lock().await;
        let mark = lists.mark();
        match self.page_with(raw, &mut lists).await {
            Ok(mut page) => {
                page.state = lists.take_changes();
                Ok(page)
            }
            Err(e) => {
                lists.rollback(mark);
                Err(e)
            }
        }
    }

    async fn page_with(&self, raw: &Cursor, lists: &mut Lists) -> Result<Page, ProviderError> {
        let mut cur = self.resume(raw);
        lists.adopt(&mut cur);
        let streams = self.streams();
        let Some(stream) = cur.active.or_else(|| streams.first().copied()) else {
            return Ok(Page {
                next: raw.clone(),
                done: true,
                ..Page::default()
            });
        };
        self.check_settings().await;
        let departments = self.departments().await?;
        let tags = self.tags().await;
        let now = (self.clock)();
        // Checked: the config bounds the lookback, and an odd clock must not panic.
        let start = now
            .checked_sub(self.source.initial_lookback)
            .unwrap_or(jiff::Timestamp::MIN);
        let starting = cur.window_start.is_none();
        let window_start = match stream {
            Channel::Ticket => cur.tickets.since,
            Channel::Chat => cur.chats.since,
            Channel::Call => cur.calls.since,
        };
        let from = *cur
            .window_start
            .get_or_insert(window_start.unwrap_or(start));
        // A stream starting its sync reads one page of its SLA log first.
        let log_rejected = if starting {
            self.read_sla_log(stream, &mut cur.sla_log, &mut lists.records, start)
                .await?
        } else {
            Vec::new()
        };
        // Each stream pages on a copy of its cursor, kept only when the page
        // worked: a stream that fails stays where it was (its changes to the
        // lists undone), is reported, and the sync goes on with the next stream.
        let stream_mark = lists.mark();
        let result = match stream {
            Channel::Ticket => {
                let mut c = cur.tickets.clone();
                let page = self
                    .tickets_page(&mut c, lists, start, now, starting, &departments)
                    .await;
                page.map(|p| (p, StreamCursor::Ticket(c)))
            }
            Channel::Chat => {
                let mut c = cur.chats.clone();
                let page = self.chats_page(&mut c, start, now, &departments).await;
                page.map(|p| (p, StreamCursor::Chat(c)))
            }
            Channel::Call => {
                let mut c = cur.calls.clone();
                let page = self.calls_page(&mut c, start, now, &lists.records).await;
                page.map(|p| (p, StreamCursor::Call(c)))
            }
        };
        let (stream_page, failure) = match result {
            Ok((page, advanced)) => {
                match advanced {
                    StreamCursor::Ticket(c) => cur.tickets = c,
                    StreamCursor::Chat(c) => cur.chats = c,
                    StreamCursor::Call(c) => cur.calls = c,
                }
                (page, None)
            }
            Err(e) if e.is_source_wide() => return Err(e),
            Err(e) => {
                lists.rollback(stream_mark);
                let page = StreamPage {
                    done: true,
                    ..StreamPage::default()
                };
                let failure = StreamFailure {
                    reason: e.reason(),
                    message: e.to_string(),
                };
                (page, Some(failure))
            }
        };
        if stream_page.done {
            self.reports
                .lock()
                .expect("stream reports lock")
                .push(StreamReport {
                    stream: stream_label(stream),
                    error: failure,
                });
        }
        let StreamPage {
            mut items,
            removed,
            mut rejected,
            done: stream_done,
            position,
        } = stream_page;
        rejected.extend(log_rejected);
        for item in &mut items {
            item.tags = map::with_tag_names(&item.tags, &tags);
            // Calls are matched by their ticket in `calls_page`.
            if item.channel != Channel::Call
                && let Some(records) = lists.records.get(&item.id)
            {
                sla_log::apply(item, records);
            }
        }
        let mut done = false;
        if stream_done {
            cur.active = streams.iter().skip_while(|s| **s != stream).nth(1).copied();
            cur.window_start = None;
            done = cur.active.is_none();
        } else {
            cur.active = Some(stream);
        }
        let progress = Progress {
            stream: streams.iter().position(|s| *s == stream).unwrap_or(0),
            streams: streams.len(),
            from,
            position: position.unwrap_or(from).max(from),
        };
        let next = serde_json::to_value(&cur).expect("cursor serializes");
        *self.last.lock().expect("last cursor lock") = Some((next.clone(), cur));
        Ok(Page {
            items,
            removed,
            retain_only: None,
            next: Cursor(next),
            done,
            progress: Some(progress),
            rejected,
            events: Vec::new(),
            state: Vec::new(),
        })
    }

    /// The typed cursor for `raw`: the one the last page returned when `raw`
    /// is its JSON (the sync loop's next call), else `raw` read.
    fn resume(&self, raw: &Cursor) -> LiveAgentCursor {
        let last = self.last.lock().expect("last cursor lock").take();
        match last {
            Some((json, cur)) if json == raw.0 => cur,
            _ => raw.read(&self.source.name),
        }
    }

    /// Reads `/settings` once per process and warns when the account's own
    /// zone is not UTC: every request sends `Timezone-Offset: 0`, so times
    /// should come back in UTC anyway, but an account that ignores the header
    /// would shift every time by its offset, and this line says where to look.
    /// A failure is logged and never fails the sync (the setting is advisory).
    /// Returns the account's zone when read.
    pub async fn check_settings(&self) -> Option<String> {
        use std::sync::atomic::Ordering;
        if self.settings_read.swap(true, Ordering::Relaxed) {
            return None;
        }
        let response = match self.client.get("/settings", &[]).await {
            Ok(r) => r,
            Err(e) => {
                tracing::info!(source = %self.source.name, error = %e, "cannot read /settings; the account's time zone is not checked");
                return None;
            }
        };
        let (rows, _) =
            decode_rows::<map::RawSetting>("/settings", "settings", &response.body).ok()?;
        let zone = rows.into_iter().find(|r| r.name == "TIMEZONE")?.value?;
        let utc = ["", "UTC", "Etc/UTC", "GMT", "Etc/GMT", "+00:00", "0"];
        if !utc.contains(&zone.trim()) {
            tracing::warn!(
                source = %self.source.name,
                account_time_zone = %zone,
                "the account's time zone is not UTC; requests send Timezone-Offset: 0 so times are read as UTC; if items look shifted by this zone's offset, the account ignores the header"
            );
        }
        Some(zone)
    }

    /// The source's clock rules on freshly mapped ticket items.
    fn map_options(&self, items: &mut [Item]) {
        for item in items {
            map::apply_rules(
                item,
                self.options.next_answer_on_any_reopen,
                self.options.resolve_voids_answers,
            );
        }
    }

    /// The fallbacks in use (tests, `check-source`).
    pub fn fallbacks(&self) -> Fallbacks {
        *self.fallbacks.lock().expect("fallbacks lock")
    }

    /// An undocumented request was refused or ignored: count it, say so once
    /// (when the provider switches), and use the documented fallback.
    fn fall_back(&self, assumption: &'static str, detail: &str) {
        self.metrics
            .assumption_failed(&self.source.name, assumption);
        let mut f = self.fallbacks.lock().expect("fallbacks lock");
        let flag = match assumption {
            CHANGED_FILTER => &mut f.tickets_by_created,
            SLA_LOG_FILTER => &mut f.sla_log_off,
            CHATS_FILTER | CALLS_FILTER => &mut f.scans_filtered_here,
            _ => &mut f.history_per_ticket,
        };
        if !std::mem::replace(flag, true) {
            tracing::warn!(
                source = %self.source.name,
                assumption,
                detail,
                "an undocumented request does not hold on this account; using the documented fallback"
            );
        }
    }

    /// Checks a chats or calls page against its `date_created` filter and
    /// ascending sort: a row created before `since`, or rows out of order,
    /// mean the server ignored them. Nothing is lost either way (pages are
    /// read to the end; rows read again replace themselves in the store);
    /// the check makes the cost visible.
    fn check_scan(&self, assumption: &'static str, created: &[Timestamp], since: Timestamp) {
        if created.iter().any(|t| *t < since) {
            self.fall_back(
                assumption,
                "ignored: rows created before the requested date_created",
            );
        } else if created.windows(2).any(|w| w[1] < w[0]) {
            self.fall_back(assumption, "ignored: rows out of date_created order");
        }
    }

    /// Department names, re-read every [`DEPARTMENTS_TTL`].
    async fn departments(&self) -> Result<Departments, ProviderError> {
        let now = (self.clock)();
        {
            let cache = self.departments.lock().expect("department cache lock");
            if cache
                .1
                .is_some_and(|at| now.duration_since(at) < DEPARTMENTS_TTL)
            {
                return Ok(cache.0.clone());
            }
        }
        let rows: Vec<map::RawDepartment> = self.all_pages("/departments").await?;
        let names: Departments = rows
            .into_iter()
            .filter_map(|d| d.name.map(|n| (d.department_id, n)))
            .collect();
        *self.departments.lock().expect("department cache lock") = (names.clone(), Some(now));
        Ok(names)
    }

    /// Tag names by id, re-read hourly like department names. `/tags` is
    /// documented (facts file `GET /tags`, `list[Tag]`, no paging). A failure
    /// keeps the last names (or none: tags stay ids) and never fails a sync;
    /// it is logged and retried after the same hour.
    async fn tags(&self) -> map::Tags {
        let now = (self.clock)();
        {
            let cache = self.tags.lock().expect("tag cache lock");
            if cache
                .1
                .is_some_and(|at| now.duration_since(at) < DEPARTMENTS_TTL)
            {
                return cache.0.clone();
            }
        }
        let read = match self.client.get("/tags", &[]).await {
            Ok(r) => decode_rows::<map::RawTag>("/tags", "tags", &r.body).map(|(rows, _)| rows),
            Err(e) => Err(e),
        };
        let mut cache = self.tags.lock().expect("tag cache lock");
        cache.1 = Some(now);
        match read {
            Ok(rows) => {
                cache.0 = rows
                    .into_iter()
                    .filter_map(|t| t.name.map(|n| (t.id, n)))
                    .collect();
            }
            Err(e) => tracing::warn!(
                source = %self.source.name,
                error = %e,
                "cannot read /tags; policies match tag ids only until the next hourly try"
            ),
        }
        cache.0.clone()
    }

    /// Every page of a small page-style list (`/departments`, `/slas`).
    async fn all_pages<T: serde::de::DeserializeOwned>(
        &self,
        endpoint: &str,
    ) -> Result<Vec<T>, ProviderError> {
        let mut out = Vec::new();
        let mut previous: Option<Vec<u8>> = None;
        for page in 1.. {
            let query = [("_page", page.to_string()), ("_perPage", self.per_page())];
            let response = self.client.get(endpoint, &query).await?;
            if previous.as_deref() == Some(&response.body[..]) {
                tracing::warn!(
                    source = %self.source.name,
                    endpoint,
                    page,
                    "page repeats the previous one (the server ignores _page); list ends here"
                );
                break;
            }
            let rows: Vec<T> = map::decode(endpoint, &response.body)?;
            let short = rows.len() < self.source.page_size.max(1) as usize;
            out.extend(rows);
            if short {
                break;
            }
            if page >= MAX_LIST_PAGES {
                tracing::warn!(
                    source = %self.source.name,
                    endpoint,
                    pages = page,
                    "list still not finished after the page limit; using what was read"
                );
                break;
            }
            previous = Some(response.body.to_vec());
        }
        Ok(out)
    }
}

impl Provider for LiveAgentProvider {
    fn fetch_page<'a>(&'a self, cursor: &'a Cursor) -> BoxFuture<'a, Result<Page, ProviderError>> {
        Box::pin(self.page(cursor))
    }

    fn probes(&self) -> BoxFuture<'_, Vec<super::Probe>> {
        Box::pin(self.run_probes())
    }

    fn take_stream_reports(&self) -> Vec<StreamReport> {
        std::mem::take(&mut *self.reports.lock().expect("stream reports lock"))
    }

    fn sla_levels(&self) -> BoxFuture<'_, Result<Vec<VendorSlaLevel>, ProviderError>> {
        Box::pin(async {
            let raw: Vec<map::RawSlaLevel> = self.all_pages("/slas").await?;
            Ok(raw.iter().map(map::sla_level).collect())
        })
    }

    fn restore(&self, rows: Vec<StateRow>) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            *self.lists.lock().await = Lists::restore(&self.source.name, rows);
        })
    }
}

pub(super) fn next_cursor(response: &super::client::Response) -> Option<String> {
    response
        .header("next_page_cursor")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
}

/// An id as one path segment: anything but `[A-Za-z0-9_-]` percent-encoded,
/// so an odd id can never change the path.
pub(super) fn path_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
