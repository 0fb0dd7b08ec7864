//! What a request matched: the path and its parameters.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use percent_encoding::percent_decode_str;

use super::route::{Route, Segment};
use crate::http::Uri;
use crate::http::uri::PathAndQuery;

/// The matched request: the route, the raw path and the query string.
///
/// This is the Rust form of websockets-routes' `path` argument: take it as a handler argument
/// to read every parameter by name, the raw path, or the pattern that matched.
///
/// ```
/// use ws_routes::{route, WebSocket};
/// use ws_routes::extract::RoutePath;
///
/// #[route("/light/{status}")]
/// async fn light(mut ws: WebSocket, path: RoutePath) {
///     // For `ws://host/light/on?x=1`: "/light/on", Some("on"), "x=1".
///     let status = path.param("status").unwrap_or_default();
///     let _ = ws.send(format!("{} is {status} ({})", path.path(), path.query())).await;
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = ws_routes::Server::new(ws_routes::routes![light]).bind("127.0.0.1:0").await?;
/// # let addr = server.local_addr()?;
/// # tokio::spawn(server.run());
/// # let mut ws = ws_routes::connect(&format!("ws://{addr}/light/on?x=1")).await?;
/// # assert_eq!(ws.recv().await.unwrap()?.as_text(), Some("/light/on is on (x=1)"));
/// # Ok(())
/// # }
/// ```
pub struct RoutePath {
    route: &'static Route,
    /// The request target's path and query. The request's own shares the bytes of the
    /// request head; a clone has a copy of its own.
    target: PathAndQuery,
}

/// A clone copies the path and query: a handler that keeps it keeps those few bytes, not the
/// whole request head (every header) that the request's own shares.
impl Clone for RoutePath {
    fn clone(&self) -> Self {
        let copy = Bytes::copy_from_slice(self.target.as_str().as_bytes());
        let target = PathAndQuery::from_maybe_shared(copy).unwrap_or_else(|_| self.target.clone());
        RoutePath {
            route: self.route,
            target,
        }
    }
}

impl RoutePath {
    /// What `uri`, whose path matched `route`, routed to.
    pub(crate) fn new(route: &'static Route, uri: &Uri) -> Self {
        // Only a target with neither scheme nor path (`host:port`) has none, and its empty
        // path matches no route.
        let target = uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        RoutePath { route, target }
    }

    /// The match of `route` for the target `path` and `query`, as a request would carry them:
    /// `None` when they are not a request target's (a character a URI cannot hold, a `#`).
    pub(crate) fn from_parts(
        route: &'static Route,
        path: &str,
        query: Option<&str>,
    ) -> Option<Self> {
        let target = match query {
            Some(query) => PathAndQuery::try_from(format!("{path}?{query}")),
            None => PathAndQuery::try_from(path),
        }
        .ok()?;
        (target.path() == path && target.query() == query).then_some(RoutePath { route, target })
    }

    /// The path as the client sent it, still percent-encoded, without the query string.
    pub fn path(&self) -> &str {
        self.target.path()
    }

    /// The query string (after `?`, still encoded), or `""` when there is none.
    pub fn query(&self) -> &str {
        self.target.query().unwrap_or("")
    }

    /// The pattern that matched, as written in `#[route]`.
    pub fn pattern(&self) -> &'static str {
        self.route.parts.pattern
    }

    /// A parameter by name, percent-decoded. `None` when the pattern has no such parameter, or
    /// its decoded value is not valid UTF-8 or holds a control character.
    ///
    /// A decoded value may hold `/` (from `%2F`) and any other printable character; control
    /// characters (NUL, newlines, escape, ...) are refused, since parameters end up in logs,
    /// file names and queries where they do harm. The raw [`path`](Self::path) still has them
    /// encoded for a handler that wants them.
    pub fn param(&self, name: &str) -> Option<Cow<'_, str>> {
        let index = self
            .route
            .parts
            .segments
            .iter()
            .position(|segment| segment.param_name() == Some(name))?;
        decode(self.raw_param(index))
    }

    /// Every parameter in pattern order, by name, with its value as [`param`](Self::param)
    /// gives it: percent-decoded. A parameter whose decoded value is not valid UTF-8 or holds
    /// a control character is left out, as `param` gives `None` for it.
    ///
    /// ```
    /// # use ws_routes::{route, routes, WebSocket, test::TestServer, Server};
    /// use ws_routes::extract::RoutePath;
    /// #[route("/files/{owner}/{*rest}")]
    /// async fn files(mut ws: WebSocket, path: RoutePath) {
    ///     let params: Vec<String> = path.params().map(|(name, value)| format!("{name}={value}")).collect();
    ///     let _ = ws.send(params.join(" ")).await;
    /// }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ws_routes::Error> {
    /// # let server = TestServer::new(Server::new(routes![files]));
    /// // For `/files/ann/notes%2F1.txt`: "owner=ann rest=notes/1.txt";
    /// // for `/files/%0A/a.txt`: "rest=a.txt" (a newline is a control character).
    /// # let mut ws = server.connect("/files/ann/notes%2F1.txt").await?;
    /// # assert_eq!(ws.recv().await.unwrap()?.as_text(), Some("owner=ann rest=notes/1.txt"));
    /// # let mut ws = server.connect("/files/%0A/a.txt").await?;
    /// # assert_eq!(ws.recv().await.unwrap()?.as_text(), Some("rest=a.txt"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn params(&self) -> impl Iterator<Item = (&'static str, Cow<'_, str>)> + '_ {
        self.route
            .parts
            .segments
            .iter()
            .enumerate()
            .filter_map(|(index, segment)| {
                let name = segment.param_name()?;
                Some((name, decode(self.raw_param(index))?))
            })
    }

    /// Parses the parameter at segment `index` of the pattern. Used by the code `#[route]`
    /// generates, which knows the index at compile time.
    pub(crate) fn parse<T: std::str::FromStr>(
        &self,
        index: usize,
        name: &'static str,
    ) -> Result<T, ParamError> {
        decode(self.raw_param(index))
            .and_then(|value| value.parse().ok())
            .ok_or(ParamError { name })
    }

    /// The raw text of segment `index`, or the remainder of the path for a catch-all.
    fn raw_param(&self, index: usize) -> &str {
        let path = self.path();
        let mut rest = path.strip_prefix('/').unwrap_or(path);
        for _ in 0..index {
            rest = rest.split_once('/').map_or("", |(_, tail)| tail);
        }
        match self.route.parts.segments.get(index) {
            Some(Segment::CatchAll(_)) => rest,
            _ => rest.split_once('/').map_or(rest, |(segment, _)| segment),
        }
    }
}

impl fmt::Debug for RoutePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoutePath")
            .field("pattern", &self.route.parts.pattern)
            .field("path", &self.path())
            .field("query", &Redacted(self.target.query()))
            .finish()
    }
}

/// A parameter's value: percent-decoded, valid UTF-8 and free of control characters.
fn decode(raw: &str) -> Option<Cow<'_, str>> {
    percent_decode_str(raw)
        .decode_utf8()
        .ok()
        .filter(|value| !value.contains(char::is_control))
}

/// A query string in `Debug` output: its length only, since it often carries tokens.
pub(crate) struct Redacted<'a>(pub(crate) Option<&'a str>);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(query) => write!(f, "<{} bytes, redacted>", query.len()),
            None => f.write_str("None"),
        }
    }
}

/// A path parameter that could not be decoded or parsed into the handler's argument type.
///
/// The connection is closed with code 4000 ([`CloseCode::BAD_PARAM`](crate::CloseCode::BAD_PARAM)) and
/// a reason naming the parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    name: &'static str,
}

impl ParamError {
    /// The name of the parameter that failed.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid parameter `{}`", self.name)
    }
}

impl std::error::Error for ParamError {}
