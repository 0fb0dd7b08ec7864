//! `Client::reconnecting` against real servers: back after a restart on the same port, a 503
//! and a dropped connection; given up on refusals and close codes not worth retrying. The
//! delays are a few milliseconds, and every network wait has a timeout.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use ws_routes::http::StatusCode;
use ws_routes::reconnect::Reconnecting;
use ws_routes::{Client, Close, CloseCode, Error, Reject, Server, State, WebSocket, route, routes};

use support::{NETWORK_TIMEOUT, next, text, within};

#[route("/echo")]
async fn echo(mut ws: WebSocket) {
    while let Some(Ok(message)) = ws.recv().await {
        if ws.send(message).await.is_err() {
            break;
        }
    }
}

/// Closes every connection at once with the code in its path.
#[route("/closing/{code}")]
async fn closing(_ws: WebSocket, code: u16) -> Result<(), Close> {
    Err(Close::new(code, "closing"))
}

/// Refuses every handshake with 403.
struct Private;

#[route("/private")]
impl Private {
    async fn accept() -> Result<Self, Reject> {
        Err(Reject::new(StatusCode::FORBIDDEN))
    }
}

fn connections(url: &str) -> Reconnecting {
    Client::new()
        .connect_timeout(NETWORK_TIMEOUT)
        .reconnecting(url)
        .initial_delay(Duration::from_millis(5))
        .max_delay(Duration::from_millis(40))
}

/// The next connection, which must open.
async fn open(connections: &mut Reconnecting) -> &mut WebSocket {
    match within(connections.next()).await {
        Some(Ok(ws)) => ws,
        Some(Err(error)) => panic!("expected a connection, got {error}"),
        None => panic!("expected a connection, the client gave up"),
    }
}

async fn echoes(ws: &mut WebSocket, message: &str) {
    within(ws.send(message)).await.unwrap();
    assert_eq!(text(ws).await, message);
}

/// A server of `routes![echo, closing, Private]`.
struct Served {
    addr: SocketAddr,
    handle: ws_routes::server::ServerHandle,
    running: tokio::task::JoinHandle<()>,
}

/// Serves the routes on `addr` (port 0 for any).
async fn serve(addr: &str) -> Served {
    let listening = Server::new(routes![echo, closing, Private])
        .bind(addr)
        .await
        .unwrap();
    Served {
        addr: listening.local_addr().unwrap(),
        handle: listening.handle(),
        running: tokio::spawn(async move { listening.run().await.unwrap() }),
    }
}

#[tokio::test]
async fn comes_back_after_the_server_restarts_on_the_same_port() {
    let served = serve("127.0.0.1:0").await;
    let addr = served.addr;
    let mut connections = connections(&format!("ws://{addr}/echo"));
    let ws = open(&mut connections).await;
    echoes(ws, "before").await;

    served.handle.shutdown();
    assert!(next(ws).await.is_none());
    assert_eq!(ws.close_frame().unwrap().code, CloseCode::GOING_AWAY);
    within(served.running).await.unwrap();

    // The port answers the first attempt with 503 (worth a retry), then the server is back.
    let restart = async {
        let stand_in = TcpListener::bind(addr).await.unwrap();
        let (mut tcp, _) = within(stand_in.accept()).await.unwrap();
        let mut request = [0; 1024];
        let _ = within(tcp.read(&mut request)).await.unwrap();
        let refusal = "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n";
        within(tcp.write_all(refusal.as_bytes())).await.unwrap();
        drop((tcp, stand_in));
        serve(&addr.to_string()).await
    };
    let (restarted, ws) = tokio::join!(restart, open(&mut connections));
    echoes(ws, "after").await;
    restarted.handle.shutdown();
}

/// Accepts one connection on `proxy` and forwards it to `server` on a task of its own.
async fn forward_one(proxy: &TcpListener, server: SocketAddr) -> JoinHandle<()> {
    let (mut client, _) = within(proxy.accept()).await.unwrap();
    let mut upstream = within(TcpStream::connect(server)).await.unwrap();
    tokio::spawn(async move {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    })
}

#[tokio::test]
async fn comes_back_after_a_dropped_connection() {
    let server = serve("127.0.0.1:0").await.addr;
    // A TCP proxy in front of the server, whose first connection the test cuts.
    let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut connections = connections(&format!("ws://{}/echo", proxy.local_addr().unwrap()));
    let (forwarding, ws) = tokio::join!(forward_one(&proxy, server), open(&mut connections));
    echoes(ws, "first").await;
    // Both of the proxy's sockets dropped: the client sees the connection end, no close frame.
    forwarding.abort();
    let ended = next(ws).await;
    assert!(ended.as_ref().is_none_or(Result::is_err), "{ended:?}");
    assert_eq!(
        ws.close_frame().map(|frame| frame.code),
        Some(ws_routes::CloseCode::ABNORMAL)
    );
    let (_, ws) = tokio::join!(forward_one(&proxy, server), open(&mut connections));
    echoes(ws, "second").await;
}

#[tokio::test]
async fn retries_after_closes_worth_it() {
    let addr = serve("127.0.0.1:0").await.addr;
    for code in [1001, 1011, 1012, 1013] {
        let mut connections = connections(&format!("ws://{addr}/closing/{code}"));
        for _ in 0..2 {
            let ws = open(&mut connections).await;
            assert!(next(ws).await.is_none());
            assert_eq!(ws.close_frame().unwrap().code, code);
        }
    }
}

#[tokio::test]
async fn gives_up_on_closes_not_worth_retrying() {
    let addr = serve("127.0.0.1:0").await.addr;
    for (path, code) in [
        ("/closing/1008", 1008),
        ("/nowhere", 4040),
        ("/closing/4001", 4001),
    ] {
        let mut connections = connections(&format!("ws://{addr}{path}"));
        let ws = open(&mut connections).await;
        assert!(next(ws).await.is_none());
        assert_eq!(ws.close_frame().unwrap().code, code);
        assert!(within(connections.next()).await.is_none(), "{path}");
    }
}

#[tokio::test]
async fn gives_up_on_a_4xx_refusal() {
    let addr = serve("127.0.0.1:0").await.addr;
    let mut connections = connections(&format!("ws://{addr}/private"));
    match within(connections.next()).await {
        Some(Err(Error::Refused { status, .. })) => assert_eq!(status, StatusCode::FORBIDDEN),
        Some(Err(other)) => panic!("expected the 403, got {other}"),
        Some(Ok(_)) | None => panic!("expected the 403"),
    }
    assert!(within(connections.next()).await.is_none());
}

/// Tells the test how each client closed.
#[route("/report")]
async fn report(mut ws: WebSocket, State(closes): State<mpsc::UnboundedSender<Option<u16>>>) {
    while let Some(Ok(message)) = ws.recv().await {
        if ws.send(message).await.is_err() {
            break;
        }
    }
    let _ = closes.send(ws.close_frame().map(|frame| frame.code.as_u16()));
}

#[tokio::test]
async fn an_open_connection_given_up_is_closed_with_1000() {
    let (closes, mut closed) = mpsc::unbounded_channel::<Option<u16>>();
    let listening = Server::new(routes![report])
        .with_state(closes)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut connections = connections(&format!("ws://{}/report", listening.local_addr().unwrap()));
    tokio::spawn(listening.run());
    let ws = open(&mut connections).await;
    echoes(ws, "first").await;
    // Still open: the next connection replaces it, and the server hears why.
    let ws = open(&mut connections).await;
    assert_eq!(within(closed.recv()).await, Some(Some(1000)));
    echoes(ws, "second").await;
}

#[tokio::test]
async fn given_several_urls_it_moves_on_from_a_server_going_away_and_past_one_that_is_down() {
    let addr = serve("127.0.0.1:0").await.addr;
    let down = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    // Nothing listens on `down` any more; a backoff of a minute would show as a timeout.
    let mut connections = Client::new()
        .connect_timeout(NETWORK_TIMEOUT)
        .reconnecting_to([
            format!("ws://{addr}/closing/1012"),
            format!("ws://{down}/echo"),
            format!("ws://{addr}/echo"),
        ])
        .initial_delay(Duration::from_secs(60));
    let restarting = open(&mut connections).await;
    assert!(next(restarting).await.is_none());
    assert_eq!(restarting.close_frame().unwrap().code, 1012);
    // Left at once for the next URL, which refuses: the one after, at once too.
    let ws = open(&mut connections).await;
    echoes(ws, "moved on").await;
}
