//! Plain HTTP on the WebSocket port: what the server answers a request that is not a
//! WebSocket handshake, so that one port serves a page and the WebSockets it opens.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};

use super::handshake::{RequestHead, http_response, write_and_close};
use crate::extract::PLAIN_TEXT;
use crate::http::header::{self, HeaderValue};
use crate::http::{Method, Request, Response, StatusCode};

/// Answers the plain HTTP requests (those that do not ask for a WebSocket upgrade) that reach
/// a [`Server`](crate::Server) given it with [`Server::fallback`](crate::Server::fallback).
/// Without one, such a request gets `426 Upgrade Required`.
///
/// Implemented by [`Pages`] and by any
/// `Fn(&http::Request<()>) -> http::Response<Bytes>`. The server adds `content-length` and
/// `connection: close` (one request per connection), and leaves the body out for `HEAD`.
///
/// ```
/// use ws_routes::http::{Request, Response, StatusCode};
/// use ws_routes::{Bytes, Server, WebSocket, route, routes};
///
/// #[route("/ws")]
/// async fn ws(_ws: WebSocket) {}
///
/// # async fn get(addr: std::net::SocketAddr, path: &str) -> std::io::Result<String> {
/// #     use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// #     let mut tcp = tokio::net::TcpStream::connect(addr).await?;
/// #     tcp.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).await?;
/// #     let mut answer = String::new();
/// #     tcp.read_to_string(&mut answer).await?;
/// #     Ok(answer)
/// # }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = Server::new(routes![ws]).fallback(|request: &Request<()>| {
///     let body = format!("no page at {}\n", request.uri().path());
///     Response::builder()
///         .status(StatusCode::NOT_FOUND)
///         .body(Bytes::from(body))
///         .unwrap()
/// });
/// # let server = server.bind("127.0.0.1:0").await?;
/// # let addr = server.local_addr()?;
/// # tokio::spawn(server.run());
/// # let answer = get(addr, "/about").await?;
/// # assert!(answer.starts_with("HTTP/1.1 404 "), "{answer}");
/// # assert!(answer.ends_with("no page at /about\n"), "{answer}");
/// # Ok(())
/// # }
/// ```
pub trait Fallback: Send + Sync + 'static {
    /// The response to `request`, whose body is empty (it is not read).
    fn respond(&self, request: &Request<()>) -> Response<Bytes>;
}

impl<F> Fallback for F
where
    F: Fn(&Request<()>) -> Response<Bytes> + Send + Sync + 'static,
{
    fn respond(&self, request: &Request<()>) -> Response<Bytes> {
        self(request)
    }
}

/// Fixed pages by path, such as an embedded `index.html` at `/`: the simplest
/// [`Fallback`]. `GET` and `HEAD` of a listed path get the page; other paths get 404 and
/// other methods 405. The query string is ignored.
///
/// ```
/// use ws_routes::{route, routes, Server, WebSocket};
/// use ws_routes::server::Pages;
///
/// #[route("/ws")]
/// async fn ws(mut ws: WebSocket) {
///     let _ = ws.send("hello from the same port as the page").await;
/// }
///
/// const INDEX: &str = "<!doctype html><script>new WebSocket(`ws://${location.host}/ws`)</script>";
///
/// # async fn get(addr: std::net::SocketAddr, path: &str) -> std::io::Result<String> {
/// #     use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// #     let mut tcp = tokio::net::TcpStream::connect(addr).await?;
/// #     tcp.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).await?;
/// #     let mut answer = String::new();
/// #     tcp.read_to_string(&mut answer).await?;
/// #     Ok(answer)
/// # }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = Server::new(routes![ws])
///     .fallback(Pages::new().page("/", "text/html; charset=utf-8", INDEX))
///     .bind("127.0.0.1:0") // or a fixed port, such as 127.0.0.1:8765
///     .await?;
/// let addr = server.local_addr()?;
/// tokio::spawn(server.run());
/// // http://ADDR/ is the page, ws://ADDR/ws its WebSocket.
/// # let page = get(addr, "/").await?;
/// # assert!(page.starts_with("HTTP/1.1 200 ") && page.ends_with(INDEX), "{page}");
/// # let mut socket = ws_routes::connect(&format!("ws://{addr}/ws")).await?;
/// # let hello = socket.recv().await.unwrap()?;
/// # assert_eq!(hello.as_text(), Some("hello from the same port as the page"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Pages {
    pages: HashMap<String, (HeaderValue, Bytes)>,
}

impl Pages {
    /// No pages yet: every path gets 404.
    pub fn new() -> Self {
        Pages::default()
    }

    /// Serves `body` at `path` (such as `/` or `/app.js`) with `content_type`.
    pub fn page(
        mut self,
        path: impl Into<String>,
        content_type: &'static str,
        body: impl Into<Bytes>,
    ) -> Self {
        self.pages.insert(
            path.into(),
            (HeaderValue::from_static(content_type), body.into()),
        );
        self
    }
}

impl Fallback for Pages {
    fn respond(&self, request: &Request<()>) -> Response<Bytes> {
        let text = |status: StatusCode, body: &'static str| {
            let mut response = Response::new(Bytes::from_static(body.as_bytes()));
            *response.status_mut() = status;
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(PLAIN_TEXT));
            response
        };
        if request.method() != Method::GET && request.method() != Method::HEAD {
            let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        match self.pages.get(request.uri().path()) {
            Some((content_type, body)) => {
                let mut response = Response::new(body.clone());
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, content_type.clone());
                response
            }
            None => text(StatusCode::NOT_FOUND, "not found\n"),
        }
    }
}

/// The server's fallback, shared by its connections.
#[derive(Clone)]
pub(crate) struct SharedFallback(Arc<dyn Fallback>);

impl SharedFallback {
    pub(crate) fn new(fallback: impl Fallback) -> Self {
        SharedFallback(Arc::new(fallback))
    }

    /// Answers the request `head` with the fallback's response and closes.
    pub(crate) async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
        head: RequestHead,
    ) -> io::Result<()> {
        let send_body = head.method != Method::HEAD;
        let mut request = Request::new(());
        *request.method_mut() = head.method;
        *request.uri_mut() = head.uri;
        *request.headers_mut() = head.headers.into_map();
        let response = self.0.respond(&request);
        write_and_close(stream, &http_response(&response, send_body)).await
    }
}

impl fmt::Debug for SharedFallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fallback")
    }
}
