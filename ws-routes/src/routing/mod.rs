//! Routing: the static route descriptions `#[route]` emits and the tables `routes![]` builds
//! (checked for ambiguity at compile time), the matcher that finds a request's route, and the
//! matched path with its parameters.

mod conflict;
pub(crate) mod matcher;
mod path;
mod route;

pub use conflict::Conflict;
pub(crate) use path::Redacted;
pub use path::{ParamError, RoutePath};
pub use route::{
    Described, Generator, JsonType, MessageType, Messages, Route, RouteParts, Routes, Segment,
};
