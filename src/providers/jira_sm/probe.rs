//! `check-source` for JSM: what the account can see, request by request.
//!
//! Required: authentication (`/myself`), each configured project, and the
//! first search page. Optional: each configured SLA field and the team field,
//! whose absence only loses JSM's verdict or the team label.

use jiff::tz::TimeZone;
use serde::Deserialize;

use super::map::{self, RawField, RawMyself};
use super::{Deployment, JsmProvider, Meta};
use crate::providers::{Probe, ProbeResult, ProviderError};

/// `GET /rest/api/{3,2}/project/{id}` (Projects → Get project): only the type.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProject {
    #[serde(default)]
    key: Option<String>,
    /// `service_desk` for JSM projects.
    #[serde(default)]
    project_type_key: Option<String>,
}

pub(super) async fn all(p: &JsmProvider) -> Vec<Probe> {
    let mut out = Vec::new();
    let paths = p.paths();
    let (myself, fields_path, project_path) = (paths.myself, paths.fields, paths.project);
    let refused =
        |name: &str, e: ProviderError| Probe::new(name, ProbeResult::Refused, e.to_string());

    let name = format!("GET {myself} (authentication, time zone)");
    let zone = match get::<RawMyself>(p, myself, myself).await {
        Ok(me) => match me.time_zone.as_deref().map(TimeZone::get) {
            Some(Ok(z)) => {
                out.push(Probe::new(
                    &name,
                    ProbeResult::Works,
                    format!(
                        "JQL dates are read in {}",
                        z.iana_name().unwrap_or("the account zone")
                    ),
                ));
                z
            }
            _ => {
                out.push(Probe::new(
                    &name,
                    ProbeResult::Fallback,
                    format!(
                        "time zone {:?} unknown: JQL dates are written in UTC",
                        me.time_zone
                    ),
                ));
                TimeZone::UTC
            }
        },
        Err(e) => {
            // Nothing else can work without authentication.
            out.push(refused(&name, e));
            return out;
        }
    };

    for project in &p.config.projects {
        let name = format!("GET {project_path} ({project})");
        let path = project_path.replace("{id}", project);
        match get::<RawProject>(p, project_path, &path).await {
            Ok(r) if r.project_type_key.as_deref() == Some("service_desk") => {
                out.push(Probe::new(
                    &name,
                    ProbeResult::Works,
                    "a service desk project, visible to the account",
                ));
            }
            Ok(r) => out.push(Probe::new(
                &name,
                ProbeResult::Ignored,
                format!(
                    "{} is a {:?} project, not a service desk: no JSM SLAs",
                    r.key.as_deref().unwrap_or(project),
                    r.project_type_key.as_deref().unwrap_or("unknown")
                ),
            )),
            Err(ProviderError::Status { code: 404, .. }) => out.push(Probe::new(
                &name,
                ProbeResult::Refused,
                "HTTP 404: no such project, or the account lacks Browse projects on it",
            )),
            Err(e) => out.push(refused(&name, e)),
        }
    }

    let fields = match get::<Vec<RawField>>(p, fields_path, fields_path).await {
        Ok(rows) => {
            let fields = map::resolve_fields(&rows, &p.config);
            let available: Vec<&str> = rows
                .iter()
                .filter(|r| {
                    r.schema.as_ref().and_then(|s| s.custom.as_deref()) == Some(map::SLA_FIELD_TYPE)
                })
                .filter_map(|r| r.name.as_deref())
                .collect();
            for (name, target) in &p.config.sla_fields {
                let probe = format!("SLA field {name:?} ({target})");
                match fields.sla.iter().find(|(_, t)| t == target) {
                    Some((id, _)) => {
                        out.push(Probe::new(&probe, ProbeResult::Works, id.clone()).optional())
                    }
                    None => out.push(
                        Probe::new(
                            &probe,
                            ProbeResult::Refused,
                            format!(
                                "no sd-sla-field of this name; the site has: {}",
                                available.join(", ")
                            ),
                        )
                        .optional(),
                    ),
                }
            }
            if let Some(team) = &p.config.team_field {
                let probe = format!("team field {}", team.as_config());
                out.push(match &fields.team {
                    Some(id) => Probe::new(&probe, ProbeResult::Works, id.clone()).optional(),
                    None => Probe::new(
                        &probe,
                        ProbeResult::Refused,
                        "no such field on the site: no team label",
                    )
                    .optional(),
                });
            }
            fields
        }
        Err(e) => {
            out.push(refused(&format!("GET {fields_path}"), e));
            return out;
        }
    };

    let now = (p.clock)();
    let meta = Meta {
        fields,
        zone,
        at: now,
    };
    let name = format!("GET {} (JQL over the projects)", paths.search);
    let from = now - p.source.initial_lookback;
    let result = match p.config.deployment {
        Deployment::Cloud => p.search_n(&meta, from, None, 1).await.map(|page| {
            format!(
                "{} issue(s) on a first page of 1, more: {}",
                page.issues.len(),
                page.next_page_token.is_some()
            )
        }),
        Deployment::DataCenter => {
            super::datacenter::probe_search(p, &meta, from)
                .await
                .map(|(n, total)| {
                    let total = total.map_or("not given".to_owned(), |t| t.to_string());
                    format!("{n} issue(s) on a first page of 1, total {total}")
                })
        }
    };
    match result {
        Ok(detail) => out.push(Probe::new(&name, ProbeResult::Works, detail)),
        Err(e) => out.push(refused(&name, e)),
    }
    out
}

async fn get<T: serde::de::DeserializeOwned>(
    p: &JsmProvider,
    endpoint: &str,
    path: &str,
) -> Result<T, ProviderError> {
    let response = p.client.get_path(endpoint, path, &[]).await?;
    map::decode(endpoint, &response.body)
}
