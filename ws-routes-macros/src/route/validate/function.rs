//! The rules of a function route: a free, concrete `async fn`.

use syn::ItemFn;

use super::{Params, arguments, forbid_generics, require_async};
use crate::diagnostics::Diagnostics;
use crate::route::model::Function;
use crate::route::parse::Args;

pub(super) fn validate(
    item: ItemFn,
    args: &Args,
    params: &Params<'_>,
    diagnostics: &mut Diagnostics,
) -> Function {
    if let Some(init) = &args.init {
        diagnostics.error_spanned(
            init,
            "`init` applies to class-style routes only",
            "a function route has no instance to build, so remove `init = ...`",
        );
    }
    let sig = &item.sig;
    let example = format!("async fn {}(...)", sig.ident);
    require_async(sig, "a route handler", &example, diagnostics);
    forbid_generics(sig, "a route handler", diagnostics);
    if let Some(receiver) = sig.receiver() {
        diagnostics.error_spanned(
            receiver,
            "a function route cannot take `self`",
            "write a free `async fn`, or put `#[route]` on the `impl` block for a class-style route",
        );
    }
    if let Some(variadic) = &sig.variadic {
        diagnostics.error_spanned(
            variadic,
            "a route handler cannot be variadic",
            "remove the `...`",
        );
    }
    let arguments = arguments(sig, params, diagnostics);
    Function { item, arguments }
}
