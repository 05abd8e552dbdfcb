//! A test certificate authority made at test time (nothing committed), and
//! TLS clients that trust it: for HTTPS, WSS and SIP over TLS.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate chain and key written as PEM files, and the leaf.
pub struct Issued {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub leaf: CertificateDer<'static>,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        TestCa { issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap() }
    }

    /// A leaf for localhost and 127.0.0.1, written into `dir` as `<stem>.pem`
    /// and `<stem>.key` (over whatever was there).
    pub fn issue(&self, dir: &Path, stem: &str) -> Issued {
        let params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let (cert_path, key_path) = (dir.join(format!("{stem}.pem")), dir.join(format!("{stem}.key")));
        // Written beside and renamed into place, as a deployment tool would.
        let tmp = dir.join(format!("{stem}.tmp"));
        std::fs::write(&tmp, format!("{}{}", cert.pem(), self.issuer.pem())).unwrap();
        std::fs::rename(&tmp, &cert_path).unwrap();
        std::fs::write(&tmp, key.serialize_pem()).unwrap();
        std::fs::rename(&tmp, &key_path).unwrap();
        Issued { cert: cert_path, key: key_path, leaf: cert.der().clone() }
    }

    /// A client that trusts this authority only.
    pub fn connector(&self) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.issuer.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        TlsConnector::from(Arc::new(config))
    }

    /// A TLS connection to `addr`, checked against this authority as `localhost`.
    pub async fn connect(&self, addr: SocketAddr) -> std::io::Result<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(addr).await?;
        self.connector().connect(ServerName::try_from("localhost").unwrap(), tcp).await
    }
}

/// The certificate the server presented on a connection.
pub fn presented(stream: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    stream.get_ref().1.peer_certificates().unwrap()[0].clone().into_owned()
}

/// One HTTP/1.1 request over TLS; the status and the body.
pub async fn https(ca: &TestCa, addr: SocketAddr, request: &str) -> (u16, String, CertificateDer<'static>) {
    let mut stream = ca.connect(addr).await.unwrap();
    let leaf = presented(&stream);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body, leaf)
}
