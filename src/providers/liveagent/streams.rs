//! The ticket, chat and call streams: one page of each, the ticket history
//! the SLA needs, and the overlap set a changed-tickets read keeps.

use std::collections::HashSet;

use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::cursor::{self, finish_scan, track};
use super::lists::{Aged, Lists};
use super::map::{self, Departments, RawCall, RawChat, RawHistoryRow, RawTicket, TicketOutcome};
use super::{
    CALLS_FILTER, CHANGED_FILTER, CHATS_FILTER, HISTORY_FILTER, HISTORY_IDS_PER_REQUEST,
    LiveAgentProvider, MAX_CURSOR_PAGES, MAX_SEEN_IDS, NEXT_PAGE_CURSOR, ScanCursor, TicketCursor,
    next_cursor, path_segment, sla_log,
};
use crate::model::{Channel, Item};
use crate::providers::client::decode_rows;
use crate::providers::{ProviderError, RejectedRow, StreamPage};

impl LiveAgentProvider {
    pub(super) async fn tickets_page(
        &self,
        c: &mut TicketCursor,
        lists: &mut Lists,
        start: Timestamp,
        now: Timestamp,
        starting: bool,
        departments: &Departments,
    ) -> Result<StreamPage, ProviderError> {
        // A sync starts by spending its share on the tickets whose level was
        // deferred before; their items come with this first page.
        let mut deferred = (Vec::new(), Vec::new(), Vec::new());
        if starting && c.page <= 1 && c.scan_page <= 1 && c.open_page == 0 {
            c.level_requests = 0;
            deferred = self.pending_levels(c, lists, departments).await?;
        }
        let mut page = if c.open_page > 0 {
            self.tickets_open_page(c, lists, start, now, departments)
                .await?
        } else if self.fallbacks().tickets_by_created {
            self.tickets_scan_page(c, lists, start, now, departments)
                .await?
        } else {
            self.tickets_changed_page(c, lists, start, now, starting, departments)
                .await?
        };
        let (items, removed, rejected) = deferred;
        page.items.splice(0..0, items);
        page.removed.splice(0..0, removed);
        page.rejected.splice(0..0, rejected);
        Ok(page)
    }

    /// One page of tickets by the `date_changed` filter (the fallback scan
    /// when it does not hold).
    pub(super) async fn tickets_changed_page(
        &self,
        c: &mut TicketCursor,
        lists: &mut Lists,
        start: Timestamp,
        now: Timestamp,
        starting: bool,
        departments: &Departments,
    ) -> Result<StreamPage, ProviderError> {
        if self.fallbacks().tickets_by_created {
            return self
                .tickets_scan_page(c, lists, start, now, departments)
                .await;
        }
        // A sync after the first re-reads the overlap window before `since`.
        if starting
            && c.page <= 1
            && let Some(since) = c.since
        {
            c.overlap_from = since
                .checked_sub(self.options.ticket_overlap)
                .ok()
                .filter(|from| *from < since);
        }
        let since = *c.since.get_or_insert(start);
        let lower = c.overlap_from.unwrap_or(since).min(since);
        let page = c.page.max(1);
        let filters = json!([["date_changed", "D>=", map::format_time(lower)]]).to_string();
        let query = [
            ("_filters", filters),
            ("_sortField", "date_changed".to_owned()),
            ("_sortDir", "ASC".to_owned()),
            ("_page", page.to_string()),
            ("_perPage", self.per_page()),
        ];
        let response = match self.client.get("/tickets", &query).await {
            Err(ProviderError::Status { code, .. }) if (400..500).contains(&code) => {
                self.fall_back(CHANGED_FILTER, &format!("refused with HTTP {code}"));
                return self
                    .tickets_scan_page(c, lists, start, now, departments)
                    .await;
            }
            r => r?,
        };
        let (tickets, mut rejected) =
            decode_rows::<RawTicket>("/tickets", "tickets", &response.body)?;
        let received = tickets.len() + rejected.len();
        let changed = |t: &RawTicket| t.date_changed.unwrap_or(t.date_created);
        // The filter and sort are checked on every page: a row changed before
        // `since`, or rows out of order, mean the server ignored them.
        let outside = tickets.iter().any(|t| changed(t) < lower);
        let unsorted = tickets.windows(2).any(|w| changed(&w[1]) < changed(&w[0]));
        if outside || unsorted {
            let detail = if outside {
                "ignored: rows changed before the requested date_changed"
            } else {
                "ignored: rows out of date_changed order"
            };
            self.fall_back(CHANGED_FILTER, detail);
            c.page = 1;
            return self
                .tickets_scan_page(c, lists, start, now, departments)
                .await;
        }
        let seen: HashSet<String> = c.seen.iter().cloned().collect();
        // A change no newer than one taken was taken (or is an older view).
        let taken = |t: &RawTicket| lists.recent.age(&t.id).is_some_and(|at| at >= changed(t));
        let fresh: Vec<&RawTicket> = tickets
            .iter()
            .filter(|t| !(changed(t) == since && seen.contains(t.id.as_str())))
            .filter(|t| !(changed(t) < since && taken(t)))
            .collect();
        // Chat and call conversations are items of their own streams: their
        // history is not needed (and not requested).
        let (mut items, removed) = self
            .ticket_items(&fresh, departments, &mut rejected)
            .await?;
        self.attach_levels(c, lists, &fresh, &mut items, &removed)
            .await?;
        let short = received < self.source.page_size.max(1) as usize;
        remember_recent(&mut lists.recent, &fresh, self.options.ticket_overlap);
        match tickets.iter().map(changed).max() {
            Some(max) if max > since => {
                c.since = Some(max);
                c.overlap_from = None;
                c.seen = tickets
                    .iter()
                    .filter(|t| changed(t) == max)
                    .map(|t| t.id.clone())
                    .collect();
                c.page = 1;
            }
            Some(_) => {
                // Every row is in the boundary second: remember them (once
                // each, and no more than the bound) and read on.
                let room = MAX_SEEN_IDS.saturating_sub(c.seen.len());
                let new: Vec<String> = tickets
                    .iter()
                    .filter(|t| changed(t) == since && !seen.contains(t.id.as_str()))
                    .map(|t| t.id.clone())
                    .take(room)
                    .collect();
                c.crowded_pass_found |= !new.is_empty() && page > 1;
                c.seen.extend(new);
                c.seen.sort_unstable();
                c.seen.dedup();
                c.page = page + 1;
            }
            None => c.page = 1,
        }
        let mut done = short;
        if short {
            // A crowded second read over several pages may have been served in
            // another order by each request, so a row can slip between pages:
            // read the second again until a whole pass finds nothing new.
            done = !std::mem::take(&mut c.crowded_pass_found);
            c.page = 1;
            c.overlap_from = None;
        }
        Ok(StreamPage {
            items,
            removed,
            rejected,
            done,
            position: c.since,
        })
    }

    /// The tickets fallback when the `date_changed` filter does not hold: the
    /// lookback window is read by the documented `date_created` filter, and
    /// rows changed at or after `since` are kept (the boundary second again:
    /// the store replaces by id). Tickets created before the window follow in
    /// the open pass ([`fallbacks`]); the cursor's `since` moves only when
    /// that pass ended.
    pub(super) async fn tickets_scan_page(
        &self,
        c: &mut TicketCursor,
        lists: &mut Lists,
        start: Timestamp,
        now: Timestamp,
        departments: &Departments,
    ) -> Result<StreamPage, ProviderError> {
        let since = *c.since.get_or_insert(start);
        let page = c.scan_page.max(1);
        let filters = json!([["date_created", "D>=", map::format_time(start)]]).to_string();
        let query = [
            ("_filters", filters),
            ("_page", page.to_string()),
            ("_perPage", self.per_page()),
        ];
        let response = self.client.get("/tickets", &query).await?;
        let (tickets, mut rejected) =
            decode_rows::<RawTicket>("/tickets", "tickets", &response.body)?;
        let received = tickets.len() + rejected.len();
        let changed = |t: &RawTicket| t.date_changed.unwrap_or(t.date_created);
        let fresh: Vec<&RawTicket> = tickets.iter().filter(|t| changed(t) >= since).collect();
        let (mut items, removed) = self
            .ticket_items(&fresh, departments, &mut rejected)
            .await?;
        self.attach_levels(c, lists, &fresh, &mut items, &removed)
            .await?;
        c.scan_started.get_or_insert(now);
        if received < self.source.page_size.max(1) as usize {
            // The window is read; the open tickets created before it follow.
            c.scan_page = 0;
            c.open_page = 1;
        } else {
            c.scan_page = page + 1;
        }
        Ok(StreamPage {
            items,
            removed,
            rejected,
            done: false,
            position: Some(since),
        })
    }

    /// The items of `tickets` with the history each needs (chat and call
    /// conversations need none, nor deleted or spam tickets, which the page
    /// removes), and the ids it removes; history rows that do not decode go
    /// to `rejected`.
    pub(super) async fn ticket_items(
        &self,
        tickets: &[&RawTicket],
        departments: &Departments,
        rejected: &mut Vec<RejectedRow>,
    ) -> Result<(Vec<Item>, Vec<String>), ProviderError> {
        let ids: Vec<String> = tickets
            .iter()
            .filter(|t| map::status(&t.status).is_some())
            .filter(|t| map::conversation_channel(t.channel_type.as_deref()) == Channel::Ticket)
            .map(|t| t.id.clone())
            .collect();
        let (history, history_rejected) = self.history(&ids).await?;
        rejected.extend(history_rejected);
        let (mut items, removed) = map_tickets(&self.source.name, tickets, history, departments);
        self.map_options(&mut items);
        Ok((items, removed))
    }

    /// Status history for `ids`, joined later by `conversation_id`: the
    /// `conversation_id IN` filter while it holds, else one documented
    /// `/tickets/{id}/history` request per ticket (within the request budget).
    pub(super) async fn history(
        &self,
        ids: &[String],
    ) -> Result<(Vec<RawHistoryRow>, Vec<RejectedRow>), ProviderError> {
        let mut rows = Vec::new();
        let mut rejected = Vec::new();
        for chunk in ids.chunks(HISTORY_IDS_PER_REQUEST) {
            if !self.fallbacks().history_per_ticket
                && let Some((page, bad)) = self.history_filtered(chunk).await?
            {
                rows.extend(page);
                rejected.extend(bad);
                continue;
            }
            for id in chunk {
                let path = format!("/tickets/{}/history", path_segment(id));
                let response = self
                    .client
                    .get_path("/tickets/{id}/history", &path, &[])
                    .await?;
                let (page, bad) = decode_rows::<RawHistoryRow>(
                    "/tickets/{id}/history",
                    "ticket_history",
                    &response.body,
                )?;
                // The per-ticket list may omit `conversation_id`: the path says it.
                rows.extend(page.into_iter().map(|mut r| {
                    r.conversation_id.clone_from(id);
                    r
                }));
                rejected.extend(bad);
            }
        }
        Ok((rows, rejected))
    }

    /// One batch through the `conversation_id IN` filter. `None` when the
    /// server refused it (4xx), ignored it (rows of tickets not asked for) or
    /// paged without `next_page_cursor` (a full page and no cursor): the caller
    /// then falls back, and this batch's rows are dropped, not half-used.
    pub(super) async fn history_filtered(
        &self,
        chunk: &[String],
    ) -> Result<Option<(Vec<RawHistoryRow>, Vec<RejectedRow>)>, ProviderError> {
        let asked: HashSet<&str> = chunk.iter().map(String::as_str).collect();
        let filters = json!([["conversation_id", "IN", chunk.join(",")]]).to_string();
        let mut query = vec![
            ("_filters", filters),
            ("_sortField", "date_from".to_owned()),
            ("_sortDir", "ASC".to_owned()),
            ("_perPage", self.per_page()),
        ];
        let (mut rows, mut rejected) = (Vec::new(), Vec::new());
        let mut pages = 0;
        loop {
            let response = match self.client.get("/tickets/history", &query).await {
                Err(ProviderError::Status { code, .. }) if (400..500).contains(&code) => {
                    self.fall_back(HISTORY_FILTER, &format!("refused with HTTP {code}"));
                    return Ok(None);
                }
                r => r?,
            };
            let (page, bad) =
                decode_rows::<RawHistoryRow>("/tickets/history", "ticket_history", &response.body)?;
            if page
                .iter()
                .any(|r| !asked.contains(r.conversation_id.as_str()))
            {
                self.fall_back(
                    HISTORY_FILTER,
                    "ignored: rows of tickets that were not asked for",
                );
                return Ok(None);
            }
            let received = page.len() + bad.len();
            let empty = received == 0;
            rows.extend(page);
            rejected.extend(bad);
            pages += 1;
            match next_cursor(&response) {
                Some(next) if !empty => {
                    let sent = query.iter().find(|(k, _)| *k == "_cursor");
                    if sent.is_some_and(|(_, c)| *c == next) || pages >= MAX_CURSOR_PAGES {
                        return Err(ProviderError::PagingLoop {
                            endpoint: "/tickets/history".to_owned(),
                            detail: format!(
                                "next_page_cursor repeats or exceeds {MAX_CURSOR_PAGES} pages for one batch"
                            ),
                        });
                    }
                    set_cursor(&mut query, next)
                }
                None if received == self.source.page_size.max(1) as usize => {
                    self.fall_back(
                        NEXT_PAGE_CURSOR,
                        "a full /tickets/history page came without next_page_cursor",
                    );
                    return Ok(None);
                }
                _ => break,
            }
        }
        Ok(Some((rows, rejected)))
    }

    pub(super) async fn chats_page(
        &self,
        c: &mut ScanCursor,
        start: Timestamp,
        now: Timestamp,
        departments: &Departments,
    ) -> Result<StreamPage, ProviderError> {
        let since = *c.since.get_or_insert(start);
        let page = c.page.max(1);
        let filters = json!([["date_created", "D>=", map::format_time(since)]]).to_string();
        let query = [
            ("_filters", filters),
            ("_sortField", "date_created".to_owned()),
            ("_sortDir", "ASC".to_owned()),
            ("_page", page.to_string()),
            ("_perPage", self.per_page()),
        ];
        let response = self.client.get("/chats", &query).await?;
        let (chats, rejected) = decode_rows::<RawChat>("/chats", "chats", &response.body)?;
        let received = chats.len() + rejected.len();
        let created: Vec<Timestamp> = chats.iter().map(|ch| ch.date_created).collect();
        self.check_scan(CHATS_FILTER, &created, since);
        let items: Vec<Item> = chats
            .iter()
            .map(|ch| map::chat_item(&self.source.name, ch, departments))
            .collect();
        track(
            c,
            items.iter().map(|i| (i.created_at, i.ended_at.is_none())),
        );
        let short = received < self.source.page_size.max(1) as usize;
        let position = c.newest;
        if short {
            finish_scan(c, now);
        } else {
            c.page = page + 1;
        }
        Ok(StreamPage {
            items,
            removed: Vec::new(),
            rejected,
            done: short,
            position,
        })
    }

    pub(super) async fn calls_page(
        &self,
        c: &mut ScanCursor,
        start: Timestamp,
        now: Timestamp,
        records: &Aged<Timestamp, Vec<cursor::LogRecord>>,
    ) -> Result<StreamPage, ProviderError> {
        let since = *c.since.get_or_insert(start);
        let filters = json!([["dateCreated", "D>=", map::format_time(since)]]).to_string();
        let mut query = vec![
            ("_filters", filters),
            ("_sortField", "dateCreated".to_owned()),
            ("_sortDir", "ASC".to_owned()),
            ("_perPage", self.per_page()),
        ];
        if let Some(cursor) = c.cursor.clone() {
            set_cursor(&mut query, cursor);
        }
        let response = self.client.get("/calls", &query).await?;
        let (calls, rejected) = decode_rows::<RawCall>("/calls", "calls", &response.body)?;
        let received = calls.len() + rejected.len();
        let created: Vec<Timestamp> = calls.iter().map(|call| call.date_created).collect();
        self.check_scan(CALLS_FILTER, &created, since);
        track(
            c,
            calls
                .iter()
                .map(|call| (call.date_created, call.date_finished.is_none())),
        );
        // The SLA log names a call's conversation, its `ticketId`.
        let items = calls
            .iter()
            .filter_map(|call| {
                let mut item = map::call_item(&self.source.name, call)?;
                let records = call.ticket_id.as_ref().and_then(|t| records.get(t));
                if let Some(records) = records {
                    sla_log::apply(&mut item, records);
                }
                Some(item)
            })
            .collect();
        let next = next_cursor(&response).filter(|_| received > 0);
        let done = next.is_none();
        let position = c.newest;
        if done {
            finish_scan(c, now);
        } else {
            c.cursor = next;
        }
        Ok(StreamPage {
            items,
            removed: Vec::new(),
            rejected,
            done,
            position,
        })
    }
}

/// Tickets and their history rows into items and removed ids.
fn map_tickets(
    source: &str,
    tickets: &[&RawTicket],
    mut history: Vec<RawHistoryRow>,
    departments: &Departments,
) -> (Vec<Item>, Vec<String>) {
    // Grouped by ticket so each `ticket_item` call sees only its own rows:
    // it filters by id, and scanning every row of the page for every
    // ticket made a page quadratic in its size (a tenth of a first sync).
    history.sort_by(|a, b| a.conversation_id.cmp(&b.conversation_id));
    let mut items = Vec::new();
    let mut removed = Vec::new();
    for t in tickets {
        let start = history.partition_point(|r| r.conversation_id < t.id);
        let len = history[start..].partition_point(|r| r.conversation_id == t.id);
        let rows = &history[start..start + len];
        match map::ticket_item(source, t, rows, departments) {
            TicketOutcome::Item(item) => items.push(*item),
            TicketOutcome::Removed(id) => removed.push(id),
            TicketOutcome::Elsewhere(_) => {}
        }
    }
    (items, removed)
}

pub(super) fn set_cursor(query: &mut Vec<(&'static str, String)>, cursor: String) {
    query.retain(|(k, _)| *k != "_cursor");
    query.push(("_cursor", cursor));
}

/// Keeps the overlap set (`Lists::recent`) to the changes taken inside the
/// overlap window before the newest, bounded.
pub(super) fn remember_recent(
    recent: &mut Aged<Timestamp, ()>,
    taken: &[&RawTicket],
    overlap: SignedDuration,
) {
    for t in taken {
        let at = t.date_changed.unwrap_or(t.date_created);
        if recent.age(&t.id).is_none_or(|a| a < at) {
            recent.insert(&t.id, at, ());
        }
    }
    if let Some(horizon) = recent
        .newest_age()
        .and_then(|n| n.checked_sub(overlap).ok())
    {
        recent.forget_before(horizon);
    }
    // The oldest changes go first; a forgotten one is merely read again.
    recent.keep_newest(MAX_SEEN_IDS);
}
