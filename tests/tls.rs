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
    let (_, tls) = self_signed();
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

/// A self-signed certificate for `localhost`, and the server's TLS settings with it.
fn self_signed() -> (rcgen::CertifiedKey<rcgen::KeyPair>, TlsConfig) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let tls = TlsConfig::from_pem(
        certified.cert.pem().as_bytes(),
        certified.signing_key.serialize_pem().as_bytes(),
    )
    .unwrap();
    (certified, tls)
}

#[test]
fn bad_pem_is_a_clear_error() {
    let error = TlsConfig::from_pem(b"not a certificate", b"not a key").unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
}

/// Sends one binary message of `size` bytes, then waits for the client, sending nothing more
/// (the keepalive's first ping is 20 s away).
#[ws_routes::route("/sized/{size}")]
async fn sized(mut ws: ws_routes::WebSocket, size: usize) {
    let _ = ws.send(ws_routes::Bytes::from(vec![b'x'; size])).await;
    let _ = ws.recv().await;
}

/// A message whose last bytes the socket could not take yet still goes out whole: rustls keeps
/// what the socket refused, and only a flush (or a later write) sends it, so the server must
/// flush after writing, not only write. The sockets' buffers are small (the client reads only
/// once the send is under way), so that each message, a TLS record of 16 KiB or more, ends
/// while they are full.
#[tokio::test]
async fn a_message_that_ends_while_the_tls_socket_is_full_arrives_whole() {
    let (certified, tls) = self_signed();
    // Accepted sockets take the listener's send buffer: small, and fixed (not grown by the
    // kernel's autotuning), so that the sockets fill at a size these messages reach.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(4096).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listening = ws_routes::Server::new(ws_routes::routes![sized])
        .tls(tls)
        .listen(socket.listen(64).unwrap())
        .unwrap();
    let addr = listening.local_addr().unwrap();
    tokio::spawn(listening.run());
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).unwrap();
    let config = Arc::new(
        tokio_rustls::rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    for size in (16usize << 10..=128 << 10).step_by(16 << 10) {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let tcp = socket.connect(addr).await.unwrap();
        let name = tokio_rustls::rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(Arc::clone(&config))
            .connect(name, tcp)
            .await
            .unwrap();
        let request = support::raw::upgrade_request(&format!("/sized/{size}"));
        tls.write_all(request.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(within(tls.read_u8()).await.unwrap());
        }
        assert!(head.starts_with(b"HTTP/1.1 101 "), "{size}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut header = [0; 2];
        within(tls.read_exact(&mut header)).await.unwrap();
        let mut length = [0; 8];
        let length = match header {
            [0x82, 126] => {
                within(tls.read_exact(&mut length[6..])).await.unwrap();
                u64::from_be_bytes(length)
            }
            [0x82, 127] => {
                within(tls.read_exact(&mut length)).await.unwrap();
                u64::from_be_bytes(length)
            }
            other => panic!("not a binary frame of {size} bytes: {other:?}"),
        };
        assert_eq!(length, size as u64);
        let mut payload = vec![0; size];
        let read =
            tokio::time::timeout(Duration::from_secs(10), tls.read_exact(&mut payload)).await;
        assert!(
            matches!(read, Ok(Ok(_))),
            "the message of {size} bytes did not arrive whole: {read:?}"
        );
        assert!(payload.iter().all(|&byte| byte == b'x'), "{size}");
    }
}
