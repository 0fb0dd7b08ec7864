//! What the Rust servers under test share: their command line, a runtime (single-threaded
//! unless `--workers` asks for more) with a raised open-file limit, and the line that tells
//! `compare` where they listen.

use std::convert::Infallible;
use std::future::Future;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use tokio::net::{TcpListener, TcpStream};

use crate::sys;

/// The open-file limit every server asks for: room for the idle run's 10,000 connections.
const OPEN_FILES: u64 = 65_536;

/// The command line of a server under test.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: String,
    /// Runtime threads: 1 is tokio's current-thread runtime, more its multi-thread runtime
    /// with that many workers.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
}

/// Raises the open-file limit and runs `serve` to completion on the runtime `args` asks for:
/// a current-thread tokio runtime by default, as a server under test is pinned to one CPU.
pub fn run(args: &Args, serve: impl Future<Output = io::Result<()>>) -> io::Result<()> {
    sys::raise_open_files(OPEN_FILES)?;
    let mut runtime = match args.workers {
        0 | 1 => tokio::runtime::Builder::new_current_thread(),
        workers => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(workers);
            builder
        }
    };
    runtime.enable_all().build()?.block_on(serve)
}

/// Prints `listening on ws://ADDR`, the line `compare` waits for.
pub fn announce(addr: SocketAddr) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "listening on ws://{addr}")?;
    stdout.flush()
}

/// Serves `app` with axum on `addr`, with TCP_NODELAY on every connection (as every server
/// under test sets it), after announcing the address.
pub async fn axum(addr: &str, app: axum::Router) -> io::Result<()> {
    use axum::serve::ListenerExt;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    announce(listener.local_addr()?)?;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await
}

/// The `{id}` of a path of the form `/echo/{id}` (one non-empty segment): how the servers
/// that have no router of their own route their one path.
pub fn echo_id(path: &str) -> Option<&str> {
    path.strip_prefix("/echo/")
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

/// Accepts connections on `addr` for ever, after announcing the address, with TCP_NODELAY
/// set on each, and spawns `serve(connection)` for each. Out of file descriptors, say, it waits
/// for connections to end.
pub async fn accept<F, S>(addr: &str, serve: S) -> io::Result<()>
where
    S: Fn(TcpStream) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind(addr).await?;
    announce(listener.local_addr()?)?;
    loop {
        match listener.accept().await {
            Ok((tcp, _)) => {
                let _ = tcp.set_nodelay(true);
                tokio::spawn(serve(tcp));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Serves HTTP/1.1 with upgrades on `addr` with hyper, as [`accept`] accepts: `upgrade`
/// answers each request, with a `101 Switching Protocols` whose connection it has arranged to
/// serve, or with a refusal.
pub async fn hyper<U>(addr: &str, upgrade: U) -> io::Result<()>
where
    U: Fn(Request<Incoming>) -> Response<Empty<Bytes>> + Copy + Send + 'static,
{
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    accept(addr, move |tcp| async move {
        let service =
            service_fn(move |request| async move { Ok::<_, Infallible>(upgrade(request)) });
        let _ = http1::Builder::new()
            .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
            .with_upgrades()
            .await;
    })
    .await
}

/// A response with `status` and no body: a refused upgrade.
pub fn refusal(status: StatusCode) -> Response<Empty<Bytes>> {
    let mut response = Response::new(Empty::new());
    *response.status_mut() = status;
    response
}
