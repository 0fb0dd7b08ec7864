//! The handshake's request-target parser on any input: never a panic; an accepted target's
//! path is the one `http::Uri` parses, starts with `/`, has no dot segment, and for an
//! origin-form target is exactly what comes before the first `?` (so nothing in the query can
//! change the route).

#![no_main]

use libfuzzer_sys::fuzz_target;
use ws_routes::__private::request_target;
use ws_routes::http::Uri;

fuzz_target!(|target: &str| {
    let Some(uri) = request_target(target) else {
        return;
    };
    let parsed: Uri = target.parse().expect("accepted targets parse as a URI");
    assert_eq!(uri.path(), parsed.path(), "{target:?}");
    assert_eq!(uri.query(), parsed.query(), "{target:?}");
    assert!(uri.path().starts_with('/'), "{target:?}");
    assert!(!target.contains('#'), "{target:?}");
    if target.starts_with('/') {
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (target, None),
        };
        assert_eq!(uri.path(), path, "{target:?}");
        assert_eq!(uri.query(), query, "{target:?}");
    } else {
        assert!(
            uri.scheme().is_some() && uri.authority().is_some(),
            "{target:?}"
        );
    }
    for segment in uri.path().split('/') {
        let decoded = segment.replace("%2e", ".").replace("%2E", ".");
        assert!(decoded != "." && decoded != "..", "{target:?}");
    }
});
