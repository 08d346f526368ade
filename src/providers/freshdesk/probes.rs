//! `check-source` for Freshdesk: each endpoint the provider reads (the ticket
//! list asked for one ticket of the last hour), whether the `stats` embed
//! came back, the account limit Freshdesk reports against the configured
//! plan, and the statuses that stop the SLA timer.

use jiff::SignedDuration;

use super::map::{RawTicket, StopSet};
use super::{FreshdeskProvider, GROUPS, TICKET_FIELD, TICKET_FIELDS, TICKETS};
use crate::providers::client::decode_rows;
use crate::providers::{Probe, ProbeResult};

impl FreshdeskProvider {
    pub(super) async fn check(&self) -> Vec<Probe> {
        let now = (self.clock)();
        let mut out = Vec::new();
        let query = self.tickets_query(now - SignedDuration::from_hours(1), 1, 1);
        let name = format!("GET {TICKETS}?updated_since=…&include=stats");
        match self.list.get(TICKETS, &query).await {
            Ok(r) => {
                let limit = match (
                    r.header("x-ratelimit-total"),
                    r.header("x-ratelimit-remaining"),
                ) {
                    (Some(t), Some(left)) => {
                        format!("; account limit {t} credits/min, {left} left")
                    }
                    _ => String::new(),
                };
                match decode_rows::<RawTicket>(TICKETS, "tickets", &r.body) {
                    Ok((tickets, _)) => {
                        out.push(Probe::new(
                            name,
                            ProbeResult::Works,
                            format!("{} tickets updated in the last hour{limit}", tickets.len()),
                        ));
                        out.push(match tickets.first() {
                            Some(t) if t.stats.is_some() => Probe::new(
                                "include=stats on the ticket list",
                                ProbeResult::Works,
                                "tickets carry stats (responses, resolution, reopening)",
                            ),
                            Some(_) => Probe::new(
                                "include=stats on the ticket list",
                                ProbeResult::Ignored,
                                "tickets came without stats: no response or resolution times",
                            ),
                            None => Probe::new(
                                "include=stats on the ticket list",
                                ProbeResult::Works,
                                "no ticket in the last hour to check",
                            )
                            .optional(),
                        });
                        if let Some(total) = r.header("x-ratelimit-total") {
                            out.push(self.plan_probe(total));
                        }
                    }
                    Err(e) => out.push(Probe::new(name, ProbeResult::Refused, e.to_string())),
                }
            }
            Err(e) => out.push(Probe::new(name, ProbeResult::Refused, e.to_string())),
        }
        out.push(
            match self.read_groups().await {
                Ok(groups) => Probe::new(
                    format!("GET {GROUPS}"),
                    ProbeResult::Works,
                    format!("{} groups (team names)", groups.len()),
                ),
                Err(e) => Probe::new(
                    format!("GET {GROUPS}"),
                    ProbeResult::Fallback,
                    format!("{e}; teams show group ids"),
                ),
            }
            .optional(),
        );
        out.push(
            match self.read_status_choices().await {
                Ok(choices) => {
                    let stops = StopSet::from_choices(&choices);
                    let mut stopping: Vec<String> = choices
                        .iter()
                        .filter(|c| c.deleted != Some(true))
                        .filter_map(|c| {
                            let code = c.code()?;
                            stops.stops(code).then(|| {
                                let label = c
                                    .label
                                    .clone()
                                    .or_else(|| {
                                        c.value.clone().filter(|v| v.parse::<i64>().is_err())
                                    })
                                    .unwrap_or_else(|| code.to_string());
                                format!("{label} ({code})")
                            })
                        })
                        .collect();
                    stopping.sort();
                    let flagged = choices
                        .iter()
                        .filter(|c| c.stop_sla_timer.is_some())
                        .count();
                    if flagged == 0 {
                        Probe::new(
                            format!("GET {TICKET_FIELD} (status)"),
                            ProbeResult::Fallback,
                            format!(
                                "{} statuses without stop_sla_timer; Freshdesk's defaults apply \
                             (Pending, Resolved, Closed stop the timer)",
                                choices.len()
                            ),
                        )
                    } else {
                        Probe::new(
                            format!("GET {TICKET_FIELD} (status)"),
                            ProbeResult::Works,
                            format!("statuses that stop the SLA timer: {}", stopping.join(", ")),
                        )
                    }
                }
                Err(e) => Probe::new(
                    format!("GET {TICKET_FIELDS} + {TICKET_FIELD} (status)"),
                    ProbeResult::Fallback,
                    format!("{e}; Freshdesk's default stop_sla_timer set applies"),
                ),
            }
            .optional(),
        );
        out
    }

    /// The account limit Freshdesk reports, against the configured plan's.
    fn plan_probe(&self, total: &str) -> Probe {
        let plan = self.plan;
        let (account, _) = plan.limits();
        let name = format!("plan {} ({account} credits/min)", plan.as_str());
        match total.trim().parse::<u32>() {
            Ok(t) if t >= account => Probe::new(
                name,
                ProbeResult::Works,
                format!("the account allows {t} credits/min"),
            ),
            Ok(t) => Probe::new(
                name,
                ProbeResult::Refused,
                format!(
                    "the account allows only {t} credits/min: set `plan` to the account's plan"
                ),
            ),
            Err(_) => Probe::new(
                name,
                ProbeResult::Ignored,
                format!("X-RateLimit-Total {total:?} is not a number"),
            )
            .optional(),
        }
    }
}
