//! The HTML landing page at `/`: version, links, and each source's health.

use crate::app::Handle;
use crate::metrics;

pub(super) fn landing_page(handle: &Handle) -> Vec<u8> {
    let telemetry = escape(&handle.options().telemetry_path);
    let mut rows = String::new();
    for s in handle.sources() {
        let health = match (s.first_sync_done, s.up) {
            (false, _) => "waiting for first sync",
            (true, true) => "up",
            (true, false) => "down",
        };
        let error = s.last_error.as_deref().map(escape).unwrap_or_default();
        let progress = s.progress.as_ref().map(sync_progress).unwrap_or_default();
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{health}</td><td>{progress}</td><td>{error}</td></tr>\n",
            escape(&s.name),
            s.kind,
        ));
    }
    if rows.is_empty() {
        rows.push_str("<tr><td colspan=\"5\">No sources configured.</td></tr>\n");
    }
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Helpdesk SLA Exporter</title></head>\n<body>\n\
         <h1>Helpdesk SLA Exporter</h1>\n<p>Version {version} (revision {revision})</p>\n\
         <ul><li><a href=\"{telemetry}\">Metrics</a></li><li><a href=\"/-/healthy\">Health</a></li>\
         <li><a href=\"/-/ready\">Readiness</a></li></ul>\n\
         <h2>Sources</h2>\n<table>\n<tr><th>Source</th><th>Type</th><th>Health</th><th>Sync in progress</th><th>Last error</th></tr>\n{rows}</table>\n\
         </body></html>\n",
        version = metrics::VERSION,
        revision = metrics::REVISION,
    )
    .into_bytes()
}

/// `42% (1234 items, about 5 min left)`.
fn sync_progress(p: &crate::app::SyncProgress) -> String {
    let left = match p.eta_seconds {
        Some(s) if s >= 90.0 => format!(", about {} min left", (s / 60.0).round()),
        Some(s) => format!(", about {} s left", s.round()),
        None => String::new(),
    };
    format!("{:.0}% ({} items{left})", p.ratio * 100.0, p.items)
}

/// Escapes text for HTML; source names and errors come from config and vendors.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
