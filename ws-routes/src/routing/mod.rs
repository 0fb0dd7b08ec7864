//! Routing: the static route descriptions ([`Route`], [`Segment`]) that `#[route]` emits and
//! the tables ([`Routes`]) that `routes![]` builds, checked for ambiguity at compile time; the
//! messages a route declares ([`Messages`]); and the matcher that finds a request's route. The
//! matched path a handler takes is [`RoutePath`].

pub(crate) mod conflict;
pub(crate) mod matcher;
pub(crate) mod path;
pub(crate) mod route;

pub(crate) use path::{ParamError, Redacted, RoutePath};
pub use route::{JsonType, MessageType, Messages, Route, Routes, Segment};
