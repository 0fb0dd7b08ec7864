//! Validation of class-style routes: an inherent `impl` block of lifecycle methods.

use syn::{
    FnArg, Ident, ImplItem, ImplItemFn, ItemImpl, Receiver, ReceiverKind, ReturnType, Signature,
    Type,
};

use super::parse::Args;
use super::validate::{self, Argument, Negotiation, Pattern, closest};
use crate::diagnostics::Diagnostics;

/// The lifecycle methods, each with the arguments it takes after `&mut self`.
pub(crate) const LIFECYCLE: &[(&str, &str)] = &[
    ("on_open", "session: &mut Session"),
    ("on_text", "session: &mut Session, text: String"),
    ("on_binary", "session: &mut Session, data: Bytes"),
    ("on_error", "session: &mut Session, error: Error"),
    ("on_close", "frame: Option<CloseFrame>"),
];

/// A class-style route that passed every check.
pub(crate) struct ValidClass {
    pub(crate) pattern: Pattern,
    pub(crate) negotiation: Negotiation,
    pub(crate) krate: Option<syn::Path>,
    pub(crate) init: Option<syn::Path>,
    pub(crate) block: ItemImpl,
    pub(crate) accept: Option<Accept>,
    pub(crate) handle: Option<Handle>,
    /// The lifecycle methods present.
    pub(crate) lifecycle: Vec<Signature>,
}

/// The `accept` hook.
pub(crate) struct Accept {
    pub(crate) is_async: bool,
    pub(crate) returns: ReturnType,
    pub(crate) arguments: Vec<HookArgument>,
}

/// An argument of the `accept` hook.
pub(crate) enum HookArgument {
    /// A parameter or an extractor, as for a function route.
    Route(Box<Argument>),
    /// `&Request`: the request itself.
    Request,
}

/// The `handle` method, which takes the whole connection.
pub(crate) struct Handle {
    pub(crate) sig: Signature,
    /// `self` rather than `&mut self`.
    pub(crate) by_value: bool,
    pub(crate) arguments: Vec<Argument>,
}

pub(crate) fn class(args: Args, block: ItemImpl) -> syn::Result<ValidClass> {
    let mut diagnostics = Diagnostics::default();
    let negotiation = Negotiation::check(&args, &mut diagnostics);
    let pattern = Pattern::parse(args.pattern, &mut diagnostics);
    if let Some((path, _)) = &block.trait_ {
        diagnostics.error_spanned(
            path,
            "`#[route]` goes on an inherent `impl` block, not a trait implementation",
            "write `#[route(\"...\")] impl MyRoute { ... }`",
        );
    }
    if !block.generics.params.is_empty() {
        diagnostics.error_spanned(
            &block.generics,
            "a class-style route cannot be generic",
            "the route table holds one concrete type per route; implement the route for a \
             concrete type, such as `impl Counter<u64>`",
        );
    }
    let mut accept = None;
    let mut handle: Option<Handle> = None;
    let mut lifecycle = Vec::new();
    // A trait impl's methods are the trait's: checking them as lifecycle methods would mislead.
    let methods = if block.trait_.is_none() {
        &block.items[..]
    } else {
        &[]
    };
    for item in methods {
        let ImplItem::Fn(method) = item else {
            diagnostics.error_spanned(
                item,
                "a `#[route]` impl block holds only lifecycle methods",
                "move other items to a separate `impl` block",
            );
            continue;
        };
        let ident = &method.sig.ident;
        match ident.to_string().as_str() {
            "accept" => accept = Some(check_accept(method, &pattern, &mut diagnostics)),
            "handle" => handle = Some(check_handle(method, &pattern, &mut diagnostics)),
            name => match LIFECYCLE.iter().find(|(known, _)| *known == name) {
                Some((_, arguments)) => {
                    check_lifecycle(method, arguments, &mut diagnostics);
                    lifecycle.push(method.sig.clone());
                }
                None => unknown_method(ident, &mut diagnostics),
            },
        }
    }
    if let (Some(handle), Some(first)) = (&handle, lifecycle.first()) {
        let (ident, first) = (&handle.sig.ident, &first.ident);
        diagnostics.error(
            ident.span(),
            format!("`handle` takes over the whole connection, so `{first}` would never run"),
            "keep either `handle` or the `on_*` methods",
        );
    }
    if let (Some(init), Some(_)) = (&args.init, &accept) {
        diagnostics.error_spanned(
            init,
            "`init` is never used: the `accept` hook builds the instance",
            "remove `init = ...`, or the `accept` hook",
        );
    }
    diagnostics.finish(ValidClass {
        pattern,
        negotiation,
        krate: args.krate,
        init: args.init,
        accept,
        handle,
        lifecycle,
        block,
    })
}

fn unknown_method(ident: &Ident, diagnostics: &mut Diagnostics) {
    let name = ident.to_string();
    let known = ["accept", "handle"]
        .into_iter()
        .chain(LIFECYCLE.iter().map(|(name, _)| *name));
    let help = match closest(&name, known) {
        Some(known) => format!("did you mean `{known}`?"),
        None => "the methods of a class-style route are `accept`, `handle`, `on_open`, \
                 `on_text`, `on_binary`, `on_error` and `on_close`; move other methods to a \
                 separate `impl` block"
            .into(),
    };
    diagnostics.error(
        ident.span(),
        format!("`{name}` is not a method of a class-style route"),
        help,
    );
}

fn check_accept(method: &ImplItemFn, pattern: &Pattern, diagnostics: &mut Diagnostics) -> Accept {
    let sig = &method.sig;
    validate::forbid_generics(sig, "`accept`", diagnostics);
    if let Some(receiver) = sig.receiver() {
        diagnostics.error_spanned(
            receiver,
            "`accept` builds the instance, so it cannot take `self`",
            "take the request and parameters, as in \
             `async fn accept(request: &Request, name: String) -> Result<Self, Reject>`",
        );
    }
    let arguments = validate::arguments(sig, pattern, diagnostics);
    let typed = sig.inputs.iter().filter_map(|input| match input {
        FnArg::Typed(typed) => Some(&*typed.ty),
        FnArg::Receiver(_) => None,
    });
    let arguments = arguments
        .into_iter()
        .zip(typed)
        .map(|(argument, ty)| match (&argument, ty) {
            (Argument::Extract { .. }, Type::Reference(_)) => HookArgument::Request,
            _ => HookArgument::Route(Box::new(argument)),
        })
        .collect();
    Accept {
        is_async: sig.asyncness.is_some(),
        returns: sig.output.clone(),
        arguments,
    }
}

fn check_handle(method: &ImplItemFn, pattern: &Pattern, diagnostics: &mut Diagnostics) -> Handle {
    let sig = &method.sig;
    validate::require_async(sig, "`handle`", diagnostics);
    validate::forbid_generics(sig, "`handle`", diagnostics);
    let by_value = match sig.receiver() {
        Some(receiver) if matches!(receiver.kind, ReceiverKind::Value) => true,
        Some(receiver) if is_mut_reference(receiver) => false,
        receiver => {
            let message = "`handle` must take `self` or `&mut self`";
            let help = "write `async fn handle(self, ws: WebSocket)`";
            match receiver {
                Some(receiver) => diagnostics.error_spanned(receiver, message, help),
                None => diagnostics.error(sig.ident.span(), message, help),
            }
            false
        }
    };
    Handle {
        sig: sig.clone(),
        by_value,
        arguments: validate::arguments(sig, pattern, diagnostics),
    }
}

fn check_lifecycle(method: &ImplItemFn, arguments: &str, diagnostics: &mut Diagnostics) {
    let sig = &method.sig;
    let name = &sig.ident;
    let expected = format!("async fn {name}(&mut self, {arguments})");
    if sig.asyncness.is_none() {
        diagnostics.error(
            sig.fn_token.span,
            format!("`{name}` must be an `async fn`"),
            format!("write `{expected}`"),
        );
    }
    validate::forbid_generics(sig, &format!("`{name}`"), diagnostics);
    let mutable_self = sig.receiver().is_some_and(is_mut_reference);
    if !mutable_self {
        let message = format!("`{name}` must take `&mut self`");
        match sig.receiver() {
            Some(receiver) => {
                diagnostics.error_spanned(receiver, message, format!("write `{expected}`"))
            }
            None => diagnostics.error(name.span(), message, format!("write `{expected}`")),
        }
    }
    let count = sig
        .inputs
        .iter()
        .filter(|input| matches!(input, FnArg::Typed(_)))
        .count();
    let expected_count = arguments.split(',').count();
    if count != expected_count {
        let plural = if expected_count == 1 {
            "argument"
        } else {
            "arguments"
        };
        diagnostics.error_spanned(
            &sig.inputs,
            format!("`{name}` takes {expected_count} {plural} after `&mut self`"),
            format!("write `{expected}`"),
        );
    }
    if let ReturnType::Type(_, ty) = &sig.output
        && name == "on_close"
        && !matches!(&**ty, Type::Tuple(tuple) if tuple.elems.is_empty())
    {
        diagnostics.error_spanned(
            ty,
            "`on_close` returns nothing: the connection is already closed",
            "remove the return type; handle failures inside `on_close`",
        );
    }
}

fn is_mut_reference(receiver: &Receiver) -> bool {
    matches!(receiver.kind, ReceiverKind::Reference(_, _, Some(_)))
}
