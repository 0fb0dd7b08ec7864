//! The methods of a class-style route, in one table: what each takes and returns, the
//! signature its errors suggest, and the `ClassRoute` method that forwards to it. Validation
//! reads the rules, expansion the forwarding; neither names a method on its own.

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
    /// Exactly these, in this order.
    Fixed(&'static [Payload]),
}

/// What a method returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Returns {
    /// The instance, or `Result<Self, E>` with `E: Into<Reject>` (checked by `AcceptReturn`).
    Instance,
    /// What a function route may return (checked by `HandlerReturn`).
    Outcome,
    /// Nothing.
    Nothing,
}

/// An argument that a lifecycle method receives from the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Payload {
    Session,
    Text,
    Binary,
    Error,
    Frame,
}

/// One row of the table.
pub(crate) struct Spec {
    pub(crate) name: &'static str,
    pub(crate) receiver: Receiver,
    pub(crate) arguments: Arguments,
    pub(crate) returns: Returns,
    /// `accept` may be a plain `fn`; the others run on the connection and must be `async`.
    pub(crate) must_be_async: bool,
    /// The signature that errors about this method suggest.
    pub(crate) example: &'static str,
}

impl Method {
    pub(crate) const ALL: [Method; 7] = [
        Method::Accept,
        Method::Handle,
        Method::OnOpen,
        Method::OnText,
        Method::OnBinary,
        Method::OnError,
        Method::OnClose,
    ];

    pub(crate) fn named(name: &str) -> Option<Method> {
        Method::ALL
            .into_iter()
            .find(|method| method.spec().name == name)
    }

    pub(crate) const fn spec(self) -> &'static Spec {
        match self {
            Method::Accept => &Spec {
                name: "accept",
                receiver: Receiver::Forbidden,
                arguments: Arguments::Route,
                returns: Returns::Instance,
                must_be_async: false,
                example: "async fn accept(request: &Request, name: String) -> Result<Self, Reject>",
            },
            Method::Handle => &Spec {
                name: "handle",
                receiver: Receiver::OwnedOrMutable,
                arguments: Arguments::Route,
                returns: Returns::Outcome,
                must_be_async: true,
                example: "async fn handle(self, ws: WebSocket)",
            },
            Method::OnOpen => &Spec {
                name: "on_open",
                receiver: Receiver::Mutable,
                arguments: Arguments::Fixed(&[Payload::Session]),
                returns: Returns::Outcome,
                must_be_async: true,
                example: "async fn on_open(&mut self, session: &mut Session)",
            },
            Method::OnText => &Spec {
                name: "on_text",
                receiver: Receiver::Mutable,
                arguments: Arguments::Fixed(&[Payload::Session, Payload::Text]),
                returns: Returns::Outcome,
                must_be_async: true,
                example: "async fn on_text(&mut self, session: &mut Session, text: String)",
            },
            Method::OnBinary => &Spec {
                name: "on_binary",
                receiver: Receiver::Mutable,
                arguments: Arguments::Fixed(&[Payload::Session, Payload::Binary]),
                returns: Returns::Outcome,
                must_be_async: true,
                example: "async fn on_binary(&mut self, session: &mut Session, data: Bytes)",
            },
            Method::OnError => &Spec {
                name: "on_error",
                receiver: Receiver::Mutable,
                arguments: Arguments::Fixed(&[Payload::Session, Payload::Error]),
                returns: Returns::Outcome,
                must_be_async: true,
                example: "async fn on_error(&mut self, session: &mut Session, error: Error)",
            },
            Method::OnClose => &Spec {
                name: "on_close",
                receiver: Receiver::Mutable,
                arguments: Arguments::Fixed(&[Payload::Frame]),
                returns: Returns::Nothing,
                must_be_async: true,
                example: "async fn on_close(&mut self, frame: Option<CloseFrame>)",
            },
        }
    }

    /// The `ClassRoute` method that forwards to this one (for the event methods).
    pub(crate) fn forwarder(self) -> proc_macro2::Ident {
        format_ident!("__{}", self.spec().name)
    }
}

impl Payload {
    /// The name the forwarding method gives the argument.
    pub(crate) fn variable(self) -> proc_macro2::Ident {
        let name = match self {
            Payload::Session => "session",
            Payload::Text => "text",
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
            Payload::Binary => quote!(#krate::Bytes),
            Payload::Error => quote!(#krate::Error),
            Payload::Frame => quote!(::core::option::Option<#krate::CloseFrame>),
        }
    }

    /// The argument converted into the type the user's method takes (a `String` or a
    /// `Vec<u8>` for instance), spanned on that type so that a type with no conversion is
    /// reported where it is written.
    pub(crate) fn convert(self, krate: &TokenStream, user_type: Span) -> TokenStream {
        let variable = self.variable();
        let at = crate_path_at(krate, user_type);
        match self {
            Payload::Text => {
                quote_spanned!(user_type=> #at::__private::FromText::__from_text(#variable))
            }
            Payload::Binary => {
                quote_spanned!(user_type=> #at::__private::FromBinary::__from_binary(#variable))
            }
            Payload::Session | Payload::Error | Payload::Frame => quote!(#variable),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Method;

    #[test]
    fn every_method_is_found_by_its_name() {
        for method in Method::ALL {
            assert_eq!(Method::named(method.spec().name), Some(method));
        }
        assert_eq!(Method::named("on_txt"), None);
    }
}
