//! Expansion: the model of a valid route to the item as written plus its `RouteItem`
//! description. What both kinds share (the route parts, binding arguments from the
//! connection) is here; each kind's own code is in a module of its own.

mod class;
mod function;

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ReturnType, Signature, Type};

use super::model::{Argument, Handler, Messages, Route};
use crate::crate_path::crate_path_at;
use crate::pattern::Kind;

/// `krate` is the path to ws-routes the expansion uses.
pub(crate) fn route(krate: &TokenStream, route: &Route) -> TokenStream {
    match &route.handler {
        Handler::Function(function) => function::expand(krate, route, function),
        Handler::Class(class) => class::expand(krate, route, class),
    }
}

/// `ident` re-spanned onto the return type, so that a return type that is not allowed is
/// reported there.
fn call_span(ident: &Ident, sig: &Signature) -> Ident {
    let mut callee = ident.clone();
    if let ReturnType::Type(_, ty) = &sig.output {
        callee.set_span(ident.span().located_at(ty.span()));
    }
    callee
}

/// The `RouteParts` both kinds of route are built from.
fn route_parts(
    krate: &TokenStream,
    route: &Route,
    name: &str,
    requires: TokenStream,
) -> TokenStream {
    let pattern = &route.pattern.literal;
    let segments = route.pattern.segments.iter().map(|segment| {
        let text = &segment.text;
        match segment.kind {
            Kind::Static => quote!(#krate::routing::Segment::Static(#text)),
            Kind::Param => quote!(#krate::routing::Segment::Param(#text)),
            Kind::CatchAll => quote!(#krate::routing::Segment::CatchAll(#text)),
        }
    });
    let protocols = &route.protocols.names;
    let required = route.protocols.required;
    let compression = route.compression;
    let doc = &route.doc;
    let receives = messages(krate, &route.receives);
    let sends = messages(krate, &route.sends);
    quote! {
        #krate::__private::RouteParts {
            pattern: #pattern,
            segments: &[#(#segments),*],
            handler: #name,
            requires: #requires,
            protocols: &[#(#protocols),*],
            protocol_required: #required,
            compression: #compression,
            doc: #doc,
            receives: #receives,
            sends: #sends,
        }
    }
}

/// The description of one side's messages. A typed side is described by two functions that
/// find, by method resolution on the concrete type, its codec (a typed message wrapper names
/// one, any other type is JSON) and the JSON Schema of the value when it has one.
fn messages(krate: &TokenStream, messages: &Messages) -> TokenStream {
    let ty = match messages {
        Messages::Untyped => return quote!(#krate::__private::Messages::Untyped),
        Messages::Declared(ty) => quote!(#ty),
        // Spanned on the argument's type, where a type that is no typed message is reported.
        Messages::OnMessage(ty) => {
            let at = crate_path_at(krate, ty.span());
            quote_spanned!(ty.span()=> <#ty as #at::__private::MessagePayload>::Message)
        }
    };
    let declared = quote!(#krate::__private::Declared::<#ty>(::core::marker::PhantomData));
    quote! {
        #krate::__private::typed_message(
            {
                fn __describe(
                    generator: &mut #krate::__private::Generator,
                ) -> #krate::__private::Described {
                    #[allow(unused_imports)]
                    use #krate::__private::{WithSchema as _, Wrapped as _};
                    let (_, probe) = (&&#declared).__typed();
                    (&&probe).__describe(generator)
                }
                __describe
            },
            {
                fn __content_type() -> &'static str {
                    #[allow(unused_imports)]
                    use #krate::__private::Wrapped as _;
                    (&&#declared).__typed().0
                }
                __content_type
            },
        )
    }
}

/// The state types the extractors need, for the check at `bind`: those taken from the
/// connection, then those taken from the request. Each is named through the trait its binding
/// uses, so that an argument that is no extractor is one error, not two.
fn requires<'a>(
    krate: &TokenStream,
    from_connection: impl IntoIterator<Item = &'a Argument>,
    from_request: impl IntoIterator<Item = &'a Argument>,
) -> TokenStream {
    let connection = extractors(from_connection)
        .map(|ty| quote_spanned!(ty.span()=> <#ty as #krate::extract::FromConnection>::__state));
    let request = extractors(from_request)
        .map(|ty| quote_spanned!(ty.span()=> <#ty as #krate::extract::FromRequest>::__state));
    quote!(&[#(#connection,)* #(#request,)*])
}

fn extractors<'a>(
    arguments: impl IntoIterator<Item = &'a Argument>,
) -> impl Iterator<Item = &'a Type> {
    arguments.into_iter().filter_map(|argument| match argument {
        Argument::Extract { ty } => Some(ty),
        Argument::Param { .. } => None,
    })
}

/// Statements that bind each argument from `__connection` to a variable, parameters first
/// (they only read the path; extractors may take the socket), returning early with
/// `Err(outcome)` (the close frame) when one fails: the body of the closure in
/// [`bound_entry`].
fn bind_from_connection(krate: &TokenStream, arguments: &[Argument]) -> (Vec<Ident>, TokenStream) {
    let variables: Vec<Ident> = (0..arguments.len())
        .map(|index| format_ident!("__argument_{}", index))
        .collect();
    let params = arguments
        .iter()
        .zip(&variables)
        .filter_map(|(argument, variable)| {
            let Argument::Param { index, name, ty } = argument else {
                return None;
            };
            Some(bind_param(
                krate,
                quote!(__connection.path()),
                variable,
                (*index, name, ty),
                |error| {
                    quote!(return ::core::result::Result::Err(#krate::__private::Outcome::from(#error));)
                },
            ))
        });
    let extractors = arguments
        .iter()
        .zip(&variables)
        .filter_map(|(argument, variable)| {
            let Argument::Extract { ty } = argument else {
                return None;
            };
            Some(quote_spanned! {ty.span()=>
                let #variable: #ty =
                    match <#ty as #krate::extract::FromConnection>::from_connection(&mut __connection) {
                        ::core::result::Result::Ok(value) => value,
                        ::core::result::Result::Err(frame) => {
                            return ::core::result::Result::Err(
                                #krate::__private::Outcome::from(frame),
                            );
                        }
                    };
            })
        });
    let bindings = quote!(#(#params)* #(#extractors)*);
    (variables, bindings)
}

/// The body of an entry function that takes `__connection`: binds `variables` with
/// `bindings` before any future exists, lets go of the connection, and returns `boxed`, the
/// boxed future that moves in only the variables (an `async` block that did the binding would
/// keep the whole connection, the request's headers and all, for as long as the handler
/// runs), or the outcome of a binding that failed.
fn bound_entry(variables: &[Ident], bindings: &TokenStream, boxed: &TokenStream) -> TokenStream {
    quote! {
        let __bound = (move || {
            #bindings
            ::core::mem::drop(__connection);
            ::core::result::Result::Ok((#(#variables,)*))
        })();
        match __bound {
            ::core::result::Result::Ok((#(#variables,)*)) => #boxed,
            ::core::result::Result::Err(__outcome) => {
                ::std::boxed::Box::pin(::core::future::ready(__outcome))
            }
        }
    }
}

/// A statement that parses the parameter `name` (segment `index`) from `path`, a
/// `&RoutePath`, into `variable: ty`; when that fails, `on_error` runs with the error bound to
/// the identifier it is given.
fn bind_param(
    krate: &TokenStream,
    path: TokenStream,
    variable: &Ident,
    (index, name, ty): (usize, &str, &Type),
    on_error: impl FnOnce(&Ident) -> TokenStream,
) -> TokenStream {
    let error = Ident::new("error", ty.span());
    let on_error = on_error(&error);
    quote_spanned! {ty.span()=>
        let #variable: #ty = match #krate::__private::parse_param::<#ty>(#path, #index, #name) {
            ::core::result::Result::Ok(value) => value,
            ::core::result::Result::Err(#error) => {
                #on_error
            }
        };
    }
}
