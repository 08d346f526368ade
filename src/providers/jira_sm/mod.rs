//! Jira Service Management: the IO half. On Cloud, one JQL search over the
//! configured projects per sync (`/rest/api/3/search/jql`, `nextPageToken`),
//! full changelogs and comments where the search cut them, and three cached
//! look-ups: the field list (to find the SLA fields by schema), the statuses
//! (their categories) and the account's time zone (JQL dates are read in it).
//! The JSON goes to the pure [`map`]. `datacenter` runs the same sync over
//! REST v2; `reconcile` lists every issue id now and then so deleted and moved
//! issues leave the item set.
//!
//! Requests and their sources are listed in `docs/providers.md`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

mod config;
mod cursor;
mod datacenter;
pub mod map;
mod probe;
pub mod raw;
mod reconcile;

pub use config::{
    AuthKind, DEFAULT_RECONCILE_INTERVAL, Deployment, JsmConfig, SOURCE_TYPE, TeamField,
    client_settings,
};
pub use cursor::{JsmCursor, OVERLAP, jql, projects_jql};

use super::client::{ClientMetrics, ClientSettings, HttpClient, decode_values};
use super::{
    BoxFuture, BuildError, Cursor, Page, Probe, Progress, Provider, ProviderError, RejectedRow,
    StreamReport,
};
use crate::clock::{self, Clock};
use crate::config::SourceConfig;
use crate::model::Item;
use map::{
    Fields, RawChangelogPage, RawComment, RawCommentPage, RawField, RawHistory, RawIssue,
    RawMyself, RawSearchPage, RawStatus,
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
    "reporter",
    "comment",
];

/// Comments per `/comment` request. The endpoint's limit is not stated in
/// the API description; 100 is below every limit Atlassian has published for it.
const COMMENT_PAGE: u64 = 100;

/// A guard against a server that never ends the comment list: 100 pages.
const MAX_COMMENT_PAGES: u64 = 100;

/// The one stream: the `stream` label of rejected rows.
const STREAM: &str = "issues";

/// The REST paths that exist on both deployments, by deployment. They are
/// also the metric labels (templates, never an id).
#[derive(Debug, Clone, Copy)]
pub struct Paths {
    pub search: &'static str,
    pub fields: &'static str,
    pub myself: &'static str,
    pub statuses: &'static str,
    /// With `{id}` for the project key or id.
    pub project: &'static str,
}

/// Jira Cloud: REST v3.
pub const CLOUD: Paths = Paths {
    search: SEARCH,
    fields: FIELDS,
    myself: MYSELF,
    statuses: STATUSES,
    project: "/rest/api/3/project/{id}",
};

/// Jira Data Center: REST v2 (the same resources; search by offset).
pub const DATA_CENTER: Paths = Paths {
    search: datacenter::SEARCH,
    fields: "/rest/api/2/field",
    myself: "/rest/api/2/myself",
    statuses: "/rest/api/2/status",
    project: "/rest/api/2/project/{id}",
};

pub const SEARCH: &str = "/rest/api/3/search/jql";
pub const CHANGELOG: &str = "/rest/api/3/issue/{id}/changelog";
pub const COMMENTS: &str = "/rest/api/3/issue/{id}/comment";
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
    /// How the last id listing ended, for [`Provider::take_stream_reports`].
    reports: Mutex<Vec<StreamReport>>,
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
            reports: Mutex::new(Vec::new()),
        })
    }

    pub fn with_clock(mut self, clock: impl Fn() -> Timestamp + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The paths of the configured deployment.
    pub fn paths(&self) -> &'static Paths {
        match self.config.deployment {
            Deployment::Cloud => &CLOUD,
            Deployment::DataCenter => &DATA_CENTER,
        }
    }

    async fn page(&self, raw: &Cursor) -> Result<Page, ProviderError> {
        if self.config.deployment == Deployment::DataCenter {
            return datacenter::page(self, raw).await;
        }
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
        let mut comments: HashMap<String, Vec<RawComment>> = HashMap::new();
        for issue in &issues {
            let embedded = issue.changelog.as_ref();
            let rows = match embedded {
                Some(c) if !c.is_truncated() => c.histories.clone(),
                _ => self.changelog(&issue.id).await?,
            };
            histories.insert(issue.id.clone(), rows);
            let rows = match issue.fields.comment.as_ref() {
                Some(c) if !c.is_truncated() => c.comments.clone(),
                _ => self.comments(&issue.id).await?,
            };
            comments.insert(issue.id.clone(), rows);
        }
        let items: Vec<_> = issues
            .iter()
            .map(|issue| {
                map::issue_item(
                    &self.source.name,
                    issue,
                    &histories[&issue.id],
                    &comments[&issue.id],
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
        let retain_only = if done {
            self.reconcile(&mut cur, &meta, now).await
        } else {
            None
        };
        let progress = Progress {
            stream: 0,
            streams: 1,
            from,
            position,
        };
        Ok(search_page(
            &cur,
            items,
            rejected,
            retain_only,
            done,
            progress,
        ))
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
        let mut query = vec![
            ("jql", jql(&self.config.projects, from, &meta.zone)),
            ("fields", search_fields(meta, true)),
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

    /// Every comment of one issue, oldest first, where the search cut them
    /// (or did not return the field at all).
    async fn comments(&self, id: &str) -> Result<Vec<RawComment>, ProviderError> {
        let path = format!("/rest/api/3/issue/{id}/comment");
        let mut out = Vec::new();
        let mut start = 0;
        for _ in 0..MAX_COMMENT_PAGES {
            let query = [
                ("startAt", start.to_string()),
                ("maxResults", COMMENT_PAGE.to_string()),
                ("orderBy", "created".to_owned()),
            ];
            let response = self.client.get_path(COMMENTS, &path, &query).await?;
            let page: RawCommentPage = map::decode(COMMENTS, &response.body)?;
            let n = page.comments.len() as u64;
            out.extend(page.comments);
            start += n;
            if n == 0 || page.total.is_none_or(|t| start >= t) {
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
        let paths = self.paths();
        let response = self.client.get(paths.fields, &[]).await?;
        let rows: Vec<RawField> = map::decode(paths.fields, &response.body)?;
        let fields = map::resolve_fields(&rows, &self.config);
        for name in &fields.missing_sla {
            tracing::warn!(source = %self.source.name, sla = %name, "no SLA field of this name (schema sd-sla-field); its target gets no JSM verdict");
        }
        let response = self.client.get(paths.statuses, &[]).await?;
        let statuses: Vec<RawStatus> = map::decode(paths.statuses, &response.body)?;
        let mut fields = fields;
        fields.status_categories = map::status_categories(&statuses);
        let response = self.client.get(paths.myself, &[]).await?;
        let me: RawMyself = map::decode(paths.myself, &response.body)?;
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

/// The `fields` parameter of a search: the system fields the mapping reads
/// (without `comment` where comments cannot be told public), the SLA fields
/// and the team field.
fn search_fields(meta: &Meta, with_comments: bool) -> String {
    let mut fields: Vec<String> = SYSTEM_FIELDS
        .iter()
        .filter(|f| with_comments || **f != "comment")
        .map(|f| (*f).to_owned())
        .collect();
    fields.extend(meta.fields.sla.iter().map(|(id, _)| id.clone()));
    if let Some(team) = &meta.fields.team
        && !fields.contains(team)
    {
        fields.push(team.clone());
    }
    fields.join(",")
}

impl Provider for JsmProvider {
    fn fetch_page<'a>(&'a self, cursor: &'a Cursor) -> BoxFuture<'a, Result<Page, ProviderError>> {
        Box::pin(self.page(cursor))
    }

    fn probes(&self) -> BoxFuture<'_, Vec<Probe>> {
        Box::pin(probe::all(self))
    }

    fn take_stream_reports(&self) -> Vec<StreamReport> {
        std::mem::take(&mut *self.reports.lock().expect("reports lock"))
    }
}

/// The page a search step returns (Cloud or Data Center): its items, the
/// cursor after it, and the complete id list when a reconciliation ran.
fn search_page(
    cur: &JsmCursor,
    items: Vec<Item>,
    rejected: Vec<RejectedRow>,
    retain_only: Option<Vec<String>>,
    done: bool,
    progress: Progress,
) -> Page {
    Page {
        items,
        removed: Vec::new(),
        retain_only,
        next: Cursor(serde_json::to_value(cur).expect("cursor serializes")),
        done,
        progress: Some(progress),
        rejected,
        ..Page::default()
    }
}
