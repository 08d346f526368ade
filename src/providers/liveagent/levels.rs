//! SLA levels per ticket: `GET /tickets/{ticketId}/sla` (facts file,
//! `TicketSla`) for new and changed open tickets, within a share of the
//! request budget, cached in the provider's keyed state ([`super::lists`]).
//!
//! LiveAgent has no priority; the level its SLA rules gave a ticket is the
//! only priority-like notion, and the list API does not carry it. A level is
//! read once per ticket change: the cache remembers the ticket's
//! `date_changed` at the read, so the overlap window and the boundary second
//! re-read nothing. Tickets that changed after this sync's share was spent
//! are remembered as pending and read first on the next syncs, together with
//! the ticket itself (`GET /tickets/{ticketId}`, documented) and its history,
//! so their item is emitted again whole, now with its level.

use super::cursor::{CachedLevel, TicketCursor};
use super::lists::Lists;
use super::map::{self, Departments, RawTicket, RawTicketSla};
use super::{LiveAgentProvider, path_segment};
use crate::model::{Channel, Item, Target};
use crate::providers::client::decode;
use crate::providers::{ProviderError, RejectedRow};

/// The most tickets whose level the provider remembers; past it the least
/// recently changed are forgotten (and read again if they change while open).
/// Also the bound of the pending list and of the SLA log's records.
pub(super) const MAX_LEVELS: usize = 10_000;

/// What a ticket row's level needs this sync.
fn needs_read(lists: &Lists, t: &RawTicket) -> bool {
    let open = map::status(&t.status).is_some_and(|s| !s.is_done()) && t.date_deleted.is_none();
    let ticket = map::conversation_channel(t.channel_type.as_deref()) == Channel::Ticket;
    let changed = t.date_changed.unwrap_or(t.date_created);
    open && ticket && lists.levels.get(&t.id).is_none_or(|l| l.changed != changed)
}

impl LiveAgentProvider {
    /// The requests one sync may spend on levels: the share of a minute's
    /// budget, or of the poll interval's when polls are less than a minute
    /// apart (a share per sync at 10 s polls spent six times the share a
    /// minute: a bench poll of 1% changed tickets made 2,500 requests).
    pub(super) fn level_budget(&self) -> u32 {
        let share = self.options.sla_level_requests_share;
        let minutes = self.source.poll_interval.as_secs_f64().min(60.0) / 60.0;
        (f64::from(self.source.requests_per_minute) * share * minutes).ceil() as u32
    }

    /// Reads the levels `tickets` need (within the budget; the rest become
    /// pending), forgets removed tickets, and puts the cached level on each
    /// item. Only account-wide errors fail the page; a refused or unreadable
    /// answer leaves that ticket pending for a later sync.
    pub(super) async fn attach_levels(
        &self,
        c: &mut TicketCursor,
        lists: &mut Lists,
        tickets: &[&RawTicket],
        items: &mut [Item],
        removed: &[String],
    ) -> Result<(), ProviderError> {
        // A share of 0 reads no levels and remembers nothing to read.
        let reading = self.level_budget() > 0;
        for t in tickets.iter().filter(|_| reading) {
            if !needs_read(lists, t) {
                continue;
            }
            if c.level_requests >= self.level_budget() {
                defer(lists, &t.id);
                continue;
            }
            let changed = t.date_changed.unwrap_or(t.date_created);
            self.read_level(c, lists, &t.id, changed).await?;
        }
        for id in removed {
            forget(lists, id);
        }
        lists.levels.keep_newest(MAX_LEVELS);
        for item in items {
            if let Some(level) = lists.levels.get(&item.id) {
                map::apply_level(item, level);
            }
        }
        Ok(())
    }

    /// Pending tickets, oldest first, within the budget: each costs its level
    /// and its row (`GET /tickets/{ticketId}`); their history is read in one
    /// batch. Returns their items, removed ids and rejected rows.
    pub(super) async fn pending_levels(
        &self,
        c: &mut TicketCursor,
        lists: &mut Lists,
        departments: &Departments,
    ) -> Result<(Vec<Item>, Vec<String>, Vec<RejectedRow>), ProviderError> {
        let mut rows: Vec<RawTicket> = Vec::new();
        let mut removed = Vec::new();
        let mut rejected = Vec::new();
        if self.level_budget() == 0 {
            lists.pending.keep_newest(0);
        }
        let queue: Vec<String> = lists.pending.oldest_first().map(str::to_owned).collect();
        for id in queue {
            // At least one deferred ticket a sync, however small the share.
            if c.level_requests > 0 && c.level_requests + 2 > self.level_budget() {
                break;
            }
            let path = format!("/tickets/{}", path_segment(&id));
            c.level_requests += 1;
            let row = match self.client.get_path("/tickets/{id}", &path, &[]).await {
                Ok(r) => decode::<RawTicket>("/tickets/{id}", &r.body),
                Err(ProviderError::Status { code: 404, .. }) => {
                    // Gone: nothing to read any more. Removing the item is
                    // the tickets stream's call (a deleted row), not this one's.
                    forget(lists, &id);
                    continue;
                }
                Err(e) => Err(e),
            };
            let row = match row {
                Ok(row) if row.id == id => row,
                Err(e) if e.is_source_wide() => return Err(e),
                other => {
                    let detail = match other {
                        Err(e) => e.to_string(),
                        Ok(_) => "the answer is another ticket".to_owned(),
                    };
                    tracing::warn!(source = %self.source.name, error = %detail, "cannot re-read a ticket for its SLA level; trying again next sync");
                    continue;
                }
            };
            // A read that works takes the ticket off the list; one that
            // fails leaves it in its place.
            if needs_read(lists, &row) {
                let changed = row.date_changed.unwrap_or(row.date_created);
                self.read_level(c, lists, &row.id, changed).await?;
            } else {
                lists.pending.remove(&id);
            }
            rows.push(row);
        }
        let refs: Vec<&RawTicket> = rows.iter().collect();
        let (mut items, gone) = self.ticket_items(&refs, departments, &mut rejected).await?;
        removed.extend(gone);
        for id in &removed {
            forget(lists, id);
        }
        for item in &mut items {
            if let Some(level) = lists.levels.get(&item.id) {
                map::apply_level(item, level);
            }
        }
        Ok((items, removed, rejected))
    }

    /// One `/tickets/{id}/sla` read into the cache; a failure that is not
    /// account-wide leaves the ticket pending.
    async fn read_level(
        &self,
        c: &mut TicketCursor,
        lists: &mut Lists,
        id: &str,
        changed: jiff::Timestamp,
    ) -> Result<(), ProviderError> {
        let path = format!("/tickets/{}/sla", path_segment(id));
        c.level_requests += 1;
        let answer = match self.client.get_path("/tickets/{id}/sla", &path, &[]).await {
            Ok(r) => decode::<RawTicketSla>("/tickets/{id}/sla", &r.body),
            // No SLA for this ticket: cached as no level, not asked again
            // until the ticket changes.
            Err(ProviderError::Status { code: 404, .. }) => Ok(RawTicketSla::default()),
            Err(e) => Err(e),
        };
        match answer {
            Ok(sla) if sla.conversationid.as_deref().is_none_or(|c| c == id) => {
                lists.levels.insert(id, changed, cached(&sla, changed));
                lists.pending.remove(id);
            }
            Err(e) if e.is_source_wide() => return Err(e),
            other => {
                let detail = match other {
                    Err(e) => e.to_string(),
                    Ok(_) => "conversationid names another ticket".to_owned(),
                };
                tracing::warn!(source = %self.source.name, error = %detail, "cannot read a ticket's SLA level; trying again next sync");
                defer(lists, id);
            }
        }
        Ok(())
    }
}

/// Queues a ticket's level read for a later sync, within [`MAX_LEVELS`].
fn defer(lists: &mut Lists, id: &str) {
    if lists.pending.len() < MAX_LEVELS {
        lists.push_pending(id);
    }
}

/// A ticket that is gone: no level to keep or read.
fn forget(lists: &mut Lists, id: &str) {
    lists.levels.remove(id);
    lists.pending.remove(id);
}

/// The answer as cached: the level's name and the due instant per SLA type.
fn cached(sla: &RawTicketSla, changed: jiff::Timestamp) -> CachedLevel {
    let due = [
        (Target::FirstResponse, sla.first_answer),
        (Target::NextResponse, sla.next_answer),
        (Target::Resolution, sla.first_resolve),
        (Target::Assignment, sla.first_assign),
    ]
    .into_iter()
    .filter_map(|(t, at)| at.map(|at| (t, at)))
    .collect();
    CachedLevel {
        changed,
        name: sla
            .sla_level_name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned),
        due,
    }
}
