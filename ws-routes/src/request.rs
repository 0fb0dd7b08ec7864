//! The handshake request as handlers and hooks see it, the extractors that read it, shared
//! application state, and the HTTP refusal a hook can answer with.

use std::any::{Any, TypeId, type_name};
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::handshake::http_response;
use crate::http::StatusCode;
use crate::http::header::{HeaderMap, HeaderName, HeaderValue};
use crate::path::{Query, RoutePath};

/// The handshake request of a routed connection: the matched path, the headers, the peer's
/// address and the server's shared state.
///
/// A class-style route's `accept` hook receives it before the upgrade.
#[derive(Clone)]
pub struct Request {
    path: RoutePath,
    headers: HeaderMap,
    peer_addr: SocketAddr,
    states: Arc<States>,
}

impl Request {
    pub(crate) fn new(
        path: RoutePath,
        headers: HeaderMap,
        peer_addr: SocketAddr,
        states: Arc<States>,
    ) -> Self {
        Request {
            path,
            headers,
            peer_addr,
            states,
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
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The client's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer_addr
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
            .field("headers", &self.headers)
            .field("peer_addr", &self.peer_addr)
            .finish_non_exhaustive()
    }
}

/// Application state, one value per type, shared by every connection.
#[derive(Default)]
pub(crate) struct States {
    values: HashMap<TypeId, Box<dyn Any + Send + Sync>>,
}

impl States {
    pub(crate) fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        self.values.insert(TypeId::of::<T>(), Box::new(value));
    }

    pub(crate) fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.values
            .get(&TypeId::of::<T>())
            .and_then(|value| value.downcast_ref())
    }

    pub(crate) fn contains(&self, key: StateKey) -> bool {
        self.values.contains_key(&(key.type_id)())
    }
}

impl fmt::Debug for States {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("States")
            .field("count", &self.values.len())
            .finish()
    }
}

/// A state type a handler needs: checked when the server is bound, so that a missing
/// `.with_state(...)` is an error at start-up rather than on the first connection.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct StateKey {
    pub(crate) type_id: fn() -> TypeId,
    pub(crate) type_name: fn() -> &'static str,
}

/// Shared application state, given to the server with
/// [`Server::with_state`](crate::Server::with_state) and taken by any handler or hook as a
/// `State<T>` argument (a clone of it: wrap what must be shared in an `Arc`).
///
/// A route that takes `State<T>` when the server has no `T` makes
/// [`Server::bind`](crate::Server::bind) fail, before any connection.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use ws_routes::{route, routes, Server, State, WebSocket};
///
/// #[derive(Clone, Default)]
/// struct Visits(Arc<AtomicU64>);
///
/// #[route("/visit")]
/// async fn visit(mut ws: WebSocket, State(visits): State<Visits>) {
///     let count = visits.0.fetch_add(1, Ordering::Relaxed) + 1;
///     let _ = ws.send(format!("visitor number {count}")).await;
/// }
///
/// # async fn run() -> std::io::Result<()> {
/// let server = Server::new(routes![visit]).with_state(Visits::default()).bind("127.0.0.1:0").await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct State<T>(pub T);

/// A handler or hook argument read from the handshake [`Request`].
///
/// Implemented for [`RoutePath`], [`Query`], [`HeaderMap`], [`SocketAddr`] (the peer's) and
/// [`State<T>`]. Implement it for your own types; an `Err` refuses the connection (with that
/// HTTP response in an `accept` hook, or with close code 1008 after the upgrade).
///
/// ```
/// use ws_routes::{route, FromRequest, Reject, Request, WebSocket};
///
/// struct UserAgent(String);
///
/// impl FromRequest for UserAgent {
///     fn from_request(request: &Request) -> Result<Self, Reject> {
///         let agent = request.headers().get("user-agent").and_then(|v| v.to_str().ok());
///         Ok(UserAgent(agent.unwrap_or("unknown").to_owned()))
///     }
/// }
///
/// #[route("/whoami")]
/// async fn whoami(mut ws: WebSocket, agent: UserAgent) {
///     let _ = ws.send(agent.0).await;
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is neither a path parameter nor an extractor",
    label = "not a parameter of the pattern, and `FromRequest` is not implemented for `{Self}`",
    note = "an argument binds a path parameter when its name is a `{{name}}` of the pattern; any other argument must implement `FromRequest` (`RoutePath`, `Query`, `State<T>`, ...)"
)]
pub trait FromRequest: Sized {
    /// Reads the argument from the request, or refuses the connection.
    fn from_request(request: &Request) -> Result<Self, Reject>;

    /// The state type this extractor needs, checked when the server is bound.
    #[doc(hidden)]
    fn __state() -> Option<StateKey> {
        None
    }
}

impl FromRequest for RoutePath {
    fn from_request(request: &Request) -> Result<Self, Reject> {
        Ok(request.path.clone())
    }
}

impl FromRequest for Query {
    fn from_request(request: &Request) -> Result<Self, Reject> {
        Ok(request.query())
    }
}

impl FromRequest for HeaderMap {
    fn from_request(request: &Request) -> Result<Self, Reject> {
        Ok(request.headers.clone())
    }
}

impl FromRequest for SocketAddr {
    fn from_request(request: &Request) -> Result<Self, Reject> {
        Ok(request.peer_addr)
    }
}

impl<T: Clone + Send + Sync + 'static> FromRequest for State<T> {
    fn from_request(request: &Request) -> Result<Self, Reject> {
        match request.state::<T>() {
            Some(value) => Ok(State(value.clone())),
            None => {
                tracing::error!(
                    state = type_name::<T>(),
                    "no state of this type: add it with `Server::with_state`"
                );
                Err(Reject::new(StatusCode::INTERNAL_SERVER_ERROR))
            }
        }
    }

    fn __state() -> Option<StateKey> {
        Some(StateKey {
            type_id: TypeId::of::<T>,
            type_name: type_name::<T>,
        })
    }
}

/// An HTTP response that refuses a WebSocket upgrade: a status, headers and a body.
///
/// An `accept` hook returns it to turn a client away before the handshake completes; the
/// client sees the status, headers and body, and no WebSocket is opened.
///
/// ```
/// use ws_routes::Reject;
/// use ws_routes::http::StatusCode;
///
/// let refusal = Reject::new(StatusCode::UNAUTHORIZED)
///     .header("www-authenticate", "Token")
///     .body("a token is required: add ?token=... to the URL\n");
/// assert_eq!(refusal.status(), StatusCode::UNAUTHORIZED);
/// ```
#[derive(Debug, Clone)]
pub struct Reject {
    // Boxed: refusals are rare, and `Result<T, Reject>` stays small on the common path.
    response: Box<Refusal>,
}

#[derive(Debug, Clone)]
struct Refusal {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reject {
    /// A refusal with `status`; the body defaults to the status's reason phrase.
    pub fn new(status: StatusCode) -> Self {
        let body = status
            .canonical_reason()
            .map(|reason| format!("{reason}\n"))
            .unwrap_or_default();
        Reject {
            response: Box::new(Refusal {
                status,
                headers: HeaderMap::new(),
                body,
            }),
        }
    }

    /// Adds a header. A name or value that is not valid HTTP is left out and logged, so that
    /// nothing the program computes can break the response.
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        match (name.try_into(), value.try_into()) {
            (Ok(name), Ok(value)) => {
                self.response.headers.append(name, value);
            }
            _ => tracing::error!("a refusal header is not valid HTTP and was left out"),
        }
        self
    }

    /// Sets the body (sent as `text/plain; charset=utf-8`).
    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.response.body = body.into();
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.response.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.response.headers
    }

    /// The body.
    pub fn body_text(&self) -> &str {
        &self.response.body
    }

    /// The bytes of the HTTP/1.1 response.
    pub(crate) fn to_http(&self) -> Vec<u8> {
        let response = &self.response;
        let plain_text = Some("text/plain; charset=utf-8");
        http_response(
            response.status,
            &response.headers,
            plain_text,
            response.body.as_bytes(),
            true,
        )
    }
}

impl From<StatusCode> for Reject {
    fn from(status: StatusCode) -> Self {
        Reject::new(status)
    }
}
