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

/// Binds an async function (a function route) or an `impl` block (a class-style route) to a
/// URI pattern, making it listable in `routes![]`.
///
/// `#[route("/light/{status}")]` on `async fn light(ws: WebSocket, status: String)`: an
/// argument named after a pattern parameter receives it, percent-decoded and parsed with
/// `FromStr`; every other argument is an extractor. An argument named `_status` binds
/// `{status}` too, so an argument that is only there to constrain the parameter's type can
/// carry the leading underscore rustc suggests for unused arguments.
///
/// On an `impl` block, the methods are `accept` (the handshake hook, which builds the instance
/// or refuses with a `Reject`), `on_open`, `on_text`, `on_message` (which takes messages decoded
/// by a codec: JSON text as `Json<T>`, MessagePack binary as `MsgPack<T>`), `on_binary`,
/// `on_error` and `on_close`, or `handle` (which
/// takes the whole connection instead of the `on_*` methods); all are optional, and other
/// methods belong in a separate `impl` block.
///
/// | method | signature |
/// |---|---|
/// | `accept` | `async fn accept(<params, &Request, extractors>) -> Result<Self, E>` with `E: Into<Reject>` (or `-> Self`; `async` optional) |
/// | `on_open` | `async fn on_open(&mut self, session: &mut Session)` |
/// | `on_text` | `async fn on_text(&mut self, session: &mut Session, text: String)` (or `Utf8Bytes`) |
/// | `on_message` | `async fn on_message(&mut self, session: &mut Session, Json(event): Json<T>)` (or `MsgPack<T>`, or `Result<Json<T>, JsonError>`, `Result<MsgPack<T>, CodecError>`) |
/// | `on_binary` | `async fn on_binary(&mut self, session: &mut Session, data: Bytes)` (or `Vec<u8>`) |
/// | `on_error` | `async fn on_error(&mut self, session: &mut Session, error: Error)` |
/// | `on_close` | `async fn on_close(&mut self, frame: Option<CloseFrame>)` |
/// | `handle` | `async fn handle(self, ws: WebSocket, <params, extractors>)` (or `&mut self`) |
///
/// `on_close` returns nothing; the other `on_*` methods and `handle` may return `()`,
/// `Result<(), Close>` or `Result<(), E>` with `E: Display`, as function routes do.
///
/// `on_message` takes the messages of its codec's kind, `on_text` and `on_binary` those of the
/// other kind: an `on_message` taking `Json<T>` (text) goes with an `on_binary`, one taking
/// `MsgPack<T>` (binary) with an `on_text`, and two methods for the same kind are a compile
/// error. A message of the other kind that no method takes closes the connection with 1003.
///
/// The doc comment above the function or the `impl` block is kept in the route's description
/// (`Route::doc`) and becomes its description in the AsyncAPI document.
///
/// After the pattern, optional arguments:
///
/// - `crate = path`: where ws-routes is, when it cannot be found by its name in `Cargo.toml`
///   (a re-export, for instance);
/// - `protocols = ["chat.v2", "chat.v1"]`: the subprotocols the route speaks, most preferred
///   first, and `require_protocol` to refuse a client that offers none of them;
/// - `init = path` (class-style routes): the constructor used when there is no `accept` hook
///   (else `Default`).
/// - `receives = Type`, `sends = Type`: the typed messages clients send and the route sends, for
///   the route's AsyncAPI document (`on_message`'s type is what a class-style route receives):
///   a bare type is JSON, `MsgPack<T>` (or any typed message wrapper) names its codec.
/// - `compression = false`: the route never agrees on permessage-deflate, whatever the
///   server's `Compression` (for data that is compressed already, or latency-bound feeds).
///
/// Mistakes are compile errors pointing at the offending token, all reported at once. The
/// item is then emitted as written, with a stand-in route so that a `routes![]` naming it
/// adds no error of its own.
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
