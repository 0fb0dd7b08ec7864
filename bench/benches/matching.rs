//! Route matching with 10, 100 and 1,000 routes (static, parameter and catch-all mixed; see
//! `build.rs`), one lookup per iteration: ws-routes' matcher (through its `#[doc(hidden)]`
//! entry point `ws_routes::__private::Matcher`, on tables built by `routes![]`) beside
//! matchit 0.9 on the same patterns.
//!
//! ```text
//! cargo bench -p bench --bench matching
//! ```
//!
//! Each lookup is a path that exactly one route matches, taken from the middle of the table,
//! for each kind of route; `miss` shares the static routes' prefix and matches nothing. matchit
//! also captures the parameters of the match (inline, without allocating); ws-routes' `find`
//! only returns the route, its server reads parameters later from the matched route.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

/// The routes of the largest table, as (pattern, a path that matches only it).
mod patterns {
    include!(concat!(env!("OUT_DIR"), "/patterns.rs"));
}

/// The same routes as `#[route]` functions and `routes![]` tables of 10, 100 and 1,000.
mod tables {
    include!(concat!(env!("OUT_DIR"), "/routes.rs"));
}

/// Table sizes.
const SIZES: [usize; 3] = [10, 100, 1000];

/// The kinds of lookups: route `i` is of kind `i % 4` (see build.rs).
const KINDS: [&str; 4] = ["static", "param-last", "param-first", "catch-all"];

/// A path that no route matches, sharing a prefix with the static routes.
const MISS: &str = "/api/v1/none/status";

/// The lookup of one kind (an index in `KINDS`, or `KINDS.len()` for the miss) on a table of
/// `size` routes: the path, and the route that should match it.
fn lookup(kind: usize, size: usize) -> (&'static str, Option<usize>) {
    if kind == KINDS.len() {
        return (MISS, None);
    }
    // The route of this kind nearest the middle of the table.
    let index = (size / 2 / KINDS.len()) * KINDS.len() + kind;
    (patterns::PATTERNS[index].1, Some(index))
}

/// One table size, built for each matcher.
struct Table {
    size: usize,
    matchit: matchit::Router<usize>,
    ws_routes: ws_routes::__private::Matcher,
}

impl Table {
    fn new(size: usize) -> Table {
        let mut matchit = matchit::Router::new();
        for (index, (pattern, _)) in patterns::PATTERNS[..size].iter().enumerate() {
            matchit
                .insert(*pattern, index)
                .expect("the patterns do not conflict");
        }
        Table {
            size,
            matchit,
            ws_routes: {
                let routes = match size {
                    10 => tables::ROUTES_10,
                    100 => tables::ROUTES_100,
                    _ => tables::ROUTES_1000,
                };
                assert_eq!(routes.len(), size);
                ws_routes::__private::Matcher::new(routes)
            },
        }
    }
}

fn matching(c: &mut Criterion) {
    let tables: Vec<Table> = SIZES.into_iter().map(Table::new).collect();
    for kind in 0..=KINDS.len() {
        let name = KINDS.get(kind).copied().unwrap_or("miss");
        let mut group = c.benchmark_group(format!("match/{name}"));
        for table in &tables {
            let (path, expected) = lookup(kind, table.size);
            let router = &table.matchit;
            let found = router.at(path).ok().map(|found| *found.value);
            assert_eq!(found, expected, "matchit on {path}");
            group.bench_with_input(BenchmarkId::new("matchit", table.size), path, |b, path| {
                b.iter(|| router.at(black_box(path)).ok().map(|found| *found.value))
            });
            {
                let matcher = &table.ws_routes;
                assert_eq!(matcher.find(path), expected, "ws-routes on {path}");
                group.bench_with_input(
                    BenchmarkId::new("ws-routes", table.size),
                    path,
                    |b, path| b.iter(|| matcher.find(black_box(path))),
                );
            }
        }
        group.finish();
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = matching
}
criterion_main!(benches);
