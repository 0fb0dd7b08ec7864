//! `#[route("/pattern")]` on an async function or an `impl` block.

mod expand;
mod expand_class;
mod parse;
mod validate;
mod validate_class;

use proc_macro2::TokenStream;

use crate::diagnostics::with_item;
use parse::Target;

pub(crate) fn route(args: TokenStream, item: TokenStream) -> TokenStream {
    let parsed = match parse::parse(args, item.clone()) {
        Ok(parsed) => parsed,
        Err(error) => return with_item(item, error),
    };
    let expanded = match parsed.target {
        Target::Function(function) => {
            validate::function(parsed.args, function).map(|valid| expand::function(&valid))
        }
        Target::Class(block) => {
            validate_class::class(parsed.args, block).map(|valid| expand_class::class(&valid))
        }
    };
    expanded.unwrap_or_else(|error| with_item(item, error))
}
