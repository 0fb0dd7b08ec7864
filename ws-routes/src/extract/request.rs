//! [`Request`]: the handshake request of a routed connection, as hooks and extractors see it.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use super::query::Query;
use super::state::States;
use crate::http::{Extensions, HeaderMap};
use crate::routing::RoutePath;
use crate::server::headers::Headers;

/// The handshake request of a routed connection: the matched path, the headers, the peer's
/// address and the server's shared state.
///
/// A class-style route's `accept` hook receives it before the upgrade.
#[derive(Clone)]
pub struct Request {
    path: RoutePath,
    headers: Headers,
    peer_addr: SocketAddr,
    states: Arc<States>,
    extensions: Extensions,
}

impl Request {
    pub(crate) fn new(
        path: RoutePath,
        headers: Headers,
        peer_addr: SocketAddr,
        states: Arc<States>,
        extensions: Extensions,
    ) -> Self {
        Request {
            path,
            headers,
            peer_addr,
            states,
            extensions,
        }
    }

    /// The matched path, its parameters and the raw query string.
    pub fn path(&self) -> &RoutePath {
        &self.path
    }

    /// The query string, decoded on demand.
    pub fn query(&self) -> Query {
        let query = self.path.query();
        Query::new((!query.is_empty()).then(|| query.to_owned()))
    }

    /// The request headers.
    ///
    /// On the standalone server the handshake reads the headers it checks where the request
    /// head was parsed, and this map is made the first time it is asked for: a handler that
    /// never reads the headers does not pay for one.
    pub fn headers(&self) -> &HeaderMap {
        self.headers.map()
    }

    /// The request headers, looked up without making a `HeaderMap` when none was made.
    pub(crate) fn header_values(&self) -> &Headers {
        &self.headers
    }

    /// The client's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer_addr
    }

    /// The extensions of the HTTP request, where a route table mounted in an HTTP server
    /// (feature `tower`) finds what the server's middleware put there, such as the user an
    /// authentication layer found. Empty on the standalone server and the
    /// [`TestServer`](crate::test::TestServer).
    ///
    /// ```
    /// use ws_routes::http::StatusCode;
    /// use ws_routes::{route, Reject, Request, Session};
    ///
    /// /// Put in the request's extensions by the app's authentication middleware.
    /// #[derive(Clone)]
    /// struct User(String);
    ///
    /// struct Chat {
    ///     user: String,
    /// }
    ///
    /// #[route("/chat")]
    /// impl Chat {
    ///     async fn accept(request: &Request) -> Result<Self, Reject> {
    ///         match request.extensions().get::<User>() {
    ///             Some(User(user)) => Ok(Chat { user: user.clone() }),
    ///             None => Err(Reject::new(StatusCode::UNAUTHORIZED)),
    ///         }
    ///     }
    ///
    ///     async fn on_text(&mut self, session: &mut Session, text: String) {
    ///         let _ = session.send(format!("{}: {text}", self.user)).await;
    ///     }
    /// }
    /// ```
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// The handshake request as an HTTP request's head, for extractors written for HTTP
    /// servers: `GET`, the path and query, HTTP/1.1, the headers and the extensions.
    #[cfg(feature = "axum")]
    pub(crate) fn http_parts(&self) -> http::request::Parts {
        let target = match self.path.query() {
            "" => self.path.path().to_owned(),
            query => format!("{}?{query}", self.path.path()),
        };
        let (mut parts, ()) = http::Request::new(()).into_parts();
        // From a request that parsed: it parses again (should it not, the extractor sees `/`).
        parts.uri = target.parse().unwrap_or_default();
        parts.headers = self.headers().clone();
        parts.extensions = self.extensions.clone();
        parts
    }

    /// The state of type `T` given to [`Server::with_state`](crate::Server::with_state).
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.states.get::<T>()
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("path", &self.path)
            .field("headers", &RedactedHeaders(self.headers()))
            .field("peer_addr", &self.peer_addr)
            .finish_non_exhaustive()
    }
}

/// Headers in `Debug` output, with the values of those that carry credentials hidden.
struct RedactedHeaders<'a>(&'a HeaderMap);

impl fmt::Debug for RedactedHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SECRET: [&str; 5] = [
            "authorization",
            "cookie",
            "proxy-authorization",
            "sec-websocket-key",
            "x-api-key",
        ];
        let mut map = f.debug_map();
        for (name, value) in self.0 {
            if SECRET.contains(&name.as_str()) {
                map.entry(&name.as_str(), &"<redacted>");
            } else {
                map.entry(&name.as_str(), value);
            }
        }
        map.finish()
    }
}
