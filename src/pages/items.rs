//! `/items`: the open cycles (running, at risk, paused, breached and still
//! open) sorted by time to breach, filtered by query parameters, paged, as
//! HTML, JSON or CSV. The CSV and the JSON rows have the columns of `report`.

use std::collections::HashMap;

use askama::Template;
use serde::Serialize;

use super::View;
use crate::report::{self, COLUMNS, Row};

/// Rows per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 100;
/// The most rows one request returns, so a huge account cannot make a page
/// (or a browser) slow.
pub const MAX_LIMIT: usize = 1000;

/// The columns a request may filter on, in the order the form shows them.
pub const FILTERS: [&str; 7] = [
    "source", "channel", "team", "priority", "policy", "target", "state",
];

/// The columns whose values never contain a comma, so a comma lists several.
const LISTS: [&str; 3] = ["channel", "target", "state"];

/// The states `/items` lists; the same values as the `state` label of
/// `helpdesk_sla_open_items`.
pub const STATES: [&str; 4] = ["breached", "at_risk", "running", "paused"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Json,
    Csv,
}

/// A parsed `/items` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// `(column, accepted values)`; a row must match every column given.
    /// Values repeat (`team=a&team=b`); the enumerated columns (channel,
    /// target, state) also take a comma-separated list. Team, priority,
    /// policy and source are vendor or user text and may contain commas.
    pub filters: Vec<(&'static str, Vec<String>)>,
    pub limit: usize,
    pub offset: usize,
    pub format: Format,
}

/// Parses the query string; unknown parameters and bad values are errors, so
/// a typo in a link never silently shows everything.
pub fn parse(query: Option<&str>) -> Result<Query, String> {
    let mut q = Query {
        filters: Vec::new(),
        limit: DEFAULT_LIMIT,
        offset: 0,
        format: Format::Html,
    };
    for (key, value) in pairs(query.unwrap_or("")) {
        match key.as_str() {
            "limit" => {
                let n: usize = value
                    .parse()
                    .map_err(|_| format!("limit: not a number: {value:?}"))?;
                q.limit = n.clamp(1, MAX_LIMIT);
            }
            "offset" => {
                q.offset = value
                    .parse()
                    .map_err(|_| format!("offset: not a number: {value:?}"))?;
            }
            "format" => {
                q.format = match value.as_str() {
                    "html" => Format::Html,
                    "json" => Format::Json,
                    "csv" => Format::Csv,
                    _ => return Err(format!("format: want html, json or csv, not {value:?}")),
                }
            }
            k => {
                let Some(column) = FILTERS.iter().find(|f| **f == k) else {
                    return Err(format!(
                        "unknown parameter {k:?}; filters are {}, plus limit, offset and format",
                        FILTERS.join(", ")
                    ));
                };
                let values: Vec<String> = if LISTS.contains(column) {
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|v| !v.is_empty())
                        .map(str::to_owned)
                        .collect()
                } else {
                    vec![value.clone()]
                };
                let entry = match q.filters.iter_mut().find(|(c, _)| c == column) {
                    Some(e) => e,
                    None => {
                        q.filters.push((column, Vec::new()));
                        q.filters.last_mut().expect("just pushed")
                    }
                };
                entry.1.extend(values);
            }
        }
    }
    q.filters.retain(|(_, v)| !v.is_empty());
    if let Some((_, states)) = q.filters.iter().find(|(c, _)| *c == "state")
        && let Some(bad) = states.iter().find(|s| !STATES.contains(&s.as_str()))
    {
        return Err(format!(
            "state: want one of {}, not {bad:?}",
            STATES.join(", ")
        ));
    }
    Ok(q)
}

/// Decoded `key=value` pairs of a query string.
fn pairs(query: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://items/?{query}"))
        .map(|u| {
            u.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn column<'a>(row: &'a Row, name: &str) -> &'a str {
    match name {
        "source" => &row.source,
        "channel" => row.channel.as_str(),
        "team" => &row.team,
        "priority" => &row.priority,
        "policy" => &row.policy,
        "target" => row.target.as_str(),
        "state" => row.state,
        _ => "",
    }
}

/// One page of matching rows and how many match in all.
pub struct Selection<'a> {
    pub total: usize,
    pub rows: Vec<&'a Row>,
}

/// Filters the view's rows (already sorted by time to breach) and cuts the
/// page: one pass, no sort, no allocation beyond the page.
pub fn select<'a>(view: &'a View, q: &Query) -> Selection<'a> {
    let mut total = 0;
    let all = view.rows();
    let mut rows = Vec::with_capacity(q.limit.min(all.len()));
    for row in all {
        let matches = q
            .filters
            .iter()
            .all(|(c, values)| values.iter().any(|v| v == column(row, c)));
        if !matches {
            continue;
        }
        if total >= q.offset && rows.len() < q.limit {
            rows.push(row);
        }
        total += 1;
    }
    Selection { total, rows }
}

/// Per-source templates of the link to an item in its helpdesk's agent
/// interface; `{id}` is replaced by the percent-encoded item id.
pub type Links = HashMap<String, String>;

/// The agent-interface link of `row`, if its source has a template.
pub fn link(links: &Links, row: &Row) -> Option<String> {
    links
        .get(&*row.source)
        .map(|t| t.replace("{id}", &percent_encode(&row.item_id)))
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The query string of `q` with `offset` replaced (for paging links) and the
/// format dropped; every value percent-encoded.
pub fn query_string(q: &Query, offset: usize, format: Option<&str>) -> String {
    let mut parts: Vec<String> = q
        .filters
        .iter()
        .flat_map(|(c, values)| {
            values
                .iter()
                .map(move |v| format!("{c}={}", percent_encode(v)))
        })
        .collect();
    if q.limit != DEFAULT_LIMIT {
        parts.push(format!("limit={}", q.limit));
    }
    if offset > 0 {
        parts.push(format!("offset={offset}"));
    }
    if let Some(f) = format {
        parts.push(format!("format={f}"));
    }
    parts.join("&")
}

#[derive(Serialize)]
struct JsonPage<'a> {
    evaluated_at: Option<String>,
    total: usize,
    offset: usize,
    limit: usize,
    items: &'a [&'a Row],
}

/// The response body and its content type.
pub fn render(view: &View, q: &Query, links: &Links, demo: bool) -> (&'static str, Vec<u8>) {
    let sel = select(view, q);
    match q.format {
        Format::Csv => {
            let mut body = Vec::new();
            report::write_csv(sel.rows.iter().copied(), &mut body).expect("writing to memory");
            ("text/csv; charset=utf-8", body)
        }
        Format::Json => {
            let page = JsonPage {
                evaluated_at: view.at.map(|t| t.to_string()),
                total: sel.total,
                offset: q.offset,
                limit: q.limit,
                items: &sel.rows,
            };
            let mut body = serde_json::to_vec_pretty(&page).expect("rows serialize");
            body.push(b'\n');
            ("application/json", body)
        }
        Format::Html => {
            let page = ItemsPage::new(view, q, &sel, links, demo);
            let body = page
                .render()
                .unwrap_or_else(|e| format!("template error: {e}"));
            ("text/html; charset=utf-8", body.into_bytes())
        }
    }
}

/// One row as the HTML table shows it.
pub struct HtmlRow<'a> {
    pub row: &'a Row,
    pub link: Option<String>,
    /// Remaining time as `-1h05m` / `12m`.
    pub remaining: String,
}

#[derive(Template)]
#[template(path = "items.html")]
pub struct ItemsPage<'a> {
    pub demo: bool,
    pub evaluated_at: String,
    pub columns: &'static [&'static str],
    pub rows: Vec<HtmlRow<'a>>,
    pub total: usize,
    pub first: usize,
    pub last: usize,
    /// `(column, current value)` for the filter form.
    pub filters: Vec<(&'static str, String)>,
    pub states: &'static [&'static str],
    pub limit: usize,
    pub prev: Option<String>,
    pub next: Option<String>,
    pub csv: String,
    pub json: String,
}

impl<'a> ItemsPage<'a> {
    fn new(
        view: &View,
        q: &Query,
        sel: &Selection<'a>,
        links: &Links,
        demo: bool,
    ) -> ItemsPage<'a> {
        let rows = sel
            .rows
            .iter()
            .map(|r| HtmlRow {
                row: r,
                link: link(links, r),
                remaining: human_duration(r.remaining_seconds),
            })
            .collect();
        let filters = FILTERS
            .iter()
            .map(|c| {
                let v = q
                    .filters
                    .iter()
                    .find(|(f, _)| f == c)
                    .map(|(_, v)| v.join(","))
                    .unwrap_or_default();
                (*c, v)
            })
            .collect();
        let page_link = |offset| format!("/items?{}", query_string(q, offset, None));
        ItemsPage {
            demo,
            evaluated_at: view
                .at
                .map(|t| t.to_string())
                .unwrap_or_else(|| "not yet".into()),
            columns: &COLUMNS,
            first: if sel.rows.is_empty() { 0 } else { q.offset + 1 },
            last: q.offset + sel.rows.len(),
            total: sel.total,
            rows,
            filters,
            states: &STATES,
            limit: q.limit,
            prev: (q.offset > 0).then(|| page_link(q.offset.saturating_sub(q.limit))),
            next: (q.offset + q.limit < sel.total).then(|| page_link(q.offset + q.limit)),
            csv: format!("/items?{}", query_string(q, q.offset, Some("csv"))),
            json: format!("/items?{}", query_string(q, q.offset, Some("json"))),
        }
    }
}

/// `3725` -> `1h02m`, `-90` -> `-1m30s`: short enough for a table cell.
pub fn human_duration(secs: i64) -> String {
    let sign = if secs < 0 { "-" } else { "" };
    let s = secs.unsigned_abs();
    let (d, h, m, sec) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{sign}{sec}s"),
        (0, 0, _) => format!("{sign}{m}m{sec:02}s"),
        (0, _, _) => format!("{sign}{h}h{m:02}m"),
        _ => format!("{sign}{d}d{h:02}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Stamp;

    fn row(id: &str, team: &str, state: &'static str, remaining: i64) -> Row {
        Row {
            source: "s".into(),
            channel: crate::model::Channel::Ticket,
            item_id: id.into(),
            team: team.into(),
            priority: "".into(),
            policy: "p".into(),
            target: crate::model::Target::FirstResponse,
            cycle: 1,
            state,
            started_at: Stamp::default(),
            due_at: Stamp::default(),
            completed_at: Stamp::default(),
            elapsed_seconds: 0,
            remaining_seconds: remaining,
            vendor_verdict: "",
        }
    }

    fn view() -> View {
        View::new(
            jiff::Timestamp::UNIX_EPOCH,
            vec![
                row("a", "Billing", "running", 300),
                row("b", "Sales", "breached", -60),
                row("c", "Billing", "at_risk", 30),
                row("d", "Billing, EU", "paused", 900),
            ],
            vec![],
        )
    }

    #[test]
    fn rows_are_sorted_by_time_to_breach_and_filtered() {
        let v = view();
        let ids = |q: &str| -> (usize, Vec<String>) {
            let sel = select(&v, &parse(Some(q)).unwrap());
            (
                sel.total,
                sel.rows.iter().map(|r| r.item_id.to_string()).collect(),
            )
        };
        assert_eq!(
            ids(""),
            (4, vec!["b".into(), "c".into(), "a".into(), "d".into()])
        );
        assert_eq!(ids("team=Billing"), (2, vec!["c".into(), "a".into()]));
        assert_eq!(
            ids("team=Billing&team=Sales"),
            (3, vec!["b".into(), "c".into(), "a".into()])
        );
        assert_eq!(
            ids("state=at_risk,breached"),
            (2, vec!["b".into(), "c".into()])
        );
        assert_eq!(
            ids("team=Billing%2C%20EU"),
            (1, vec!["d".into()]),
            "team names may hold commas"
        );
        assert_eq!(ids("limit=2&offset=1"), (4, vec!["c".into(), "a".into()]));
        assert_eq!(ids("offset=10"), (4, vec![]));
    }

    #[test]
    fn bad_queries_are_errors_and_limits_are_bounded() {
        assert!(
            parse(Some("tema=x"))
                .unwrap_err()
                .contains("unknown parameter \"tema\"")
        );
        assert!(
            parse(Some("state=met"))
                .unwrap_err()
                .starts_with("state: want one of")
        );
        assert!(parse(Some("limit=x")).is_err());
        assert_eq!(parse(Some("limit=5000")).unwrap().limit, MAX_LIMIT);
        assert_eq!(parse(Some("limit=0")).unwrap().limit, 1);
        assert_eq!(parse(None).unwrap().limit, DEFAULT_LIMIT);
        assert_eq!(parse(Some("format=csv")).unwrap().format, Format::Csv);
    }

    #[test]
    fn links_percent_encode_the_id_and_durations_are_short() {
        let links: Links = [(
            "s".to_owned(),
            "https://x/agent/#Conversation;id={id}".to_owned(),
        )]
        .into();
        assert_eq!(
            link(&links, &row("a b/\"<", "t", "running", 0)).as_deref(),
            Some("https://x/agent/#Conversation;id=a%20b%2F%22%3C")
        );
        assert_eq!(link(&Links::new(), &row("a", "t", "running", 0)), None);
        assert_eq!(human_duration(3725), "1h02m");
        assert_eq!(human_duration(-90), "-1m30s");
        assert_eq!(human_duration(59), "59s");
        assert_eq!(human_duration(2 * 86400 + 3600), "2d01h");
    }
}
