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
    // The table is checked once, in linear time; each route then has a check of its own that
    // fails, at compile time, when it is the later of the first ambiguous pair, so that the
    // error points at it.
    let slots = (2 * paths.len()).next_power_of_two().max(2);
    let checks = paths.iter().enumerate().skip(1).map(|(index, path)| {
        quote_spanned! {path.span()=>
            const _: () = if let ::core::option::Option::Some((earlier, #index)) = CONFLICT {
                let conflict = #krate::__private::Conflict::describe(ROUTES, earlier, #index);
                ::core::panic!("{}", conflict.message());
            };
        }
    });
    quote! {{
        const ROUTES: &[#krate::Route] = &[#(#entries),*];
        const CONFLICT: ::core::option::Option<(usize, usize)> =
            #krate::__private::Conflict::first::<#slots>(ROUTES);
        #(#checks)*
        #krate::Routes::__from_checked(ROUTES)
    }}
}
