//! The second half of the tickets fallback (the `date_changed` filter refused
//! or ignored): after the scan of the lookback window by `date_created`, a
//! pass over the open tickets created before the window, with documented
//! filters only (`status IN`, `date_created D<`; facts file `GET /tickets`,
//! helpdesk-apis.md "`_filters`").
//!
//! The scan alone never saw a ticket created before the window that changed
//! since. Every such change either leaves the ticket open (this pass lists it,
//! and keeps it when its `date_changed` moved), reopens a resolved one (it is
//! open again: listed), or takes an open one out of the open statuses (it was
//! listed by the last pass and is missing now: read by id, documented
//! `GET /tickets/{ticketId}`). What is still missed is in docs/providers.md.

use std::collections::HashSet;

use jiff::Timestamp;
use serde_json::json;

use super::cursor::TicketCursor;
use super::lists::Lists;
use super::map::{self, Departments, RawTicket};
use super::{LiveAgentProvider, SCAN_SKEW, path_segment};
use crate::model::Channel;
use crate::providers::client::{decode, decode_rows};
use crate::providers::{ProviderError, StreamPage};

/// The statuses whose tickets can still change an SLA outcome: init, new,
/// open, answered, postponed, and chatting/calling (a conversation that
/// turned into a ticket). Resolved (`R`) and closed (`L`) ones come back
/// through this list when they are reopened; deleted (`X`) and spam (`B`)
/// are final.
pub(super) const OPEN_STATUSES: &str = "I,N,C,A,W,T,P";

/// The most open tickets from before the window the cursor remembers (about
/// 10 bytes each in the stored cursor); past it, the newest are dropped and a
/// dropped one that is resolved is missed (docs/providers.md).
const MAX_OPEN_IDS: usize = 20_000;

impl LiveAgentProvider {
    /// One page of the open pass; its last page also reads the tickets that
    /// left the open statuses since the last pass, and ends the sync's
    /// tickets stream (`since` moves to when the scan began).
    pub(super) async fn tickets_open_page(
        &self,
        c: &mut TicketCursor,
        lists: &mut Lists,
        start: Timestamp,
        now: Timestamp,
        departments: &Departments,
    ) -> Result<StreamPage, ProviderError> {
        let since = *c.since.get_or_insert(start);
        let page = c.open_page.max(1);
        let before = map::format_time(start);
        let filters = json!([
            ["status", "IN", OPEN_STATUSES],
            ["date_created", "D<", before]
        ])
        .to_string();
        // No `_sortField`: it is not among `/tickets`' documented params, and
        // the default order (by creation, helpdesk-apis.md) is what is wanted.
        let query = [
            ("_filters", filters),
            ("_page", page.to_string()),
            ("_perPage", self.per_page()),
        ];
        let response = self.client.get("/tickets", &query).await?;
        let (rows, mut rejected) = decode_rows::<RawTicket>("/tickets", "tickets", &response.body)?;
        let received = rows.len() + rejected.len();
        // The filters are documented; rows outside them are dropped here all
        // the same (the window's own tickets were read by the scan).
        let open: Vec<&str> = OPEN_STATUSES.split(',').collect();
        let listed: Vec<&RawTicket> = rows
            .iter()
            .filter(|t| open.contains(&t.status.as_str()) && t.date_created < start)
            .collect();
        for t in &listed {
            if map::conversation_channel(t.channel_type.as_deref()) == Channel::Ticket
                && c.open_seen.len() < MAX_OPEN_IDS
            {
                c.open_seen.push(t.id.clone());
            }
        }
        let changed = |t: &RawTicket| t.date_changed.unwrap_or(t.date_created);
        let mut fresh: Vec<&RawTicket> =
            listed.into_iter().filter(|t| changed(t) >= since).collect();
        let done = received < self.source.page_size.max(1) as usize;
        let mut removed = Vec::new();
        let mut left_rows = Vec::new();
        if done {
            let (rows, gone) = self.tickets_left_open(c).await?;
            left_rows = rows;
            removed = gone;
        }
        fresh.extend(left_rows.iter());
        let (mut items, gone) = self
            .ticket_items(&fresh, departments, &mut rejected)
            .await?;
        removed.extend(gone);
        self.attach_levels(c, lists, &fresh, &mut items, &removed)
            .await?;
        if done {
            // As after the scan alone: the next sync keeps everything changed
            // since the scan began, less the clock-skew margin.
            let started = c.scan_started.unwrap_or(now);
            c.since = Some(since.max(started - SCAN_SKEW));
            c.seen.clear();
            c.open_page = 0;
            c.scan_started = None;
            let mut seen = std::mem::take(&mut c.open_seen);
            seen.sort_unstable();
            seen.dedup();
            c.open_old = seen;
        } else {
            c.open_page = page + 1;
        }
        Ok(StreamPage {
            items,
            removed,
            rejected,
            done,
            position: Some(since),
        })
    }

    /// The tickets the last pass listed as open that this pass did not: each
    /// read by id. Returns their rows and the ids that are gone (404). A
    /// ticket whose read failed for another reason stays in the open list, so
    /// the next pass tries again.
    async fn tickets_left_open(
        &self,
        c: &mut TicketCursor,
    ) -> Result<(Vec<RawTicket>, Vec<String>), ProviderError> {
        let listed: HashSet<&str> = c.open_seen.iter().map(String::as_str).collect();
        let left: Vec<String> = c
            .open_old
            .iter()
            .filter(|id| !listed.contains(id.as_str()))
            .cloned()
            .collect();
        let mut rows = Vec::new();
        let mut gone = Vec::new();
        for id in left {
            let path = format!("/tickets/{}", path_segment(&id));
            let row = match self.client.get_path("/tickets/{id}", &path, &[]).await {
                Ok(r) => decode::<RawTicket>("/tickets/{id}", &r.body),
                Err(ProviderError::Status { code: 404, .. }) => {
                    gone.push(id);
                    continue;
                }
                Err(e) => Err(e),
            };
            match row {
                Ok(row) if row.id == id => rows.push(row),
                Err(e) if e.is_source_wide() => return Err(e),
                other => {
                    let detail = match other {
                        Err(e) => e.to_string(),
                        Ok(_) => "the answer is another ticket".to_owned(),
                    };
                    tracing::warn!(source = %self.source.name, error = %detail, "cannot re-read a ticket that left the open statuses; trying again next sync");
                    if c.open_seen.len() < MAX_OPEN_IDS {
                        c.open_seen.push(id);
                    }
                }
            }
        }
        Ok((rows, gone))
    }
}
