//! The matcher against a fixed table, both ways: for any path it never panics and finds
//! exactly the route a reference says (every route whose pattern the path satisfies, segment
//! by segment, ranked by precedence); and for paths built from the table's own patterns, with
//! the parameters filled from the input, it finds a route, the one precedence says.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use ws_routes::__private::Matcher;
use ws_routes::routing::{Route, Segment};
use ws_routes::{Routes, WebSocket, route, routes};

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

/// Whether `path` satisfies `route`'s pattern, segment by segment.
fn satisfies(route: &Route, path: &str) -> bool {
    let Some(mut rest) = path.strip_prefix('/') else {
        return false;
    };
    let segments = route.segments();
    for (position, segment) in segments.iter().enumerate() {
        let (text, tail) = match rest.split_once('/') {
            Some((text, tail)) => (text, Some(tail)),
            None => (rest, None),
        };
        match segment {
            Segment::Static(expected) if text != *expected => return false,
            Segment::Param(_) if text.is_empty() => return false,
            Segment::CatchAll(_) => return !rest.is_empty(),
            _ => {}
        }
        match tail {
            Some(tail) if position + 1 < segments.len() => rest = tail,
            None => return position + 1 == segments.len(),
            Some(_) => return false,
        }
    }
    false
}

/// How specific a segment is: lower wins.
fn rank(segment: &Segment) -> u8 {
    match segment {
        Segment::Static(_) => 0,
        Segment::Param(_) => 1,
        Segment::CatchAll(_) => 2,
    }
}

/// The route precedence picks for `path`: of the routes it satisfies, the one whose segments
/// are the most specific, compared one by one from the left.
fn reference(path: &str) -> Option<usize> {
    ROUTES
        .iter()
        .enumerate()
        .filter(|(_, route)| satisfies(route, path))
        .min_by_key(|(_, route)| route.segments().iter().map(rank).collect::<Vec<_>>())
        .map(|(index, _)| index)
}

/// The matcher agrees with the reference on `path`.
fn check(path: &str) {
    assert_eq!(
        MATCHER.find(path),
        reference(path),
        "{path:?}: the matcher and the precedence rule disagree"
    );
}

/// A path built from `route`'s pattern, its parameters filled from `fillers` (a parameter
/// gets one without slashes, a catch-all any; "x" when they run out or are empty).
fn fill(route: &Route, fillers: &str) -> String {
    let mut fillers = fillers.split('\u{1}');
    let mut next = |slashes: bool| {
        let filler: String = fillers
            .next()
            .unwrap_or_default()
            .chars()
            .filter(|&c| slashes || c != '/')
            .collect();
        if filler.is_empty() {
            "x".to_owned()
        } else {
            filler
        }
    };
    let segments: Vec<String> = route
        .segments()
        .iter()
        .map(|segment| match segment {
            Segment::Static(text) => (*text).to_owned(),
            Segment::Param(_) => next(false),
            Segment::CatchAll(_) => next(true),
        })
        .collect();
    format!("/{}", segments.join("/"))
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Any path: a match satisfies its pattern and is the best one; no match means none fits.
    check(&text);
    // A path made to fit a pattern of the table: it must be found.
    if let Some((&choice, fillers)) = data.split_first() {
        let route = ROUTES
            .iter()
            .nth(usize::from(choice) % ROUTES.len())
            .expect("a route");
        let path = fill(route, &String::from_utf8_lossy(fillers));
        assert!(
            satisfies(route, &path),
            "{path:?} was built from {:?}",
            route.pattern()
        );
        assert!(
            MATCHER.find(&path).is_some(),
            "{path:?} fits {:?} but matched nothing",
            route.pattern()
        );
        check(&path);
    }
});
