//! Freshdesk v2: the IO half. Reads the ticket list with the `stats` embed
//! on the plan's ticket-list budget, keeps group names and the status
//! field's `stop_sla_timer` flags fresh on the API budget, and hands the JSON
//! to the pure [`map`].
//!
//! Each `fetch_page` call fetches one page of one `updated_since` window and
//! returns a cursor saying which window and page, so a restart resumes
//! mid-sync; windows advance past the list's 300-page cap (see `cursor.rs`).

use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};

mod config;
mod cursor;
pub mod levels;
mod lists;
pub mod map;
mod probes;
pub mod raw;

pub use config::{
    FreshdeskConfig, Plan, RawFreshdeskBlock, SOURCE_TYPE, TICKET_LIST_CREDITS, auth, source_config,
};
pub use cursor::FreshdeskCursor;

use super::client::{ClientMetrics, ClientSettings, HttpClient, Response, decode_rows};
use super::{BoxFuture, BuildError, Cursor, Page, Probe, Progress, Provider, ProviderError};
use crate::clock::{self, Clock};
use crate::config::SourceConfig;
use map::{Groups, RawTicket, StopSet};

/// The ticket list.
pub const TICKETS: &str = "/tickets";
/// The group list, for team names (and each group's business calendar).
pub const GROUPS: &str = "/groups";
/// The ticket field list, to find the status field.
pub const TICKET_FIELDS: &str = "/admin/ticket_fields";
/// One ticket field's detail: the status field's choices carry `stop_sla_timer`.
pub const TICKET_FIELD: &str = "/admin/ticket_fields/{id}";

/// A ticket's replies and notes, for next-response cycles.
pub const CONVERSATIONS: &str = "/tickets/{id}/conversations";
/// SLA policies, for `levels`.
pub const SLA_POLICIES: &str = "/sla_policies";
/// Business hours (the list names the default; only the detail has holidays).
pub const BUSINESS_HOURS: &str = "/business_hours";
pub const BUSINESS_HOUR: &str = "/business_hours/{id}";

/// Freshdesk serves at most this many pages of one list query (page 301 is
/// a 400 error).
pub const MAX_PAGES: u32 = 300;

/// How far before the newest `updated_at` read a window or the next sync
/// starts. Freshdesk does not say whether `updated_since` is inclusive; a
/// second of overlap re-reads the tickets of that instant (harmless: the
/// store replaces by id) instead of losing those not yet read if it is not.
const OVERLAP: SignedDuration = SignedDuration::from_secs(1);

/// Group names and status flags change rarely; a stale one affects a label
/// or a pause for at most an hour.
const LOOKUP_TTL: SignedDuration = SignedDuration::from_hours(1);

/// The group list is short; more pages than this means the server ignores
/// `page`.
const MAX_GROUP_PAGES: u32 = 50;

pub struct FreshdeskProvider {
    /// The source as validated, kept as is: name, account URL, budget, channels.
    source: SourceConfig,
    /// The plan the budgets were set for (checked by `check-source`).
    plan: Plan,
    /// The ticket list, on the plan's list budget.
    list: HttpClient,
    /// Everything else, on the source's `requests_per_minute`.
    api: HttpClient,
    clock: Clock,
    lookups: Mutex<Lookups>,
    /// Read conversations for tickets with next-response cycles.
    conversations: bool,
}

/// Group names and the stop set, with when each was last read.
#[derive(Default)]
struct Lookups {
    groups: Groups,
    groups_at: Option<Timestamp>,
    stops: StopSet,
    stops_at: Option<Timestamp>,
}

impl FreshdeskProvider {
    /// `list` and `api` come from [`FreshdeskConfig::client_settings`]; tests
    /// adjust them (no IO timers on a paused clock, a short retry policy).
    pub fn new(
        source: SourceConfig,
        plan: Plan,
        list: ClientSettings,
        api: ClientSettings,
        metrics: ClientMetrics,
    ) -> Result<Self, BuildError> {
        Ok(FreshdeskProvider {
            list: HttpClient::new(list, metrics.clone())?,
            api: HttpClient::new(api, metrics)?,
            source,
            plan,
            clock: clock::wall(),
            lookups: Mutex::new(Lookups::default()),
            conversations: false,
        })
    }

    /// Reads each changed ticket's conversations when its requester wrote
    /// after the first response (`freshdesk.conversations`).
    pub fn with_conversations(mut self, on: bool) -> Self {
        self.conversations = on;
        self
    }

    pub fn with_clock(mut self, clock: impl Fn() -> Timestamp + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The query of one page of the ticket list.
    fn tickets_query(&self, since: Timestamp, page: u32, per_page: u32) -> Vec<(&str, String)> {
        vec![
            (
                "updated_since",
                since.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            ),
            ("order_by", "updated_at".to_owned()),
            ("order_type", "asc".to_owned()),
            ("per_page", per_page.to_string()),
            ("page", page.to_string()),
            ("include", "stats".to_owned()),
        ]
    }

    async fn page(&self, raw: &Cursor) -> Result<Page, ProviderError> {
        let mut cur: FreshdeskCursor = raw.read(&self.source.name);
        let now = (self.clock)();
        let window = cur
            .window
            .or(cur.position.map(|p| p - OVERLAP))
            .unwrap_or(now - self.source.initial_lookback);
        let from = *cur.from.get_or_insert(window);
        let page = cur.page.max(1);
        let (groups, stops) = self.lookups().await;
        let per_page = self.source.page_size.clamp(1, 100);
        let query = self.tickets_query(window, page, per_page);
        let response = self.list.get(TICKETS, &query).await?;
        let (tickets, rejected): (Vec<RawTicket>, _) =
            decode_rows(TICKETS, "tickets", &response.body)?;
        let mut items = Vec::new();
        let mut removed = Vec::new();
        for t in &tickets {
            match map::ticket_item(&self.source.name, t, &groups, &stops, &self.source.channels) {
                map::TicketOutcome::Item(mut item) => {
                    if self.conversations && map::needs_conversations(t) {
                        self.add_conversations(&mut item).await?;
                    }
                    items.push(*item)
                }
                map::TicketOutcome::Removed(id) => removed.push(id),
                map::TicketOutcome::Skipped(_) => {}
            }
        }
        if let Some(newest) = tickets.iter().map(|t| t.updated_at).max() {
            cur.position = cur.position.max(Some(newest));
        }
        let rows = tickets.len() + rejected.len();
        let next = next_page(&response);
        let done = match next {
            _ if rows == 0 => true,
            None => true,
            Some(n) if n <= page => {
                return Err(ProviderError::PagingLoop {
                    endpoint: TICKETS.to_owned(),
                    detail: format!("page {page} links to page {n}"),
                });
            }
            Some(n) if n > MAX_PAGES => {
                // The list stops at page 300: the next window starts just
                // before the newest update read, re-reading that instant's
                // tickets (the store replaces them by id).
                let start = cur
                    .position
                    .map(|p| p - OVERLAP)
                    .filter(|p| *p > window)
                    .ok_or_else(|| ProviderError::PagingLoop {
                        endpoint: TICKETS.to_owned(),
                        detail: format!(
                            "{MAX_PAGES} pages of tickets updated at {window}; \
                             the window cannot advance"
                        ),
                    })?;
                tracing::debug!(source = %self.source.name, window = %window, next = %start, "page cap reached; next window");
                cur.window = Some(start);
                cur.page = 1;
                false
            }
            // Keyset: the next page is the first page of a window starting
            // just before the newest update read. Page numbers over a list
            // sorted by `updated_at` shift when a ticket of an earlier page
            // changes meanwhile (it moves to the end), which would skip the
            // first row of the next page; a fresh window cannot skip. Only
            // when this page did not advance past the window's start (more
            // rows of one second than a page holds) is the page number used.
            Some(n) => {
                match cur.position.map(|p| p - OVERLAP).filter(|p| *p > window) {
                    Some(start) => {
                        cur.window = Some(start);
                        cur.page = 1;
                    }
                    None => {
                        cur.window = Some(window);
                        cur.page = n;
                    }
                }
                false
            }
        };
        if done {
            cur.window = None;
            cur.page = 0;
            cur.from = None;
        }
        let position = if done {
            now
        } else {
            cur.position.unwrap_or(from).clamp(from, now.max(from))
        };
        let progress = Some(Progress {
            stream: 0,
            streams: 1,
            from,
            position,
        });
        Ok(Page {
            items,
            removed,
            retain_only: None,
            next: Cursor(serde_json::to_value(&cur).expect("cursor serializes")),
            done,
            progress,
            rejected,
            ..Page::default()
        })
    }

    /// Group names and the stop set, each re-read every [`LOOKUP_TTL`]. A
    /// failure keeps the last good answer (or the defaults: group ids as
    /// teams, Freshdesk's default stop set) and logs one line.
    async fn lookups(&self) -> (Groups, StopSet) {
        let now = (self.clock)();
        let fresh =
            |at: Option<Timestamp>| at.is_some_and(|at| now.duration_since(at) < LOOKUP_TTL);
        let (groups_fresh, stops_fresh) = {
            let l = self.lookups.lock().expect("lookup lock");
            (fresh(l.groups_at), fresh(l.stops_at))
        };
        if !groups_fresh {
            match self.read_groups().await {
                Ok(rows) => {
                    let mut l = self.lookups.lock().expect("lookup lock");
                    l.groups = Groups::from_rows(&rows);
                    l.groups_at = Some(now);
                }
                Err(e) => {
                    tracing::warn!(source = %self.source.name, error = %e, "cannot read groups; teams show group ids");
                }
            }
        }
        if !stops_fresh {
            match self.read_stop_set().await {
                Ok(stops) => {
                    let mut l = self.lookups.lock().expect("lookup lock");
                    l.stops = stops;
                    l.stops_at = Some(now);
                }
                Err(e) => {
                    tracing::warn!(source = %self.source.name, error = %e, "cannot read the status field; using Freshdesk's default stop_sla_timer set");
                }
            }
        }
        let l = self.lookups.lock().expect("lookup lock");
        (l.groups.clone(), l.stops.clone())
    }
}

/// The `page` of the `Link: <…>; rel="next"` header, which Freshdesk sends
/// only when another page exists. The URL itself is not followed: the next
/// request is built from `base_url`, so credentials never go elsewhere.
pub fn next_page(response: &Response) -> Option<u32> {
    let link = response.header("link")?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"" || p.trim() == "rel=next");
        if !is_next {
            return None;
        }
        let url = url.trim().trim_start_matches('<').trim_end_matches('>');
        let url = reqwest::Url::parse(url).ok()?;
        let page = url.query_pairs().find(|(k, _)| k == "page")?.1;
        page.parse().ok()
    })
}

impl Provider for FreshdeskProvider {
    fn fetch_page<'a>(&'a self, cursor: &'a Cursor) -> BoxFuture<'a, Result<Page, ProviderError>> {
        Box::pin(self.page(cursor))
    }

    fn probes(&self) -> BoxFuture<'_, Vec<Probe>> {
        Box::pin(self.check())
    }

    fn levels_config(&self) -> BoxFuture<'_, Result<Option<String>, ProviderError>> {
        Box::pin(async { self.levels_yaml().await.map(Some) })
    }
}
