//! IO of what `levels` reads, on the API budget: SLA policies, schedules,
//! each schedule's holidays, and group names, rendered by [`levels::render`].

use reqwest::Url;
use serde::de::DeserializeOwned;

use super::raw::{
    RawHoliday, RawHolidayPage, RawSchedule, RawSchedulePage, RawSlaPolicy, RawSlaPolicyPage,
};
use super::{ZendeskProvider, levels, map};
use crate::providers::ProviderError;

/// SLA policies (Professional plans and above).
pub const SLA_POLICIES: &str = "/slas/policies.json";
/// Schedules (business hours).
pub const SCHEDULES: &str = "/business_hours/schedules.json";
/// One schedule's holidays; the template names the request in metrics.
pub const HOLIDAYS: &str = "/business_hours/schedules/{id}/holidays.json";

/// These lists are short; more pages than this means the server ignores
/// the page number.
const MAX_PAGES: usize = 50;

impl ZendeskProvider {
    /// `levels`: SLA policies, schedules with their holidays, and group
    /// names, rendered as calendars and policies.
    pub(super) async fn levels_yaml(&self) -> Result<String, ProviderError> {
        let policies: Vec<RawSlaPolicy> = self
            .read_pages(SLA_POLICIES, SLA_POLICIES, |p: RawSlaPolicyPage| {
                (p.sla_policies, p.next_page)
            })
            .await?;
        let list: Vec<RawSchedule> = self
            .read_pages(SCHEDULES, SCHEDULES, |p: RawSchedulePage| {
                (p.schedules, p.next_page)
            })
            .await?;
        let mut schedules = Vec::new();
        for s in list {
            let path = HOLIDAYS.replace("{id}", &s.id);
            let holidays: Vec<RawHoliday> = self
                .read_pages(HOLIDAYS, &path, |p: RawHolidayPage| {
                    (p.holidays, p.next_page)
                })
                .await?;
            schedules.push((s, holidays));
        }
        let groups = self.read_groups().await?;
        let import = levels::Import {
            policies: &policies,
            schedules: &schedules,
            groups: &groups,
        };
        levels::render(&self.source.name, &import).map_err(|reason| ProviderError::Decode {
            endpoint: SLA_POLICIES.to_owned(),
            reason,
        })
    }

    /// Every row of an offset-paged list: `next_page` is a URL with
    /// `page=N`, null on the last page.
    async fn read_pages<P: DeserializeOwned, R>(
        &self,
        endpoint: &str,
        path: &str,
        rows: impl Fn(P) -> (Vec<R>, Option<String>),
    ) -> Result<Vec<R>, ProviderError> {
        let mut out = Vec::new();
        let mut query: Vec<(&str, String)> = Vec::new();
        for _ in 0..MAX_PAGES {
            let response = self.api.get_path(endpoint, path, &query).await?;
            let (page, next) = rows(map::decode::<P>(endpoint, &response.body)?);
            let empty = page.is_empty();
            out.extend(page);
            match next.as_deref().and_then(page_number) {
                Some(n) if !empty && query.first().map(|(_, v)| v) != Some(&n) => {
                    query = vec![("page", n)];
                }
                _ => return Ok(out),
            }
        }
        Err(ProviderError::PagingLoop {
            endpoint: endpoint.to_owned(),
            detail: format!("more than {MAX_PAGES} pages"),
        })
    }
}

/// The `page` query value of a `next_page` URL.
fn page_number(url: &str) -> Option<String> {
    Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == "page")
        .map(|(_, v)| v.into_owned())
}
