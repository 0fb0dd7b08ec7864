//! An axum app that serves ordinary HTTP routes and ws-routes' WebSocket routes on one port:
//! `GET /health`, a page at `/`, echo rooms at `/echo/{room}` and `/whoami`, whose `accept`
//! hook reads the user that the app's authentication middleware found, and `/metrics`, ws-routes'
//! metrics in Prometheus' text format. Every request goes through tower-http's `TraceLayer`;
//! Ctrl-C closes the WebSockets with 1001 before exiting.
//!
//! ```text
//! cargo run --example axum_app -- --addr 127.0.0.1:3000
//! curl http://127.0.0.1:3000/health
//! curl http://127.0.0.1:3000/metrics
//! ```

mod common;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use axum::Router;
use axum::extract::Request as HttpRequest;
use axum::middleware::{self, Next};
use axum::response::{Html, Response};
use axum::routing::get;
use clap::Parser;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tower_http::trace::TraceLayer;
use ws_routes::http::StatusCode;
use ws_routes::{Reject, Request, Server, Session, WebSocket, route, routes};

#[derive(Parser)]
#[command(about = "An axum app with WebSocket routes on the same port")]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    addr: String,
}

/// The user the authentication middleware found, in the request's extensions.
#[derive(Clone)]
struct User(String);

/// A stand-in for real authentication: `Authorization: Bearer NAME` makes the request NAME's.
async fn authenticate(mut request: HttpRequest, next: Next) -> Response {
    let user = request
        .headers()
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(|name| User(name.to_owned()));
    if let Some(user) = user {
        request.extensions_mut().insert(user);
    }
    next.run(request).await
}

#[route("/echo/{room}")]
async fn echo(mut ws: WebSocket, room: String) {
    while let Some(Ok(message)) = ws.recv().await {
        tracing::debug!(room, bytes = message.len(), "echo");
        if ws.send(message).await.is_err() {
            break;
        }
    }
}

/// Greets the signed-in user; anyone else is refused with 401 before the upgrade.
struct WhoAmI {
    greeting: String,
}

#[route("/whoami")]
impl WhoAmI {
    async fn accept(request: &Request) -> Result<Self, Reject> {
        let Some(User(name)) = request.extensions().get::<User>() else {
            return Err(Reject::new(StatusCode::UNAUTHORIZED)
                .header("www-authenticate", "Bearer")
                .body("sign in first\n"));
        };
        let greeting = format!("hello {name} from {}", request.peer_addr().ip());
        Ok(WhoAmI { greeting })
    }

    async fn on_open(&mut self, session: &mut Session) {
        let _ = session.send(self.greeting.as_str()).await;
    }
}

const PAGE: &str = r#"<!doctype html>
<title>ws-routes in axum</title>
<pre id="log"></pre>
<script>
  const ws = new WebSocket(`ws://${location.host}/echo/lobby`);
  ws.onopen = () => ws.send("hello");
  ws.onmessage = (event) => (log.textContent += event.data + "\n");
</script>
"#;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    common::init_logging();
    common::exit_status("axum_app", serve(&cli).await)
}

/// Installs the Prometheus recorder that ws-routes' metrics go to, and keeps its histograms
/// trimmed.
fn prometheus() -> std::io::Result<PrometheusHandle> {
    let prometheus = PrometheusBuilder::new()
        .install_recorder()
        .map_err(std::io::Error::other)?;
    let upkeep = prometheus.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(prometheus)
}

async fn serve(cli: &Cli) -> std::io::Result<()> {
    let prometheus = prometheus()?;
    let websockets = Server::new(routes![echo, WhoAmI]).into_service()?;
    let handle = websockets.handle();
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/health", get(|| async { "ok" }))
        .route(
            "/metrics",
            get(move || std::future::ready(prometheus.render())),
        )
        .merge(ws_routes::axum::router(websockets))
        .layer(middleware::from_fn(authenticate))
        .layer(TraceLayer::new_for_http());

    let listener = tokio::net::TcpListener::bind(&cli.addr).await?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr} (WebSockets at ws://{addr}/echo/{{room}})");
    let closing = handle.clone();
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        ws_routes::server::shutdown_signal().await;
        closing.shutdown();
    })
    .await?;
    handle.stopped().await;
    Ok(())
}
