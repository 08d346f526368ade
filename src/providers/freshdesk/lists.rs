//! The short list endpoints around the ticket list: groups, the status
//! field, a ticket's conversations, and what `levels` reads (SLA policies,
//! business hours). IO only; the mapping is in [`super::map`] and
//! [`super::levels`].

use super::{
    BUSINESS_HOUR, BUSINESS_HOURS, CONVERSATIONS, FreshdeskProvider, GROUPS, MAX_GROUP_PAGES,
    SLA_POLICIES, TICKET_FIELD, TICKET_FIELDS, levels, map, next_page, raw,
};
use crate::providers::ProviderError;
use crate::providers::client::decode_rows;
use map::{RawGroup, RawStatusChoice, RawStatusField, RawTicketField, StopSet};

impl FreshdeskProvider {
    /// Completes an item's replies and messages from its conversations
    /// (`per_page=100`, following `Link`). A failure fails the page, so the
    /// cursor does not move past a ticket read without its cycles; a ticket
    /// gone since it was listed (404) keeps its `stats` timeline.
    pub(super) async fn add_conversations(
        &self,
        item: &mut crate::model::Item,
    ) -> Result<(), ProviderError> {
        let mut page = 1;
        for _ in 0..MAX_GROUP_PAGES {
            let path = format!("/tickets/{}/conversations", item.id);
            let query = [("per_page", "100".to_owned()), ("page", page.to_string())];
            let response = match self.api.get_path(CONVERSATIONS, &path, &query).await {
                Ok(r) => r,
                // Deleted since it was listed: keep what `stats` said rather
                // than stall the sync on this page.
                Err(ProviderError::Status { code: 404, .. }) => return Ok(()),
                Err(e) => return Err(e),
            };
            let (rows, rejected): (Vec<map::RawConversation>, _) =
                decode_rows(CONVERSATIONS, "conversations", &response.body)?;
            if !rejected.is_empty() {
                tracing::warn!(source = %self.source.name, rows = rejected.len(), "conversations that do not decode are left out");
            }
            let empty = rows.is_empty();
            map::apply_conversations(item, &rows);
            match next_page(&response) {
                Some(n) if n > page && !empty => page = n,
                _ => break,
            }
        }
        Ok(())
    }

    /// Every group, `per_page=100`, following the `Link` header.
    pub(crate) async fn read_groups(&self) -> Result<Vec<RawGroup>, ProviderError> {
        self.read_list(GROUPS, "groups").await
    }

    /// Every row of a short list endpoint, `per_page=100`, following the
    /// `Link` header; rows that do not decode are left out.
    async fn read_list<T: serde::de::DeserializeOwned>(
        &self,
        endpoint: &str,
        stream: &'static str,
    ) -> Result<Vec<T>, ProviderError> {
        let mut rows = Vec::new();
        let mut page = 1;
        for _ in 0..MAX_GROUP_PAGES {
            let query = [("per_page", "100".to_owned()), ("page", page.to_string())];
            let response = self.api.get(endpoint, &query).await?;
            let (batch, rejected): (Vec<T>, _) = decode_rows(endpoint, stream, &response.body)?;
            if !rejected.is_empty() {
                tracing::warn!(source = %self.source.name, endpoint, rows = rejected.len(), "rows that do not decode are left out");
            }
            let empty = batch.is_empty();
            rows.extend(batch);
            match next_page(&response) {
                Some(n) if n > page && !empty => page = n,
                _ => break,
            }
        }
        Ok(rows)
    }

    /// `levels`: SLA policies, groups and the business hours they use
    /// (details, for the holidays), rendered by [`levels::render`].
    pub(super) async fn levels_yaml(&self) -> Result<String, ProviderError> {
        let policies: Vec<raw::RawSlaPolicy> = self.read_list(SLA_POLICIES, "sla_policies").await?;
        let groups = self.read_groups().await?;
        // The list does not say which calendar is the default (its rows carry
        // no `is_default` in Freshdesk's own view) and has no holidays: read
        // each one's detail.
        let list: Vec<raw::RawBusinessHours> =
            self.read_list(BUSINESS_HOURS, "business_hours").await?;
        let mut ids: Vec<String> = list
            .iter()
            .map(|b| b.id.clone())
            .chain(groups.iter().filter_map(|g| g.business_hours_id.clone()))
            .collect();
        ids.sort();
        ids.dedup();
        let mut calendars = Vec::new();
        for id in &ids {
            let path = format!("{BUSINESS_HOURS}/{id}");
            let response = self.api.get_path(BUSINESS_HOUR, &path, &[]).await?;
            calendars.push(map::decode::<raw::RawBusinessHours>(
                BUSINESS_HOUR,
                &response.body,
            )?);
        }
        let default = calendars
            .iter()
            .find(|b| b.is_default == Some(true))
            .or(if calendars.len() == 1 {
                calendars.first()
            } else {
                None
            })
            .map(|b| b.id.clone());
        let import = levels::Import {
            policies: &policies,
            groups: &groups,
            calendars: &calendars,
            default_calendar: default.as_deref(),
        };
        levels::render(&self.source.name, &import).map_err(|reason| ProviderError::Decode {
            endpoint: SLA_POLICIES.to_owned(),
            reason,
        })
    }

    /// The status field's `stop_sla_timer` flags: the field list names the
    /// status field, its detail lists the statuses.
    pub(crate) async fn read_stop_set(&self) -> Result<StopSet, ProviderError> {
        let choices = self.read_status_choices().await?;
        Ok(StopSet::from_choices(&choices))
    }

    pub(crate) async fn read_status_choices(&self) -> Result<Vec<RawStatusChoice>, ProviderError> {
        let response = self.api.get(TICKET_FIELDS, &[]).await?;
        let (fields, _): (Vec<RawTicketField>, _) =
            decode_rows(TICKET_FIELDS, "ticket_fields", &response.body)?;
        let status = fields
            .iter()
            .find(|f| {
                f.name.as_deref() == Some("status")
                    || f.field_type.as_deref() == Some("default_status")
            })
            .ok_or_else(|| ProviderError::Decode {
                endpoint: TICKET_FIELDS.to_owned(),
                reason: "no status field (name \"status\") in the ticket field list".to_owned(),
            })?;
        let path = format!("{TICKET_FIELDS}/{}", status.id);
        let response = self.api.get_path(TICKET_FIELD, &path, &[]).await?;
        let field: RawStatusField = map::decode(TICKET_FIELD, &response.body)?;
        let (choices, _): (Vec<RawStatusChoice>, _) =
            crate::providers::client::decode_values("statuses", field.choices);
        Ok(choices)
    }
}
