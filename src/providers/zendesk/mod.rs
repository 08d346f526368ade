//! Zendesk Support and Talk: the IO half. Reads the cursor-based incremental
//! ticket export (with metric sets and SLA metrics sideloaded), the ticket
//! metric events export and the Talk
//! incremental calls export on the export budget, keeps group names fresh on
//! the API budget, and hands the JSON to the pure [`map`].
//!
//! A sync visits the streams in the order tickets, metric events (the
//! timeline, handed over as `Page::events`), calls (enabled channels only); each `fetch_page` call fetches one page of one stream and returns a
//! cursor that says which stream and where, so a restart resumes mid-sync.

use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};

mod config;
mod cursor;
pub mod events;
pub mod levels;
mod lists;
pub mod map;
mod probes;
pub mod raw;

pub use config::{
    DEFAULT_EXPORT_REQUESTS_PER_MINUTE, RawZendeskBlock, SOURCE_TYPE, ZendeskAuth, ZendeskConfig,
    source_config,
};
pub use cursor::{CallCursor, EventCursor, Stream, TicketCursor, ZendeskCursor};

use super::client::{ClientMetrics, ClientSettings, HttpClient, decode_values};
use super::{
    BoxFuture, BuildError, Cursor, Page, Probe, Progress, Provider, ProviderError, StreamFailure,
    StreamPage, StreamReport,
};
use crate::clock::{self, Clock};
use crate::config::SourceConfig;
use crate::model::Channel;
use map::{Groups, RawCall, RawCallPage, RawGroupPage, RawMetricSet, RawTicket, TicketOutcome};
use raw::{RawMetricEvent, RawMetricEventPage};

/// The ticket export endpoint (cursor-based).
pub const TICKETS: &str = "/incremental/tickets/cursor.json";
/// The ticket metric events export (time-based).
pub const METRIC_EVENTS: &str = "/incremental/ticket_metric_events";
/// The Talk incremental calls export.
pub const CALLS: &str = "/channels/voice/stats/incremental/calls.json";
/// The group list, for team names.
pub const GROUPS: &str = "/groups.json";
pub use lists::{HOLIDAYS, SCHEDULES, SLA_POLICIES};

/// Group names change rarely; a stale name only affects a label for an hour.
const GROUPS_TTL: SignedDuration = SignedDuration::from_hours(1);

/// Zendesk leaves out the last minute of every export and refuses a
/// `start_time` inside it.
const RECENCY_GAP: SignedDuration = SignedDuration::from_secs(60);

/// The group list is short; more pages than this means the server ignores
/// the cursor.
const MAX_GROUP_PAGES: usize = 50;

pub struct ZendeskProvider {
    /// The source as validated, kept as is: name, account URL, budget, channels.
    source: SourceConfig,
    /// The incremental exports, on `export_requests_per_minute`.
    export: HttpClient,
    /// Everything else, on the source's `requests_per_minute`.
    api: HttpClient,
    clock: Clock,
    groups: Mutex<(Groups, Option<Timestamp>)>,
    /// How each stream of the running sync ended, for the sync loop.
    reports: Mutex<Vec<StreamReport>>,
}

impl ZendeskProvider {
    pub fn new(
        source: SourceConfig,
        config: ZendeskConfig,
        metrics: ClientMetrics,
    ) -> Result<Self, BuildError> {
        let (export, api) = config.client_settings(&source);
        Self::with_client_settings(source, export, api, metrics)
    }

    /// Like [`ZendeskProvider::new`] with adjusted client settings (tests: no
    /// IO timers on a paused clock, a short retry policy).
    pub fn with_client_settings(
        source: SourceConfig,
        export: ClientSettings,
        api: ClientSettings,
        metrics: ClientMetrics,
    ) -> Result<Self, BuildError> {
        Ok(ZendeskProvider {
            export: HttpClient::new(export, metrics.clone())?,
            api: HttpClient::new(api, metrics)?,
            source,
            clock: clock::wall(),
            groups: Mutex::new((Groups::new(), None)),
            reports: Mutex::new(Vec::new()),
        })
    }

    pub fn with_clock(mut self, clock: impl Fn() -> Timestamp + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    fn streams(&self) -> Vec<Stream> {
        let has = |c| self.source.channels.contains(&c);
        let mut out = Vec::new();
        if has(Channel::Ticket) || has(Channel::Chat) {
            // Tickets first: their events then usually find them stored.
            out.push(Stream::Tickets);
            out.push(Stream::MetricEvents);
        }
        if has(Channel::Call) {
            out.push(Stream::Calls);
        }
        out
    }

    async fn page(&self, raw: &Cursor) -> Result<Page, ProviderError> {
        let mut cur: ZendeskCursor = raw.read(&self.source.name);
        let streams = self.streams();
        let Some(stream) = cur.active.or_else(|| streams.first().copied()) else {
            return Ok(Page {
                next: raw.clone(),
                done: true,
                ..Page::default()
            });
        };
        let now = (self.clock)();
        // The export refuses a start inside its last minute.
        let start = (now - self.source.initial_lookback).min(now - RECENCY_GAP);
        // Each stream pages on a copy of its cursor, kept only when the page
        // worked: a stream that fails for its own reasons (a status, a decode
        // error, a timeout, a paging loop) stays where it was, is reported,
        // and the sync goes on with the other one. Account-wide errors end it.
        let mut events = Vec::new();
        let result = match stream {
            Stream::MetricEvents => {
                let mut c = cur.metric_events.clone();
                let page = self
                    .metric_events_page(&mut c, start, now, &mut events)
                    .await;
                if page.is_ok() {
                    cur.metric_events = c;
                } else {
                    events.clear();
                }
                page
            }
            Stream::Tickets => {
                let groups = self.groups().await;
                let mut c = cur.tickets.clone();
                let page = self.tickets_page(&mut c, start, &groups).await;
                if page.is_ok() {
                    cur.tickets = c;
                }
                page
            }
            Stream::Calls => {
                let mut c = cur.calls.clone();
                let page = self.calls_page(&mut c, start, now).await;
                if page.is_ok() {
                    cur.calls = c;
                }
                page
            }
        };
        let (out, failure) = match result {
            Ok(out) => (out, None),
            Err(e) if e.is_source_wide() => return Err(e),
            Err(e) => {
                let failure = StreamFailure {
                    reason: e.reason(),
                    message: e.to_string(),
                };
                let out = StreamPage {
                    done: true,
                    ..StreamPage::default()
                };
                (out, Some(failure))
            }
        };
        if out.done {
            self.reports
                .lock()
                .expect("stream reports lock")
                .push(StreamReport {
                    stream: stream.label(),
                    error: failure,
                });
        }
        let index = streams.iter().position(|s| *s == stream).unwrap_or(0);
        let from = match stream {
            Stream::Tickets => cur.tickets.start_time,
            Stream::MetricEvents | Stream::Calls => None,
        }
        .and_then(|t| Timestamp::from_second(t).ok())
        .unwrap_or(start);
        let progress = Some(Progress {
            stream: index,
            streams: streams.len(),
            from,
            position: if out.done {
                now
            } else {
                out.position.unwrap_or(from).clamp(from, now)
            },
        });
        if out.done {
            cur.active = streams.get(index + 1).copied();
        } else {
            cur.active = Some(stream);
        }
        let next = Cursor(serde_json::to_value(&cur).expect("cursor serializes"));
        Ok(Page {
            items: out.items,
            removed: out.removed,
            retain_only: None,
            next,
            done: out.done && cur.active.is_none(),
            progress,
            rejected: out.rejected,
            events,
            ..Page::default()
        })
    }

    async fn tickets_page(
        &self,
        c: &mut TicketCursor,
        start: Timestamp,
        groups: &Groups,
    ) -> Result<StreamPage, ProviderError> {
        let mut query = vec![
            ("per_page", self.source.page_size.max(1).to_string()),
            ("include", "metric_sets,slas".to_owned()),
        ];
        match &c.after_cursor {
            Some(cursor) => query.push(("cursor", cursor.clone())),
            None => {
                let start_time = *c.start_time.get_or_insert(start.as_second());
                query.push(("start_time", start_time.to_string()));
            }
        }
        let response = self.export.get(TICKETS, &query).await?;
        let page: map::RawTicketPage = map::decode(TICKETS, &response.body)?;
        let (tickets, mut rejected): (Vec<RawTicket>, _) = decode_values("tickets", page.tickets);
        let (metric_sets, bad_sets): (Vec<RawMetricSet>, _) =
            decode_values("metric_sets", page.metric_sets);
        rejected.extend(bad_sets);
        let mut items = Vec::new();
        let mut removed = Vec::new();
        for t in &tickets {
            let m = metric_sets.iter().find(|m| m.ticket_id == t.id);
            match map::ticket_item(&self.source.name, t, m, groups, &self.source.channels) {
                TicketOutcome::Item(item) => items.push(*item),
                TicketOutcome::Removed(id) => removed.push(id),
                TicketOutcome::Skipped(_) => {}
            }
        }
        if let Some(newest) = tickets.iter().filter_map(|t| t.updated_at).max() {
            c.position = c.position.max(Some(newest));
        }
        // A page without a cursor cannot be continued: end this sync, keep
        // the old position and read it again next time (the store replaces by
        // id), rather than asking for the same page for ever.
        let mut done = page.end_of_stream;
        match page.after_cursor.filter(|s| !s.is_empty()) {
            Some(next) => c.after_cursor = Some(next),
            None if !done => {
                tracing::warn!(source = %self.source.name, "ticket export page without after_cursor; ending this sync");
                done = true;
            }
            None => {}
        }
        // The sync loop logs progress from `Page::progress`; this is detail.
        tracing::debug!(
            source = %self.source.name,
            stream = "tickets",
            position = ?c.position,
            tickets = tickets.len(),
            end_of_stream = page.end_of_stream,
            "zendesk export page"
        );
        Ok(StreamPage {
            items,
            removed,
            rejected,
            done,
            position: c.position,
        })
    }

    async fn metric_events_page(
        &self,
        c: &mut EventCursor,
        start: Timestamp,
        now: Timestamp,
        events: &mut Vec<(String, crate::timeline::TimelineEvent)>,
    ) -> Result<StreamPage, ProviderError> {
        let start_time = *c.start_time.get_or_insert(start.as_second());
        if start_time > (now - RECENCY_GAP).as_second() {
            return Ok(StreamPage {
                done: true,
                ..StreamPage::default()
            });
        }
        let query = [("start_time", start_time.to_string())];
        let response = self.export.get(METRIC_EVENTS, &query).await?;
        let page: RawMetricEventPage = map::decode(METRIC_EVENTS, &response.body)?;
        let (rows, rejected): (Vec<RawMetricEvent>, _) =
            decode_values("metric_events", page.ticket_metric_events);
        let read = rows.len() + rejected.len();
        *events = events::timeline(&rows);
        // The next page starts at this one's `end_time` and so reads its last
        // instant again: events are stored by key, so nothing doubles. An
        // `end_time` that does not advance (a second with more events than a
        // page) ends this sync rather than asking for the same page again.
        let advanced = page.end_time.filter(|end| *end > start_time);
        if let Some(end) = advanced {
            c.start_time = Some(end);
        }
        if advanced.is_none() && read > 0 && page.end_of_stream != Some(true) {
            tracing::warn!(source = %self.source.name, start_time, "metric events page does not advance; ending this sync");
        }
        let done =
            page.end_of_stream == Some(true) || page.count == 0 || read == 0 || advanced.is_none();
        Ok(StreamPage {
            rejected,
            done,
            position: c.start_time.and_then(|t| Timestamp::from_second(t).ok()),
            ..StreamPage::default()
        })
    }

    async fn calls_page(
        &self,
        c: &mut CallCursor,
        start: Timestamp,
        now: Timestamp,
    ) -> Result<StreamPage, ProviderError> {
        let start_time = *c.start_time.get_or_insert(start.as_second());
        if start_time > (now - RECENCY_GAP).as_second() {
            // Caught up to the minute Zendesk leaves out: nothing to ask for.
            return Ok(StreamPage {
                done: true,
                ..StreamPage::default()
            });
        }
        let query = [("start_time", start_time.to_string())];
        let response = self.export.get(CALLS, &query).await?;
        let page: RawCallPage = map::decode(CALLS, &response.body)?;
        let (calls, rejected): (Vec<RawCall>, _) = decode_values("calls", page.calls);
        let rows = calls.len() + rejected.len();
        let items = calls
            .iter()
            .filter_map(|call| map::call_item(&self.source.name, call))
            .collect();
        // `next_page` is always present; an empty page (or no progress) ends
        // the stream. Pages may repeat the last call: the store replaces by id.
        let advanced = page.end_time.filter(|end| *end > start_time);
        if let Some(end) = advanced {
            c.start_time = Some(end);
        }
        let done = page.count == 0 || rows == 0 || advanced.is_none();
        Ok(StreamPage {
            items,
            rejected,
            done,
            position: c.start_time.and_then(|t| Timestamp::from_second(t).ok()),
            ..StreamPage::default()
        })
    }

    /// Group names, re-read every [`GROUPS_TTL`]. A failure keeps the last
    /// names (or none): teams fall back to the group id until the next try.
    async fn groups(&self) -> Groups {
        let now = (self.clock)();
        let cached = {
            let cache = self.groups.lock().expect("group cache lock");
            if cache
                .1
                .is_some_and(|at| now.duration_since(at) < GROUPS_TTL)
            {
                return cache.0.clone();
            }
            cache.0.clone()
        };
        match self.read_groups().await {
            Ok(names) => {
                *self.groups.lock().expect("group cache lock") = (names.clone(), Some(now));
                names
            }
            Err(e) => {
                tracing::warn!(source = %self.source.name, error = %e, "cannot read group names; teams show group ids");
                cached
            }
        }
    }

    async fn read_groups(&self) -> Result<Groups, ProviderError> {
        let mut rows = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_GROUP_PAGES {
            let mut query = vec![("page[size]", "100".to_owned())];
            if let Some(a) = &after {
                query.push(("page[after]", a.clone()));
            }
            let response = self.api.get(GROUPS, &query).await?;
            let page: RawGroupPage = map::decode(GROUPS, &response.body)?;
            let empty = page.groups.is_empty();
            rows.extend(page.groups);
            match page.meta {
                Some(m) if m.has_more && !empty => after = m.after_cursor,
                _ => break,
            }
            if after.is_none() {
                break;
            }
        }
        Ok(map::groups(&rows))
    }
}

impl Provider for ZendeskProvider {
    fn fetch_page<'a>(&'a self, cursor: &'a Cursor) -> BoxFuture<'a, Result<Page, ProviderError>> {
        Box::pin(self.page(cursor))
    }

    fn probes(&self) -> BoxFuture<'_, Vec<Probe>> {
        Box::pin(self.check())
    }

    fn take_stream_reports(&self) -> Vec<StreamReport> {
        std::mem::take(&mut *self.reports.lock().expect("stream reports lock"))
    }

    fn levels_config(&self) -> BoxFuture<'_, Result<Option<String>, ProviderError>> {
        Box::pin(async { self.levels_yaml().await.map(Some) })
    }
}
