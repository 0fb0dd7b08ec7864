//! TLS for `wss://`: the server's certificate and key, and the roots a client trusts.

use std::io;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, RootCertStore};

/// A server's TLS settings: its certificate chain and private key.
///
/// ```no_run
/// # // Not run: it reads cert.pem and key.pem and serves port 443 (tests/hardening.rs serves
/// # // a generated certificate on a free port).
/// # async fn run(routes: ws_routes::Routes) -> std::io::Result<()> {
/// use ws_routes::{Server, TlsConfig};
///
/// let tls = TlsConfig::from_pem_files("cert.pem", "key.pem")?;
/// Server::new(routes).tls(tls).bind("0.0.0.0:443").await?.run().await
/// # }
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    pub(crate) acceptor: TlsAcceptor,
}

impl TlsConfig {
    /// Reads a PEM certificate chain (leaf first) and a PEM private key (PKCS#8, PKCS#1 or
    /// SEC1) from files.
    pub fn from_pem_files(
        cert_chain: impl AsRef<Path>,
        private_key: impl AsRef<Path>,
    ) -> io::Result<Self> {
        let chain = std::fs::read(cert_chain)?;
        let key = std::fs::read(private_key)?;
        Self::from_pem(&chain, &key)
    }

    /// Parses a PEM certificate chain (leaf first) and a PEM private key.
    pub fn from_pem(cert_chain: &[u8], private_key: &[u8]) -> io::Result<Self> {
        let chain = CertificateDer::pem_slice_iter(cert_chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid("certificate chain"))?;
        if chain.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "no certificate in the PEM chain",
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(private_key).map_err(invalid("private key"))?;
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(invalid("certificate and key"))?;
        config.alpn_protocols = vec![HTTP_1_1.to_vec()];
        Ok(Self::from_rustls(Arc::new(config)))
    }

    /// Uses a rustls server configuration as it is (for client certificates, other ALPN
    /// protocols, ...). The PEM constructors advertise ALPN `http/1.1`; set
    /// `alpn_protocols` on this one yourself.
    pub fn from_rustls(config: Arc<rustls::ServerConfig>) -> Self {
        TlsConfig {
            acceptor: TlsAcceptor::from(config),
        }
    }
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig").finish_non_exhaustive()
    }
}

/// The certificates a [`Client`](crate::Client) trusts for `wss://`, parsed from PEM.
pub(crate) fn client_config(roots_pem: &[u8]) -> io::Result<Arc<rustls::ClientConfig>> {
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(roots_pem) {
        roots
            .add(certificate.map_err(invalid("root certificate"))?)
            .map_err(invalid("root certificate"))?;
    }
    Ok(client_config_with(roots))
}

/// Trusts the public web's certificate authorities (Mozilla's list, from `webpki-roots`);
/// built once, on the first `wss://` connection that needs it.
pub(crate) fn public_roots() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        client_config_with(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        })
    });
    Arc::clone(config)
}

fn invalid<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> io::Error {
    move |error| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("invalid {what}: {error}"),
        )
    }
}

/// The ALPN name of HTTP/1.1, the protocol a WebSocket handshake speaks (RFC 7301).
const HTTP_1_1: &[u8] = b"http/1.1";

/// A client configuration that trusts `roots` and offers HTTP/1.1 through ALPN, so that a
/// server or proxy choosing by ALPN does not pick HTTP/2.
fn client_config_with(roots: RootCertStore) -> Arc<rustls::ClientConfig> {
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![HTTP_1_1.to_vec()];
    Arc::new(config)
}
