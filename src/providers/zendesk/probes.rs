//! `check-source` for Zendesk: each endpoint the provider reads, asked for
//! the last hour only, the plan limit the account reports in its headers, and
//! whether the sideloads the mapping relies on came back.

use jiff::SignedDuration;

use super::map::{self, RawCallPage};
use super::raw::RawMetricEventPage;
use super::{CALLS, GROUPS, METRIC_EVENTS, SLA_POLICIES, Stream, TICKETS, ZendeskProvider};
use crate::providers::{Probe, ProbeResult};

impl ZendeskProvider {
    /// `check-source`: each endpoint the provider reads, asked for the last
    /// hour only (one page of one row where the endpoint takes a size), and
    /// whether the sideloads it relies on came back.
    pub(super) async fn check(&self) -> Vec<Probe> {
        let now = (self.clock)();
        let hour_ago = (now - SignedDuration::from_hours(1))
            .as_second()
            .to_string();
        let mut out = Vec::new();
        let tickets = [
            ("start_time", hour_ago.clone()),
            ("per_page", "1".to_owned()),
            ("include", "metric_sets,slas".to_owned()),
        ];
        let needs_tickets = self.streams().contains(&Stream::Tickets);
        match self.export.get(TICKETS, &tickets).await {
            Ok(r) => {
                let page: Result<map::RawTicketPage, _> = map::decode(TICKETS, &r.body);
                let limit = r
                    .header("x-rate-limit")
                    .map(|l| format!("; account limit {l}/min"))
                    .unwrap_or_default();
                match page {
                    Ok(page) => {
                        out.push(probe_of(
                            needs_tickets,
                            format!("GET {TICKETS}"),
                            ProbeResult::Works,
                            format!("{} tickets in the last hour{limit}", page.tickets.len()),
                        ));
                        out.extend(sideload_probes(&page));
                    }
                    Err(e) => out.push(probe_of(
                        needs_tickets,
                        format!("GET {TICKETS}"),
                        ProbeResult::Refused,
                        e.to_string(),
                    )),
                }
            }
            Err(e) => out.push(probe_of(
                needs_tickets,
                format!("GET {TICKETS}"),
                ProbeResult::Refused,
                format!("{e} (the incremental export needs an admin)"),
            )),
        }
        let since = [("start_time", hour_ago.clone())];
        out.push(match self.export.get(METRIC_EVENTS, &since).await {
            Ok(r) => match map::decode::<RawMetricEventPage>(METRIC_EVENTS, &r.body) {
                Ok(page) => probe_of(
                    needs_tickets,
                    format!("GET {METRIC_EVENTS}"),
                    ProbeResult::Works,
                    format!(
                        "{} metric events in the last hour: pauses, next replies and solves",
                        page.ticket_metric_events.len()
                    ),
                ),
                Err(e) => probe_of(
                    needs_tickets,
                    format!("GET {METRIC_EVENTS}"),
                    ProbeResult::Refused,
                    e.to_string(),
                ),
            },
            Err(e) => probe_of(
                needs_tickets,
                format!("GET {METRIC_EVENTS}"),
                ProbeResult::Refused,
                format!("{e} (the incremental export needs an admin)"),
            ),
        });
        let calls = [("start_time", hour_ago)];
        let needs_calls = self.streams().contains(&Stream::Calls);
        out.push(match self.export.get(CALLS, &calls).await {
            Ok(r) => match map::decode::<RawCallPage>(CALLS, &r.body) {
                Ok(page) => probe_of(
                    needs_calls,
                    format!("GET {CALLS}"),
                    ProbeResult::Works,
                    format!("{} calls in the last hour", page.count),
                ),
                Err(e) => probe_of(
                    needs_calls,
                    format!("GET {CALLS}"),
                    ProbeResult::Refused,
                    e.to_string(),
                ),
            },
            Err(e) => probe_of(
                needs_calls,
                format!("GET {CALLS}"),
                ProbeResult::Refused,
                format!("{e} (no Talk on this account? leave `call` out of channels)"),
            ),
        });
        let one = [("page[size]", "1".to_owned())];
        out.push(
            match self.api.get(GROUPS, &one).await {
                Ok(_) => Probe::new(
                    format!("GET {GROUPS}"),
                    ProbeResult::Works,
                    "group names as teams",
                ),
                Err(e) => Probe::new(
                    format!("GET {GROUPS}"),
                    ProbeResult::Fallback,
                    format!("{e}; teams show group ids"),
                ),
            }
            .optional(),
        );
        out.push(match self.api.get(SLA_POLICIES, &[]).await {
            Ok(_) => Probe::new(
                format!("GET {SLA_POLICIES}"),
                ProbeResult::Works,
                "Zendesk SLA policies exist on this plan; breach_at can be compared",
            ),
            Err(e) => Probe::new(
                format!("GET {SLA_POLICIES}"),
                ProbeResult::Fallback,
                format!("{e} (SLA policies need Professional or above); only the exporter's own verdict"),
            ),
        }
        .optional());
        out
    }
}

/// A probe that is required only when the source reads that stream.
fn probe_of(required: bool, name: String, result: ProbeResult, detail: String) -> Probe {
    let p = Probe::new(name, result, detail);
    if required { p } else { p.optional() }
}

/// Whether the export page carried the sideloads the mapping reads. Only
/// decidable when the page has tickets.
fn sideload_probes(page: &map::RawTicketPage) -> Vec<Probe> {
    if page.tickets.is_empty() {
        return Vec::new();
    }
    let with_slas = page
        .tickets
        .iter()
        .filter(|t| t.get("slas").is_some())
        .count();
    let slas = if with_slas > 0 {
        Probe::new(
            "include=slas on the ticket export",
            ProbeResult::Works,
            "breach_at read as Zendesk's due instants",
        )
    } else {
        Probe::new(
            "include=slas on the ticket export",
            ProbeResult::Ignored,
            "no `slas` on exported tickets: no Zendesk due instants, the exporter's own verdict only",
        )
    };
    let metrics = if page.metric_sets.is_empty() {
        Probe::new(
            "include=metric_sets on the ticket export",
            ProbeResult::Ignored,
            "no metric sets: tickets carry only their current status, no reply or assignment instants",
        )
    } else {
        Probe::new(
            "include=metric_sets on the ticket export",
            ProbeResult::Works,
            "reply, assignment and solve instants",
        )
    };
    vec![slas.optional(), metrics.optional()]
}
