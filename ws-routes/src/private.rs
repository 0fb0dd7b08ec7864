//! What the macros' expansions (and the fuzz targets and benchmarks) call: re-exports and the
//! few functions that build route descriptions. Not public API: no stability promises.

pub use crate::class::accept::DefaultInstance;
pub use crate::class::payload::{FromBinary, FromMessage, FromText, MessagePayload};
pub use crate::class::{AcceptReturn, ClassRoute, run as run_class};
pub use crate::codec::MessageKind;
pub use crate::extract::state::StateKey;
pub use crate::handler::{Admitted, BoxFuture, HandlerReturn, Outcome, handler_future};
pub use crate::routing::conflict::Conflict;

use crate::extract::{Connection, Reject, Request};
use crate::handler::Entry;
pub use crate::routing::route::RouteParts;
pub use crate::routing::{MessageType, Messages};
use crate::routing::{ParamError, Route, RoutePath, Routes};

/// Parses the parameter at segment `index` of the pattern (the macro knows the index).
pub fn parse_param<T: PathParam>(
    path: &RoutePath,
    index: usize,
    name: &'static str,
) -> Result<T, ParamError> {
    path.parse(index, name)
}

/// The type of a path parameter: anything `FromStr`.
#[diagnostic::on_unimplemented(
    message = "the path parameter type `{Self}` does not implement `FromStr`",
    label = "a path parameter is parsed with `FromStr`",
    note = "use `String`, a number, or a type that implements `std::str::FromStr`"
)]
pub trait PathParam: std::str::FromStr {}

impl<T: std::str::FromStr> PathParam for T {}

/// The description of typed messages whose type `describe` reports, written by the codec
/// whose media type `content_type` returns (the macro's `__describe` and `__content_type`).
pub const fn typed_message(
    describe: fn(&mut Generator) -> Described,
    content_type: fn() -> &'static str,
) -> Messages {
    // Only the AsyncAPI document reads them; the macro cannot see the feature, so it always
    // writes them.
    #[cfg(not(feature = "asyncapi"))]
    let _ = (describe, content_type);
    Messages::Typed(MessageType {
        #[cfg(feature = "asyncapi")]
        describe,
        #[cfg(feature = "asyncapi")]
        content_type,
    })
}

pub use crate::routing::route::{Described, Generator};

/// A type named in `receives = T` or `sends = T`, or the one `on_message` decodes: a
/// [`TypedMessage`](crate::codec::TypedMessage) wrapper names its codec and the value it
/// holds ([`Wrapped`], found first by method resolution on `&&Declared<T>`); any other type is
/// JSON (the inherent method, found on `&Declared<T>`).
pub struct Declared<T: ?Sized>(pub std::marker::PhantomData<T>);

impl<T: ?Sized> Declared<T> {
    /// A bare type: JSON of it.
    pub fn __typed(&self) -> (&'static str, Probe<T>) {
        ("application/json", Probe(std::marker::PhantomData))
    }
}

/// A wrapper: its codec's media type, and the value it holds.
pub trait Wrapped {
    type Value: ?Sized;
    fn __typed(&self) -> (&'static str, Probe<Self::Value>);
}

#[cfg(feature = "codec")]
impl<W: crate::codec::TypedMessage> Wrapped for &Declared<W> {
    type Value = W::Value;
    fn __typed(&self) -> (&'static str, Probe<W::Value>) {
        (
            <W::Codec as crate::codec::Codec>::CONTENT_TYPE,
            Probe(std::marker::PhantomData),
        )
    }
}

/// Picks, for a concrete `T`, the description with `T`'s JSON Schema when it has one and the
/// feature is on ([`WithSchema`], found first by method resolution on `&&Probe<T>`), else the
/// one without (the inherent method, found on `&Probe<T>`): a type without a JSON Schema is
/// documented without one rather than refused, so that the `asyncapi` feature never breaks a
/// build.
pub struct Probe<T: ?Sized>(pub std::marker::PhantomData<T>);

impl<T: ?Sized> Probe<T> {
    /// Without a JSON Schema: the type's name only.
    pub fn __describe(&self, _generator: &mut Generator) -> Described {
        #[cfg(feature = "asyncapi")]
        return (std::borrow::Cow::Borrowed(std::any::type_name::<T>()), None);
    }
}

/// With a JSON Schema: its name and a reference into the generator's definitions.
pub trait WithSchema {
    fn __describe(&self, generator: &mut Generator) -> Described;
}

#[cfg(feature = "asyncapi")]
impl<T: ?Sized + schemars::JsonSchema> WithSchema for &Probe<T> {
    fn __describe(&self, generator: &mut Generator) -> Described {
        (T::schema_name(), Some(generator.subschema_for::<T>()))
    }
}

/// The description of a function route.
pub const fn function_route(
    parts: RouteParts,
    entry: fn(Connection) -> BoxFuture<Outcome>,
) -> Route {
    Route {
        parts,
        entry: Entry::Upgrade(entry),
    }
}

/// The description of a class-style route, entered through its `accept` hook.
pub const fn class_route(
    parts: RouteParts,
    accept: fn(Request) -> BoxFuture<Result<Admitted, Reject>>,
) -> Route {
    Route {
        parts,
        entry: Entry::Accept(accept),
    }
}

/// The route matcher, for the fuzz targets and benchmarks.
#[derive(Debug)]
pub struct Matcher(crate::routing::matcher::Matcher);

impl Matcher {
    /// Builds the matcher for `routes`.
    pub fn new(routes: Routes) -> Self {
        Matcher(crate::routing::matcher::Matcher::new(routes))
    }

    /// The index of the route `path` matches (no allocation).
    pub fn find(&self, path: &str) -> Option<usize> {
        self.0.find(path)
    }

    /// The match for `path`, as a handler would see it: `None` when no route matches, or when
    /// `path` and `query` are not those of a request target (see `RoutePath::from_parts`).
    pub fn route_path(&self, path: &str, query: Option<&str>) -> Option<RoutePath> {
        RoutePath::from_parts(self.0.route(path)?, path, query)
    }
}

/// The request target as the handshake routes it: `None` when it is answered with 400.
pub fn request_target(target: &str) -> Option<crate::http::Uri> {
    crate::server::handshake::request_target(target).ok()
}

/// A query string, as the `Query` extractor would see it.
pub fn query(raw: &str) -> crate::extract::Query {
    crate::extract::Query::new(Some(raw.to_owned()))
}

/// Implemented by `#[route]` for the item it annotates, so that `routes![name]` finds it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a route",
    label = "not annotated with `#[route(\"...\")]`",
    note = "`routes![]` lists functions and `impl` blocks annotated with `#[route(\"/pattern\")]`"
)]
pub trait RouteItem {
    /// The route's static description.
    const ROUTE: Route;
}

pub use crate::server::handshake::RequestHead;
pub use crate::wire::deflate::negotiation::{DeflateError, Negotiated};

/// The frame reader of a connection, for the fuzz targets: bytes in as they arrive, checked
/// frames out.
#[derive(Debug)]
pub struct FrameReader(crate::wire::read::Reader);

/// A frame as the reader hands it to the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadFrame {
    /// A whole data message.
    Message(crate::Message),
    /// A ping, with its payload.
    Ping(crate::Bytes),
    /// A pong, with its payload.
    Pong(crate::Bytes),
    /// A close frame; `None` for one without a code.
    Close(Option<crate::CloseFrame>),
}

impl From<crate::wire::frame::Frame> for ReadFrame {
    fn from(frame: crate::wire::frame::Frame) -> Self {
        use crate::wire::frame::Frame;
        match frame {
            Frame::Message(message) => ReadFrame::Message(message),
            Frame::Ping(payload) => ReadFrame::Ping(payload),
            Frame::Pong(payload) => ReadFrame::Pong(payload),
            Frame::Close(close) => ReadFrame::Close(close),
        }
    }
}

impl FrameReader {
    /// A reader for a server (reading masked frames) when `server`, else for a client; with
    /// permessage-deflate negotiated when `deflate` is `Some`, the peer keeping its compression
    /// context from one message to the next when it is `Some(true)`.
    pub fn new(server: bool, max_frame: usize, max_message: usize, deflate: Option<bool>) -> Self {
        use crate::wire::frame::Role;
        let role = if server { Role::Server } else { Role::Client };
        let inflater = deflate.map(|takeover| {
            let negotiated = Negotiated {
                server_max_window_bits: 15,
                client_max_window_bits: 15,
                server_no_context_takeover: !takeover,
                client_no_context_takeover: !takeover,
            };
            crate::wire::deflate::compression::Inflater::new(&negotiated, role)
        });
        FrameReader(crate::wire::read::Reader::new(
            role,
            max_frame,
            max_message,
            inflater,
        ))
    }

    /// Takes bytes from `input` until a frame is complete or the input runs out: how many it
    /// took, and the frame, if one is complete.
    pub fn feed(&mut self, input: &[u8]) -> Result<(usize, Option<ReadFrame>), crate::Error> {
        let (taken, frame) = self.0.feed(input)?;
        Ok((taken, frame.map(ReadFrame::from)))
    }

    /// The connection's other way in for a large data frame: as much of `input` as the frame's
    /// payload still lacks goes straight into its message buffer, as a socket read would. How
    /// many bytes it took (none when no data payload is due), and the frame, if complete.
    pub fn read_payload(
        &mut self,
        input: &[u8],
    ) -> Result<(usize, Option<ReadFrame>), crate::Error> {
        let take = self.0.data_left().min(input.len());
        if take == 0 {
            return Ok((0, None));
        }
        self.0.payload_buffer().extend_from_slice(&input[..take]);
        let frame = self.0.payload_read(take)?;
        Ok((take, frame.map(ReadFrame::from)))
    }
}

/// Reads a request head as the standalone server does, of at most `limit` bytes: `Err(None)`
/// when the stream ends first, `Err(Some(status))` for the HTTP answer that refuses it.
pub async fn read_request_head<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    limit: usize,
) -> Result<RequestHead, Option<crate::http::StatusCode>> {
    use crate::server::handshake::{ReadError, read_head};
    read_head(stream, limit).await.map_err(|error| match error {
        ReadError::Io(_) => None,
        ReadError::Refused(refusal) => Some(refusal.status()),
    })
}

/// What the server answers a request head with before routing: the `Sec-WebSocket-Accept`
/// value and the permessage-deflate agreement (with the response header's value) under
/// `compression`; or the status of the refusal (426 for a request that asks no upgrade).
pub fn upgrade(
    head: &RequestHead,
    compression: &crate::Compression,
) -> Result<
    (
        crate::http::HeaderValue,
        Option<(Negotiated, crate::http::HeaderValue)>,
    ),
    crate::http::StatusCode,
> {
    use crate::server::handshake;
    if !handshake::is_upgrade(head) {
        return Err(crate::http::StatusCode::UPGRADE_REQUIRED);
    }
    let accept = handshake::accept_key(head).map_err(|refusal| refusal.status())?;
    let accept = accept.header_value();
    let deflate = compression
        .config()
        .and_then(|config| handshake::negotiate_deflate(&head.headers, config));
    Ok((accept, deflate))
}

/// What a client makes of the server's handshake response, from the bytes of it in `buffer`,
/// for a request made with `key` that offered the subprotocols `offered` and permessage-deflate
/// under `compression`: `None` while the head is incomplete; else its status, its length and,
/// for a `101` (the only status whose headers are checked), the permessage-deflate agreement.
pub fn client_response(
    buffer: &[u8],
    key: &str,
    offered: &[&str],
    compression: &crate::Compression,
) -> Result<Option<(crate::http::StatusCode, usize, Option<Negotiated>)>, crate::Error> {
    use crate::wire::handshake;
    let Some((status, headers, head_len)) = handshake::response_head(buffer)? else {
        return Ok(None);
    };
    if status != crate::http::StatusCode::SWITCHING_PROTOCOLS {
        return Ok(Some((status, head_len, None)));
    }
    let deflate = handshake::accepted(&headers, key, offered, compression.config())?;
    Ok(Some((status, head_len, deflate)))
}

/// The server side of permessage-deflate's negotiation: the agreement and the response
/// header's value for the `Sec-WebSocket-Extensions` values a client sent, under `compression`.
pub fn negotiate_extensions<'a>(
    offers: impl IntoIterator<Item = &'a str>,
    compression: &crate::Compression,
) -> Option<(Negotiated, String)> {
    crate::wire::deflate::negotiation::negotiate(offers, compression.config()?)
}

/// The client side of permessage-deflate's negotiation: the offer a client makes under
/// `compression`, and what it makes of the server's `Sec-WebSocket-Extensions` values in
/// answer; `None` when `compression` is disabled (no offer is made).
pub fn client_extensions<'a>(
    compression: &crate::Compression,
    response: impl IntoIterator<Item = &'a str>,
) -> Option<(String, Result<Option<Negotiated>, DeflateError>)> {
    let config = compression.config()?;
    let offer = crate::wire::deflate::negotiation::client_offer(config);
    Some((
        offer,
        crate::wire::deflate::negotiation::client_accept(response, config),
    ))
}
