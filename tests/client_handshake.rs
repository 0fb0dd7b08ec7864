//! What the crate's client makes of a server's answer to its opening handshake, over real
//! sockets: a refusal's status, headers and body (as far as the client reads it), a response
//! head too large to read, and a `Host` header the caller chose; and the headers a handler
//! sees, every one the client sent.

mod support;

use ws_routes::http::{HeaderMap, StatusCode};
use ws_routes::{Client, Error, Reject, Request, Server, WebSocket, route, routes};

use support::{connect_url, spawn_server, text};

/// Refuses every upgrade with 403 before it happens: a body of `body` bytes (`-` repeated;
/// the reason phrase when the query names none) and an `x-padding` header of `pad` bytes, both
/// from the query.
struct Refused;

#[route("/refused")]
impl Refused {
    async fn accept(request: &Request) -> Result<Self, Reject> {
        let query = request.query();
        let number = |key: &str| query.get(key).and_then(|value| value.parse::<usize>().ok());
        let mut refusal = Reject::new(StatusCode::FORBIDDEN)
            .header("x-padding", "p".repeat(number("pad").unwrap_or(0)));
        if let Some(body) = number("body") {
            refusal = refusal.body("-".repeat(body));
        }
        Err(refusal)
    }
}

/// The values of the `name` headers, in the order they came, joined with `|`.
fn joined(headers: &HeaderMap, name: &str) -> String {
    let values: Vec<&str> = headers
        .get_all(name)
        .iter()
        .map(|value| value.to_str().unwrap_or("?"))
        .collect();
    values.join("|")
}

/// Sends back the `Host` headers of its request, joined with `|`.
#[route("/host")]
async fn host(mut ws: WebSocket, headers: HeaderMap) {
    let _ = ws.send(joined(&headers, "host")).await;
}

/// Sends back the values of its request's `x-tag` headers, joined with `|`, and how many
/// headers the request had.
#[route("/tags")]
async fn tags(mut ws: WebSocket, headers: HeaderMap) {
    let reply = format!("{} of {}", joined(&headers, "x-tag"), headers.len());
    let _ = ws.send(reply).await;
}

/// The refusal a client gets for `/refused?QUERY`: its status, headers and body.
async fn refusal(client: &Client, url: &str) -> (StatusCode, HeaderMap, Option<Vec<u8>>) {
    match support::within(client.connect(url)).await {
        Err(Error::Refused {
            status,
            headers,
            body,
        }) => (status, *headers, body),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_refusal_brings_its_status_headers_and_body() {
    let addr = spawn_server(Server::new(routes![Refused])).await;
    let client = Client::new();
    let (status, headers, body) = refusal(&client, &format!("ws://{addr}/refused?pad=3")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(headers["x-padding"], "ppp");
    assert_eq!(body.as_deref(), Some(&b"Forbidden\n"[..]));

    // An empty body is no body.
    let (_, _, body) = refusal(&client, &format!("ws://{addr}/refused?body=0")).await;
    assert_eq!(body, None);

    // A body longer than the first read is read to its end, up to 64 KiB and no further.
    for (sent, read) in [(20_000, 20_000), (100_000, 64 << 10)] {
        let url = format!("ws://{addr}/refused?body={sent}");
        let (_, headers, body) = refusal(&client, &url).await;
        assert_eq!(headers["content-length"], sent.to_string().as_str());
        assert_eq!(body, Some(vec![b'-'; read]), "{sent}");
    }
}

#[tokio::test]
async fn a_response_head_is_read_up_to_16_kib() {
    let addr = spawn_server(Server::new(routes![Refused])).await;
    let client = Client::new();
    // A head of some 8 KiB, read in several pieces, is read whole.
    let url = format!("ws://{addr}/refused?pad=8000");
    let (status, headers, _) = refusal(&client, &url).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(headers["x-padding"].len(), 8000);
    // One of 40 KiB is refused as too large, whatever pieces it arrives in.
    let url = format!("ws://{addr}/refused?pad=40000");
    match support::within(client.connect(&url)).await {
        Err(Error::Protocol(why)) => {
            assert!(why.to_string().contains("response head too large"), "{why}")
        }
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_host_the_caller_gives_replaces_the_one_from_the_url() {
    let addr = spawn_server(Server::new(routes![host])).await;
    let url = format!("ws://{addr}/host");
    let mut ws = Client::new()
        .header("host", "app.example.com:8443")
        .connect(&url)
        .await
        .expect("one Host header: accepted");
    assert_eq!(text(&mut ws).await, "app.example.com:8443");
    let mut ws = connect_url(&url).await;
    assert_eq!(text(&mut ws).await, addr.to_string());
}

/// The handshake checks the headers where the request head was parsed, and makes the
/// `HeaderMap` only for a handler that asks for one: that map holds every header the client
/// sent, a repeated one in the order it came.
#[tokio::test]
async fn a_handler_sees_every_header_the_client_sent() {
    let addr = spawn_server(Server::new(routes![tags])).await;
    let mut ws = Client::new()
        .header("x-tag", "first")
        .header("x-other", "-")
        .header("X-Tag", "second")
        .connect(&format!("ws://{addr}/tags"))
        .await
        .expect("accepted");
    // Host, Connection, Upgrade, Sec-WebSocket-Version, Sec-WebSocket-Key, the
    // permessage-deflate offer and the three above.
    assert_eq!(text(&mut ws).await, "first|second of 9");
}
