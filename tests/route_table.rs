//! The route table as a program reads it (to document or check its routes): its routes in
//! order with their patterns, segments, handlers and docs; which two routes match the same
//! paths; and how a route and a matched path print.

mod support;

use ws_routes::extract::RoutePath;
use ws_routes::routing::Segment;
use ws_routes::{Routes, Server, WebSocket, route, routes};

use support::{connect, spawn_server, text};

/// The user making the request.
///
/// Answers with who they are.
#[route("/users/me")]
async fn me(_ws: WebSocket) {}

#[route("/users/{id}")]
async fn user(_ws: WebSocket, id: u64) {
    let _ = id;
}

#[route("/files/{*rest}")]
async fn files(_ws: WebSocket, rest: String) {
    let _ = rest;
}

/// Sends back how its matched path prints.
#[route("/printed/{name}")]
async fn printed(mut ws: WebSocket, path: RoutePath) {
    let _ = ws.send(format!("{path:?}")).await;
}

// Routes that no single table may hold together, to compare with one another.
#[route("/a/{x}")]
async fn a_x(_ws: WebSocket) {}

#[route("/a/{y}")]
async fn a_y(_ws: WebSocket) {}

#[route("/a/b")]
async fn a_b(_ws: WebSocket) {}

#[route("/a/c")]
async fn a_c(_ws: WebSocket) {}

#[route("/a/{x}/c")]
async fn a_x_c(_ws: WebSocket) {}

#[route("/a/{*x}")]
async fn a_rest_x(_ws: WebSocket) {}

#[route("/a/{*y}")]
async fn a_rest_y(_ws: WebSocket) {}

const TABLE: Routes = routes![me, user, files];

#[test]
fn a_table_lists_its_routes_in_order_with_what_each_was_written_with() {
    assert_eq!(TABLE.len(), 3);
    assert!(!TABLE.is_empty());
    let patterns: Vec<&str> = TABLE.iter().map(|route| route.pattern()).collect();
    assert_eq!(patterns, ["/users/me", "/users/{id}", "/files/{*rest}"]);
    let handlers: Vec<&str> = TABLE.iter().map(|route| route.handler_name()).collect();
    assert_eq!(handlers, ["me", "user", "files"]);
    let segments: Vec<&[Segment]> = TABLE.iter().map(|route| route.segments()).collect();
    assert_eq!(
        segments,
        [
            &[Segment::Static("users"), Segment::Static("me")][..],
            &[Segment::Static("users"), Segment::Param("id")][..],
            &[Segment::Static("files"), Segment::CatchAll("rest")][..],
        ]
    );
    let docs: Vec<&str> = TABLE.iter().map(|route| route.doc()).collect();
    assert_eq!(
        docs,
        [
            "The user making the request.\n\nAnswers with who they are.",
            "",
            ""
        ]
    );

    let one = routes![me];
    assert_eq!((one.len(), one.is_empty()), (1, false));
    let none = routes![];
    assert_eq!((none.len(), none.is_empty()), (0, true));
    assert_eq!(none.iter().count(), 0);
}

#[test]
fn routes_are_ambiguous_when_they_match_the_same_paths() {
    let route = |routes: Routes| routes.iter().next().expect("one route");
    let (x, y) = (route(routes![a_x]), route(routes![a_y]));
    let (b, c) = (route(routes![a_b]), route(routes![a_c]));
    let (rest_x, rest_y) = (route(routes![a_rest_x]), route(routes![a_rest_y]));
    let x_c = route(routes![a_x_c]);
    // The same shape, whatever the parameters are called.
    assert!(x.is_ambiguous_with(y));
    assert!(y.is_ambiguous_with(x));
    assert!(rest_x.is_ambiguous_with(rest_y));
    assert!(b.is_ambiguous_with(b));
    // Different shapes: precedence decides, or the paths differ.
    assert!(
        !x.is_ambiguous_with(b),
        "a static segment beats a parameter"
    );
    assert!(!b.is_ambiguous_with(x));
    assert!(!b.is_ambiguous_with(c), "other text");
    assert!(
        !x.is_ambiguous_with(rest_x),
        "a parameter beats a catch-all"
    );
    assert!(!x.is_ambiguous_with(x_c), "longer");
    assert!(!x_c.is_ambiguous_with(x), "shorter");
}

#[tokio::test]
async fn a_route_and_a_matched_path_print_what_they_are_without_the_query() {
    let route = TABLE.iter().nth(1).expect("a second route");
    let printed = format!("{route:?}");
    assert!(printed.contains("/users/{id}"), "{printed}");
    assert!(printed.contains("\"user\""), "{printed}");

    let addr = spawn_server(Server::new(routes![printed])).await;
    let mut ws = connect(addr, "/printed/ada?token=s3cr3t").await;
    let printed = text(&mut ws).await;
    assert!(printed.contains("/printed/{name}"), "{printed}");
    assert!(printed.contains("/printed/ada"), "{printed}");
    assert!(printed.contains("12 bytes, redacted"), "{printed}");
    assert!(!printed.contains("s3cr3t"), "{printed}");
}
