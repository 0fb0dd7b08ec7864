//! Expansion: the function as written, plus a type of the same name (in the type namespace)
//! that carries the route's static description for `routes![]`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::ReturnType;
use syn::spanned::Spanned;

use super::validate::{Argument, Valid};
use crate::crate_path::crate_path;
use crate::pattern::Kind;

pub(crate) fn expand(valid: &Valid) -> TokenStream {
    let krate = crate_path(valid.krate.as_ref());
    let function = &valid.function;
    let ident = &function.sig.ident;
    let vis = &function.vis;
    let handler_name = ident.to_string();
    let handler_name = handler_name.strip_prefix("r#").unwrap_or(&handler_name);
    let pattern = &valid.pattern;

    let segments = valid.segments.iter().map(|segment| {
        let text = &segment.text;
        match segment.kind {
            Kind::Static => quote!(#krate::Segment::Static(#text)),
            Kind::Param => quote!(#krate::Segment::Param(#text)),
            Kind::CatchAll => quote!(#krate::Segment::CatchAll(#text)),
        }
    });

    let variables: Vec<_> = (0..valid.arguments.len())
        .map(|index| format_ident!("__argument_{index}"))
        .collect();
    // Parameters first: they only read the path; extractors may take the socket.
    let params = valid.arguments.iter().zip(&variables).filter_map(|(argument, variable)| match argument {
        Argument::Param { index, name, ty } => Some(quote_spanned! {ty.span()=>
            let #variable: #ty = match __connection.path().__parse::<#ty>(#index, #name) {
                ::core::result::Result::Ok(value) => value,
                ::core::result::Result::Err(error) => return #krate::__private::Outcome::from(error),
            };
        }),
        Argument::Extract { .. } => None,
    });
    let extractors = valid.arguments.iter().zip(&variables).filter_map(|(argument, variable)| match argument {
        Argument::Extract { ty } => Some(quote_spanned! {ty.span()=>
            let #variable: #ty = match <#ty as #krate::FromConnection>::from_connection(&mut __connection) {
                ::core::result::Result::Ok(value) => value,
                ::core::result::Result::Err(frame) => return #krate::__private::Outcome::from(frame),
            };
        }),
        Argument::Param { .. } => None,
    });
    let output_span = match &function.sig.output {
        ReturnType::Default => ident.span(),
        ReturnType::Type(_, ty) => ty.span(),
    };
    let call = quote_spanned! {output_span=>
        #krate::__private::HandlerReturn::__outcome(#ident(#(#variables),*).await)
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
                ) -> #krate::BoxFuture<#krate::__private::Outcome> {
                    ::std::boxed::Box::pin(async move {
                        #(#params)*
                        #(#extractors)*
                        #call
                    })
                }
                #krate::__private::route(#pattern, &[#(#segments),*], #handler_name, __entry)
            };
        }
    }
}
