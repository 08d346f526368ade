//! Jira Data Center (`deployment: data_center`): the same sync as Cloud over
//! REST v2, which has no enhanced search and no `nextPageToken`.
//!
//! `GET /rest/api/2/search` pages by `startAt` over `total`. Offsets over a
//! moving `updated` window skip rows (an issue changed mid-sync moves behind
//! the offset), so paging is by keyset: each page's query starts at the newest
//! `updated` read (a minute earlier, to the minute, as on Cloud), and an offset
//! is used only while a whole page lies inside those re-read minutes. Rows
//! are sorted `updated ASC, key ASC` so ties keep one order between queries.
//! The id listing pages the same way over `created`. Comments are not read:
//! Data Center's comments carry no `jsdPublic` (see `docs/providers.md`).

use std::collections::HashSet;

use jiff::Timestamp;

use super::cursor::{self, JsmCursor, next_position, projects_jql};
use super::map::{self, RawCreatedIssue, RawHistory, RawIssue, RawIssueChangelog, RawOffsetPage};
use super::{JsmProvider, Meta, STREAM, search_fields, search_page};
use crate::providers::client::decode_values;
use crate::providers::{Cursor, Page, Progress, ProviderError};

pub const SEARCH: &str = "/rest/api/2/search";
/// One issue with its full changelog, where the search cut it.
pub const ISSUE: &str = "/rest/api/2/issue/{id}";

/// Ids per listing page: Data Center caps `maxResults` at the
/// `jira.search.views.default.max` setting, 1,000 unless changed.
const LIST_PAGE: u64 = 1000;

/// A guard against a listing that never ends: 10,000 pages.
const MAX_LIST_PAGES: usize = 10_000;

/// One page of the Data Center sync.
pub(super) async fn page(p: &JsmProvider, raw: &Cursor) -> Result<Page, ProviderError> {
    let mut cur: JsmCursor = raw.read(&p.source.name);
    let now = (p.clock)();
    let from = cur.begin(now - p.source.initial_lookback);
    let meta = p.meta(now).await?;
    let query_from = cur.query_from.unwrap_or(from);
    let start_at = cur.start_at.unwrap_or(0);
    let max = u64::from(p.source.page_size.max(1));
    let mut page = search(p, &meta, query_from, start_at, max).await?;
    let n = page.issues.len() as u64;
    let (issues, rejected) = decode_values::<RawIssue>(STREAM, std::mem::take(&mut page.issues));
    let mut items = Vec::with_capacity(issues.len());
    for issue in &issues {
        let histories = match issue.changelog.as_ref() {
            Some(c) if !c.is_truncated() => c.histories.clone(),
            _ => full_changelog(p, &issue.id).await?,
        };
        items.push(map::issue_item(
            &p.source.name,
            issue,
            &histories,
            &[],
            &meta.fields,
            &p.config.statuses,
        ));
    }
    let times: Vec<Timestamp> = items.iter().map(|i| i.updated_at).collect();
    let newest = times.iter().max().copied();
    let last = n == 0 || page.total.map_or(n < max, |t| start_at + n >= t);
    let next = (!last).then(|| {
        let (from, start_at) = next_position(&times, Some(query_from), start_at, n, &meta.zone);
        (from.unwrap_or(query_from), start_at)
    });
    let position = cur.newest.max(newest).unwrap_or(from);
    let done = cur.advance_offset(newest, next);
    let retain_only = if done {
        p.reconcile(&mut cur, &meta, now).await
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

/// One `/rest/api/2/search` page of the issues changed since `query_from`.
async fn search(
    p: &JsmProvider,
    meta: &Meta,
    query_from: Timestamp,
    start_at: u64,
    max: u64,
) -> Result<RawOffsetPage, ProviderError> {
    let jql = format!(
        "{} AND updated >= \"{}\" ORDER BY updated ASC, key ASC",
        projects_jql(&p.config.projects),
        cursor::literal(query_from, &meta.zone)
    );
    let query = [
        ("jql", jql),
        ("fields", search_fields(meta, false)),
        ("expand", "changelog".to_owned()),
        ("startAt", start_at.to_string()),
        ("maxResults", max.to_string()),
    ];
    let response = p.client.get(SEARCH, &query).await?;
    map::decode(SEARCH, &response.body)
}

/// `check-source`: the first page of a sync, one issue long; the row count and `total`.
pub(super) async fn probe_search(
    p: &JsmProvider,
    meta: &Meta,
    from: Timestamp,
) -> Result<(usize, Option<u64>), ProviderError> {
    let page = search(p, meta, from, 0, 1).await?;
    Ok((page.issues.len(), page.total))
}

/// The changelog of one issue in full: Data Center has no paged changelog
/// resource, but `GET /rest/api/2/issue/{id}?expand=changelog` returns it.
async fn full_changelog(p: &JsmProvider, id: &str) -> Result<Vec<RawHistory>, ProviderError> {
    let path = format!("/rest/api/2/issue/{id}");
    let query = [
        ("fields", "created".to_owned()),
        ("expand", "changelog".to_owned()),
    ];
    let response = p.client.get_path(ISSUE, &path, &query).await?;
    let issue: RawIssueChangelog = map::decode(ISSUE, &response.body)?;
    let changelog = issue.changelog.unwrap_or_default();
    if changelog.is_truncated() {
        tracing::warn!(source = %p.source.name, issue = %id, total = ?changelog.total, read = changelog.histories.len(), "Data Center cut an issue's changelog; events before the oldest entry read are missing");
    }
    Ok(changelog.histories)
}

/// Every issue id of the projects, keyset-paged over `created` like the
/// sync. Complete only when the last page says so (`startAt + rows >=
/// total`); any error fails the whole listing.
pub(super) async fn list_ids(p: &JsmProvider, meta: &Meta) -> Result<Vec<String>, ProviderError> {
    let projects = projects_jql(&p.config.projects);
    let mut ids = Vec::new();
    let mut seen = HashSet::new();
    let mut from: Option<Timestamp> = None;
    let mut start_at = 0;
    for _ in 0..MAX_LIST_PAGES {
        let jql = match from {
            None => format!("{projects} ORDER BY created ASC, key ASC"),
            Some(f) => format!(
                "{projects} AND created >= \"{}\" ORDER BY created ASC, key ASC",
                cursor::literal(f, &meta.zone)
            ),
        };
        let query = [
            ("jql", jql),
            ("fields", "created".to_owned()),
            ("startAt", start_at.to_string()),
            ("maxResults", LIST_PAGE.to_string()),
        ];
        let response = p.client.get(SEARCH, &query).await?;
        let page: RawOffsetPage = map::decode(SEARCH, &response.body)?;
        let n = page.issues.len() as u64;
        let rows: Vec<RawCreatedIssue> = page
            .issues
            .into_iter()
            .map(serde_json::from_value)
            .collect::<Result<_, _>>()
            .map_err(|e| ProviderError::Decode {
                endpoint: SEARCH.to_owned(),
                reason: e.to_string(),
            })?;
        let times: Vec<Timestamp> = rows.iter().map(|r| r.fields.created).collect();
        for row in rows {
            if seen.insert(row.id.clone()) {
                ids.push(row.id);
            }
        }
        if n == 0 || page.total.map_or(n < LIST_PAGE, |t| start_at + n >= t) {
            return Ok(ids);
        }
        (from, start_at) = next_position(&times, from, start_at, n, &meta.zone);
    }
    Err(ProviderError::PagingLoop {
        endpoint: SEARCH.to_owned(),
        detail: format!("the id listing did not end within {MAX_LIST_PAGES} pages"),
    })
}
