//! TLS over real sockets: `wss://` with certificates from PEM files, the handshake timeout
//! over the TLS handshake, and a clear error for bad PEM.

mod support;

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use ws_routes::error::ProtocolError;
use ws_routes::{Client, Error, TlsConfig};

use support::hardening::{server, start};
use support::{ask, wait_for, within};

#[tokio::test]
async fn wss_with_a_certificate_from_pem_files() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (certified.cert.pem(), certified.signing_key.serialize_pem());
    let dir = std::env::temp_dir().join(format!("ws-routes-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), &cert).unwrap();
    std::fs::write(dir.join("key.pem"), &key).unwrap();
    let tls = TlsConfig::from_pem_files(dir.join("cert.pem"), dir.join("key.pem")).unwrap();
    let (addr, _, _) = start(server().tls(tls)).await;

    let client = Client::new().tls_roots_pem(cert.as_bytes()).unwrap();
    let mut ws = client
        .connect(&format!("wss://localhost:{}/echo", addr.port()))
        .await
        .unwrap();
    assert_eq!(ask(&mut ws, "over TLS").await, "over TLS");

    // A client that does not trust the certificate refuses it: rustls's verdict comes as an
    // I/O error of kind InvalidData.
    let untrusting = within(ws_routes::connect(&format!(
        "wss://localhost:{}/echo",
        addr.port()
    )))
    .await;
    match untrusting {
        Err(Error::Io(error)) => {
            assert_eq!(error.kind(), std::io::ErrorKind::InvalidData, "{error}");
            assert!(error.to_string().contains("certificate"), "{error}");
        }
        other => panic!("expected an untrusted certificate, got {other:?}"),
    }
    // Plain ws:// to a TLS port: rustls takes the HTTP request for a malformed ClientHello,
    // answers with a TLS alert and closes. The client reads the alert as an HTTP response and
    // fails to parse it; should the server's reset overtake the alert, the read fails instead.
    let plain = within(ws_routes::connect(&format!("ws://{addr}/echo"))).await;
    match plain {
        Err(Error::Protocol(ProtocolError::UnreadableResponse(error))) => {
            assert!(
                error.to_string().contains("invalid HTTP version"),
                "{error}"
            );
        }
        Err(Error::Io(error)) => {
            assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset, "{error}");
        }
        other => panic!("expected an unreadable answer, got {other:?}"),
    }
    let mut ws = client
        .connect(&format!("wss://localhost:{}/echo", addr.port()))
        .await
        .unwrap();
    assert_eq!(ask(&mut ws, "still serving").await, "still serving");

    // ALPN: offered h2 and http/1.1, the server picks the one a WebSocket handshake speaks.
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).unwrap();
    let mut config = tokio_rustls::rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn the_handshake_timeout_covers_the_tls_handshake() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let tls = TlsConfig::from_pem(
        certified.cert.pem().as_bytes(),
        certified.signing_key.serialize_pem().as_bytes(),
    )
    .unwrap();
    let timeout = Duration::from_secs(1);
    let (addr, handle, _) = start(server().tls(tls).handshake_timeout(timeout)).await;
    let started = tokio::time::Instant::now();
    // One client opens TCP and says nothing; another sends half a ClientHello: a record
    // header announcing 512 bytes, then 16 of them.
    let silent = TcpStream::connect(addr).await.unwrap();
    let mut halfway = TcpStream::connect(addr).await.unwrap();
    let mut hello = vec![0x16, 0x03, 0x01, 0x02, 0x00];
    hello.extend([0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]);
    hello.extend([0u8; 10]);
    halfway.write_all(&hello).await.unwrap();
    for mut tcp in [silent, halfway] {
        let mut rest = Vec::new();
        // Dropped: the read ends, with an end of file or a reset.
        let _ = within(tcp.read_to_end(&mut rest)).await;
        assert!(rest.is_empty(), "no answer to an unfinished handshake");
    }
    assert!(
        started.elapsed() >= timeout,
        "dropped before the handshake timeout"
    );
    wait_for(|| handle.connections() == 0).await;
}

#[test]
fn bad_pem_is_a_clear_error() {
    let error = TlsConfig::from_pem(b"not a certificate", b"not a key").unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
}
