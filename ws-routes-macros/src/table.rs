//! `routes![a, b, ...]`: parses the list and expands to a const table with a compile-time
//! ambiguity check per route.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Path, Token};

use crate::crate_path::crate_path;

pub(crate) fn routes(input: TokenStream) -> TokenStream {
    match Punctuated::<Path, Token![,]>::parse_terminated.parse2(input) {
        Ok(paths) => expand(&paths.into_iter().collect::<Vec<_>>()),
        Err(error) => error.into_compile_error(),
    }
}

fn expand(paths: &[Path]) -> TokenStream {
    let krate = crate_path(None);
    let entries = paths
        .iter()
        .map(|path| quote_spanned!(path.span()=> <#path as #krate::__private::RouteItem>::ROUTE));
    // One check per route against those listed before it; the panic, evaluated at compile time,
    // points at the route that repeats an earlier one.
    let checks = paths.iter().enumerate().skip(1).map(|(index, path)| {
        quote_spanned! {path.span()=>
            const _: () = {
                const CONFLICT: #krate::__private::Conflict = #krate::__private::Conflict::find(ROUTES, #index);
                if CONFLICT.found() {
                    ::core::panic!("{}", CONFLICT.message());
                }
            };
        }
    });
    quote! {{
        const ROUTES: &[#krate::Route] = &[#(#entries),*];
        #(#checks)*
        #krate::Routes::__from_checked(ROUTES)
    }}
}
