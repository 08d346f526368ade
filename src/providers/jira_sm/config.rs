//! The `jira_service_management` row of the source registry: defaults, the
//! vendor block, its cross-field rules, and how the block builds the provider.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::SignedDuration;
use serde::Deserialize;

use super::JsmProvider;
use crate::config::{SourceConfig, VendorBlock};
use crate::model::{Status, Target};
use crate::providers::client::{Auth, ClientMetrics, ClientSettings};
use crate::providers::{BuildError, Provider, SourceDefaults, SourceType, VendorConfig};

/// `type: jira_service_management`.
pub const SOURCE_TYPE: SourceType = SourceType {
    name: "jira_service_management",
    defaults: SourceDefaults {
        // Issues per `/rest/api/3/search/jql` page. The endpoint documents
        // `maxResults` as a wish the server may lower; with `expand=changelog`
        // and a handful of fields, 100 keeps a page well under the body limit.
        page_size: 100,
        // The API takes `maxResults` as a wish and may return fewer; paging
        // is by token, so a smaller page than asked is harmless.
        max_page_size: 5000,
        // Jira Cloud's API-token traffic has dynamic burst limits per endpoint
        // and no published per-minute figure; 100 a minute stays well clear of
        // 429s and still reads about 10,000 issues a minute.
        requests_per_minute: 100,
    },
    validate,
    base_url_from: Some("site"),
};

/// How the API token is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    /// Cloud: HTTP Basic `email:api_token`.
    #[default]
    Basic,
    /// OAuth 2.0 access token, or a Data Center personal access token.
    Bearer,
}

/// Which Jira serves the projects: the REST paths and paging differ.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Deployment {
    /// Jira Cloud: `/rest/api/3`, the enhanced search with `nextPageToken`.
    #[default]
    Cloud,
    /// Jira Data Center (and Server): `/rest/api/2`, `startAt` paging.
    DataCenter,
}

/// How often, by default, the ids of every issue in the projects are listed
/// to forget deleted and moved issues. A listing costs one request per 5,000
/// issues (Cloud), so a few times a day is cheap and bounds how long a
/// deleted issue lingers in the metrics.
pub const DEFAULT_RECONCILE_INTERVAL: SignedDuration = SignedDuration::from_hours(6);

/// Listing every issue more often than this would spend the request budget
/// on issues that rarely disappear.
pub const MIN_RECONCILE_INTERVAL: SignedDuration = SignedDuration::from_hours(1);

/// The `jira_service_management:` block as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a map of jira_service_management settings"
)]
struct RawJsmConfig {
    site: Option<String>,
    email: Option<String>,
    #[serde(default)]
    auth: AuthKind,
    #[serde(default)]
    projects: Vec<String>,
    team_field: Option<String>,
    #[serde(default)]
    sla_fields: BTreeMap<String, String>,
    #[serde(default)]
    statuses: BTreeMap<String, String>,
    #[serde(default)]
    deployment: Deployment,
    reconcile_interval: Option<String>,
}

/// Where the `team` label comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TeamField {
    /// The customer request type (the JSM field whose schema is `vp-origin`).
    RequestType,
    /// The first component's name.
    Components,
    /// The first customer organization's name (schema `sd-customer-organizations`).
    Organizations,
    /// Any other field by id (`customfield_10010`): its string, `value` or `name`.
    Field(String),
}

impl TeamField {
    /// As written in the config.
    pub fn as_config(&self) -> &str {
        match self {
            TeamField::RequestType => "request_type",
            TeamField::Components => "components",
            TeamField::Organizations => "organizations",
            TeamField::Field(id) => id,
        }
    }
}

/// The validated block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsmConfig {
    /// `acme.atlassian.net`, when given: the default `base_url`.
    pub site: Option<String>,
    /// The Atlassian account for Basic auth; `None` with bearer auth.
    pub email: Option<String>,
    pub auth: AuthKind,
    /// Project keys or ids, as JQL `project in (...)` takes them.
    pub projects: Vec<String>,
    pub team_field: Option<TeamField>,
    /// SLA field *name* (as JSM shows it) → the target it measures.
    pub sla_fields: Vec<(String, Target)>,
    /// Status name (lower case) → neutral status, over the built-in names.
    pub statuses: Vec<(String, Status)>,
    pub deployment: Deployment,
    /// At most this often, every issue id in the projects is listed and the
    /// stored issues missing from it (deleted, moved away) are forgotten.
    pub reconcile_interval: SignedDuration,
}

fn validate(block: &mut VendorBlock<'_>) -> Option<Arc<dyn VendorConfig>> {
    let raw: RawJsmConfig = block.parse()?;
    let mut ok = true;
    let site = match raw.site.as_deref().map(site_host) {
        Some(Err(why)) => {
            block.problem("site", why);
            ok = false;
            None
        }
        Some(Ok(host)) => Some(host),
        None => None,
    };
    let email = match (raw.auth, raw.email) {
        (AuthKind::Basic, None) => {
            block.problem(
                "email",
                "missing: `auth: basic` sends the Atlassian account's email with the API token",
            );
            ok = false;
            None
        }
        (AuthKind::Basic, Some(e)) if !e.contains('@') || e.trim() != e => {
            block.problem("email", format!("{e:?} is not an email address"));
            ok = false;
            None
        }
        (AuthKind::Bearer, Some(_)) => {
            block.problem(
                "email",
                "not used with `auth: bearer` (the token alone identifies the account); remove it or use `auth: basic`",
            );
            ok = false;
            None
        }
        (_, e) => e,
    };
    if raw.projects.is_empty() {
        block.problem(
            "projects",
            "must name at least one service desk project (key such as ITS, or numeric id)",
        );
        ok = false;
    }
    for (i, p) in raw.projects.iter().enumerate() {
        if !is_project_ref(p) {
            block.problem(
                &format!("projects[{i}]"),
                format!("{p:?} is neither a project key (A-Z, 0-9, _) nor a numeric id"),
            );
            ok = false;
        } else if raw.projects[..i].contains(p) {
            block.problem(&format!("projects[{i}]"), format!("duplicate {p:?}"));
            ok = false;
        }
    }
    let team_field = match raw.team_field.as_deref().map(team_field) {
        Some(Err(why)) => {
            block.problem("team_field", why);
            ok = false;
            None
        }
        Some(Ok(t)) => Some(t),
        None => None,
    };
    let mut sla_fields: Vec<(String, Target)> = Vec::new();
    for (name, target) in &raw.sla_fields {
        let key = format!("sla_fields.{name}");
        match ticket_target(target) {
            Err(why) => {
                block.problem(&key, why);
                ok = false;
            }
            Ok(t) => {
                if let Some((other, _)) = sla_fields.iter().find(|(_, o)| *o == t) {
                    block.problem(
                        &key,
                        format!("target {t} is already measured by the SLA field {other:?}; map each target once"),
                    );
                    ok = false;
                } else {
                    sla_fields.push((name.clone(), t));
                }
            }
        }
    }
    let mut statuses = Vec::new();
    for (name, status) in &raw.statuses {
        match neutral_status(status) {
            Ok(s) => statuses.push((name.to_lowercase(), s)),
            Err(why) => {
                block.problem(&format!("statuses.{name}"), why);
                ok = false;
            }
        }
    }
    let reconcile_interval = match raw
        .reconcile_interval
        .as_deref()
        .map(crate::config::duration::parse)
    {
        None => DEFAULT_RECONCILE_INTERVAL,
        Some(Ok(d)) if d >= MIN_RECONCILE_INTERVAL => d,
        Some(Ok(_)) => {
            block.problem(
                "reconcile_interval",
                "must be at least 1h (each reconciliation lists every issue of the projects)",
            );
            ok = false;
            DEFAULT_RECONCILE_INTERVAL
        }
        Some(Err(why)) => {
            block.problem("reconcile_interval", why);
            ok = false;
            DEFAULT_RECONCILE_INTERVAL
        }
    };
    if raw.deployment == Deployment::DataCenter {
        if site.is_some() {
            block.problem(
                "site",
                "names a Cloud site; with `deployment: data_center` set the source's base_url to the server's root instead",
            );
            ok = false;
        }
        if raw.auth != AuthKind::Bearer {
            block.problem(
                "auth",
                "`deployment: data_center` needs `auth: bearer` with a personal access token",
            );
            ok = false;
        }
    }
    if !ok {
        return None;
    }
    Some(Arc::new(JsmConfig {
        site,
        email,
        auth: raw.auth,
        projects: raw.projects,
        team_field,
        sla_fields,
        statuses,
        deployment: raw.deployment,
        reconcile_interval,
    }))
}

/// `acme` or `acme.atlassian.net` → `acme.atlassian.net`; no scheme, no path.
fn site_host(site: &str) -> Result<String, String> {
    let valid = !site.is_empty()
        && site
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !valid {
        return Err(format!(
            "{site:?} must be the site name (acme) or host (acme.atlassian.net), without scheme or path"
        ));
    }
    Ok(if site.contains('.') {
        site.to_ascii_lowercase()
    } else {
        format!("{}.atlassian.net", site.to_ascii_lowercase())
    })
}

fn is_project_ref(p: &str) -> bool {
    let key = p.starts_with(|c: char| c.is_ascii_uppercase())
        && p.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    let id = !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    key || id
}

fn team_field(text: &str) -> Result<TeamField, String> {
    match text {
        "request_type" => Ok(TeamField::RequestType),
        "components" => Ok(TeamField::Components),
        "organizations" => Ok(TeamField::Organizations),
        f if f
            .strip_prefix("customfield_")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) =>
        {
            Ok(TeamField::Field(f.to_owned()))
        }
        other => Err(format!(
            "{other:?} is not one of request_type, components, organizations or a field id such as customfield_10010"
        )),
    }
}

/// A neutral status by its config name (`answered`), through the model's serde names.
fn neutral_status(text: &str) -> Result<Status, String> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|_| {
        format!(
            "unknown status {text:?} (expected one of new, open, answered, pending, on_hold, postponed, resolved, closed, other)"
        )
    })
}

/// JSM requests are tickets: chat pickup and call answer do not apply.
fn ticket_target(text: &str) -> Result<Target, String> {
    let t = Target::ALL
        .into_iter()
        .find(|t| t.as_str() == text)
        .ok_or_else(|| {
            format!("unknown target {text:?} (expected first_response, next_response, resolution or assignment)")
        })?;
    if matches!(t, Target::Pickup | Target::Answer) {
        return Err(format!(
            "target {text:?} applies to chats and calls; JSM requests are tickets"
        ));
    }
    Ok(t)
}

impl VendorConfig for JsmConfig {
    fn default_base_url(&self) -> Option<String> {
        self.site.as_ref().map(|host| format!("https://{host}"))
    }

    fn build(
        &self,
        source: &SourceConfig,
        metrics: &ClientMetrics,
    ) -> Result<Arc<dyn Provider>, BuildError> {
        Ok(Arc::new(JsmProvider::new(
            source.clone(),
            self.clone(),
            metrics.clone(),
        )?))
    }
}

/// The shared client's settings for a JSM source: Basic `email:token` or a
/// bearer token, and the source's budget and timeout.
pub fn client_settings(source: &SourceConfig, config: &JsmConfig) -> ClientSettings {
    let auth = match (config.auth, &config.email) {
        (AuthKind::Basic, Some(email)) => Auth::Basic {
            user: email.clone(),
            password: source.api_key.clone(),
        },
        _ => Auth::Bearer(source.api_key.clone()),
    };
    let mut s = ClientSettings::new(
        &source.name,
        &source.base_url,
        auth,
        source.timeout,
        source.requests_per_minute,
    );
    s.headers.push(("accept", "application/json".to_owned()));
    s
}
