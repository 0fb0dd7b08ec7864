//! `#[route("/pattern")]` on an async function or an `impl` block: parse, then validate into
//! the model, then expand; on any error, the item as written with every error and a stand-in.

mod expand;
mod fallback;
mod lifecycle;
mod model;
mod parse;
mod validate;

use proc_macro2::{Ident, TokenStream};
use quote::quote;
use syn::Type;
use syn::ext::IdentExt;

use crate::crate_path::crate_path;
use crate::diagnostics::Diagnostics;

pub(crate) fn route(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut diagnostics = Diagnostics::default();
    let args = parse::args(args, &mut diagnostics);
    let krate = crate_path(args.as_ref().and_then(|args| args.krate.as_ref()));
    let target = parse::target(item.clone())
        .map_err(|error| diagnostics.push(error))
        .ok();
    let target = match (args, target) {
        (Some(args), Some(target)) => {
            let route = validate::route(args, target, &mut diagnostics);
            if diagnostics.is_empty() {
                return expand::route(&krate, &route);
            }
            Some(route.handler.into_target())
        }
        (_, target) => target,
    };
    // Built only here: a valid route needs no stand-in.
    let stand_in = target
        .as_ref()
        .and_then(|target| fallback::stand_in(target, &krate));
    fallback::rejected(item, stand_in, diagnostics)
}

/// What a route is named after.
pub(crate) enum NamedAfter<'a> {
    /// A function route's function.
    Function(&'a Ident),
    /// A class-style route's type.
    Class(&'a Type),
}

/// The route's name, in its description and in the stand-in of a rejected route alike: the
/// function's name without `r#`, or the type as written without spaces.
pub(crate) fn name(after: NamedAfter<'_>) -> String {
    match after {
        NamedAfter::Function(ident) => ident.unraw().to_string(),
        NamedAfter::Class(ty) => quote!(#ty).to_string().replace(' ', ""),
    }
}

#[cfg(test)]
mod tests {
    use super::{NamedAfter, name};

    #[test]
    fn a_route_is_named_without_r_hash_or_spaces() {
        let function: syn::Ident = syn::parse_quote!(r#type);
        assert_eq!(name(NamedAfter::Function(&function)), "type");
        let class: syn::Type = syn::parse_quote!(rooms::Room<u8>);
        assert_eq!(name(NamedAfter::Class(&class)), "rooms::Room<u8>");
    }
}
