//! The web configuration file as written: the Prometheus exporter-toolkit
//! format, with unknown keys rejected so a typo never silently turns TLS or
//! authentication off.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebConfig {
    #[serde(default)]
    pub tls_server_config: Option<RawTls>,
    #[serde(default)]
    pub http_server_config: Option<RawHttp>,
    /// User name → bcrypt hash.
    #[serde(default)]
    pub basic_auth_users: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    #[serde(default)]
    pub cert_file: Option<String>,
    #[serde(default)]
    pub key_file: Option<String>,
    #[serde(default)]
    pub client_auth_type: Option<String>,
    #[serde(default)]
    pub client_ca_file: Option<String>,
    #[serde(default)]
    pub min_version: Option<String>,
    #[serde(default)]
    pub max_version: Option<String>,
    #[serde(default)]
    pub cipher_suites: Option<Vec<String>>,
    /// rustls always picks by the server's order when this is true.
    #[serde(default)]
    pub prefer_server_cipher_suites: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    /// Accepted for compatibility with exporter-toolkit files; the exporter
    /// serves HTTP/1.1 only, so `true` (the toolkit default) changes nothing.
    #[serde(default)]
    #[allow(dead_code)]
    pub http2: Option<bool>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}
