//! The client side of the Autobahn conformance suite: drives ws-routes' client against a
//! fuzzing server (`kosoku -m fuzzingserver`, or Autobahn's own), echoing every message of
//! every case, then asks the server to write its reports. `scripts/autobahn` runs it.
//!
//! ```text
//! cargo run --release --example autobahn_client -- --server ws://127.0.0.1:9001
//! ```

mod common;

use std::process::ExitCode;

use clap::Parser;
use ws_routes::{Client, Compression};

#[derive(Parser)]
#[command(about = "Run the Autobahn fuzzing server's cases with ws-routes' client")]
struct Cli {
    /// The fuzzing server's URL.
    #[arg(long, default_value = "ws://127.0.0.1:9001")]
    server: String,
    /// The agent name the reports are filed under.
    #[arg(long, default_value = "ws-routes")]
    agent: String,
    /// The largest message accepted, in bytes.
    #[arg(long, default_value_t = 16 << 20)]
    max_message_size: usize,
    /// permessage-deflate: messages from this many bytes up go out compressed.
    #[arg(long, default_value_t = 1024)]
    compression_threshold: usize,
    /// permessage-deflate: the zlib level, 0 to 9.
    #[arg(long, default_value_t = 6)]
    compression_level: u32,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    common::exit_status("autobahn_client", run(&cli).await)
}

async fn run(cli: &Cli) -> Result<(), Box<dyn std::error::Error>> {
    let compression = Compression::default()
        .threshold(cli.compression_threshold)
        .level(cli.compression_level);
    let client = Client::new()
        .max_message_size(cli.max_message_size)
        .compression(compression);
    let mut counter = client
        .connect(&format!("{}/getCaseCount", cli.server))
        .await?;
    let count: u32 = match counter.recv().await {
        Some(Ok(message)) => message
            .as_text()
            .and_then(|text| text.trim().parse().ok())
            .ok_or("getCaseCount did not answer a number")?,
        _ => return Err("getCaseCount did not answer".into()),
    };
    while counter.recv().await.is_some() {}
    println!("{count} cases");
    for case in 1..=count {
        let url = format!("{}/runCase?case={case}&agent={}", cli.server, cli.agent);
        let mut ws = match client.connect(&url).await {
            Ok(ws) => ws,
            Err(error) => {
                eprintln!("case {case}: {error}");
                continue;
            }
        };
        while let Some(Ok(message)) = ws.recv().await {
            if ws.send(message).await.is_err() {
                break;
            }
        }
    }
    let url = format!("{}/updateReports?agent={}", cli.server, cli.agent);
    let mut reports = client.connect(&url).await?;
    while reports.recv().await.is_some() {}
    println!("reports updated");
    Ok(())
}
