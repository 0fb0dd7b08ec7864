//! 200 compressed 16 KiB echoes through ws-routes, as a dependent crate's debug build runs
//! them (see README.md). Usage: `zlib-debug [LEVEL]`, the compression level (default 6).

use std::time::Instant;

use ws_routes::{Client, Compression, Server, WebSocket, route, routes};

#[route("/echo")]
async fn echo(mut ws: WebSocket) {
    while let Some(Ok(message)) = ws.recv().await {
        if ws.send(message).await.is_err() {
            break;
        }
    }
}

/// 16 KiB of words from a pseudo-random sequence: compressible, as chat or JSON text is.
fn payload(seed: u64) -> String {
    let words = [
        "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
        "lambda", "mu",
    ];
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut text = String::with_capacity(16 << 10);
    while text.len() < 16 << 10 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        text.push_str(words[(state >> 33) as usize % words.len()]);
        text.push_str(if state.is_multiple_of(7) { "\n" } else { " " });
    }
    text.truncate(16 << 10);
    text
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut compression = Compression::default();
    if let Some(level) = std::env::args().nth(1) {
        compression = compression.level(level.parse()?);
    }
    let server = Server::new(routes![echo])
        .compression(compression)
        .bind("127.0.0.1:0")
        .await?;
    let addr = server.local_addr()?;
    tokio::spawn(server.run());
    let mut ws = Client::new()
        .compression(compression)
        .connect(&format!("ws://{addr}/echo"))
        .await?;
    assert!(ws.is_compressed());
    let payloads: Vec<String> = (0..200).map(payload).collect();
    let started = Instant::now();
    for text in payloads {
        ws.send(text.as_str()).await?;
        let echoed = ws.recv().await.expect("an echo")?;
        assert_eq!(echoed.as_text(), Some(text.as_str()));
    }
    println!("200 compressed 16 KiB echoes: {:?}", started.elapsed());
    Ok(())
}
