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
//! `accept` hooks through [`Request::extensions`](crate::Request::extensions), and the peer
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

use crate::server::WsService;

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
