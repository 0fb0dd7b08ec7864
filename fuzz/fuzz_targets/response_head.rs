//! The client's handshake response parser (the response head, then the checks of RFC 6455
//! section 4.1 and the permessage-deflate answer), on responses built from parts or raw bytes,
//! arriving in arbitrary pieces. Never a panic; the same outcome whatever the pieces; an
//! accepted `101` carries the right `Sec-WebSocket-Accept` and no subprotocol that was not
//! offered, and the permessage-deflate it agrees to keeps within what the client offered.

#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use ws_routes::__private::client_response;
use ws_routes_fuzz::{ACCEPT, Head, KEY, Settings, pieces};

#[derive(Debug, Arbitrary)]
struct Input {
    response: Response,
    pieces: Vec<u8>,
    /// The subprotocols the client offered (only their letters and digits).
    offered: Vec<String>,
    settings: Settings,
}

#[derive(Debug, Arbitrary)]
enum Response {
    Raw(Vec<u8>),
    Built(Built),
}

/// A response from parts.
#[derive(Debug, Arbitrary)]
struct Built {
    /// `HTTP/1.1 101 Switching Protocols` when absent.
    status: Option<String>,
    /// The right one when absent.
    accept: Option<String>,
    /// The offered subprotocol of this index, or one not offered past the end.
    protocol: u8,
    /// Its standard lines are `Upgrade`, `Connection`, `Sec-WebSocket-Accept` and
    /// `Sec-WebSocket-Protocol`.
    head: Head,
}

impl Built {
    fn bytes(&self, offered: &[String]) -> Vec<u8> {
        let status = self
            .status
            .as_deref()
            .unwrap_or("HTTP/1.1 101 Switching Protocols");
        let accept = format!(
            "Sec-WebSocket-Accept: {}",
            self.accept.as_deref().unwrap_or(ACCEPT)
        );
        let protocol = offered
            .get(usize::from(self.protocol))
            .map_or("not-offered", String::as_str);
        let protocol = format!("Sec-WebSocket-Protocol: {protocol}");
        let standard = [
            "Upgrade: websocket",
            "Connection: Upgrade",
            &accept,
            &protocol,
        ];
        self.head.bytes(status, &standard)
    }

    /// Whether it names a subprotocol that was not offered.
    fn unoffered_protocol(&self, offered: usize) -> bool {
        self.head.omit >> 3 & 1 == 0 && usize::from(self.protocol) >= offered
    }
}

fuzz_target!(|input: Input| {
    let offered: Vec<String> = input
        .offered
        .iter()
        .map(|protocol| {
            protocol
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect()
        })
        .filter(|protocol: &String| !protocol.is_empty())
        .collect();
    let data = match &input.response {
        Response::Raw(bytes) => bytes.clone(),
        Response::Built(built) => built.bytes(&offered),
    };
    let offered: Vec<&str> = offered.iter().map(String::as_str).collect();
    let compression = input.settings.compression();
    let whole = client_response(&data, KEY, &offered, &compression);
    let mut buffer = Vec::new();
    let mut read = Ok(None);
    for piece in pieces(&data, &input.pieces) {
        buffer.extend_from_slice(piece);
        read = client_response(&buffer, KEY, &offered, &compression);
        if !matches!(read, Ok(None)) {
            break;
        }
    }
    assert_eq!(
        format!("{read:?}"),
        format!("{whole:?}"),
        "the pieces changed the outcome"
    );

    let Ok(Some((status, head_len, deflate))) = whole else {
        return;
    };
    assert!(data[..head_len].ends_with(b"\n"));
    if status != 101 {
        assert!(deflate.is_none());
        return;
    }
    let head = String::from_utf8_lossy(&data[..head_len]);
    assert!(
        head.contains(ACCEPT),
        "a 101 without the right accept key passed"
    );
    if let Response::Built(built) = &input.response {
        let unoffered = built.unoffered_protocol(offered.len());
        assert!(!unoffered, "a subprotocol that was not offered passed");
    }
    if let Some(agreed) = deflate {
        assert!(
            input.settings.enabled,
            "permessage-deflate agreed without an offer"
        );
        input.settings.check(&agreed, true);
    }
});
