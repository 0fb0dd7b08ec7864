//! A function route expands to the function as written plus a type of the same name (in the
//! type namespace only) that carries the route's static description for `routes![]`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};

use super::{bind_from_connection, bound_entry, call_span, requires, route_parts};
use crate::route::model::{Function, Route};
use crate::route::{NamedAfter, name};

pub(super) fn expand(krate: &TokenStream, route: &Route, function: &Function) -> TokenStream {
    let item = &function.item;
    let ident = &item.sig.ident;
    let vis = &item.vis;
    let requires = requires(krate, &function.arguments, []);
    let parts = route_parts(krate, route, &name(NamedAfter::Function(ident)), requires);
    let (variables, bindings) = bind_from_connection(krate, &function.arguments);
    let callee = call_span(ident, &item.sig);
    // The handler's own future, boxed: an `async` block awaiting it would keep the handler's
    // arguments a second time for as long as it runs.
    let boxed = quote_spanned! {callee.span()=>
        #krate::__private::handler_future(#callee(#(#variables),*))
    };

    let entry = bound_entry(&variables, &bindings, &boxed);
    quote! {
        #item

        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code)]
        #vis struct #ident {}

        impl #krate::__private::RouteItem for #ident {
            const ROUTE: #krate::routing::Route = {
                fn __entry(
                    #[allow(unused_mut)] mut __connection: #krate::extract::Connection,
                ) -> #krate::__private::BoxFuture<#krate::__private::Outcome> {
                    #entry
                }
                #krate::__private::function_route(#parts, __entry)
            };
        }
    }
}
