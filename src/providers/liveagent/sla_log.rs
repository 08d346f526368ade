//! The vendor's own verdict: LiveAgent's SLA log (`/grid/tickets/sla`,
//! `/grid/chats/sla`, `/grid/calls/sla`; facts file `SlaLogRow`).
//!
//! The log holds **fulfilled records only**: one row per SLA type a
//! conversation met or missed, with the type's due instant (`date_due`) and
//! when it was fulfilled (`date_closed`). Ongoing and never-fulfilled types
//! are not in it, so it can confirm or contradict the exporter's verdict on
//! completed cycles and says nothing about open ones.
//!
//! Each stream reads one page of its log when it starts a sync (one request
//! per stream and poll), by a keyset on `date_closed`. The rows are kept in
//! the provider's keyed state (the latest record per conversation and type;
//! `lists.rs`) and become
//! `VendorDue`s with a completion on the items the provider emits, where the
//! item has no vendor due for that target yet; the shared comparison
//! (`helpdesk_sla_vendor_comparison_items`) then counts agreement. A record
//! that arrives after its item was last emitted reaches it at the item's next
//! change (tickets) or next read (a running chat or call).

use std::collections::HashSet;

use jiff::Timestamp;
use serde_json::json;

use super::cursor::{LogPosition, LogRecord, SlaLogCursor};
use super::levels::MAX_LEVELS;
use super::lists::{Aged, newest_closed};
use super::map;
use super::raw::RawSlaLogRow;
use super::{LiveAgentProvider, SLA_LOG_FILTER};
use crate::model::{Channel, Item, Target, VendorDue};
use crate::providers::client::decode_rows;
use crate::providers::{ProviderError, RejectedRow};

/// The `stream` label of rejected log rows.
pub const STREAM: &str = "sla_log";

/// The SLA type names, as the vendor names them in a level's `values`
/// (`SlaValues`); the log's `sla_type` is not documented, so a value is
/// mapped only when it is one of these (case and separators ignored), and
/// counted as a rejected row (`unknown_variant`) otherwise.
const TYPES: [(&str, Target); 6] = [
    ("firstanswer", Target::FirstResponse),
    ("nextanswer", Target::NextResponse),
    ("firstresolve", Target::Resolution),
    ("firstassign", Target::Assignment),
    ("chatanswer", Target::Pickup),
    ("callanswer", Target::Answer),
];

/// The log endpoint of a stream.
pub fn endpoint(stream: Channel) -> &'static str {
    match stream {
        Channel::Ticket => "/grid/tickets/sla",
        Channel::Chat => "/grid/chats/sla",
        Channel::Call => "/grid/calls/sla",
    }
}

/// `sla_type` as a target, if it names one of the documented SLA types.
pub fn target(sla_type: Option<&serde_json::Value>) -> Option<Target> {
    let text = match sla_type? {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let key: String = text
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    TYPES.iter().find(|(k, _)| *k == key).map(|(_, t)| *t)
}

/// Puts the log's records on an item: each becomes a `VendorDue` with its
/// completion, for a target the item has no vendor due for yet (a due
/// without completion means the vendor's clock for that target is open, so
/// an older record of it is not the current cycle's).
pub fn apply(item: &mut Item, records: &[LogRecord]) {
    for r in records {
        if item.vendor_due.iter().any(|v| v.target == r.target) {
            continue;
        }
        item.vendor_due.push(VendorDue {
            target: r.target,
            due_at: r.due,
            completed_at: Some(r.closed),
            breached: None,
        });
    }
}

impl LiveAgentProvider {
    /// One page of `stream`'s SLA log after its position; rows of unknown
    /// types are returned as rejected. A refused or ignored `date_closed`
    /// filter switches the log off (counted and logged once); any other
    /// failure that is not account-wide is logged and retried next sync.
    pub(super) async fn read_sla_log(
        &self,
        stream: Channel,
        log: &mut SlaLogCursor,
        records: &mut Aged<Timestamp, Vec<LogRecord>>,
        start: Timestamp,
    ) -> Result<Vec<RejectedRow>, ProviderError> {
        if self.fallbacks().sla_log_off {
            return Ok(Vec::new());
        }
        let endpoint = endpoint(stream);
        let pos: &mut LogPosition = match stream {
            Channel::Ticket => &mut log.tickets,
            Channel::Chat => &mut log.chats,
            Channel::Call => &mut log.calls,
        };
        let since = *pos.since.get_or_insert(start);
        let filters = json!([["date_closed", "D>=", map::format_time(since)]]).to_string();
        let query = [
            ("_filters", filters),
            ("_sortField", "date_closed".to_owned()),
            ("_sortDir", "ASC".to_owned()),
            ("_perPage", self.per_page()),
        ];
        let response = match self.client.get(endpoint, &query).await {
            Ok(r) => r,
            Err(ProviderError::Status { code, .. }) if (400..500).contains(&code) => {
                self.fall_back(SLA_LOG_FILTER, &format!("refused with HTTP {code}"));
                return Ok(Vec::new());
            }
            Err(e) if e.is_source_wide() => return Err(e),
            Err(e) => {
                tracing::warn!(source = %self.source.name, endpoint, error = %e, "cannot read the SLA log; trying again next sync");
                return Ok(Vec::new());
            }
        };
        let (rows, mut rejected) = match decode_rows::<RawSlaLogRow>(
            endpoint,
            STREAM,
            &response.body,
        ) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(source = %self.source.name, endpoint, error = %e, "cannot read the SLA log; trying again next sync");
                return Ok(Vec::new());
            }
        };
        let closed: Vec<(&RawSlaLogRow, Timestamp)> = rows
            .iter()
            .filter_map(|r| r.date_closed.map(|c| (r, c)))
            .collect();
        let outside = closed.iter().any(|(_, c)| *c < since);
        let unsorted = closed.windows(2).any(|w| w[1].1 < w[0].1);
        if outside || unsorted {
            self.fall_back(
                SLA_LOG_FILTER,
                "ignored: rows closed before the requested date_closed, or out of order",
            );
            return Ok(Vec::new());
        }
        let row_key = |r: &RawSlaLogRow| {
            r.id.clone().unwrap_or_else(|| {
                format!(
                    "{}:{}",
                    r.conversationid,
                    r.sla_type.clone().unwrap_or_default()
                )
            })
        };
        let seen: HashSet<String> = pos.seen.iter().cloned().collect();
        for (row, at) in &closed {
            if *at == since && seen.contains(&row_key(row)) {
                continue;
            }
            let (Some(target), Some(due)) = (target(row.sla_type.as_ref()), row.date_due) else {
                rejected.push(RejectedRow {
                    stream: STREAM,
                    id: row.id.clone(),
                    field: if row.date_due.is_none() {
                        "date_due".to_owned()
                    } else {
                        "sla_type".to_owned()
                    },
                    reason: if row.date_due.is_none() {
                        "missing field".to_owned()
                    } else {
                        "unknown variant".to_owned()
                    },
                });
                continue;
            };
            let mut list = records
                .get(&row.conversationid)
                .cloned()
                .unwrap_or_default();
            list.retain(|r| !(r.target == target && r.closed <= *at));
            if !list.iter().any(|r| r.target == target) {
                list.push(LogRecord {
                    target,
                    due,
                    closed: *at,
                });
            }
            records.insert(&row.conversationid, newest_closed(&list), list);
        }
        let pos: &mut LogPosition = match stream {
            Channel::Ticket => &mut log.tickets,
            Channel::Chat => &mut log.chats,
            Channel::Call => &mut log.calls,
        };
        match closed.iter().map(|(_, c)| *c).max() {
            Some(max) if max > since => {
                pos.since = Some(max);
                pos.seen = closed
                    .iter()
                    .filter(|(_, c)| *c == max)
                    .map(|(r, _)| row_key(r))
                    .collect();
            }
            Some(_) => {
                let new: Vec<String> = closed.iter().map(|(r, _)| row_key(r)).collect();
                pos.seen.extend(new);
                pos.seen.sort_unstable();
                pos.seen.dedup();
                pos.seen.truncate(MAX_LEVELS);
            }
            None => {}
        }
        // The most recently closed conversations are kept.
        records.keep_newest(MAX_LEVELS);
        Ok(rejected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_documented_type_names_map() {
        let t = |v: serde_json::Value| target(Some(&v));
        assert_eq!(t(json!("first_answer")), Some(Target::FirstResponse));
        assert_eq!(t(json!("Next answer")), Some(Target::NextResponse));
        assert_eq!(t(json!("FIRST_RESOLVE")), Some(Target::Resolution));
        assert_eq!(t(json!("call_answer")), Some(Target::Answer));
        assert_eq!(t(json!("F")), None);
        assert_eq!(t(json!(3)), None);
        assert_eq!(target(None), None);
    }
}
