//! The `zendesk` row of the source registry: defaults, the vendor block, its
//! cross-field rules, the base URL derived from the subdomain, and the auth.

use std::sync::Arc;

use serde::Deserialize;

use super::ZendeskProvider;
use crate::config::{SourceConfig, VendorBlock};
use crate::providers::client::{Auth, ClientMetrics, ClientSettings};
use crate::providers::{BuildError, Provider, SourceDefaults, SourceType, VendorConfig};
use crate::secret::Secret;

/// `type: zendesk`.
pub const SOURCE_TYPE: SourceType = SourceType {
    name: "zendesk",
    defaults: SourceDefaults {
        // The cursor-based ticket export serves at most 1000 tickets a page
        // (`per_page`); fewer, larger requests matter on a 10-a-minute budget.
        page_size: 1000,
        max_page_size: 1000,
        // The budget for the rest of the API (groups). The smallest plan (Team)
        // allows 200 a minute per account; the budget lets 1.1 x this through
        // in a minute, so 160 stays under it and leaves the account's other
        // integrations room.
        requests_per_minute: 160,
    },
    validate,
    base_url_from: Some("subdomain"),
};

/// Zendesk documents 10 requests a minute for each incremental export (30
/// with the High Volume add-on). The client budget lets one request more
/// than its rate through in a minute, so the default stays one below.
pub const DEFAULT_EXPORT_REQUESTS_PER_MINUTE: u32 = 9;

/// The highest export budget Zendesk grants (High Volume add-on).
pub const MAX_EXPORT_REQUESTS_PER_MINUTE: u32 = 30;

/// The `zendesk:` block as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a map of zendesk settings")]
pub struct RawZendeskBlock {
    /// `acme` for `https://acme.zendesk.com`; gives the default `base_url`.
    pub subdomain: Option<String>,
    /// `token` (default: Basic `email/token:TOKEN`) or `oauth` (Bearer).
    pub auth: Option<String>,
    /// The agent or admin the API token belongs to; required for `token`.
    pub email: Option<String>,
    /// The budget of the incremental export endpoints (tickets, Talk calls).
    pub export_requests_per_minute: Option<u32>,
}

/// How the source authenticates. The secret itself is the source's common
/// `api_key_file`/`api_key_env`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZendeskAuth {
    /// HTTP Basic with user `{email}/token` and the API token as password.
    Token { email: String },
    /// `Authorization: Bearer <OAuth access token>`.
    OAuth,
}

/// The validated `zendesk:` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZendeskConfig {
    pub subdomain: Option<String>,
    pub auth: ZendeskAuth,
    pub export_requests_per_minute: u32,
}

fn validate(block: &mut VendorBlock<'_>) -> Option<Arc<dyn VendorConfig>> {
    let raw: RawZendeskBlock = block.parse()?;
    let mut ok = true;
    if let Some(sub) = &raw.subdomain
        && let Err(why) = crate::providers::check_account_name(sub, "NAME.zendesk.com")
    {
        block.problem("subdomain", why);
        ok = false;
    }
    let email = raw.email.as_deref().map(str::trim);
    let auth = match (raw.auth.as_deref().unwrap_or("token"), email) {
        ("token", Some(email)) if is_email(email) => Some(ZendeskAuth::Token {
            email: email.to_owned(),
        }),
        ("token", Some(email)) => {
            block.problem(
                "email",
                format!("{email:?} is not an email address (the API token's owner)"),
            );
            None
        }
        ("token", None) => {
            block.problem(
                "email",
                "missing: `auth: token` signs in as `{email}/token`, so it needs the email \
                 of the API token's owner (or use `auth: oauth` with an OAuth access token)",
            );
            None
        }
        ("oauth", None) => Some(ZendeskAuth::OAuth),
        ("oauth", Some(_)) => {
            block.problem(
                "email",
                "not used with `auth: oauth` (the bearer token names its user); remove it",
            );
            None
        }
        (other, _) => {
            block.problem(
                "auth",
                format!("unknown auth {other:?} (supported: token, oauth)"),
            );
            None
        }
    };
    let export = raw
        .export_requests_per_minute
        .unwrap_or(DEFAULT_EXPORT_REQUESTS_PER_MINUTE);
    if !(1..=MAX_EXPORT_REQUESTS_PER_MINUTE).contains(&export) {
        block.problem(
            "export_requests_per_minute",
            format!(
                "must be between 1 and {MAX_EXPORT_REQUESTS_PER_MINUTE} (Zendesk allows 10 a \
                 minute, 30 with the High Volume add-on), got {export}"
            ),
        );
        ok = false;
    }
    let auth = auth?;
    ok.then(|| {
        Arc::new(ZendeskConfig {
            subdomain: raw.subdomain,
            auth,
            export_requests_per_minute: export,
        }) as Arc<dyn VendorConfig>
    })
}

fn is_email(s: &str) -> bool {
    matches!(s.split_once('@'), Some((user, host))
        if !user.is_empty() && host.contains('.') && !s.contains(char::is_whitespace))
}

impl VendorConfig for ZendeskConfig {
    fn default_base_url(&self) -> Option<String> {
        self.subdomain
            .as_ref()
            .map(|s| format!("https://{s}.zendesk.com/api/v2"))
    }

    fn build(
        &self,
        source: &SourceConfig,
        metrics: &ClientMetrics,
    ) -> Result<Arc<dyn Provider>, BuildError> {
        Ok(Arc::new(ZendeskProvider::new(
            source.clone(),
            self.clone(),
            metrics.clone(),
        )?))
    }
}

impl ZendeskConfig {
    /// The two clients of a source: the incremental exports on their own
    /// budget, and the rest of the API on the source's `requests_per_minute`.
    pub fn client_settings(&self, source: &SourceConfig) -> (ClientSettings, ClientSettings) {
        let auth = match &self.auth {
            ZendeskAuth::Token { email } => Auth::Basic {
                user: format!("{email}/token"),
                password: source.api_key.clone(),
            },
            ZendeskAuth::OAuth => Auth::Bearer(source.api_key.clone()),
        };
        let export = ClientSettings::new(
            &source.name,
            &source.base_url,
            auth.clone(),
            source.timeout,
            self.export_requests_per_minute,
        );
        let api = ClientSettings::new(
            &source.name,
            &source.base_url,
            auth,
            source.timeout,
            source.requests_per_minute,
        );
        (export, api)
    }
}

/// A Zendesk source with the registry's defaults, as the config would build
/// it from `{name, type: zendesk, base_url, api_key_env, zendesk: {email}}`
/// (tests).
pub fn source_config(name: &str, base_url: &str, email: &str, api_key: Secret) -> SourceConfig {
    SourceConfig::with_defaults(
        name,
        &SOURCE_TYPE,
        base_url,
        api_key,
        Arc::new(ZendeskConfig {
            subdomain: None,
            auth: ZendeskAuth::Token {
                email: email.to_owned(),
            },
            export_requests_per_minute: DEFAULT_EXPORT_REQUESTS_PER_MINUTE,
        }),
    )
}
