//! Procedural macros of [ws-routes](https://docs.rs/ws-routes): `#[route]` and `routes![]`.
//!
//! Use them through the `ws-routes` crate, which re-exports them and documents them with
//! examples. Each macro parses, validates and expands in its own modules; errors are gathered
//! and reported together, each with a span on the offending token, and the annotated item is
//! always emitted again so that the rest of the code keeps compiling.

use proc_macro::TokenStream;

mod crate_path;
mod diagnostics;
mod pattern;
mod route;
mod table;

/// Binds an async function to a URI pattern.
///
/// `#[route("/light/{status}")]` on `async fn light(ws: WebSocket, status: String)` makes
/// `light` listable in `routes![]`. Arguments named after a pattern parameter receive it,
/// percent-decoded and parsed with `FromStr`; other arguments are extractors. An optional
/// `crate = path` argument names the ws-routes crate when it cannot be found by name.
#[proc_macro_attribute]
pub fn route(args: TokenStream, item: TokenStream) -> TokenStream {
    route::route(args.into(), item.into()).into()
}

/// Builds a route table, checked at compile time, from `#[route]` items:
/// `routes![light, echo]`.
///
/// Two routes that match the same paths (`/a/{x}` and `/a/{y}`, or one route listed twice) are
/// a compile error that points at the second.
///
/// When ws-routes cannot be found by its name in `Cargo.toml`, name it first with
/// `crate = path`, as `#[route]` does: `routes![crate = ::my_ws, light, echo]`. The `=` sets
/// it apart from a route (`routes![crate::light]` lists the route `crate::light`).
#[proc_macro]
pub fn routes(input: TokenStream) -> TokenStream {
    table::routes(input.into()).into()
}
