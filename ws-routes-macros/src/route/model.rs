//! The typed model of a route that passed validation, which expansion reads: what both kinds
//! of route share, and each kind's handler.

use syn::{ItemFn, ItemImpl, LitStr, Path, ReturnType, Signature, Type};

use super::lifecycle::Method;
use super::parse::Target;
use crate::pattern::Segment;

/// A valid route.
pub(crate) struct Route {
    pub(crate) pattern: Pattern,
    pub(crate) protocols: Protocols,
    /// Whether the route may agree on permessage-deflate (`compression = false` says no).
    pub(crate) compression: bool,
    pub(crate) handler: Handler,
    /// The handler's doc comment.
    pub(crate) doc: String,
    /// What clients send and what the route sends, for its documentation.
    pub(crate) receives: Messages,
    pub(crate) sends: Messages,
}

/// The messages one side of a route sends, as its documentation describes them.
pub(crate) enum Messages {
    /// Text or binary.
    Untyped,
    /// The type `receives = T` or `sends = T` names: a typed message wrapper such as
    /// `MsgPack<T>` names its codec, any other type is JSON.
    Declared(Type),
    /// The typed message `on_message` decodes: the payload of its argument type.
    OnMessage(Type),
}

/// The pattern as written and its segments.
pub(crate) struct Pattern {
    pub(crate) literal: LitStr,
    pub(crate) segments: Vec<Segment>,
}

/// Subprotocol negotiation: the protocols a route speaks, most preferred first.
pub(crate) struct Protocols {
    pub(crate) names: Vec<String>,
    pub(crate) required: bool,
}

pub(crate) enum Handler {
    Function(Box<Function>),
    Class(Box<Class>),
}

impl Handler {
    /// The item as validation received it.
    pub(crate) fn into_target(self) -> Target {
        match self {
            Handler::Function(function) => Target::Function(function.item),
            Handler::Class(class) => Target::Class(class.block),
        }
    }
}

/// `#[route]` on an `async fn`.
pub(crate) struct Function {
    pub(crate) item: ItemFn,
    pub(crate) arguments: Vec<Argument>,
}

/// `#[route]` on an `impl` block.
pub(crate) struct Class {
    pub(crate) block: ItemImpl,
    /// `init = path`.
    pub(crate) init: Option<Path>,
    pub(crate) accept: Option<Accept>,
    pub(crate) handle: Option<Handle>,
    /// The event methods the block defines (`on_open`, `on_text`, ...).
    pub(crate) events: Vec<Event>,
}

/// The `accept` hook.
pub(crate) struct Accept {
    pub(crate) is_async: bool,
    pub(crate) returns: ReturnType,
    pub(crate) arguments: Vec<HookArgument>,
}

/// An argument of the `accept` hook.
pub(crate) enum HookArgument {
    /// A parameter or an extractor, as for a function route.
    Route(Box<Argument>),
    /// `&Request`: the request itself.
    Request,
}

/// The `handle` method, which takes the whole connection.
pub(crate) struct Handle {
    pub(crate) sig: Signature,
    /// `self` rather than `&mut self`.
    pub(crate) by_value: bool,
    pub(crate) arguments: Vec<Argument>,
}

/// An event method, forwarded to by `ClassRoute`.
pub(crate) struct Event {
    /// Its row of the table says what it takes and which `ClassRoute` method forwards to it.
    pub(crate) method: Method,
    pub(crate) sig: Signature,
}

/// Where a handler argument comes from.
pub(crate) enum Argument {
    /// The pattern parameter at this segment index, parsed into `ty`.
    Param {
        index: usize,
        name: String,
        ty: Type,
    },
    /// Anything else: taken from the connection or the request.
    Extract { ty: Type },
}
