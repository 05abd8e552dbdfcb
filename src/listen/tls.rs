//! TLS for the HTTP listener (HTTPS, WSS) and the SIP connector (`sips:`),
//! with one certificate chain and key from PEM files, on rustls with the
//! `ring` provider (the one already in the tree through sqlx: two
//! providers in one binary make rustls refuse to choose at run time).
//!
//! Certificates are replaced on disk without a restart: [`Tls::watch`]
//! looks at the files every two seconds and, when they changed and the new
//! pair loads, new handshakes use it; open connections keep theirs. A pair
//! that does not load (a half-written file, a key that does not match) is
//! logged and the old one stays.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, ServerConfig, SignatureScheme};
use serde::{Deserialize, Serialize};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_util::sync::CancellationToken;

/// `[server.tls]`: PEM files; both empty means plain HTTP and no SIP TLS.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// Its private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl TlsConfig {
    pub fn enabled(&self) -> bool {
        !self.cert.as_os_str().is_empty()
    }
}

/// How often the files are looked at.
const WATCH_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("server.tls.cert {path}: {problem}")]
    Cert { path: PathBuf, problem: String },
    #[error("server.tls.key {path}: {problem}")]
    Key { path: PathBuf, problem: String },
    #[error("server.tls: {0}")]
    Pair(String),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Loads and checks a chain and its key.
pub fn load(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let cert_err = |problem: String| TlsError::Cert { path: cert.to_owned(), problem };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| cert_err(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| cert_err(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_err("no CERTIFICATE in the file".into()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| TlsError::Key { path: key.to_owned(), problem: e.to_string() })?;
    let certified = CertifiedKey::from_der(chain, key_der, &provider()).map_err(|e| TlsError::Pair(e.to_string()))?;
    Ok(Arc::new(certified))
}

/// What identifies the files' current contents.
fn stamp(paths: [&Path; 2]) -> Option<[(SystemTime, u64); 2]> {
    let one = |p: &Path| std::fs::metadata(p).ok().and_then(|m| Some((m.modified().ok()?, m.len())));
    Some([one(paths[0])?, one(paths[1])?])
}

#[derive(Debug)]
struct Reloading {
    current: RwLock<Arc<CertifiedKey>>,
    cert: PathBuf,
    key: PathBuf,
    seen: Mutex<Option<[(SystemTime, u64); 2]>>,
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().expect("certificate lock").clone())
    }
}

/// The server's certificate, its TLS configurations, and its watcher.
#[derive(Clone)]
pub struct Tls {
    reloading: Arc<Reloading>,
    http: Arc<ServerConfig>,
    sip: Arc<ServerConfig>,
}

impl Tls {
    pub fn load(config: &TlsConfig) -> Result<Tls, TlsError> {
        let seen = stamp([&config.cert, &config.key]);
        let reloading = Arc::new(Reloading {
            current: RwLock::new(load(&config.cert, &config.key)?),
            cert: config.cert.clone(),
            key: config.key.clone(),
            seen: Mutex::new(seen),
        });
        let build = |alpn: Vec<Vec<u8>>| -> Result<Arc<ServerConfig>, TlsError> {
            let mut c = ServerConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .map_err(|e| TlsError::Pair(e.to_string()))?
                .with_no_client_auth()
                .with_cert_resolver(reloading.clone());
            c.alpn_protocols = alpn;
            Ok(Arc::new(c))
        };
        Ok(Tls { http: build(vec![b"http/1.1".to_vec()])?, sip: build(vec![])?, reloading })
    }

    pub fn http_acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.http.clone())
    }

    pub fn sip_acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.sip.clone())
    }

    /// Loads the files again if they changed; true when a new pair is in use.
    pub fn reload_if_changed(&self) -> bool {
        let r = &self.reloading;
        let now = stamp([&r.cert, &r.key]);
        let mut seen = r.seen.lock().expect("stamp lock");
        if now.is_none() || now == *seen {
            return false;
        }
        match load(&r.cert, &r.key) {
            Ok(pair) => {
                *r.current.write().expect("certificate lock") = pair;
                *seen = now;
                tracing::info!(cert = %r.cert.display(), "TLS certificate reloaded; new connections use it");
                true
            }
            Err(e) => {
                // Not marked seen: a file still being written is tried again.
                tracing::warn!(error = %e, "TLS certificate changed on disk but does not load; the old one stays");
                false
            }
        }
    }

    /// Looks at the files every two seconds until `stop`.
    pub async fn watch(self, stop: CancellationToken) {
        let mut tick = tokio::time::interval(WATCH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => { self.reload_if_changed(); }
            }
        }
    }

    /// A client that trusts exactly the certificate this node serves: for
    /// a relay passing its clients to the leading node, which (sharing the
    /// deployment's certificate) serves the same one whatever name or
    /// address it is reached by.
    pub fn pinned_connector(&self) -> TlsConnector {
        let verifier = Arc::new(Pinned { reloading: self.reloading.clone(), provider: provider() });
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports the default versions")
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        TlsConnector::from(Arc::new(config))
    }
}

/// Accepts a server whose leaf certificate is the one this node serves,
/// with a valid handshake signature made by its key.
#[derive(Debug)]
struct Pinned {
    reloading: Arc<Reloading>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ours = self.reloading.current.read().expect("certificate lock").cert[0].clone();
        if ours.as_ref() == end_entity.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("the leading node's certificate is not this deployment's".into()))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
