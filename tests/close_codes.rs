//! Close codes and close frames as a client reads them: a code compared with a number either
//! way round, turned into one, printed; a long reason cut on a character boundary, exactly
//! where the protocol's 123 bytes end.

mod support;

use ws_routes::{Close, CloseCode, CloseFrame, Server, WebSocket, route, routes};

use support::{connect, next, spawn_server};

/// Closes with 4001 and, as the reason, the first text message it receives.
#[route("/reason")]
async fn reason(mut ws: WebSocket) -> Result<(), Close> {
    while let Some(Ok(message)) = ws.recv().await {
        if let Some(text) = message.as_text() {
            return Err(Close::new(4001, text));
        }
    }
    Ok(())
}

/// Reads until the connection ends and returns the server's close frame.
async fn server_close(ws: &mut WebSocket) -> CloseFrame {
    while let Some(Ok(_)) = next(ws).await {}
    ws.close_frame().expect("a close frame").clone()
}

/// The close frame a client gets after sending `reason` to `/reason`.
async fn closed_with_reason(reason: &str) -> CloseFrame {
    let addr = spawn_server(Server::new(routes![reason])).await;
    let mut ws = connect(addr, "/reason").await;
    ws.send(reason).await.expect("send");
    server_close(&mut ws).await
}

#[tokio::test]
async fn a_close_code_compares_with_a_number_either_way_round() {
    let addr = spawn_server(Server::new(routes![reason])).await;
    let mut ws = connect(addr, "/nowhere").await;
    let frame = server_close(&mut ws).await;

    // How a client checks the code it got: against a number, on either side.
    assert!(frame.code == 4040u16);
    assert!(4040u16 == frame.code);
    assert!(frame.code != 1000u16);
    assert!(1000u16 != frame.code);
    // And against the named constant, and as a number of its own.
    assert_eq!(frame.code, CloseCode::NO_ROUTE);
    assert_eq!(u16::from(frame.code), 4040);
    assert_eq!(frame.code.as_u16(), 4040);
}

#[test]
fn every_named_code_is_its_number() {
    for (code, number) in [
        (CloseCode::NORMAL, 1000u16),
        (CloseCode::GOING_AWAY, 1001),
        (CloseCode::PROTOCOL_ERROR, 1002),
        (CloseCode::UNSUPPORTED, 1003),
        (CloseCode::INVALID_PAYLOAD, 1007),
        (CloseCode::POLICY, 1008),
        (CloseCode::TOO_BIG, 1009),
        (CloseCode::EXTENSION, 1010),
        (CloseCode::INTERNAL, 1011),
        (CloseCode::RESTART, 1012),
        (CloseCode::TRY_AGAIN_LATER, 1013),
        (CloseCode::BAD_PARAM, 4000),
        (CloseCode::NO_ROUTE, 4040),
    ] {
        assert_eq!(u16::from(code), number);
        assert_eq!(code, number);
        assert_eq!(number, code);
        assert_ne!(code, number + 1);
        assert_ne!(number + 1, code);
        assert_eq!(CloseCode::from(number), code);
        assert_eq!(code.to_string(), number.to_string());
    }
}

#[tokio::test]
async fn close_codes_and_frames_print_as_a_log_line_would_show_them() {
    let addr = spawn_server(Server::new(routes![reason])).await;
    let mut ws = connect(addr, "/nowhere").await;
    let frame = server_close(&mut ws).await;
    assert_eq!(frame.code.to_string(), "4040");
    assert_eq!(frame.to_string(), "4040 (no route for /nowhere)");

    assert_eq!(format!("{:?}", frame.code), "CloseCode(4040)");

    assert_eq!(CloseCode::from(3999).to_string(), "3999");
    assert_eq!(CloseFrame::new(CloseCode::NORMAL, "").to_string(), "1000");
    assert_eq!(
        CloseFrame::new(CloseCode::POLICY, "not allowed").to_string(),
        "1008 (not allowed)"
    );
}

#[tokio::test]
async fn a_long_reason_is_cut_before_the_character_that_crosses_123_bytes() {
    // The last character straddles byte 123 (it takes bytes 122..124, 121..124, 120..124):
    // it goes whole, and everything before it stays.
    for (kept, straddling) in [(122, "é"), (121, "€"), (120, "😀")] {
        let reason = format!("{}{straddling}", "a".repeat(kept));
        let frame = closed_with_reason(&reason).await;
        assert_eq!(frame.code, 4001u16);
        assert_eq!(frame.reason.as_str(), "a".repeat(kept), "{straddling}");
        assert_eq!(
            CloseFrame::new(4001, &reason).reason.as_str(),
            "a".repeat(kept)
        );
    }
    // A reason of exactly 123 bytes that ends in a multi-byte character is kept whole.
    let exact = format!("{}é", "a".repeat(121));
    assert_eq!(closed_with_reason(&exact).await.reason.as_str(), exact);
    // Past 123 bytes of multi-byte characters, the cut falls after the last whole one.
    let accents = "é".repeat(100);
    let frame = closed_with_reason(&accents).await;
    assert_eq!(frame.reason.as_str(), "é".repeat(61));
}
