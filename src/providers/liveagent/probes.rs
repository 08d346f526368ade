//! `check-source` for LiveAgent: one probe per endpoint and per undocumented
//! assumption (docs/providers.md, "Documented calls and assumptions"), each
//! saying whether it works, or which documented fallback the provider takes.

use std::collections::HashSet;

use jiff::SignedDuration;
use serde_json::json;

use super::{LiveAgentProvider, map, next_cursor};
use crate::model::Channel;
use crate::providers::client::decode_rows;
use crate::providers::{Probe, ProbeResult, ProviderError};
use map::{RawHistoryRow, RawTicket};

/// How far back the probes look for rows to check filters against.
const PROBE_WINDOW: SignedDuration = SignedDuration::from_hours(24 * 7);

/// The rows a probe asks for: enough to see order and filtering, few enough
/// to stay cheap.
const PROBE_ROWS: usize = 20;

impl LiveAgentProvider {
    pub(super) async fn run_probes(&self) -> Vec<Probe> {
        let mut out = Vec::new();
        let since = (self.clock)()
            .checked_sub(PROBE_WINDOW)
            .unwrap_or(jiff::Timestamp::MIN);
        let per_page = PROBE_ROWS.to_string();

        // Documented: departments (every sync needs them).
        out.push(
            match self
                .client
                .get("/departments", &[("_perPage", "1".to_owned())])
                .await
            {
                Ok(_) => Probe::new("GET /departments", ProbeResult::Works, "answered"),
                Err(e) => Probe::new("GET /departments", ProbeResult::Refused, e.to_string()),
            },
        );

        // Documented: tickets by date_created (the fallback of the next probe).
        let created = json!([["date_created", "D>=", map::format_time(since)]]).to_string();
        let documented = self
            .client
            .get(
                "/tickets",
                &[("_filters", created), ("_perPage", per_page.clone())],
            )
            .await;
        let tickets: Vec<RawTicket> = match &documented {
            Ok(r) => decode_rows::<RawTicket>("/tickets", "tickets", &r.body)
                .map(|(rows, _)| rows)
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        out.push(match &documented {
            Ok(_) => Probe::new(
                "GET /tickets by date_created",
                ProbeResult::Works,
                format!("{} tickets in the last 7 days (first page)", tickets.len()),
            ),
            Err(e) => Probe::new(
                "GET /tickets by date_created",
                ProbeResult::Refused,
                e.to_string(),
            ),
        });

        // Assumption: the date_changed filter and sort.
        let changed = json!([["date_changed", "D>=", map::format_time(since)]]).to_string();
        let query = [
            ("_filters", changed),
            ("_sortField", "date_changed".to_owned()),
            ("_sortDir", "ASC".to_owned()),
            ("_perPage", per_page.clone()),
        ];
        let name = "date_changed filter on /tickets";
        let fallback = "the provider scans the lookback window by date_created, then the open tickets created before it by status";
        out.push(match self.client.get("/tickets", &query).await {
            Ok(r) => {
                let rows = decode_rows::<RawTicket>("/tickets", "tickets", &r.body)
                    .map(|(rows, _)| rows)
                    .unwrap_or_default();
                let at = |t: &RawTicket| t.date_changed.unwrap_or(t.date_created);
                let outside = rows.iter().any(|t| at(t) < since);
                let unsorted = rows.windows(2).any(|w| at(&w[1]) < at(&w[0]));
                if outside || unsorted {
                    Probe::new(
                        name,
                        ProbeResult::Fallback,
                        format!("ignored (rows outside the filter or out of order); {fallback}"),
                    )
                } else {
                    Probe::new(
                        name,
                        ProbeResult::Works,
                        format!("{} rows, in range and in order", rows.len()),
                    )
                }
            }
            Err(e @ ProviderError::Status { .. }) => Probe::new(
                name,
                ProbeResult::Fallback,
                format!("refused ({e}); {fallback}"),
            ),
            Err(e) => Probe::new(name, ProbeResult::Refused, e.to_string()),
        });

        // Assumption: history by conversation_id IN, checked against tickets
        // that exist (or an id that does not, when there are none).
        let ids: Vec<String> = tickets
            .iter()
            .filter(|t| map::conversation_channel(t.channel_type.as_deref()) == Channel::Ticket)
            .take(3)
            .map(|t| t.id.clone())
            .collect();
        let asked: Vec<String> = if ids.is_empty() {
            vec!["0".to_owned()]
        } else {
            ids.clone()
        };
        let filter = json!([["conversation_id", "IN", asked.join(",")]]).to_string();
        let name = "conversation_id filter on /tickets/history";
        let fallback = "the provider reads /tickets/{id}/history per ticket";
        out.push(
            match self
                .client
                .get(
                    "/tickets/history",
                    &[("_filters", filter), ("_perPage", per_page.clone())],
                )
                .await
            {
                Ok(r) => {
                    let rows =
                        decode_rows::<RawHistoryRow>("/tickets/history", "ticket_history", &r.body)
                            .map(|(rows, _)| rows)
                            .unwrap_or_default();
                    let asked: HashSet<&str> = asked.iter().map(String::as_str).collect();
                    if rows
                        .iter()
                        .any(|h| !asked.contains(h.conversation_id.as_str()))
                    {
                        Probe::new(
                            name,
                            ProbeResult::Fallback,
                            format!("ignored (rows of tickets not asked for); {fallback}"),
                        )
                    } else {
                        Probe::new(
                            name,
                            ProbeResult::Works,
                            format!("{} rows, all of the tickets asked for", rows.len()),
                        )
                    }
                }
                Err(e @ ProviderError::Status { .. }) => Probe::new(
                    name,
                    ProbeResult::Fallback,
                    format!("refused ({e}); {fallback}"),
                ),
                Err(e) => Probe::new(name, ProbeResult::Refused, e.to_string()),
            },
        );

        // Documented: per-ticket history (the fallback).
        if let Some(id) = ids.first() {
            let path = format!("/tickets/{}/history", super::path_segment(id));
            out.push(
                match self
                    .client
                    .get_path("/tickets/{id}/history", &path, &[])
                    .await
                {
                    Ok(_) => {
                        Probe::new("GET /tickets/{id}/history", ProbeResult::Works, "answered")
                    }
                    Err(e) => Probe::new(
                        "GET /tickets/{id}/history",
                        ProbeResult::Refused,
                        e.to_string(),
                    )
                    .optional(),
                },
            );
        }

        // Documented: a ticket's SLA level (the item's priority).
        if let Some(id) = ids.first() {
            let path = format!("/tickets/{}/sla", super::path_segment(id));
            let name = "GET /tickets/{id}/sla";
            out.push(
                match self.client.get_path("/tickets/{id}/sla", &path, &[]).await {
                    Ok(r) => match crate::providers::client::decode::<map::RawTicketSla>(
                        "/tickets/{id}/sla",
                        &r.body,
                    ) {
                        Ok(sla) => Probe::new(
                            name,
                            ProbeResult::Works,
                            format!("level {}", sla.sla_level_name.as_deref().unwrap_or("none")),
                        ),
                        Err(e) => Probe::new(name, ProbeResult::Refused, e.to_string()),
                    },
                    Err(e) => Probe::new(name, ProbeResult::Refused, e.to_string()),
                }
                .optional(),
            );
        }

        // Assumption: the SLA log filtered and sorted by date_closed.
        let name = "date_closed filter on /grid/tickets/sla";
        let closed = json!([["date_closed", "D>=", map::format_time(since)]]).to_string();
        let query = [
            ("_filters", closed),
            ("_sortField", "date_closed".to_owned()),
            ("_sortDir", "ASC".to_owned()),
            ("_perPage", per_page.clone()),
        ];
        out.push(
            match self.client.get("/grid/tickets/sla", &query).await {
                Ok(r) => {
                    let rows = decode_rows::<super::raw::RawSlaLogRow>(
                        "/grid/tickets/sla",
                        super::sla_log::STREAM,
                        &r.body,
                    )
                    .map(|(rows, _)| rows)
                    .unwrap_or_default();
                    let at: Vec<_> = rows.iter().filter_map(|r| r.date_closed).collect();
                    if at.iter().any(|c| *c < since) || at.windows(2).any(|w| w[1] < w[0]) {
                        Probe::new(
                            name,
                            ProbeResult::Fallback,
                            "ignored (rows outside the filter or out of order); the SLA log is not read",
                        )
                    } else {
                        Probe::new(name, ProbeResult::Works, format!("{} rows", rows.len()))
                    }
                }
                Err(e) => Probe::new(
                    name,
                    ProbeResult::Fallback,
                    format!("refused ({e}); the SLA log is not read"),
                ),
            }
            .optional(),
        );

        // Assumption: the next_page_cursor header on a cursor-style list.
        let name = "next_page_cursor header";
        out.push(
            match self
                .client
                .get("/tickets/history", &[("_perPage", "1".to_owned())])
                .await
            {
                Ok(r) => {
                    let rows =
                        decode_rows::<RawHistoryRow>("/tickets/history", "ticket_history", &r.body)
                            .map(|(rows, _)| rows.len())
                            .unwrap_or(0);
                    match (rows, next_cursor(&r)) {
                        (0, _) => Probe::new(
                            name,
                            ProbeResult::Works,
                            "no rows to page through; not checked",
                        )
                        .optional(),
                        (_, Some(_)) => {
                            Probe::new(name, ProbeResult::Works, "a full page carries it")
                        }
                        (_, None) => Probe::new(
                            name,
                            ProbeResult::Fallback,
                            "a full page came without it; the provider reads history per ticket",
                        ),
                    }
                }
                Err(e) => Probe::new(name, ProbeResult::Refused, e.to_string()).optional(),
            },
        );

        // Documented: chats and calls, when their channels are enabled.
        for (channel, endpoint) in [(Channel::Chat, "/chats"), (Channel::Call, "/calls")] {
            if !self.source.channels.contains(&channel) {
                continue;
            }
            let name = format!("GET {endpoint}");
            out.push(
                match self
                    .client
                    .get(endpoint, &[("_perPage", "1".to_owned())])
                    .await
                {
                    Ok(_) => Probe::new(name, ProbeResult::Works, "answered"),
                    Err(e) => Probe::new(name, ProbeResult::Refused, e.to_string()),
                },
            );
        }

        // Documented, advisory: the account's zone.
        out.push(match self.client.get("/settings", &[]).await {
            Ok(r) => {
                let zone = decode_rows::<map::RawSetting>("/settings", "settings", &r.body)
                    .ok()
                    .and_then(|(rows, _)| rows.into_iter().find(|s| s.name == "TIMEZONE"))
                    .and_then(|s| s.value)
                    .unwrap_or_else(|| "not set".to_owned());
                Probe::new(
                    "GET /settings",
                    ProbeResult::Works,
                    format!("account time zone {zone}; requests ask for UTC"),
                )
                .optional()
            }
            Err(e) => Probe::new("GET /settings", ProbeResult::Refused, e.to_string()).optional(),
        });
        out
    }
}
