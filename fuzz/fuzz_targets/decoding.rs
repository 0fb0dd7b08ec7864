//! Percent-decoding of path parameters and query strings on any input: never a panic, and a
//! parameter is the percent-decoding of its raw segment (absent when that is not UTF-8 or holds
//! a control character).

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use percent_encoding::percent_decode_str;
use ws_routes::__private::{Matcher, parse_param, query};
use ws_routes::{Routes, WebSocket, route, routes};

#[route("/p/{value}")]
async fn one(_ws: WebSocket) {}
#[route("/c/{*rest}")]
async fn rest(_ws: WebSocket) {}

const ROUTES: Routes = routes![one, rest];
static MATCHER: LazyLock<Matcher> = LazyLock::new(|| Matcher::new(ROUTES));

fuzz_target!(|input: (&str, &str)| {
    let (raw, raw_query) = input;
    for (path, name) in [
        (format!("/p/{raw}"), "value"),
        (format!("/c/{raw}"), "rest"),
    ] {
        let Some(matched) = MATCHER.route_path(&path, Some(raw_query)) else {
            continue;
        };
        // The matched segment is `raw` itself (for `{value}`, only when it has no '/').
        let expected = percent_decode_str(raw)
            .decode_utf8()
            .ok()
            .filter(|value| !value.chars().any(char::is_control));
        assert_eq!(
            matched.param(name).as_deref(),
            expected.as_deref(),
            "{raw:?}"
        );
        let _ = parse_param::<u32>(&matched, 1, name);
        // `params` gives exactly what `param` gives: the value, or nothing.
        let params: Vec<(&str, String)> = matched
            .params()
            .map(|(name, value)| (name, value.into_owned()))
            .collect();
        let expected: Vec<(&str, String)> = expected
            .map(|value| (name, value.into_owned()))
            .into_iter()
            .collect();
        assert_eq!(params, expected, "{raw:?}");
    }
    let query = query(raw_query);
    let _ = query.get("key");
    assert_eq!(query.as_str(), raw_query);
    let _ = query.pairs().count();
});
