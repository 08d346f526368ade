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

use std::sync::LazyLock;

use jiff::Timestamp;

use crate::report::Row;

/// Rows a [`View`] adds on its first read (the skipped items' rows, moved to
/// the view's instant).
pub type MoreRows = Box<dyn FnOnce(&mut Vec<Row>) + Send>;

/// How a [`View`] builds its sorted rows on first read.
type BuildRows = Box<dyn FnOnce() -> Vec<Row> + Send>;

/// What one evaluation leaves for the pages.
///
/// The open rows are sorted when a page first reads them, not by the
/// evaluation: at 100k tickets they are ~400k rows, and building and
/// sorting them after every evaluation (every 15 s and after each sync)
/// was a third of a poll's CPU, for pages most evaluations never serve.
/// The counts per state the status page shows are known without them.
pub struct View {
    /// The instant the rows were evaluated at.
    pub at: Option<Timestamp>,
    /// Open cycles sorted by remaining time (breached first), then source,
    /// item, target and cycle, so paging is stable between requests; built
    /// on first read.
    rows: LazyLock<Vec<Row>, BuildRows>,
    /// Open rows per state, in [`items::STATES`] order.
    states: [usize; 4],
    /// Compliance per source, team, policy and target and window.
    pub compliance: Vec<status::Compliance>,
}

impl Default for View {
    fn default() -> View {
        View {
            at: None,
            rows: LazyLock::new(Box::new(Vec::new)),
            states: [0; 4],
            compliance: Vec::new(),
        }
    }
}

impl View {
    /// The view of `rows`, sorted by time to breach.
    pub fn new(at: Timestamp, rows: Vec<Row>, compliance: Vec<status::Compliance>) -> View {
        let states = items::STATES.map(|s| (s, rows.iter().filter(|r| r.state == s).count()));
        let view = View::deferred(at, rows, None, states, compliance);
        view.rows();
        view
    }

    /// The view of `rows` and what `more` adds, sorted on first read;
    /// `states` counts them all, as `(state, rows)` pairs (one of
    /// [`items::STATES`] each, repeated states add up).
    pub fn deferred<'a>(
        at: Timestamp,
        mut rows: Vec<Row>,
        more: Option<MoreRows>,
        states: impl IntoIterator<Item = (&'a str, usize)>,
        compliance: Vec<status::Compliance>,
    ) -> View {
        let mut counts = [0; 4];
        for (state, n) in states {
            if let Some(i) = items::STATES.iter().position(|s| *s == state) {
                counts[i] += n;
            }
        }
        let build = move || {
            if let Some(more) = more {
                more(&mut rows);
            }
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
            rows
        };
        View {
            at: Some(at),
            rows: LazyLock::new(Box::new(build)),
            states: counts,
            compliance,
        }
    }

    /// The open rows, sorted by time to breach (sorted now if no page has
    /// read them yet).
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// How many open rows are in `state` (one of [`items::STATES`]).
    pub fn count(&self, state: &str) -> usize {
        items::STATES
            .iter()
            .position(|s| *s == state)
            .map_or(0, |i| self.states[i])
    }

    /// How many open rows there are.
    pub fn open(&self) -> usize {
        self.states.iter().sum()
    }
}

impl std::fmt::Debug for View {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("View")
            .field("at", &self.at)
            .field("rows", &self.rows())
            .field("states", &self.states)
            .field("compliance", &self.compliance)
            .finish()
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
