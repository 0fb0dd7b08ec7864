//! Parsing: the attribute's arguments and the item it is on.

use proc_macro2::TokenStream;
use syn::parse::{Parse, ParseStream};
use syn::{ItemFn, LitStr, Token};

/// `#[route("/pattern")]` or `#[route("/pattern", crate = path::to::ws_routes)]`.
pub(crate) struct Args {
    pub(crate) pattern: LitStr,
    pub(crate) krate: Option<syn::Path>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.is_empty() {
            return Err(
                input.error("expected a route pattern, as in `#[route(\"/light/{status}\")]`")
            );
        }
        let pattern = input.parse()?;
        let mut krate = None;
        if input.parse::<Option<Token![,]>>()?.is_some() && !input.is_empty() {
            input.parse::<Token![crate]>()?;
            input.parse::<Token![=]>()?;
            krate = Some(input.parse()?);
            input.parse::<Option<Token![,]>>()?;
        }
        if !input.is_empty() {
            return Err(input.error(
                "unexpected argument: `#[route]` takes a pattern and an optional `crate = path`",
            ));
        }
        Ok(Args { pattern, krate })
    }
}

pub(crate) struct Parsed {
    pub(crate) args: Args,
    pub(crate) function: ItemFn,
}

pub(crate) fn parse(args: TokenStream, item: TokenStream) -> syn::Result<Parsed> {
    let args = syn::parse2(args)?;
    let function = syn::parse2::<ItemFn>(item).map_err(|error| {
        syn::Error::new(
            error.span(),
            "`#[route]` goes on an `async fn` (the route handler)",
        )
    })?;
    Ok(Parsed { args, function })
}
