//! Generates the route tables of `benches/matching.rs` into `OUT_DIR`:
//!
//! - `patterns.rs`: `PATTERNS`, 1,000 routes as (pattern, a path only that route matches);
//! - `routes.rs`: the same routes as `#[route]` functions, and `routes![]` tables of the first
//!   10, 100 and 1,000 of them (`ROUTES_10`, `ROUTES_100`, `ROUTES_1000`).
//!
//! Route `i` is of kind `i % 4`: static (`/api/v1/r{i}/status`), parameter last (`/r{i}/{id}`),
//! parameter first (`/users/{id}/r{i}`) and catch-all (`/files/r{i}/{*rest}`).

use std::fmt::Write as _;
use std::path::Path;
use std::{env, fs};

const ROUTES: usize = 1000;
const TABLES: [usize; 3] = [10, 100, 1000];

/// Route `i`'s pattern and a path that matches it and no other route.
fn route(i: usize) -> (String, String) {
    match i % 4 {
        0 => (
            format!("/api/v1/r{i}/status"),
            format!("/api/v1/r{i}/status"),
        ),
        1 => (format!("/r{i}/{{id}}"), format!("/r{i}/42")),
        2 => (format!("/users/{{id}}/r{i}"), format!("/users/42/r{i}")),
        _ => (
            format!("/files/r{i}/{{*rest}}"),
            format!("/files/r{i}/a/b/c.txt"),
        ),
    }
}

fn main() {
    let out = env::var_os("OUT_DIR").expect("cargo sets OUT_DIR");
    let out = Path::new(&out);

    let mut patterns = format!("pub static PATTERNS: [(&str, &str); {ROUTES}] = [\n");
    let mut routes = String::new();
    for i in 0..ROUTES {
        let (pattern, path) = route(i);
        writeln!(patterns, "    ({pattern:?}, {path:?}),").unwrap();
        writeln!(
            routes,
            "#[ws_routes::route({pattern:?})]\nasync fn r{i}(_ws: ws_routes::WebSocket) {{}}"
        )
        .unwrap();
    }
    patterns.push_str("];\n");
    for size in TABLES {
        let names: Vec<String> = (0..size).map(|i| format!("r{i}")).collect();
        writeln!(
            routes,
            "pub const ROUTES_{size}: ws_routes::Routes = ws_routes::routes![{}];",
            names.join(", ")
        )
        .unwrap();
    }

    fs::write(out.join("patterns.rs"), patterns).unwrap();
    fs::write(out.join("routes.rs"), routes).unwrap();
    println!("cargo::rerun-if-changed=build.rs");
}
