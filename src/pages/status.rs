//! The status page at `/`: each source's health, last successful sync and its
//! age, items tracked and last error; open items at risk and breached now,
//! linking into `/items`; compliance per team and target against the
//! objective for every window, with sample sizes.

use std::collections::BTreeMap;

use askama::Template;
use jiff::Timestamp;

use super::View;
use super::items::percent_encode;
use crate::metrics::sla::Tally;
use crate::snapshot::Series;

/// Compliance of one (source, team, policy, target) over one window. Summed
/// over channel and priority: the page answers "how is this team doing".
#[derive(Debug, Clone, PartialEq)]
pub struct Compliance {
    pub source: String,
    pub team: String,
    pub policy: String,
    pub target: &'static str,
    pub window: String,
    pub met: u64,
    pub total: u64,
    pub objective: f64,
}

/// Folds the evaluator's tallies (per full label set and window) into
/// [`Compliance`] rows; `objectives` are `(policy, target, objective)`.
pub fn compliance_rows(
    tallies: &BTreeMap<(Series, String), Tally>,
    objectives: &[(String, &'static str, f64)],
) -> Vec<Compliance> {
    let mut sums: BTreeMap<(String, String, String, &'static str, String), Tally> = BTreeMap::new();
    for ((s, window), t) in tallies {
        let key = (
            s.source.clone(),
            s.team.clone(),
            s.policy.clone(),
            s.target,
            window.clone(),
        );
        let sum = sums.entry(key).or_default();
        sum.met += t.met;
        sum.total += t.total;
    }
    sums.into_iter()
        .map(|((source, team, policy, target, window), t)| Compliance {
            objective: objectives
                .iter()
                .find(|(p, tg, _)| *p == policy && *tg == target)
                .map_or(0.0, |o| o.2),
            source,
            team,
            policy,
            target,
            window,
            met: t.met,
            total: t.total,
        })
        .collect()
}

/// What the page shows about one source.
pub struct SourceRow {
    pub name: String,
    pub kind: &'static str,
    /// `up`, `down` or `waiting for first sync`.
    pub health: &'static str,
    pub last_success: String,
    pub age: String,
    pub tracked: usize,
    pub last_error: String,
    /// `42% (1234 items, about 5 min left)` while a sync runs, else empty.
    pub progress: String,
}

/// How far a running sync has come, for people: `42% (1234 items, about 5
/// min left)`.
pub fn sync_progress(p: &crate::app::SyncProgress) -> String {
    let left = match p.eta_seconds {
        Some(s) if s >= 90.0 => format!(", about {} min left", (s / 60.0).round()),
        Some(s) => format!(", about {} s left", s.round()),
        None => String::new(),
    };
    format!("{:.0}% ({} items{left})", p.ratio * 100.0, p.items)
}

/// One compliance cell: the ratio against the objective and the sample size.
pub struct Cell {
    pub text: String,
    pub class: &'static str,
    pub total: u64,
}

pub struct ComplianceLine {
    pub source: String,
    pub team: String,
    pub policy: String,
    pub target: &'static str,
    pub objective: String,
    pub cells: Vec<Option<Cell>>,
}

#[derive(Template)]
#[template(path = "status.html")]
pub struct StatusPage {
    pub demo: bool,
    pub version: &'static str,
    pub revision: &'static str,
    pub telemetry: String,
    pub evaluated_at: String,
    pub sources: Vec<SourceRow>,
    pub at_risk: usize,
    pub breached: usize,
    pub open: usize,
    pub windows: Vec<String>,
    pub compliance: Vec<ComplianceLine>,
}

impl StatusPage {
    /// Builds the page; `windows` are the compliance window labels in order.
    pub fn new(
        view: &View,
        sources: Vec<SourceRow>,
        windows: Vec<String>,
        demo: bool,
        telemetry: String,
    ) -> StatusPage {
        let mut lines: BTreeMap<(String, String, String, &'static str), ComplianceLine> =
            BTreeMap::new();
        for c in &view.compliance {
            let Some(i) = windows.iter().position(|w| *w == c.window) else {
                continue;
            };
            let key = (c.source.clone(), c.team.clone(), c.policy.clone(), c.target);
            let line = lines.entry(key).or_insert_with(|| ComplianceLine {
                source: c.source.clone(),
                team: c.team.clone(),
                policy: c.policy.clone(),
                target: c.target,
                objective: format!("{:.1}%", c.objective * 100.0),
                cells: windows.iter().map(|_| None).collect(),
            });
            if c.total > 0 {
                let ratio = c.met as f64 / c.total as f64;
                line.cells[i] = Some(Cell {
                    text: format!("{:.1}%", ratio * 100.0),
                    class: if ratio >= c.objective { "ok" } else { "bad" },
                    total: c.total,
                });
            }
        }
        StatusPage {
            demo,
            version: crate::metrics::VERSION,
            revision: crate::metrics::REVISION,
            telemetry,
            evaluated_at: view
                .at
                .map(|t| t.to_string())
                .unwrap_or_else(|| "not yet".into()),
            sources,
            at_risk: view.count("at_risk"),
            breached: view.count("breached"),
            open: view.open(),
            windows,
            compliance: lines.into_values().collect(),
        }
    }
}

impl ComplianceLine {
    /// `/items` filtered to this line's source, team, policy and target.
    pub fn items_link(&self) -> String {
        format!(
            "/items?source={}&team={}&policy={}&target={}",
            percent_encode(&self.source),
            percent_encode(&self.team),
            percent_encode(&self.policy),
            self.target
        )
    }
}

/// `now - then` as a short age: `42s`, `5m`, `3h`, `2d`.
pub fn age(now: Timestamp, then: Timestamp) -> String {
    let s = now.duration_since(then).as_secs().max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compliance_folds_channels_and_priorities_per_team_and_target() {
        let series = |priority: &str| Series {
            source: "s".into(),
            channel: "ticket",
            team: "Billing".into(),
            priority: priority.into(),
            policy: "p".into(),
            target: "resolution",
        };
        let tallies: BTreeMap<(Series, String), Tally> = [
            ((series("high"), "7d".into()), Tally { met: 9, total: 10 }),
            ((series("low"), "7d".into()), Tally { met: 1, total: 10 }),
        ]
        .into();
        let rows = compliance_rows(&tallies, &[("p".into(), "resolution", 0.9)]);
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].met, rows[0].total, rows[0].objective),
            (10, 20, 0.9)
        );
        let view = View {
            compliance: rows,
            ..View::default()
        };
        let page = StatusPage::new(
            &view,
            vec![],
            vec!["1d".into(), "7d".into()],
            false,
            "/metrics".into(),
        );
        let line = &page.compliance[0];
        assert!(line.cells[0].is_none());
        let cell = line.cells[1].as_ref().unwrap();
        assert_eq!(
            (cell.text.as_str(), cell.class, cell.total),
            ("50.0%", "bad", 20)
        );
        assert_eq!(
            line.items_link(),
            "/items?source=s&team=Billing&policy=p&target=resolution"
        );
    }

    #[test]
    fn ages_are_short() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(
            age(t("2026-01-01T00:01:00Z"), t("2026-01-01T00:00:18Z")),
            "42s"
        );
        assert_eq!(
            age(t("2026-01-01T03:00:00Z"), t("2026-01-01T00:00:00Z")),
            "3h"
        );
        assert_eq!(
            age(t("2026-01-03T00:00:00Z"), t("2026-01-01T00:00:00Z")),
            "2d"
        );
    }
}
