//! The matcher with any path against a fixed table: it never panics, and a match always
//! satisfies the pattern it names, segment by segment.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use ws_routes::__private::Matcher;
use ws_routes::{Routes, Segment, WebSocket, route, routes};

#[route("/")]
async fn root(_ws: WebSocket) {}
#[route("/users/me")]
async fn me(_ws: WebSocket) {}
#[route("/users/{id}")]
async fn user(_ws: WebSocket, id: u64) {
    let _ = id;
}
#[route("/users/{id}/posts/{post}")]
async fn post(_ws: WebSocket) {}
#[route("/files/{*rest}")]
async fn files(_ws: WebSocket) {}
#[route("/files/{name}")]
async fn file(_ws: WebSocket) {}
#[route("/a/b/c")]
async fn abc(_ws: WebSocket) {}
#[route("/a/{x}/d")]
async fn axd(_ws: WebSocket) {}
#[route("/a/{*rest}")]
async fn a_rest(_ws: WebSocket) {}
#[route("/trailing/")]
async fn trailing(_ws: WebSocket) {}

const ROUTES: Routes = routes![
    root, me, user, post, files, file, abc, axd, a_rest, trailing
];
static MATCHER: LazyLock<Matcher> = LazyLock::new(|| Matcher::new(ROUTES));

fuzz_target!(|path: &str| {
    let Some(index) = MATCHER.find(path) else {
        return;
    };
    let route = ROUTES.iter().nth(index).expect("the index names a route");
    let mut rest = path
        .strip_prefix('/')
        .expect("a matched path starts with '/'");
    for (position, segment) in route.segments().iter().enumerate() {
        let (text, tail) = match rest.split_once('/') {
            Some((text, tail)) => (text, Some(tail)),
            None => (rest, None),
        };
        match segment {
            Segment::Static(expected) => assert_eq!(text, *expected),
            Segment::Param(_) => assert!(!text.is_empty()),
            Segment::CatchAll(_) => {
                assert_eq!(position + 1, route.segments().len());
                assert!(!rest.is_empty());
                return;
            }
        }
        let last = position + 1 == route.segments().len();
        match tail {
            Some(tail) if !last => rest = tail,
            None if last => return,
            _ => panic!(
                "{path:?} matched {:?} with a different number of segments",
                route.pattern()
            ),
        }
    }
});
