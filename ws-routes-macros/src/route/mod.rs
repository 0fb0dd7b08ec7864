//! `#[route("/pattern")]` on an async function or an `impl` block: parse, then validate into
//! the model, then expand; on any error, the item as written with every error and a stand-in.

mod expand;
mod fallback;
mod lifecycle;
mod model;
mod parse;
mod validate;

use proc_macro2::TokenStream;

use crate::crate_path::crate_path;
use crate::diagnostics::Diagnostics;

pub(crate) fn route(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut diagnostics = Diagnostics::default();
    let args = parse::args(args, &mut diagnostics);
    let krate = crate_path(args.as_ref().and_then(|args| args.krate.as_ref()));
    let target = parse::target(item.clone())
        .map_err(|error| diagnostics.push(error))
        .ok();
    let stand_in = target
        .as_ref()
        .and_then(|target| fallback::stand_in(target, &krate));
    if let (Some(args), Some(target)) = (args, target) {
        let route = validate::route(args, target, &mut diagnostics);
        if diagnostics.is_empty() {
            return expand::route(&krate, &route);
        }
    }
    fallback::rejected(item, stand_in, diagnostics)
}
