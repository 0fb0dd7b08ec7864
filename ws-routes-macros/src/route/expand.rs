//! Expansion of function routes, and the pieces both kinds of route share.
//!
//! A function route expands to the function as written plus a type of the same name (in the
//! type namespace only) that carries the route's static description for `routes![]`.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ReturnType, Signature};

use super::validate::{Argument, Negotiation, Pattern, ValidFunction};
use crate::crate_path::crate_path;
use crate::pattern::Kind;

pub(crate) fn function(valid: &ValidFunction) -> TokenStream {
    let krate = crate_path(valid.krate.as_ref());
    let function = &valid.function;
    let ident = &function.sig.ident;
    let vis = &function.vis;
    let name = unraw(ident);
    let pattern = &valid.pattern.literal;
    let segments = segments(&krate, &valid.pattern);
    let requires = requires(&krate, &valid.arguments);
    let parts = route_parts(
        &krate,
        pattern,
        segments,
        &name,
        requires,
        &valid.negotiation,
    );
    let (variables, bindings) = bind_from_connection(&krate, &valid.arguments);
    let callee = call_span(ident, &function.sig);
    let call = quote_spanned! {callee.span()=>
        #krate::__private::HandlerReturn::__outcome(#callee(#(#variables),*).await)
    };

    quote! {
        #function

        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code)]
        #vis struct #ident {}

        impl #krate::__private::RouteItem for #ident {
            const ROUTE: #krate::Route = {
                fn __entry(
                    #[allow(unused_mut)] mut __connection: #krate::Connection,
                ) -> #krate::__private::BoxFuture<#krate::__private::Outcome> {
                    ::std::boxed::Box::pin(async move {
                        #bindings
                        // What the handler did not take need not live as long as it runs.
                        ::core::mem::drop(__connection);
                        #call
                    })
                }
                #krate::__private::function_route(#parts, __entry)
            };
        }
    }
}

/// The handler's name without `r#`.
pub(crate) fn unraw(ident: &Ident) -> String {
    let name = ident.to_string();
    name.strip_prefix("r#").map(str::to_owned).unwrap_or(name)
}

/// `ident` re-spanned onto the return type, so that a return type that is not allowed is
/// reported there.
pub(crate) fn call_span(ident: &Ident, sig: &Signature) -> Ident {
    let mut callee = ident.clone();
    if let ReturnType::Type(_, ty) = &sig.output {
        callee.set_span(ident.span().located_at(ty.span()));
    }
    callee
}

/// The `RouteParts` both kinds of route are built from.
pub(crate) fn route_parts(
    krate: &TokenStream,
    pattern: &syn::LitStr,
    segments: TokenStream,
    name: &str,
    requires: TokenStream,
    negotiation: &Negotiation,
) -> TokenStream {
    let protocols = &negotiation.protocols;
    let required = negotiation.required;
    quote! {
        #krate::__private::RouteParts {
            pattern: #pattern,
            segments: #segments,
            handler: #name,
            requires: #requires,
            protocols: &[#(#protocols),*],
            protocol_required: #required,
        }
    }
}

/// `&[Segment::Static("light"), Segment::Param("status")]`.
pub(crate) fn segments(krate: &TokenStream, pattern: &Pattern) -> TokenStream {
    let segments = pattern.segments.iter().map(|segment| {
        let text = &segment.text;
        match segment.kind {
            Kind::Static => quote!(#krate::Segment::Static(#text)),
            Kind::Param => quote!(#krate::Segment::Param(#text)),
            Kind::CatchAll => quote!(#krate::Segment::CatchAll(#text)),
        }
    });
    quote!(&[#(#segments),*])
}

/// The state types the extractors need, for the check at `bind`.
pub(crate) fn requires<'a>(
    krate: &TokenStream,
    arguments: impl IntoIterator<Item = &'a Argument>,
) -> TokenStream {
    let keys = arguments.into_iter().filter_map(|argument| match argument {
        Argument::Extract { ty } => Some(quote_spanned! {ty.span()=>
            <#ty as #krate::FromConnection>::__state
        }),
        Argument::Param { .. } => None,
    });
    quote!(&[#(#keys),*])
}

/// Statements that bind each argument from `__connection` to a variable, parameters first
/// (they only read the path; extractors may take the socket), returning early with the
/// close frame when one fails.
pub(crate) fn bind_from_connection(
    krate: &TokenStream,
    arguments: &[Argument],
) -> (Vec<Ident>, TokenStream) {
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
            let parse = parse_param(krate, quote!(__connection.path()), *index, name, ty);
            Some(quote_spanned! {ty.span()=>
                let #variable: #ty = match #parse {
                    ::core::result::Result::Ok(value) => value,
                    ::core::result::Result::Err(error) => {
                        return #krate::__private::Outcome::from(error);
                    }
                };
            })
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
                    match <#ty as #krate::FromConnection>::from_connection(&mut __connection) {
                        ::core::result::Result::Ok(value) => value,
                        ::core::result::Result::Err(frame) => {
                            return #krate::__private::Outcome::from(frame);
                        }
                    };
            })
        });
    let bindings = quote!(#(#params)* #(#extractors)*);
    (variables, bindings)
}

/// Parses parameter `name` (segment `index`) from `path`, a `&RoutePath`, into `ty`.
pub(crate) fn parse_param(
    krate: &TokenStream,
    path: TokenStream,
    index: usize,
    name: &str,
    ty: &syn::Type,
) -> TokenStream {
    quote_spanned! {ty.span()=>
        #krate::__private::parse_param::<#ty>(#path, #index, #name)
    }
}
