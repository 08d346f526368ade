//! The human pages: the status page at `/` and the open items at `/items`
//! (HTML, JSON, CSV).
//!
//! Both read only [`View`], which the evaluator builds once per evaluation
//! ([`crate::engine::Engine::evaluate`]): a request filters and pages rows
//! already in memory, sorted by time to breach, and never calls a vendor.
//! HTML comes from askama templates in `templates/`, which escape every
//! value by default; vendor text (team names, tags, errors) is never trusted.

pub mod items;
pub mod status;

use jiff::Timestamp;

use crate::report::Row;

/// What one evaluation leaves for the pages.
#[derive(Debug, Default)]
pub struct View {
    /// The instant the rows were evaluated at.
    pub at: Option<Timestamp>,
    /// Open cycles sorted by remaining time (breached first), then source,
    /// item, target and cycle, so paging is stable between requests.
    pub rows: Vec<Row>,
    /// Compliance per source, team, policy, target and window.
    pub compliance: Vec<status::Compliance>,
}

impl View {
    /// Builds the view, sorting `rows` by time to breach.
    pub fn new(at: Timestamp, mut rows: Vec<Row>, compliance: Vec<status::Compliance>) -> View {
        rows.sort_unstable_by(|a, b| {
            (
                a.remaining_seconds,
                &a.source,
                &a.item_id,
                a.target.as_str(),
                a.cycle,
            )
                .cmp(&(
                    b.remaining_seconds,
                    &b.source,
                    &b.item_id,
                    b.target.as_str(),
                    b.cycle,
                ))
        });
        View {
            at: Some(at),
            rows,
            compliance,
        }
    }
}

/// Whether the exporter runs on the built-in demo (its config is embedded).
fn is_demo(handle: &crate::app::Handle) -> bool {
    matches!(
        handle.options().config,
        crate::config::ConfigSource::Embedded { .. }
    )
}

/// The status page for `/`.
pub fn status_page(handle: &crate::app::Handle) -> Vec<u8> {
    use askama::Template;

    let view = handle.view();
    let tracked = handle.tracked();
    let config = handle.config();
    let now = Timestamp::now();
    let sources = handle
        .sources()
        .into_iter()
        .map(|s| status::SourceRow {
            health: match (s.first_sync_done, s.up) {
                (false, _) => "waiting for first sync",
                (true, true) => "up",
                (true, false) => "down",
            },
            last_success: s
                .last_success
                .map_or_else(|| "never".into(), |t| t.to_string()),
            age: s
                .last_success
                .map_or_else(String::new, |t| status::age(now, t)),
            tracked: tracked.get(&s.name).copied().unwrap_or(0),
            last_error: s.last_error.unwrap_or_default(),
            progress: s
                .progress
                .as_ref()
                .map(status::sync_progress)
                .unwrap_or_default(),
            name: s.name,
            kind: s.kind,
        })
        .collect();
    let windows = config
        .metrics
        .compliance_windows
        .iter()
        .map(|(label, _)| label.clone())
        .chain(std::iter::once("month".to_owned()))
        .collect();
    let page = status::StatusPage::new(
        &view,
        sources,
        windows,
        is_demo(handle),
        handle.options().telemetry_path.clone(),
    );
    page.render()
        .unwrap_or_else(|e| format!("template error: {e}"))
        .into_bytes()
}

/// `/items` for `query`: the content type and body, or why the query is bad.
pub fn items_response(
    handle: &crate::app::Handle,
    query: Option<&str>,
) -> Result<(&'static str, Vec<u8>), String> {
    let q = items::parse(query)?;
    let links: items::Links = handle
        .config()
        .sources
        .iter()
        .filter(|s| !s.item_url.is_empty())
        .map(|s| (s.name.clone(), s.item_url.clone()))
        .collect();
    Ok(items::render(&handle.view(), &q, &links, is_demo(handle)))
}
