//! The `freshdesk` row of the source registry: defaults, the vendor block
//! (account domain and plan), the base URL derived from the domain, and the
//! two request budgets the plan gives, counted in Freshdesk's credits.

use std::sync::Arc;

use serde::Deserialize;

use super::FreshdeskProvider;
use crate::config::{SourceConfig, VendorBlock};
use crate::providers::client::{Auth, ClientMetrics, ClientSettings};
use crate::providers::{BuildError, Provider, SourceDefaults, SourceType, VendorConfig};
use crate::secret::Secret;

/// `type: freshdesk`.
pub const SOURCE_TYPE: SourceType = SourceType {
    name: "freshdesk",
    defaults: SourceDefaults {
        // `per_page` is at most 100 on every Freshdesk list endpoint.
        page_size: 100,
        max_page_size: 100,
        // The budget of everything but the ticket list (groups, the status
        // field): a few requests an hour at 1 credit each. 30 a minute stays
        // under the smallest account limit (trial: 50) with the ticket list's
        // own budget beside it.
        requests_per_minute: 30,
    },
    validate,
    base_url_from: Some("domain"),
};

/// Credits one ticket list request costs: 1, plus 2 for `include=stats`.
pub const TICKET_LIST_CREDITS: u32 = 3;

/// The Freshdesk plans and their per-minute limits, in credits: the whole
/// account's, and the Tickets List endpoint's lower one (support article
/// 225439; trials allow 50 a minute and state no list limit, so the Growth
/// list limit is assumed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    Trial,
    Growth,
    Pro,
    Enterprise,
}

impl Plan {
    pub const ALL: [Plan; 4] = [Plan::Trial, Plan::Growth, Plan::Pro, Plan::Enterprise];

    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Trial => "trial",
            Plan::Growth => "growth",
            Plan::Pro => "pro",
            Plan::Enterprise => "enterprise",
        }
    }

    /// `(account, tickets list)` credits a minute.
    pub fn limits(self) -> (u32, u32) {
        match self {
            Plan::Trial => (50, 20),
            Plan::Growth => (200, 20),
            Plan::Pro => (400, 100),
            Plan::Enterprise => (700, 200),
        }
    }

    /// Ticket list requests a minute that stay under the list limit: the
    /// shared budget lets at most `rate + max(rate / 10, 1)` requests through
    /// in any 60-second window (its burst, plus one at the window's edge), so
    /// this is the largest rate whose worst minute, at
    /// [`TICKET_LIST_CREDITS`] each, fits the list limit. Growth: 5 (6 × 3 =
    /// 18 ≤ 20); Pro: 30 (33 × 3 = 99 ≤ 100); Enterprise: 60 (66 × 3 = 198 ≤ 200).
    pub fn ticket_list_requests_per_minute(self) -> u32 {
        let (_, list) = self.limits();
        let worst = |rate: u32| (rate + (rate / 10).max(1)) * TICKET_LIST_CREDITS;
        (1..=list).rev().find(|r| worst(*r) <= list).unwrap_or(1)
    }
}

/// The `freshdesk:` block as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a map of freshdesk settings")]
pub struct RawFreshdeskBlock {
    /// `acme` for `https://acme.freshdesk.com`; gives the default `base_url`.
    pub domain: Option<String>,
    /// `trial`, `growth` (default), `pro` or `enterprise`: the credit budget.
    pub plan: Option<String>,
    /// Read each changed ticket's conversations for its next-response
    /// cycles (1 credit per ticket whose requester wrote after the first
    /// response, on `requests_per_minute`). Off by default.
    pub conversations: Option<bool>,
}

/// The validated `freshdesk:` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreshdeskConfig {
    pub domain: Option<String>,
    pub plan: Plan,
    pub conversations: bool,
}

fn validate(block: &mut VendorBlock<'_>) -> Option<Arc<dyn VendorConfig>> {
    let raw: RawFreshdeskBlock = block.parse()?;
    let mut ok = true;
    if let Some(domain) = &raw.domain
        && let Err(why) = crate::providers::check_account_name(domain, "NAME.freshdesk.com")
    {
        block.problem("domain", why);
        ok = false;
    }
    let plan = match raw.plan.as_deref() {
        None => Some(Plan::Growth),
        Some(p) => {
            let found = Plan::ALL.into_iter().find(|plan| plan.as_str() == p);
            if found.is_none() {
                block.problem(
                    "plan",
                    format!(
                        "unknown plan {p:?} (supported: trial, growth, pro, enterprise; it sets \
                         the credit budget of the ticket list)"
                    ),
                );
            }
            found
        }
    };
    let plan = plan?;
    ok.then(|| {
        Arc::new(FreshdeskConfig {
            domain: raw.domain,
            plan,
            conversations: raw.conversations.unwrap_or(false),
        }) as Arc<dyn VendorConfig>
    })
}

impl VendorConfig for FreshdeskConfig {
    fn default_base_url(&self) -> Option<String> {
        self.domain
            .as_ref()
            .map(|d| format!("https://{d}.freshdesk.com/api/v2"))
    }

    fn default_item_url(&self, base_url: &str) -> Option<String> {
        let root = base_url.strip_suffix("/api/v2")?;
        Some(format!("{root}/a/tickets/{{id}}"))
    }

    fn build(
        &self,
        source: &SourceConfig,
        metrics: &ClientMetrics,
    ) -> Result<Arc<dyn Provider>, BuildError> {
        let (list, api) = self.client_settings(source);
        Ok(Arc::new(
            FreshdeskProvider::new(source.clone(), self.plan, list, api, metrics.clone())?
                .with_conversations(self.conversations),
        ))
    }
}

impl FreshdeskConfig {
    /// The two clients of a source: the ticket list on the plan's list
    /// budget, and the rest of the API on the source's `requests_per_minute`.
    pub fn client_settings(&self, source: &SourceConfig) -> (ClientSettings, ClientSettings) {
        let auth = auth(&source.api_key);
        let list = ClientSettings::new(
            &source.name,
            &source.base_url,
            auth.clone(),
            source.timeout,
            self.plan.ticket_list_requests_per_minute(),
        );
        let api = ClientSettings::new(
            &source.name,
            &source.base_url,
            auth,
            source.timeout,
            source.requests_per_minute,
        );
        (list, api)
    }
}

/// HTTP Basic with the API key as the user and `X` as the password. Built as
/// a whole `Authorization` value inside a [`Secret`], since the shared
/// client's `Auth::Basic` keeps its user in plain text (Debug would show it).
pub fn auth(api_key: &Secret) -> Auth {
    use base64::Engine as _;
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:X", api_key.expose()));
    Auth::Header {
        name: "authorization",
        value: Secret::new(format!("Basic {encoded}")),
    }
}

/// A Freshdesk source with the registry's defaults, as the config would
/// build it from `{name, type: freshdesk, base_url, api_key_env}` (tests).
pub fn source_config(name: &str, base_url: &str, api_key: Secret, plan: Plan) -> SourceConfig {
    SourceConfig::with_defaults(
        name,
        &SOURCE_TYPE,
        base_url,
        api_key,
        Arc::new(FreshdeskConfig {
            domain: None,
            plan,
            conversations: false,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_budgets_stay_under_each_plans_list_limit() {
        let rates: Vec<u32> = Plan::ALL
            .iter()
            .map(|p| p.ticket_list_requests_per_minute())
            .collect();
        assert_eq!(rates, [5, 5, 30, 60]);
        for plan in Plan::ALL {
            let rpm = plan.ticket_list_requests_per_minute();
            // The most the budget lets through in a minute: rpm, a burst of
            // a tenth of it, and one at the window's edge.
            let worst = rpm + (rpm / 10).max(1);
            assert!(
                worst * TICKET_LIST_CREDITS <= plan.limits().1,
                "{plan:?}: {worst} requests"
            );
        }
    }

    #[test]
    fn the_key_is_the_basic_user_and_x_the_password() {
        let Auth::Header { name, value } = auth(&Secret::new("abc")) else {
            panic!("not a header");
        };
        assert_eq!(name, "authorization");
        // base64("abc:X")
        assert_eq!(value.expose(), "Basic YWJjOlg=");
        assert!(!format!("{value:?}").contains("abc"));
    }
}
