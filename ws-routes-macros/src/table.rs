//! `routes![a, b, ...]`: parses the list and expands to a const table with a compile-time
//! ambiguity check per route.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Path, Token};

use crate::crate_path::crate_path;

pub(crate) fn routes(input: TokenStream) -> TokenStream {
    match syn::parse2::<Input>(input) {
        Ok(input) => expand(&input),
        Err(error) => error.into_compile_error(),
    }
}

/// `[crate = path,] route, route, ...`. A path never contains `=`, so `crate = ` cannot be
/// read as a route (`crate::light` is one).
struct Input {
    krate: Option<Path>,
    routes: Vec<Path>,
}

impl Parse for Input {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let is_crate_argument =
            |input: ParseStream<'_>| input.peek(Token![crate]) && input.peek2(Token![=]);
        let mut krate = None;
        if is_crate_argument(input) {
            input.parse::<Token![crate]>()?;
            input.parse::<Token![=]>()?;
            krate = Some(input.parse()?);
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        let mut routes = Vec::new();
        while !input.is_empty() {
            if is_crate_argument(input) {
                return Err(input.error(
                    "`crate = path` goes first, as in `routes![crate = ::my_ws, light, echo]`",
                ));
            }
            routes.push(input.parse()?);
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(Input { krate, routes })
    }
}

fn expand(input: &Input) -> TokenStream {
    let krate = crate_path(input.krate.as_ref());
    let paths = &input.routes;
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
        const ROUTES: &[#krate::routing::Route] = &[#(#entries),*];
        const CONFLICT: ::core::option::Option<(usize, usize)> =
            #krate::__private::Conflict::first::<#slots>(ROUTES);
        #(#checks)*
        #krate::Routes::__from_checked(ROUTES)
    }}
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::routes;

    #[test]
    fn crate_argument_names_the_crate_and_is_not_a_route() {
        let expanded = routes(quote!(crate = ::my_ws, light, crate::echo)).to_string();
        assert!(expanded.contains(":: my_ws :: Routes :: __from_checked"));
        assert!(expanded.contains("< light as :: my_ws :: __private :: RouteItem >"));
        assert!(expanded.contains("< crate :: echo as :: my_ws :: __private :: RouteItem >"));
        assert_eq!(expanded.matches("RouteItem").count(), 2);
    }

    #[test]
    fn crate_argument_goes_first() {
        let expanded = routes(quote!(light, crate = ::my_ws)).to_string();
        assert!(expanded.contains("compile_error"));
        assert!(expanded.contains("goes first"));
    }
}
