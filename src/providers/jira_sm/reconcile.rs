//! Reconciliation: deleted issues and issues moved out of the projects never
//! match a JQL search again, so at most every `reconcile_interval`, at the end
//! of a sync, the id of every issue in the projects is listed and handed to
//! the sync loop as [`Page::retain_only`](crate::providers::Page).

use jiff::Timestamp;

use super::cursor::{self, JsmCursor};
use super::map::{self, RawIdPage};
use super::{Deployment, JsmProvider, Meta, SEARCH, datacenter};
use crate::providers::{ProviderError, StreamFailure, StreamReport};

/// The `stream` label of the id listing: reported after each attempt, so a
/// failing listing marks the source down while the issues keep syncing.
pub(super) const RECONCILE_STREAM: &str = "reconcile";

/// Issues per page of the id listing: the documented maximum of the enhanced
/// search when only `id` is requested.
const LIST_PAGE: u32 = 5000;

/// A guard against a listing that never ends: 2,000 pages of 5,000 issues.
const MAX_LIST_PAGES: usize = 2000;

impl JsmProvider {
    /// Every issue id of the projects, by deployment.
    async fn list_ids(&self, meta: &Meta) -> Result<Vec<String>, ProviderError> {
        match self.config.deployment {
            Deployment::Cloud => self.list_ids_cloud().await,
            Deployment::DataCenter => datacenter::list_ids(self, meta).await,
        }
    }

    /// At the end of a sync, when the last listing is `reconcile_interval`
    /// old: the id of every issue in the projects, for [`Page::retain_only`].
    ///
    /// The first sync only starts the clock: everything stored was just read.
    /// A listing is used only when it read to its last page in this call; one
    /// that fails part-way is reported as the `reconcile` stream's failure
    /// and forgets nothing, and the next sync tries again.
    pub(super) async fn reconcile(
        &self,
        cur: &mut JsmCursor,
        meta: &Meta,
        now: Timestamp,
    ) -> Option<Vec<String>> {
        let Some(last) = cur.reconciled_at else {
            cur.reconciled_at = Some(now);
            return None;
        };
        if now.duration_since(last) < self.config.reconcile_interval {
            return None;
        }
        let result = self.list_ids(meta).await;
        let error = result.as_ref().err().map(|e| StreamFailure {
            reason: e.reason(),
            message: e.to_string(),
        });
        self.reports
            .lock()
            .expect("reports lock")
            .push(StreamReport {
                stream: RECONCILE_STREAM,
                error,
            });
        let ids = result.ok()?;
        cur.reconciled_at = Some(now);
        Some(ids)
    }

    /// Every issue id of the configured projects: the enhanced search with
    /// `fields=id` and the largest page, to its last page.
    async fn list_ids_cloud(&self) -> Result<Vec<String>, ProviderError> {
        let jql = cursor::projects_jql(&self.config.projects);
        let mut ids = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_LIST_PAGES {
            let mut query = vec![
                ("jql", jql.clone()),
                ("fields", "id".to_owned()),
                ("maxResults", LIST_PAGE.to_string()),
            ];
            if let Some(t) = &token {
                query.push(("nextPageToken", t.clone()));
            }
            let response = self.client.get(SEARCH, &query).await?;
            let page: RawIdPage = map::decode(SEARCH, &response.body)?;
            let empty = page.issues.is_empty();
            ids.extend(page.issues.into_iter().map(|i| i.id));
            let next = page
                .next_page_token
                .filter(|t| !t.is_empty() && page.is_last != Some(true) && !empty);
            match next {
                None => return Ok(ids),
                Some(t) if token.as_deref() == Some(t.as_str()) => {
                    return Err(ProviderError::PagingLoop {
                        endpoint: SEARCH.to_owned(),
                        detail: "the id listing returned the same nextPageToken again".to_owned(),
                    });
                }
                Some(t) => token = Some(t),
            }
        }
        Err(ProviderError::PagingLoop {
            endpoint: SEARCH.to_owned(),
            detail: format!("the id listing did not end within {MAX_LIST_PAGES} pages"),
        })
    }
}
