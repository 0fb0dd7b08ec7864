//! The app's own axum extractors in an `accept` hook, mounted in axum over real sockets: one
//! that needs the app's state (through `FromRef`, as an authentication extractor does), axum's
//! `Extension` filled by the app's middleware, and a rejection that becomes the handshake's
//! refusal with its status, headers and body.

mod support;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, Extension, FromRef, FromRequestParts, Request as HttpRequest};
use axum::http::request::Parts;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use ws_routes::http::StatusCode;
use ws_routes::{Client, Error, Reject, Request, Server, Session, State, route, routes};

use support::{text, within};

/// The app's state, shared by its HTTP handlers and its WebSockets.
#[derive(Clone)]
struct AppState {
    /// Tokens that let users in, as `TOKEN:NAME`.
    tokens: Vec<String>,
}

/// The tenant the app's middleware found in the `Host`, in the request's extensions.
#[derive(Clone)]
struct Tenant(String);

/// The app's authentication extractor: `Authorization: Bearer TOKEN` names a user, found
/// through the app's state.
struct CurrentUser(String);

/// What the extractor answers a request it does not let in.
struct SignIn;

impl IntoResponse for SignIn {
    fn into_response(self) -> Response {
        let headers = [("www-authenticate", "Bearer realm=\"chat\"")];
        (StatusCode::UNAUTHORIZED, headers, "sign in first\n").into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser
where
    AppState: FromRef<S>,
{
    type Rejection = SignIn;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, SignIn> {
        let app = AppState::from_ref(state);
        let token = parts
            .headers
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or(SignIn)?;
        app.tokens
            .iter()
            .find_map(|entry| entry.strip_prefix(token)?.strip_prefix(':'))
            .map(|name| CurrentUser(name.to_owned()))
            .ok_or(SignIn)
    }
}

struct Greeter {
    greeting: String,
}

#[route("/greet")]
impl Greeter {
    async fn accept(request: &Request, State(app): State<AppState>) -> Result<Self, Reject> {
        let CurrentUser(user) = ws_routes::axum::extract_with_state(request, &app).await?;
        let Extension(Tenant(tenant)) = ws_routes::axum::extract(request).await?;
        let ConnectInfo(peer) =
            ws_routes::axum::extract::<ConnectInfo<SocketAddr>>(request).await?;
        Ok(Greeter {
            greeting: format!("hello {user} of {tenant} from {}", peer.ip()),
        })
    }

    async fn on_open(&mut self, session: &mut Session) {
        let _ = session.send(self.greeting.as_str()).await;
    }
}

/// Puts the tenant, the first label of `Host`, in the extensions.
async fn find_tenant(mut request: HttpRequest, next: Next) -> Response {
    let host = request.headers().get("host").and_then(|v| v.to_str().ok());
    let tenant = host
        .and_then(|host| host.split('.').next())
        .unwrap_or("none");
    let tenant = Tenant(tenant.to_owned());
    request.extensions_mut().insert(tenant);
    next.run(request).await
}

/// Serves the app (its state, the tenant middleware, the routes merged in) on a free port.
async fn serve() -> SocketAddr {
    let state = AppState {
        tokens: vec!["s3cret:ada".into()],
    };
    let websockets = Server::new(routes![Greeter])
        .with_state(state.clone())
        .into_service()
        .unwrap();
    let app: Router = Router::new()
        .merge(ws_routes::axum::router(websockets))
        .layer(middleware::from_fn(find_tenant))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
    addr
}

#[tokio::test]
async fn the_apps_own_extractors_let_a_user_in() {
    let addr = serve().await;
    let url = format!("ws://{addr}/greet");
    let client = Client::new()
        .header("authorization", "Bearer s3cret")
        .header("host", "acme.example.com");
    let mut ws = within(client.connect(&url)).await.unwrap();
    assert_eq!(text(&mut ws).await, "hello ada of acme from 127.0.0.1");
}

#[tokio::test]
async fn an_extractors_rejection_is_the_handshakes_refusal() {
    let addr = serve().await;
    let url = format!("ws://{addr}/greet");
    for token in [None, Some("Bearer wrong")] {
        let mut client = Client::new();
        if let Some(token) = token {
            client = client.header("authorization", token);
        }
        match within(client.connect(&url)).await {
            Err(Error::Refused {
                status,
                headers,
                body,
            }) => {
                assert_eq!(status, StatusCode::UNAUTHORIZED);
                assert_eq!(headers["www-authenticate"], "Bearer realm=\"chat\"");
                assert_eq!(body.as_deref(), Some(&b"sign in first\n"[..]));
            }
            other => panic!("expected a 401 refusal, got {other:?}"),
        }
    }
}
