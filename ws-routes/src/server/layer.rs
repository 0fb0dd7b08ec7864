//! The route table as a tower layer (feature `tower`): [`WsLayer`] puts a [`WsService`] in
//! front of an app's service, which keeps every request that is not a WebSocket upgrade for
//! one of the routes.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::handshake;
use super::mount::{ResponseBody, ResponseFuture, WsService};
use crate::http::{Request, Response};

impl WsService {
    /// This service as a `tower::Layer` around an app's service: a WebSocket upgrade request
    /// whose path matches one of the routes is served here, exactly as [`WsService`] serves
    /// it; any other request (plain HTTP, or an upgrade for a path that matches no route)
    /// goes to the inner service, which answers it as it would without the layer.
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
    /// // axum runs a router's layers for its fallback too: /echo/lobby is served by the layer.
    /// let app: Router = Router::new()
    ///     .route("/health", get(|| async { "ok" }))
    ///     .layer(websockets.layer());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn layer(self) -> WsLayer {
        WsLayer { websockets: self }
    }

    /// Whether it serves `request` rather than the service it is a layer of.
    fn takes<B>(&self, request: &Request<B>) -> bool {
        handshake::asks_upgrade(request.headers()) && self.matches(request.uri().path())
    }
}

/// A `tower::Layer` that serves a route table's WebSocket upgrades in front of an inner
/// service; made by [`WsService::layer`].
#[derive(Clone, Debug)]
pub struct WsLayer {
    websockets: WsService,
}

impl<S> tower_layer::Layer<S> for WsLayer {
    type Service = WithWebSockets<S>;

    fn layer(&self, inner: S) -> WithWebSockets<S> {
        WithWebSockets {
            websockets: self.websockets.clone(),
            inner,
        }
    }
}

/// An inner service with a route table's WebSockets in front of it; see [`WsService::layer`].
/// Its responses carry a [`LayeredBody`]: the inner service's body, or the WebSocket
/// handshake's answer.
#[derive(Clone, Debug)]
pub struct WithWebSockets<S> {
    websockets: WsService,
    inner: S,
}

impl<S, B, InnerBody> Service<Request<B>> for WithWebSockets<S>
where
    S: Service<Request<B>, Response = Response<InnerBody>>,
{
    type Response = Response<LayeredBody<InnerBody>>;
    type Error = S::Error;
    type Future = LayeredFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let kind = if self.websockets.takes(&request) {
            FutureKind::WebSocket {
                future: self.websockets.call(request),
            }
        } else {
            FutureKind::Inner {
                future: self.inner.call(request),
            }
        };
        LayeredFuture { kind }
    }
}

pin_project! {
    /// The future of a [`WithWebSockets`] response.
    pub struct LayeredFuture<F> {
        #[pin]
        kind: FutureKind<F>,
    }
}

pin_project! {
    #[project = FutureProjection]
    enum FutureKind<F> {
        WebSocket { future: ResponseFuture },
        Inner { #[pin] future: F },
    }
}

impl<F, InnerBody, E> Future for LayeredFuture<F>
where
    F: Future<Output = Result<Response<InnerBody>, E>>,
{
    type Output = Result<Response<LayeredBody<InnerBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            FutureProjection::WebSocket { future } => Pin::new(future).poll(cx).map(|answered| {
                let Ok(response) = answered;
                Ok(response.map(|body| LayeredBody {
                    kind: BodyKind::WebSocket { body },
                }))
            }),
            FutureProjection::Inner { future } => future.poll(cx).map(|answered| {
                answered.map(|response| {
                    response.map(|body| LayeredBody {
                        kind: BodyKind::Inner { body },
                    })
                })
            }),
        }
    }
}

impl<F> fmt::Debug for LayeredFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LayeredFuture").finish_non_exhaustive()
    }
}

pin_project! {
    /// The body of a [`WithWebSockets`] response: the inner service's, or the WebSocket
    /// handshake's answer (a [`ResponseBody`]). An [`http_body::Body`](https://docs.rs/http-body/1/http_body/trait.Body.html) of [`Bytes`] when the
    /// inner one is.
    pub struct LayeredBody<B> {
        #[pin]
        kind: BodyKind<B>,
    }
}

pin_project! {
    #[project = BodyProjection]
    enum BodyKind<B> {
        WebSocket { body: ResponseBody },
        Inner { #[pin] body: B },
    }
}

impl<B: Body<Data = Bytes>> Body for LayeredBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().kind.project() {
            BodyProjection::WebSocket { body } => Pin::new(body)
                .poll_frame(cx)
                .map(|frame| frame.map(|framed| framed.map_err(|never| match never {}))),
            BodyProjection::Inner { body } => body.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            BodyKind::WebSocket { body } => body.is_end_stream(),
            BodyKind::Inner { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            BodyKind::WebSocket { body } => body.size_hint(),
            BodyKind::Inner { body } => body.size_hint(),
        }
    }
}

impl<B> fmt::Debug for LayeredBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LayeredBody").finish_non_exhaustive()
    }
}
