//! `#[route("/pattern")]` on an async function.

mod expand;
mod parse;
mod validate;

use proc_macro2::TokenStream;

use crate::diagnostics::with_item;

pub(crate) fn route(args: TokenStream, item: TokenStream) -> TokenStream {
    let parsed = match parse::parse(args, item.clone()) {
        Ok(parsed) => parsed,
        Err(error) => return with_item(item, error),
    };
    match validate::validate(parsed) {
        Ok(valid) => expand::expand(&valid),
        Err(error) => with_item(item, error),
    }
}
