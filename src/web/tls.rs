//! `tls_server_config` → a rustls `ServerConfig`.
//!
//! rustls (already linked for the vendor clients, through reqwest) does the
//! TLS; this module maps exporter-toolkit's Go-flavoured settings onto it and
//! rejects what rustls cannot do: TLS 1.0/1.1, and cipher suites other than the
//! ECDHE AEAD ones (no CBC, no RSA key exchange, no 3DES). As in Go, the TLS
//! 1.3 suites are always on and `cipher_suites` narrows only TLS 1.2.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{NoClientAuth, WebPkiClientVerifier};
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
    SupportedCipherSuite, SupportedProtocolVersion,
};

use super::Problem;
use super::raw::RawTls;

/// exporter-toolkit's `client_auth_type` values, Go's `tls.ClientAuthType`.
const CLIENT_AUTH_TYPES: [&str; 5] = [
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
];

/// Builds the server config, or `None` when the section names no certificate
/// (exporter-toolkit then serves plain HTTP). Every file read is added to
/// `watched`, so a rotated certificate is picked up.
pub(super) fn server_config(
    raw: &RawTls,
    base: &Path,
    watched: &mut Vec<PathBuf>,
) -> Result<Option<Arc<ServerConfig>>, Problem> {
    const K: &str = "tls_server_config";
    let (cert_file, key_file) = match (&raw.cert_file, &raw.key_file) {
        (None, None) => {
            if raw.client_ca_file.is_some() || raw.client_auth_type.is_some() {
                return Err(Problem::new(
                    format!("{K}.cert_file"),
                    "client authentication needs cert_file and key_file",
                ));
            }
            return Ok(None);
        }
        (Some(_), None) => return Err(Problem::new(format!("{K}.key_file"), "missing key_file")),
        (None, Some(_)) => {
            return Err(Problem::new(format!("{K}.cert_file"), "missing cert_file"));
        }
        (Some(c), Some(k)) => (base.join(c), base.join(k)),
    };
    watched.extend([cert_file.clone(), key_file.clone()]);
    let certs = CertificateDer::pem_file_iter(&cert_file)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| Problem::new(format!("{K}.cert_file"), pem_error(&cert_file, e)))?;
    if certs.is_empty() {
        return Err(Problem::new(
            format!("{K}.cert_file"),
            format!("{}: no PEM certificate in the file", cert_file.display()),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&key_file)
        .map_err(|e| Problem::new(format!("{K}.key_file"), pem_error(&key_file, e)))?;

    let min = version(raw.min_version.as_deref(), "TLS12", "min_version")?;
    let max = version(raw.max_version.as_deref(), "TLS13", "max_version")?;
    if min > max {
        return Err(Problem::new(
            format!("{K}.min_version"),
            "min_version is above max_version",
        ));
    }
    let versions: Vec<&'static SupportedProtocolVersion> =
        [(12, &rustls::version::TLS12), (13, &rustls::version::TLS13)]
            .into_iter()
            .filter(|(v, _)| (min..=max).contains(v))
            .map(|(_, v)| v)
            .collect();

    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    if let Some(names) = &raw.cipher_suites {
        narrow_cipher_suites(&mut provider, names)?;
        if min == 12 && max == 12 && provider.cipher_suites.iter().all(|s| s.tls13().is_some()) {
            return Err(Problem::new(
                format!("{K}.cipher_suites"),
                "no TLS 1.2 cipher suite left",
            ));
        }
    }
    let provider = Arc::new(provider);
    let verifier = client_verifier(raw, base, watched, &provider)?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| Problem::new(format!("{K}.min_version"), e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| Problem::new(format!("{K}.key_file"), e.to_string()))?;
    config.ignore_client_order = raw.prefer_server_cipher_suites.unwrap_or(false);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(Arc::new(config)))
}

fn pem_error(path: &Path, e: rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => format!("{}: {io}", path.display()),
        rustls::pki_types::pem::Error::NoItemsFound => {
            format!("{}: no PEM private key in the file", path.display())
        }
        other => format!("{}: {other}", path.display()),
    }
}

/// `TLS12` → 12. rustls speaks only TLS 1.2 and 1.3.
fn version(text: Option<&str>, default: &str, key: &str) -> Result<u8, Problem> {
    match text.unwrap_or(default) {
        "TLS12" => Ok(12),
        "TLS13" => Ok(13),
        "TLS10" | "TLS11" => Err(Problem::new(
            format!("tls_server_config.{key}"),
            "TLS 1.0 and 1.1 are not supported (rustls speaks TLS12 and TLS13)",
        )),
        other => Err(Problem::new(
            format!("tls_server_config.{key}"),
            format!("unknown TLS version {other:?} (expected TLS12 or TLS13)"),
        )),
    }
}

/// Keeps the named TLS 1.2 suites (Go or IANA names) and every TLS 1.3 one.
fn narrow_cipher_suites(provider: &mut CryptoProvider, names: &[String]) -> Result<(), Problem> {
    let name_of = |s: &SupportedCipherSuite| format!("{:?}", s.suite());
    let mut keep = Vec::new();
    for (i, name) in names.iter().enumerate() {
        // Go also knows the ChaCha20 suites without the `_SHA256` suffix.
        let iana = if name.ends_with("_POLY1305") {
            format!("{name}_SHA256")
        } else {
            name.clone()
        };
        match provider.cipher_suites.iter().find(|s| name_of(s) == iana) {
            Some(s) => keep.push(name_of(s)),
            None => {
                let supported: Vec<String> = provider
                    .cipher_suites
                    .iter()
                    .filter(|s| s.tls13().is_none())
                    .map(name_of)
                    .collect();
                return Err(Problem::new(
                    format!("tls_server_config.cipher_suites[{i}]"),
                    format!(
                        "{name} is not supported by rustls (supported: {})",
                        supported.join(", ")
                    ),
                ));
            }
        }
    }
    provider
        .cipher_suites
        .retain(|s| s.tls13().is_some() || keep.contains(&name_of(s)));
    Ok(())
}

fn client_verifier(
    raw: &RawTls,
    base: &Path,
    watched: &mut Vec<PathBuf>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, Problem> {
    const K: &str = "tls_server_config";
    let auth = raw.client_auth_type.as_deref().unwrap_or("NoClientCert");
    if !CLIENT_AUTH_TYPES.contains(&auth) {
        return Err(Problem::new(
            format!("{K}.client_auth_type"),
            format!(
                "unknown client_auth_type {auth:?} (expected one of {})",
                CLIENT_AUTH_TYPES.join(", ")
            ),
        ));
    }
    let roots = match &raw.client_ca_file {
        Some(file) => {
            let path = base.join(file);
            watched.push(path.clone());
            let mut roots = RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(&path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| Problem::new(format!("{K}.client_ca_file"), pem_error(&path, e)))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(Problem::new(
                    format!("{K}.client_ca_file"),
                    format!("{}: no usable CA certificate in the file", path.display()),
                ));
            }
            Some(Arc::new(roots))
        }
        None => None,
    };
    let verified = |roots: Option<Arc<RootCertStore>>, optional: bool| {
        let Some(roots) = roots else {
            return Err(Problem::new(
                format!("{K}.client_ca_file"),
                format!("client_ca_file is required with client_auth_type {auth}"),
            ));
        };
        let builder = WebPkiClientVerifier::builder_with_provider(roots, provider.clone());
        let builder = if optional {
            builder.allow_unauthenticated()
        } else {
            builder
        };
        builder
            .build()
            .map_err(|e| Problem::new(format!("{K}.client_ca_file"), e.to_string()))
    };
    match auth {
        "RequireAndVerifyClientCert" => verified(roots, false),
        "VerifyClientCertIfGiven" => verified(roots, true),
        _ if roots.is_some() => Err(Problem::new(
            format!("{K}.client_ca_file"),
            format!(
                "client_ca_file is set but client_auth_type {auth} never checks a certificate against it"
            ),
        )),
        "RequireAnyClientCert" | "RequestClientCert" => Ok(Arc::new(AnyClientCert {
            mandatory: auth == "RequireAnyClientCert",
            algorithms: provider.signature_verification_algorithms,
        })),
        _ => Ok(Arc::new(NoClientAuth)),
    }
}

/// Go's `RequireAnyClientCert` / `RequestClientCert`: a client certificate is
/// asked for (and required by the first), its handshake signature is checked,
/// but it is not chained to any CA.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
