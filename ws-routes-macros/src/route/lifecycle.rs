//! The methods of a class-style route, in one table: what each takes and returns, the
//! signature its errors suggest, and the `ClassRoute` method that forwards to it. Validation
//! reads the rules, expansion the forwarding; beyond telling the `accept` and `handle` hooks
//! from the event methods, neither names a method on its own.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};

use crate::crate_path::crate_path_at;

/// A method a `#[route]` impl block may define.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    Accept,
    Handle,
    OnOpen,
    OnText,
    OnMessage,
    OnBinary,
    OnError,
    OnClose,
}

/// What a method may take as `self`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Receiver {
    /// No `self`: the method builds the instance.
    Forbidden,
    /// `&mut self`.
    Mutable,
    /// `self` or `&mut self`.
    OwnedOrMutable,
}

/// What a method takes after `self`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arguments {
    /// Path parameters and extractors, as a function route does (plus `&Request` in `accept`).
    Route,
    /// Exactly these, in this order, passed on by the `ClassRoute` method `forwarder` (for the
    /// event methods).
    Fixed {
        payloads: &'static [Payload],
        forwarder: &'static str,
    },
}

/// An argument that a lifecycle method receives from the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Payload {
    Session,
    Text,
    /// A message decoded by a codec (`on_message`): text or binary, as the codec of the
    /// argument's type says, so the kind is checked at compile time by the expansion.
    Message,
    Binary,
    Error,
    Frame,
}

/// One row of the table.
#[derive(Clone, Copy)]
pub(crate) struct Spec {
    pub(crate) name: &'static str,
    pub(crate) receiver: Receiver,
    pub(crate) arguments: Arguments,
    /// The method returns nothing (the others return what a function route may, or for
    /// `accept` the instance, as the traits that expansion names check).
    pub(crate) returns_nothing: bool,
    /// The signature that errors about this method suggest.
    pub(crate) example: &'static str,
}

impl Spec {
    /// `accept`, which builds the instance, may be a plain `fn`; the others run on the
    /// connection and must be `async`.
    pub(crate) fn must_be_async(&self) -> bool {
        self.receiver != Receiver::Forbidden
    }
}

/// The row of an event method: it takes `&mut self` and `payloads`, and returns what a
/// function route may.
const fn event(
    name: &'static str,
    payloads: &'static [Payload],
    forwarder: &'static str,
    example: &'static str,
) -> Spec {
    Spec {
        name,
        receiver: Receiver::Mutable,
        arguments: Arguments::Fixed {
            payloads,
            forwarder,
        },
        returns_nothing: false,
        example,
    }
}

impl Method {
    pub(crate) const ALL: [Method; 8] = [
        Method::Accept,
        Method::Handle,
        Method::OnOpen,
        Method::OnText,
        Method::OnMessage,
        Method::OnBinary,
        Method::OnError,
        Method::OnClose,
    ];

    pub(crate) fn named(name: &str) -> Option<Method> {
        Method::ALL
            .into_iter()
            .find(|method| method.spec().name == name)
    }

    pub(crate) const fn spec(self) -> Spec {
        match self {
            Method::Accept => Spec {
                name: "accept",
                receiver: Receiver::Forbidden,
                arguments: Arguments::Route,
                returns_nothing: false,
                example: "async fn accept(request: &Request, name: String) -> Result<Self, Reject>",
            },
            Method::Handle => Spec {
                name: "handle",
                receiver: Receiver::OwnedOrMutable,
                arguments: Arguments::Route,
                returns_nothing: false,
                example: "async fn handle(self, ws: WebSocket)",
            },
            Method::OnOpen => event(
                "on_open",
                &[Payload::Session],
                "__on_open",
                "async fn on_open(&mut self, session: &mut Session)",
            ),
            Method::OnText => event(
                "on_text",
                &[Payload::Session, Payload::Text],
                "__on_text",
                "async fn on_text(&mut self, session: &mut Session, text: String)",
            ),
            Method::OnMessage => event(
                "on_message",
                &[Payload::Session, Payload::Message],
                "__on_message",
                "async fn on_message(&mut self, session: &mut Session, Json(event): Json<Event>)",
            ),
            Method::OnBinary => event(
                "on_binary",
                &[Payload::Session, Payload::Binary],
                "__on_binary",
                "async fn on_binary(&mut self, session: &mut Session, data: Bytes)",
            ),
            Method::OnError => event(
                "on_error",
                &[Payload::Session, Payload::Error],
                "__on_error",
                "async fn on_error(&mut self, session: &mut Session, error: Error)",
            ),
            Method::OnClose => Spec {
                returns_nothing: true,
                ..event(
                    "on_close",
                    &[Payload::Frame],
                    "__on_close",
                    "async fn on_close(&mut self, frame: Option<CloseFrame>)",
                )
            },
        }
    }
}

/// A kind of message, as `on_text` and `on_binary` take them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MessageKind {
    Text,
    Binary,
}

impl MessageKind {
    /// The kind as the errors name it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            MessageKind::Text => "text",
            MessageKind::Binary => "binary",
        }
    }

    /// The `ws_routes::codec::MessageKind` variant.
    pub(crate) fn variant(self) -> proc_macro2::Ident {
        match self {
            MessageKind::Text => format_ident!("Text"),
            MessageKind::Binary => format_ident!("Binary"),
        }
    }
}

impl Payload {
    /// The kind of message the payload is, when the method says it (`on_text`, `on_binary`).
    /// `on_message`'s is its codec's, known from the argument's type only: expansion checks at
    /// compile time that no method of the first kind takes the same kind.
    pub(crate) fn kind(self) -> Option<MessageKind> {
        match self {
            Payload::Text => Some(MessageKind::Text),
            Payload::Binary => Some(MessageKind::Binary),
            Payload::Session | Payload::Message | Payload::Error | Payload::Frame => None,
        }
    }

    /// The name the forwarding method gives the argument.
    pub(crate) fn variable(self) -> proc_macro2::Ident {
        let name = match self {
            Payload::Session => "session",
            Payload::Text => "text",
            Payload::Message => "message",
            Payload::Binary => "data",
            Payload::Error => "error",
            Payload::Frame => "frame",
        };
        format_ident!("{}", name)
    }

    /// The type `ClassRoute` passes the argument as.
    pub(crate) fn ty(self, krate: &TokenStream) -> TokenStream {
        match self {
            Payload::Session => quote!(&mut #krate::Session),
            Payload::Text => quote!(#krate::Utf8Bytes),
            Payload::Message => quote!(#krate::Message),
            Payload::Binary => quote!(#krate::Bytes),
            Payload::Error => quote!(#krate::Error),
            Payload::Frame => quote!(::core::option::Option<#krate::CloseFrame>),
        }
    }

    /// The argument converted into the type the user's method takes (a `String`, a
    /// `Vec<u8>` or a `Json<T>` for instance), spanned on that type so that a type with no
    /// conversion is reported where it is written. A message that does not decode returns the
    /// forwarder's outcome (the close) early.
    pub(crate) fn convert(self, krate: &TokenStream, user_type: Span) -> TokenStream {
        let variable = self.variable();
        let at = crate_path_at(krate, user_type);
        match self {
            Payload::Text => {
                quote_spanned!(user_type=> #at::__private::FromText::__from_text(#variable))
            }
            Payload::Message => quote_spanned! {user_type=>
                match #at::__private::FromMessage::__from_message(#variable) {
                    ::core::result::Result::Ok(value) => value,
                    ::core::result::Result::Err(outcome) => return outcome,
                }
            },
            Payload::Binary => {
                quote_spanned!(user_type=> #at::__private::FromBinary::__from_binary(#variable))
            }
            Payload::Session | Payload::Error | Payload::Frame => quote!(#variable),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Arguments, Method};

    #[test]
    fn every_method_is_found_by_its_name() {
        for method in Method::ALL {
            assert_eq!(Method::named(method.spec().name), Some(method));
        }
        assert_eq!(Method::named("on_txt"), None);
    }

    #[test]
    fn event_methods_have_a_forwarder_of_their_own_and_hooks_none() {
        let mut forwarders = Vec::new();
        for method in Method::ALL {
            let is_hook = matches!(method, Method::Accept | Method::Handle);
            match method.spec().arguments {
                Arguments::Fixed { forwarder, .. } => {
                    assert!(!is_hook, "{method:?}");
                    assert!(!forwarders.contains(&forwarder), "{method:?}");
                    forwarders.push(forwarder);
                }
                Arguments::Route => assert!(is_hook, "{method:?}"),
            }
        }
    }
}
