//! Jira Service Management (Cloud first): the IO half. One JQL search over the
//! configured projects per sync (`/rest/api/3/search/jql`, `nextPageToken`),
//! full changelogs where the search cut them, and three cached look-ups: the
//! field list (to find the SLA fields by schema), the statuses (their
//! categories) and the account's time zone (JQL dates are read in it). The JSON goes to the pure [`map`].
//!
//! Requests and their sources are listed in `docs/providers.md`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

mod config;
mod cursor;
pub mod map;
mod probe;
pub mod raw;

pub use config::{AuthKind, JsmConfig, SOURCE_TYPE, TeamField, client_settings};
pub use cursor::{JsmCursor, OVERLAP, jql};

use super::client::{ClientMetrics, ClientSettings, HttpClient, decode_values};
use super::{BoxFuture, BuildError, Cursor, Page, Probe, Progress, Provider, ProviderError};
use crate::clock::{self, Clock};
use crate::config::SourceConfig;
use map::{
    Fields, RawChangelogPage, RawField, RawHistory, RawIssue, RawMyself, RawSearchPage, RawStatus,
};

/// The field list, the statuses and the account's zone change rarely; a stale copy only
/// delays a renamed SLA field by this much.
const META_TTL: SignedDuration = SignedDuration::from_hours(1);

/// Changelog entries per `/changelog` request: the documented maximum.
const CHANGELOG_PAGE: u64 = 100;

/// A guard against a server that never says `isLast`: 100 pages of 100 entries.
const MAX_CHANGELOG_PAGES: u64 = 100;

/// The system fields a sync asks for; SLA and team fields are added by id.
const SYSTEM_FIELDS: &[&str] = &[
    "created",
    "updated",
    "status",
    "priority",
    "assignee",
    "resolutiondate",
];

/// The one stream: the `stream` label of rejected rows.
const STREAM: &str = "issues";

pub const SEARCH: &str = "/rest/api/3/search/jql";
pub const CHANGELOG: &str = "/rest/api/3/issue/{id}/changelog";
pub const FIELDS: &str = "/rest/api/3/field";
pub const MYSELF: &str = "/rest/api/3/myself";
pub const STATUSES: &str = "/rest/api/3/status";

/// What the look-ups found, with when.
#[derive(Debug, Clone)]
struct Meta {
    fields: Fields,
    zone: TimeZone,
    at: Timestamp,
}

pub struct JsmProvider {
    source: SourceConfig,
    config: JsmConfig,
    client: HttpClient,
    clock: Clock,
    meta: Mutex<Option<Meta>>,
}

impl JsmProvider {
    pub fn new(
        source: SourceConfig,
        config: JsmConfig,
        metrics: ClientMetrics,
    ) -> Result<Self, BuildError> {
        let settings = client_settings(&source, &config);
        Self::with_client_settings(source, config, settings, metrics)
    }

    /// Like [`JsmProvider::new`] with adjusted client settings (tests: no IO
    /// timers on a paused clock, a short retry policy).
    pub fn with_client_settings(
        source: SourceConfig,
        config: JsmConfig,
        client: ClientSettings,
        metrics: ClientMetrics,
    ) -> Result<Self, BuildError> {
        Ok(JsmProvider {
            client: HttpClient::new(client, metrics)?,
            source,
            config,
            clock: clock::wall(),
            meta: Mutex::new(None),
        })
    }

    pub fn with_clock(mut self, clock: impl Fn() -> Timestamp + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    async fn page(&self, raw: &Cursor) -> Result<Page, ProviderError> {
        let mut cur: JsmCursor = raw.read(&self.source.name);
        let now = (self.clock)();
        let from = cur.begin(now - self.source.initial_lookback);
        let meta = self.meta(now).await?;
        let mut page = match self.search(&meta, from, cur.page_token.as_deref()).await {
            // A token older than its 7 days (a long outage) is refused: read
            // the window again from its start instead of failing forever.
            Err(ProviderError::Status { code: 400, .. }) if cur.page_token.is_some() => {
                tracing::warn!(source = %self.source.name, "page token refused, restarting the sync window");
                cur.restart_window();
                self.search(&meta, from, None).await?
            }
            other => other?,
        };
        let empty = page.issues.is_empty();
        let (issues, rejected) =
            decode_values::<RawIssue>(STREAM, std::mem::take(&mut page.issues));
        let mut histories: HashMap<String, Vec<RawHistory>> = HashMap::new();
        for issue in &issues {
            let embedded = issue.changelog.as_ref();
            let rows = match embedded {
                Some(c) if !c.is_truncated() => c.histories.clone(),
                _ => self.changelog(&issue.id).await?,
            };
            histories.insert(issue.id.clone(), rows);
        }
        let items: Vec<_> = issues
            .iter()
            .map(|issue| {
                map::issue_item(
                    &self.source.name,
                    issue,
                    &histories[&issue.id],
                    &meta.fields,
                    &self.config.statuses,
                )
            })
            .collect();
        let newest = items.iter().map(|i| i.updated_at).max();
        // The last page has no token; `isLast: true` or an empty page also end
        // the search, whatever the token says.
        let token = page
            .next_page_token
            .filter(|t| !t.is_empty() && page.is_last != Some(true) && !empty);
        let position = cur.newest.max(newest).unwrap_or(from);
        let done = cur.advance(newest, token);
        Ok(Page {
            items,
            removed: Vec::new(),
            next: Cursor(serde_json::to_value(&cur).expect("cursor serializes")),
            done,
            progress: Some(Progress {
                stream: 0,
                streams: 1,
                from,
                position,
            }),
            rejected,
            events: Vec::new(),
        })
    }

    async fn search(
        &self,
        meta: &Meta,
        from: Timestamp,
        token: Option<&str>,
    ) -> Result<RawSearchPage, ProviderError> {
        self.search_n(meta, from, token, self.source.page_size.max(1))
            .await
    }

    async fn search_n(
        &self,
        meta: &Meta,
        from: Timestamp,
        token: Option<&str>,
        max_results: u32,
    ) -> Result<RawSearchPage, ProviderError> {
        let mut fields: Vec<String> = SYSTEM_FIELDS.iter().map(|f| (*f).to_owned()).collect();
        fields.extend(meta.fields.sla.iter().map(|(id, _)| id.clone()));
        if let Some(team) = &meta.fields.team
            && !fields.contains(team)
        {
            fields.push(team.clone());
        }
        let mut query = vec![
            ("jql", jql(&self.config.projects, from, &meta.zone)),
            ("fields", fields.join(",")),
            ("expand", "changelog".to_owned()),
            ("maxResults", max_results.to_string()),
        ];
        if let Some(t) = token {
            query.push(("nextPageToken", t.to_owned()));
        }
        let response = self.client.get(SEARCH, &query).await?;
        map::decode(SEARCH, &response.body)
    }

    /// The whole changelog of one issue, oldest first.
    async fn changelog(&self, id: &str) -> Result<Vec<RawHistory>, ProviderError> {
        let path = format!("/rest/api/3/issue/{id}/changelog");
        let mut out = Vec::new();
        let mut start = 0;
        for _ in 0..MAX_CHANGELOG_PAGES {
            let query = [
                ("startAt", start.to_string()),
                ("maxResults", CHANGELOG_PAGE.to_string()),
            ];
            let response = self.client.get_path(CHANGELOG, &path, &query).await?;
            let page: RawChangelogPage = map::decode(CHANGELOG, &response.body)?;
            let n = page.values.len() as u64;
            out.extend(page.values);
            start += n;
            let last =
                page.is_last.unwrap_or(false) || n == 0 || page.total.is_some_and(|t| start >= t);
            if last {
                break;
            }
        }
        Ok(out)
    }

    /// The field ids and the account zone, re-read every [`META_TTL`].
    async fn meta(&self, now: Timestamp) -> Result<Meta, ProviderError> {
        {
            let cache = self.meta.lock().expect("meta cache lock");
            if let Some(m) = cache
                .as_ref()
                .filter(|m| now.duration_since(m.at) < META_TTL)
            {
                return Ok(m.clone());
            }
        }
        let response = self.client.get(FIELDS, &[]).await?;
        let rows: Vec<RawField> = map::decode(FIELDS, &response.body)?;
        let fields = map::resolve_fields(&rows, &self.config);
        for name in &fields.missing_sla {
            tracing::warn!(source = %self.source.name, sla = %name, "no SLA field of this name (schema sd-sla-field); its target gets no JSM verdict");
        }
        let response = self.client.get(STATUSES, &[]).await?;
        let statuses: Vec<RawStatus> = map::decode(STATUSES, &response.body)?;
        let mut fields = fields;
        fields.status_categories = map::status_categories(&statuses);
        let response = self.client.get(MYSELF, &[]).await?;
        let me: RawMyself = map::decode(MYSELF, &response.body)?;
        let zone = match me.time_zone.as_deref().map(TimeZone::get) {
            Some(Ok(z)) => z,
            other => {
                // Jira did not say (or named a zone we lack): UTC is the
                // fallback, and an account west of UTC could then skip changes
                // near the boundary, so say so loudly.
                tracing::warn!(source = %self.source.name, zone = ?me.time_zone, given = other.is_some(), "unknown account time zone, writing JQL dates in UTC");
                TimeZone::UTC
            }
        };
        let meta = Meta {
            fields,
            zone,
            at: now,
        };
        *self.meta.lock().expect("meta cache lock") = Some(meta.clone());
        Ok(meta)
    }
}

impl Provider for JsmProvider {
    fn fetch_page<'a>(&'a self, cursor: &'a Cursor) -> BoxFuture<'a, Result<Page, ProviderError>> {
        Box::pin(self.page(cursor))
    }

    fn probes(&self) -> BoxFuture<'_, Vec<Probe>> {
        Box::pin(probe::all(self))
    }
}
