//! How expansions name the ws-routes crate, which the user may have renamed.

use proc_macro_crate::{FoundCrate, crate_name};
use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};

/// `explicit` when given (`crate = path`), else the name under which the user's `Cargo.toml`
/// depends on ws-routes, else `::ws_routes`.
pub(crate) fn crate_path(explicit: Option<&syn::Path>) -> TokenStream {
    if let Some(path) = explicit {
        return path.to_token_stream();
    }
    match crate_name("ws-routes") {
        // ws-routes itself declares `extern crate self as ws_routes`, so its own doctests and
        // examples resolve the absolute path too.
        Ok(FoundCrate::Itself) | Err(_) => quote!(::ws_routes),
        Ok(FoundCrate::Name(name)) => {
            let name = syn::Ident::new(&name, Span::call_site());
            quote!(::#name)
        }
    }
}

/// `krate` with its tokens placed at `span` (same hygiene), so that errors about an expression
/// starting with the crate path point where the user wrote the offending code.
pub(crate) fn crate_path_at(krate: &TokenStream, span: Span) -> TokenStream {
    krate
        .clone()
        .into_iter()
        .map(|mut token| {
            token.set_span(token.span().located_at(span));
            token
        })
        .collect()
}
