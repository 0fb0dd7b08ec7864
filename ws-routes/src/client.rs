//! The client side: connecting to a WebSocket server.

use std::io;
#[cfg(feature = "tls")]
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;

use crate::compression::Compression;
use crate::error::{Error, ProtocolError, UrlError};
use crate::http::{HeaderName, HeaderValue, Uri};
use crate::socket::WebSocket;
use crate::wire::engine::{self, Engine};
use crate::wire::transport::Transport;

/// Connects to a `ws://` (or, with the `tls` feature, `wss://`) URL with the default
/// settings and returns the same [`WebSocket`] type handlers use.
///
/// A server that refuses the handshake gives [`Error::Refused`] with its status, headers
/// and body. See [`Client`] for headers, subprotocols and TLS roots.
///
/// ```
/// # use ws_routes::{route, routes, WebSocket};
/// # #[route("/light/{status}")]
/// # async fn light(mut ws: WebSocket, status: String) {
/// #     while let Some(Ok(_)) = ws.recv().await {
/// #         let _ = ws.send(format!("the light has turned {status}")).await;
/// #     }
/// # }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = ws_routes::Server::new(routes![light]).bind("127.0.0.1:0").await?;
/// # let url = format!("ws://{}/light/on", server.local_addr()?);
/// # tokio::spawn(server.run());
/// // url: "ws://127.0.0.1:8765/light/on", say
/// let mut ws = ws_routes::connect(&url).await?;
/// ws.send("00-12-4b-01").await?;
/// if let Some(Ok(reply)) = ws.recv().await {
///     println!("{}", reply.as_text().unwrap_or_default());
/// #   assert_eq!(reply.as_text(), Some("the light has turned on"));
/// }
/// # Ok(())
/// # }
/// ```
pub async fn connect(url: &str) -> Result<WebSocket, Error> {
    Client::new().connect(url).await
}

/// A WebSocket client with settings: extra handshake headers (`Origin`, `Authorization`, ...),
/// subprotocols to offer, the message size limit and, with the `tls` feature, the roots it
/// trusts for `wss://` (the public web's by default).
///
/// ```
/// # use ws_routes::{route, routes, WebSocket};
/// # #[route("/chat/{room}", protocols = ["chat.v1"])]
/// # async fn chat(_ws: WebSocket, room: String) {}
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = ws_routes::Server::new(routes![chat])
/// #     .allowed_origins(["https://app.example.com"])
/// #     .bind("127.0.0.1:0")
/// #     .await?;
/// # let url = format!("ws://{}/chat/lobby", server.local_addr()?);
/// # tokio::spawn(server.run());
/// use ws_routes::Client;
///
/// let client = Client::new()
///     .header("origin", "https://app.example.com")
///     .protocols(["chat.v2", "chat.v1"]);
/// let ws = client.connect(&url).await?; // url: "ws://127.0.0.1:8765/chat/lobby", say
/// println!("speaking {:?}", ws.protocol());
/// # assert_eq!(ws.protocol(), Some("chat.v1"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    headers: Vec<(HeaderName, HeaderValue)>,
    protocols: Vec<String>,
    max_message_size: usize,
    connect_timeout: Duration,
    compression: Compression,
    #[cfg(feature = "tls")]
    tls: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
}

impl Default for Client {
    fn default() -> Self {
        Client {
            headers: Vec::new(),
            protocols: Vec::new(),
            max_message_size: 1 << 20,
            connect_timeout: Duration::from_secs(10),
            compression: Compression::default(),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

impl Client {
    /// A client with the defaults: no extra headers, no subprotocol, messages up to 1 MiB (as
    /// the server's default: a hostile server cannot make the client allocate more), and 10 s
    /// to connect and finish the opening handshake.
    pub fn new() -> Self {
        Client::default()
    }

    /// Adds a header to the handshake request. A name or value that is not valid HTTP is
    /// left out and logged.
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        match (name.try_into(), value.try_into()) {
            (Ok(name), Ok(value)) => self.headers.push((name, value)),
            _ => tracing::error!("a handshake header is not valid HTTP and was left out"),
        }
        self
    }

    /// The subprotocols to offer, most preferred first; [`WebSocket::protocol`] tells which
    /// one the server chose.
    pub fn protocols<P: Into<String>>(mut self, protocols: impl IntoIterator<Item = P>) -> Self {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// The largest message (and frame) accepted from the server; a larger one fails with
    /// [`Error::MessageTooBig`]. Default: 1 MiB.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Trusts only the certificates in `pem` (one or more PEM certificates) for `wss://`,
    /// instead of the public web's roots: for a private CA or a self-signed server.
    #[cfg(feature = "tls")]
    pub fn tls_roots_pem(mut self, pem: &[u8]) -> std::io::Result<Self> {
        self.tls = Some(crate::tls::client_config(pem)?);
        Ok(self)
    }

    /// permessage-deflate: offered to the server unless [`Compression::disabled()`]; the
    /// server decides whether it is used ([`WebSocket::is_compressed`] says). On by default,
    /// as in browsers and Python's `websockets`, with the settings [`Compression`] documents.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// How long connecting may take, from resolving the host to the end of the opening
    /// handshake (TLS included); past it, [`connect`](Self::connect) fails with an
    /// [`Error::Io`] of kind `TimedOut`. Default: 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Connects to `url` (`ws://` or, with the `tls` feature, `wss://`), within the
    /// [connect timeout](Self::connect_timeout).
    pub async fn connect(&self, url: &str) -> Result<WebSocket, Error> {
        match tokio::time::timeout(self.connect_timeout, self.dial(url)).await {
            Ok(opened) => opened,
            Err(_) => Err(Error::Io(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{url}: no WebSocket within {:?}", self.connect_timeout),
            ))),
        }
    }

    /// Resolves, connects (TLS included) and opens the WebSocket.
    async fn dial(&self, url: &str) -> Result<WebSocket, Error> {
        let (uri, secure) = parse_url(url)?;
        let host = uri.host().ok_or_else(|| UrlError::NoHost {
            url: url.to_owned(),
        })?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        let tcp = TcpStream::connect((host.as_str(), port)).await?;
        tcp.set_nodelay(true)?;
        let transport = if secure {
            self.secure(tcp, &host).await?
        } else {
            Transport::Tcp(tcp)
        };
        self.open(&uri, transport).await
    }

    /// The opening handshake for `uri` over a connected `transport`, with this client's
    /// headers, subprotocols and limits.
    pub(crate) async fn open(&self, uri: &Uri, transport: Transport) -> Result<WebSocket, Error> {
        let mut headers = self.headers.clone();
        if !self.protocols.is_empty() {
            let offered = HeaderValue::try_from(self.protocols.join(", "))
                .map_err(|error| ProtocolError::InvalidSubprotocol(Box::new(error)))?;
            headers.push((HeaderName::from_static("sec-websocket-protocol"), offered));
        }
        let settings = engine::EngineSettings {
            read_buffer: 4 << 10,
            max_message: self.max_message_size,
            max_frame: self.max_message_size,
        };
        let compression = self.compression.config();
        let switched = Engine::client(uri, headers, transport, settings, compression).await?;
        let protocol = switched
            .headers
            .get("sec-websocket-protocol")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        Ok(WebSocket::client(Box::new(switched.engine), protocol))
    }

    #[cfg(feature = "tls")]
    async fn secure(&self, tcp: TcpStream, host: &str) -> Result<Transport, Error> {
        let config = match &self.tls {
            Some(config) => Arc::clone(config),
            None => crate::tls::public_roots(),
        };
        let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.to_owned()).map_err(
            |error| UrlError::InvalidServerName {
                host: host.to_owned(),
                source: Box::new(error),
            },
        )?;
        let stream = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await?;
        Ok(Transport::TlsClient(Box::new(stream)))
    }

    #[cfg(not(feature = "tls"))]
    async fn secure(&self, _tcp: TcpStream, _host: &str) -> Result<Transport, Error> {
        Err(UrlError::TlsNotEnabled.into())
    }
}

/// Parses a `ws://` or `wss://` URL; whether it is secure.
fn parse_url(url: &str) -> Result<(Uri, bool), UrlError> {
    let no_scheme = || UrlError::NoScheme {
        url: url.to_owned(),
    };
    if !url.contains("://") {
        return Err(no_scheme());
    }
    let uri: Uri = url.parse().map_err(|error| UrlError::Invalid {
        url: url.to_owned(),
        source: Box::new(error),
    })?;
    match uri.scheme_str() {
        Some("ws") => Ok((uri, false)),
        Some("wss") => Ok((uri, true)),
        Some(scheme) => Err(UrlError::UnsupportedScheme {
            url: url.to_owned(),
            scheme: scheme.to_owned(),
        }),
        None => Err(no_scheme()),
    }
}
