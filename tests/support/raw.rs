//! WebSocket and HTTP by hand, for the tests that must send what no well-behaved client would:
//! raw requests, the upgrade, masked frames, and reading the server's frames; and what a test
//! reads of this process from /proc.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::within;

/// The upgrade request a browser would send for `target`, with RFC 6455's example key.
pub fn upgrade_request(target: &str) -> String {
    format!(
        "GET {target} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
}

/// Sends `request` as it is and returns the server's whole answer, up to its close.
pub async fn http(addr: SocketAddr, request: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    within(tcp.read_to_string(&mut answer)).await.unwrap();
    answer
}

/// Opens a WebSocket on `path` by hand and returns the TCP stream after the 101.
pub async fn upgrade(addr: SocketAddr, path: &str) -> TcpStream {
    upgrade_with(addr, &upgrade_request(path)).await.0
}

/// Sends the upgrade `request` as it is; returns the TCP stream after the 101, and the 101's
/// head (lowercase, for looking up headers).
pub async fn upgrade_with(addr: SocketAddr, request: &str) -> (TcpStream, String) {
    within(async {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0];
            tcp.read_exact(&mut byte).await.unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).to_lowercase();
        assert!(head.starts_with("http/1.1 101 "), "{head}");
        (tcp, head)
    })
    .await
}

/// A client frame: masked, as RFC 6455 requires.
pub fn masked_frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    masked_frame_with(if fin { 0x80 } else { 0 } | opcode, payload)
}

/// A masked client frame with `first` as its first byte (FIN, RSV bits, opcode).
pub fn masked_frame_with(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![first];
    match payload.len() {
        length @ 0..=125 => frame.push(0x80 | length as u8),
        length @ 126..=65535 => {
            frame.push(0x80 | 126);
            frame.extend((length as u16).to_be_bytes());
        }
        length => {
            frame.push(0x80 | 127);
            frame.extend((length as u64).to_be_bytes());
        }
    }
    let mask = [0x12, 0x34, 0x56, 0x78];
    frame.extend(mask);
    frame.extend(
        payload
            .iter()
            .enumerate()
            .map(|(index, byte)| byte ^ mask[index % 4]),
    );
    frame
}

/// Reads one unfragmented server frame: its opcode and payload.
pub async fn read_frame(tcp: &mut TcpStream) -> (u8, Vec<u8>) {
    let (first, payload) = read_raw_frame(tcp).await;
    (first & 0x0f, payload)
}

/// Reads one unfragmented server frame: its first byte (FIN, RSV bits, opcode) and payload.
pub async fn read_raw_frame(tcp: &mut TcpStream) -> (u8, Vec<u8>) {
    within(try_read_raw_frame(tcp))
        .await
        .expect("a frame, not the end of the stream")
}

/// Reads one unfragmented, unmasked server frame, as [`read_raw_frame`]; `None` when the
/// stream ends (or fails) before the frame begins.
pub async fn try_read_raw_frame(tcp: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut header = [0u8; 2];
    tcp.read_exact(&mut header).await.ok()?;
    assert!(header[0] & 0x80 != 0, "a fragmented server frame");
    assert_eq!(header[1] & 0x80, 0, "a masked server frame");
    let length = match header[1] & 0x7f {
        126 => u64::from(tcp.read_u16().await.unwrap()),
        127 => tcp.read_u64().await.unwrap(),
        length => u64::from(length),
    };
    let mut payload = vec![0; usize::try_from(length).unwrap()];
    tcp.read_exact(&mut payload).await.unwrap();
    Some((header[0], payload))
}

/// Reads server frames until a close frame and returns its code and reason; pings go
/// unanswered.
pub async fn read_close(tcp: &mut TcpStream) -> (u16, String) {
    loop {
        let (opcode, payload) = read_frame(tcp).await;
        if opcode == 0x8 {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            return (code, String::from_utf8(payload[2..].to_vec()).unwrap());
        }
    }
}

/// Reads server frames until a data frame and returns its opcode and payload.
pub async fn read_message(tcp: &mut TcpStream) -> (u8, Vec<u8>) {
    loop {
        let (opcode, payload) = read_frame(tcp).await;
        if opcode < 0x8 {
            return (opcode, payload);
        }
    }
}

/// The data segments the kernel has received on the client socket bound to `local`, as `ss`
/// (iproute2) reports them.
pub fn data_segments_in(local: std::net::SocketAddr) -> u64 {
    let ss = std::process::Command::new("ss")
        .args(["-tinH", "state", "established", "src", &local.to_string()])
        .output()
        .expect("ss (iproute2) is installed: scripts/test installs it");
    let report = String::from_utf8(ss.stdout).unwrap();
    let count = report
        .split_whitespace()
        .find_map(|field| field.strip_prefix("data_segs_in:"))
        .unwrap_or_else(|| panic!("no data_segs_in in {report:?}"));
    count.parse().unwrap()
}

/// This process's resident memory, from /proc.
pub fn resident_memory() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .unwrap();
    let kib: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib << 10
}

/// The open file descriptors of this process.
pub fn open_files() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}
