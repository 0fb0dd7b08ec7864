//! Mounting in axum 0.8 (feature `axum`): the route table beside an app's HTTP routes, on the
//! app's own port.
//!
//! [`router`] makes an axum [`Router`] of the table's routes; [`merge`] it into the app's (or
//! [`nest`] it under a prefix). axum uses the same `{param}` and `{*rest}` syntax, so each
//! pattern is registered as it is written, and every other path stays the app's: a WebSocket
//! request for a path that matches no route gets the app's fallback (404 by default) rather
//! than close code 4040. For the 4040 behaviour, give the
//! [`WsService`] itself as the app's fallback instead:
//! `Router::new().route(..).fallback_service(service)`. Or put the table in front of the whole
//! app as a layer, `Router::new().route(..).layer(service.layer())` ([`WsService::layer`]):
//! WebSocket upgrades for its patterns are served, and every other request, an upgrade for
//! another path included, is the app's.
//!
//! The app's middleware runs first: what it puts in the request's extensions reaches the
//! `accept` hooks through [`Request::extensions`](crate::Request::extensions), the app's own
//! extractors run in a hook through [`extract`] and [`extract_with_state`], and the peer
//! address comes from [`ConnectInfo<SocketAddr>`][`ConnectInfo`] when the app is served with
//! `into_make_service_with_connect_info::<SocketAddr>()`.
//!
//! axum's graceful shutdown does not wait for upgraded connections, so shut the WebSockets
//! down with the service's [`handle`](WsService::handle) when the app shuts down (they are
//! closed with 1001), and wait for them to [stop](crate::server::ServerHandle::stopped) before
//! leaving `main`:
//!
//! ```
//! use std::net::SocketAddr;
//!
//! use axum::Router;
//! use axum::routing::get;
//! use tokio::net::TcpListener;
//! use ws_routes::{route, routes, Server, WebSocket};
//!
//! #[route("/echo/{room}")]
//! async fn echo(mut ws: WebSocket, room: String) {
//!     while let Some(Ok(message)) = ws.recv().await {
//!         if ws.send(message).await.is_err() {
//!             break;
//!         }
//!     }
//! }
//!
//! /// Serves the app on `listener` until `stop` resolves (in `main`,
//! /// `serve(TcpListener::bind(addr).await?, ws_routes::server::shutdown_signal())`).
//! async fn serve(listener: TcpListener, stop: impl Future<Output = ()> + Send + 'static)
//!     -> std::io::Result<()>
//! {
//!     let websockets = Server::new(routes![echo]).into_service()?;
//!     let handle = websockets.handle();
//!     let app = Router::new()
//!         .route("/health", get(|| async { "ok" }))
//!         .merge(ws_routes::axum::router(websockets));
//!
//!     let closing = handle.clone();
//!     axum::serve(
//!         listener,
//!         app.into_make_service_with_connect_info::<SocketAddr>(),
//!     )
//!     .with_graceful_shutdown(async move {
//!         stop.await;
//!         closing.shutdown(); // every WebSocket is closed with 1001
//!     })
//!     .await?;
//!     handle.stopped().await; // within the server's shutdown timeout
//!     Ok(())
//! }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let listener = TcpListener::bind("127.0.0.1:0").await?;
//! # let addr = listener.local_addr()?;
//! # let (stop, stopping) = tokio::sync::oneshot::channel::<()>();
//! # let serving = tokio::spawn(serve(listener, async move { let _ = stopping.await; }));
//! # let mut ws = ws_routes::connect(&format!("ws://{addr}/echo/lobby")).await?;
//! # ws.send("hello").await?;
//! # assert_eq!(ws.recv().await.unwrap()?.as_text(), Some("hello"));
//! # stop.send(()).unwrap();
//! # assert!(ws.recv().await.is_none());
//! # assert_eq!(ws.close_frame().unwrap().code.as_u16(), 1001);
//! # serving.await??;
//! # Ok(())
//! # }
//! ```
//!
//! [`Router`]: https://docs.rs/axum/0.8/axum/struct.Router.html
//! [`merge`]: https://docs.rs/axum/0.8/axum/struct.Router.html#method.merge
//! [`nest`]: https://docs.rs/axum/0.8/axum/struct.Router.html#method.nest
//! [`ConnectInfo`]: https://docs.rs/axum/0.8/axum/extract/struct.ConnectInfo.html

use axum::Router;
use axum::extract::FromRequestParts;
use axum::response::IntoResponse;

use crate::extract::{Reject, Request};
use crate::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use crate::server::WsService;

/// The most of an extractor's rejection body a refusal keeps, in bytes.
const MAX_REJECTION_BODY: usize = 64 << 10;

/// An axum [`Router`] that serves each route of `service`'s table at its pattern (any
/// method: a request that is not a WebSocket upgrade gets `426 Upgrade Required`).
///
/// # Panics
///
/// When merged into a router that already has one of the patterns, as axum's
/// [`merge`](https://docs.rs/axum/0.8/axum/struct.Router.html#method.merge) does for any overlap.
///
/// [`Router`]: https://docs.rs/axum/0.8/axum/struct.Router.html
///
/// ```
/// use axum::Router;
/// use axum::routing::get;
/// use ws_routes::{route, routes, Server, WebSocket};
///
/// #[route("/echo/{room}")]
/// async fn echo(_ws: WebSocket, room: String) {}
///
/// let websockets = Server::new(routes![echo]).into_service()?;
/// let app: Router = Router::new()
///     .route("/health", get(|| async { "ok" }))
///     .merge(ws_routes::axum::router(websockets));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn router<S>(service: WsService) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    service
        .routes()
        .iter()
        .fold(Router::new(), |router, route| {
            router.route_service(route.pattern(), service.clone())
        })
}

/// Runs one of the app's axum extractors (a [`FromRequestParts`][from-parts] type of its own:
/// an authenticated user, cookies, typed headers) on the handshake request, in an `accept` hook
/// or wherever a [`Request`] is at hand; for one that needs the app's state, see
/// [`extract_with_state`].
///
/// The extractor sees what it would see in an axum handler of the upgrade request: its
/// method (`GET`), URI (path and query), version, headers, and the extensions the app's
/// middleware put there ([`ConnectInfo`][connect-info] included). When it rejects the request,
/// its rejection becomes the handshake's refusal: the status, headers and body (up to 64 KiB,
/// as text) of the rejection's response, such as a `401` with `WWW-Authenticate`. On the standalone server
/// the extensions are empty.
///
/// ```
/// use axum::extract::FromRequestParts;
/// use axum::http::request::Parts;
/// use axum::http::StatusCode;
/// use ws_routes::{route, Reject, Request, Session};
///
/// /// The app's own extractor, as its HTTP handlers use it.
/// struct CurrentUser(String);
///
/// impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
///     type Rejection = (StatusCode, &'static str);
///
///     async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
///         let user = parts.headers.get("x-user").and_then(|value| value.to_str().ok());
///         user.map(|name| CurrentUser(name.to_owned()))
///             .ok_or((StatusCode::UNAUTHORIZED, "sign in first"))
///     }
/// }
///
/// struct Chat {
///     user: String,
/// }
///
/// #[route("/chat")]
/// impl Chat {
///     async fn accept(request: &Request) -> Result<Self, Reject> {
///         let CurrentUser(user) = ws_routes::axum::extract(request).await?;
///         Ok(Chat { user })
///     }
///
///     async fn on_text(&mut self, session: &mut Session, text: String) {
///         let _ = session.send(format!("{}: {text}", self.user)).await;
///     }
/// }
/// ```
///
/// [from-parts]: https://docs.rs/axum/0.8/axum/extract/trait.FromRequestParts.html
/// [connect-info]: https://docs.rs/axum/0.8/axum/extract/struct.ConnectInfo.html
pub async fn extract<E>(request: &Request) -> Result<E, Reject>
where
    E: FromRequestParts<()>,
{
    extract_with_state(request, &()).await
}

/// Runs one of the app's axum extractors that needs the app's state, as [`extract`] runs one
/// that needs none: `state` is what the app's `Router::with_state` was given (give it to the
/// route table too, with [`Server::with_state`](crate::Server::with_state), and take it in the
/// hook as a [`State`](crate::State)).
///
/// ```
/// use axum::extract::{FromRef, FromRequestParts};
/// use axum::http::request::Parts;
/// use axum::http::StatusCode;
/// use ws_routes::{route, Reject, Request, State, WebSocket};
///
/// #[derive(Clone)]
/// struct AppState {
///     token: String,
/// }
///
/// /// Lets in a request that carries the app's token.
/// struct Authorized;
///
/// impl<S: Send + Sync> FromRequestParts<S> for Authorized
/// where
///     AppState: FromRef<S>,
/// {
///     type Rejection = StatusCode;
///
///     async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, StatusCode> {
///         let app = AppState::from_ref(state);
///         let token = parts.headers.get("x-token").and_then(|value| value.to_str().ok());
///         (token == Some(app.token.as_str())).then_some(Authorized).ok_or(StatusCode::FORBIDDEN)
///     }
/// }
///
/// struct Admin;
///
/// #[route("/admin")]
/// impl Admin {
///     async fn accept(request: &Request, State(app): State<AppState>) -> Result<Self, Reject> {
///         let Authorized = ws_routes::axum::extract_with_state(request, &app).await?;
///         Ok(Admin)
///     }
///
///     async fn handle(self, _ws: WebSocket) {}
/// }
/// ```
pub async fn extract_with_state<E, S>(request: &Request, state: &S) -> Result<E, Reject>
where
    E: FromRequestParts<S>,
    S: Send + Sync,
{
    let mut parts = request.http_parts();
    match E::from_request_parts(&mut parts, state).await {
        Ok(extracted) => Ok(extracted),
        Err(rejection) => Err(refusal(rejection.into_response()).await),
    }
}

/// An extractor's rejection as a refusal of the handshake: its status, its headers (but the
/// body's length and encoding, which the refusal sets anew) and its body as text.
async fn refusal(response: axum::response::Response) -> Reject {
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, MAX_REJECTION_BODY)
        .await
        .unwrap_or_default();
    let mut reject = Reject::new(parts.status).body(String::from_utf8_lossy(&body));
    for (name, value) in &parts.headers {
        if name != CONTENT_LENGTH && name != TRANSFER_ENCODING {
            reject = reject.header(name, value);
        }
    }
    reject
}
