//! The client side: connecting to a WebSocket server.

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::error::Error;
use crate::socket::WebSocket;

/// Connects to a `ws://` URL and returns the same [`WebSocket`] type handlers use.
///
/// A server that refuses the handshake gives [`Error::Refused`] with its status, headers
/// and body. Messages up to 64 MiB are accepted.
///
/// ```no_run
/// # async fn run() -> Result<(), ws_routes::Error> {
/// let mut ws = ws_routes::connect("ws://127.0.0.1:8765/light/on").await?;
/// ws.send("00-12-4b-01").await?;
/// if let Some(Ok(reply)) = ws.recv().await {
///     println!("{}", reply.as_text().unwrap_or_default());
/// }
/// # Ok(())
/// # }
/// ```
pub async fn connect(url: &str) -> Result<WebSocket, Error> {
    let config = WebSocketConfig::default()
        .read_buffer_size(4 << 10)
        .write_buffer_size(0);
    let (stream, _response) =
        tokio_tungstenite::connect_async_with_config(url, Some(config), true).await?;
    Ok(WebSocket::client(stream))
}
