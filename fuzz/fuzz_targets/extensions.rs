//! The `Sec-WebSocket-Extensions` negotiation (RFC 7692 section 7), both sides. The server on
//! any offers: never a panic, and what it agrees to keeps within its settings and is what a
//! client reads back from its answer. The client on any answer: never a panic, and what it
//! accepts keeps within its offer. And ws-routes against itself: every offer its client makes
//! is accepted by a server with compression on, and both sides then agree on the parameters
//! (the client may compress with a smaller window than the server allows).

#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use ws_routes::__private::{client_extensions, negotiate_extensions};
use ws_routes::http::HeaderValue;
use ws_routes_fuzz::Settings;

#[derive(Debug, Arbitrary)]
struct Input {
    server: Settings,
    client: Settings,
    offers: Vec<String>,
    answers: Vec<String>,
}

fuzz_target!(|input: Input| {
    let server = input.server.compression();
    let client = input.client.compression();

    let offers = input.offers.iter().map(String::as_str);
    if let Some((agreed, answer)) = negotiate_extensions(offers, &server) {
        assert!(input.server.enabled);
        input.server.check(&agreed, false);
        assert!(HeaderValue::from_str(&answer).is_ok(), "{answer:?}");
        // A client that offered everything reads the answer as the server meant it.
        let permissive = Settings {
            enabled: true,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            server_takeover: true,
            client_takeover: true,
        };
        let (_, read) = client_extensions(&permissive.compression(), [answer.as_str()])
            .expect("compression is on");
        assert_eq!(read, Ok(Some(agreed)), "{answer:?}");
    }

    let answers = input.answers.iter().map(String::as_str);
    if let Some((_, Ok(Some(agreed)))) = client_extensions(&client, answers) {
        input.client.check(&agreed, true);
    }

    let Some((offer, _)) = client_extensions(&client, []) else {
        return;
    };
    let answer = negotiate_extensions([offer.as_str()], &server);
    assert_eq!(answer.is_some(), input.server.enabled, "{offer:?}");
    if let Some((agreed, answer)) = answer {
        let (_, read) = client_extensions(&client, [answer.as_str()]).expect("compression is on");
        let read = read
            .unwrap_or_else(|error| panic!("{offer:?} answered {answer:?}: {error}"))
            .expect("the answer accepts the offer");
        assert_eq!(read.server_max_window_bits, agreed.server_max_window_bits);
        assert!(read.client_max_window_bits <= agreed.client_max_window_bits);
        assert_eq!(
            read.server_no_context_takeover,
            agreed.server_no_context_takeover
        );
        assert_eq!(
            read.client_no_context_takeover,
            agreed.client_no_context_takeover
        );
    }
});
