//! What `#[route]` emits for an item it rejected: the item as written (so that code using it
//! still resolves and IDEs keep working), the errors, and a stand-in `RouteItem`
//! implementation, so that `routes![]` naming the item adds no error of its own (as
//! thiserror emits fallback impls). The stand-in never runs: the build fails on the errors.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ItemImpl;

use super::parse::Target;
use super::{NamedAfter, name};
use crate::diagnostics::Diagnostics;

pub(crate) fn rejected(
    item: TokenStream,
    stand_in: Option<TokenStream>,
    diagnostics: Diagnostics,
) -> TokenStream {
    let errors = diagnostics.into_compile_errors();
    quote! {
        #item
        #stand_in
        #errors
    }
}

/// The `RouteItem` implementation for a rejected item, if it can have one.
pub(crate) fn stand_in(target: &Target, krate: &TokenStream) -> Option<TokenStream> {
    match target {
        // On a method `#[route]` cannot add a type next to it; there is nothing to list.
        Target::Function(function) if function.sig.receiver().is_some() => None,
        Target::Function(function) => {
            let ident = &function.sig.ident;
            let vis = &function.vis;
            let route = route(krate, &name(NamedAfter::Function(ident)));
            Some(quote! {
                #[doc(hidden)]
                #[allow(non_camel_case_types, dead_code)]
                #vis struct #ident {}

                impl #krate::__private::RouteItem for #ident {
                    const ROUTE: #krate::routing::Route = #route;
                }
            })
        }
        Target::Class(ItemImpl {
            generics, self_ty, ..
        }) => {
            let (impl_generics, _, where_clause) = generics.split_for_impl();
            let route = route(krate, &name(NamedAfter::Class(self_ty)));
            Some(quote! {
                impl #impl_generics #krate::__private::RouteItem for #self_ty #where_clause {
                    const ROUTE: #krate::routing::Route = #route;
                }
            })
        }
    }
}

/// A route description of no consequence. Its one segment is unlike any a valid pattern has
/// and differs from route to route, so that it is never ambiguous with another.
fn route(krate: &TokenStream, name: &str) -> TokenStream {
    let segment = format!("\0rejected {name}");
    quote! {{
        fn __rejected(
            _: #krate::extract::Connection,
        ) -> #krate::__private::BoxFuture<#krate::__private::Outcome> {
            ::core::unreachable!()
        }
        #krate::__private::function_route(
            #krate::__private::RouteParts {
                pattern: "",
                segments: &[#krate::routing::Segment::Static(#segment)],
                handler: #name,
                requires: &[],
                protocols: &[],
                protocol_required: false,
                compression: true,
                doc: "",
                receives: #krate::__private::Messages::Untyped,
                sends: #krate::__private::Messages::Untyped,
            },
            __rejected,
        )
    }}
}
