//! What the integration tests share: starting a server on a free port and reading replies.

#![allow(dead_code)]

use std::net::SocketAddr;

use ws_routes::{Message, Routes, Server, WebSocket};

/// Serves `routes` on a free port of 127.0.0.1 and returns the address.
pub async fn spawn(routes: Routes) -> SocketAddr {
    spawn_server(Server::new(routes)).await
}

/// Serves `server` on a free port of 127.0.0.1 and returns the address.
pub async fn spawn_server(server: Server) -> SocketAddr {
    let listening = server.bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let addr = listening.local_addr().expect("local address");
    tokio::spawn(listening.run());
    addr
}

/// Connects to `path` on `addr`.
pub async fn connect(addr: SocketAddr, path: &str) -> WebSocket {
    ws_routes::connect(&format!("ws://{addr}{path}"))
        .await
        .expect("connect")
}

/// The next text message; panics on anything else.
pub async fn text(ws: &mut WebSocket) -> String {
    loop {
        match ws.recv().await {
            Some(Ok(Message::Text(text))) => return text.to_string(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

/// Reads until the server's close frame and returns its code and reason.
pub async fn close_frame(ws: &mut WebSocket) -> (u16, String) {
    while let Some(received) = ws.recv().await {
        match received {
            Ok(Message::Close(Some(frame))) => {
                return (u16::from(frame.code), frame.reason.to_string());
            }
            Ok(Message::Close(None)) => panic!("close frame without a code"),
            Ok(_) => continue,
            Err(error) => panic!("connection failed before its close frame: {error}"),
        }
    }
    panic!("connection ended without a close frame")
}

/// Sends `text` and returns the text reply.
pub async fn ask(ws: &mut WebSocket, text: &str) -> String {
    ws.send(text).await.expect("send");
    self::text(ws).await
}
