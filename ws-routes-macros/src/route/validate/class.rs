//! The rules of a class-style route: an inherent, concrete `impl` block whose methods are in
//! the lifecycle table, each checked against its row.

use syn::{FnArg, ImplItem, ImplItemFn, ItemImpl, ReceiverKind, ReturnType, Signature, Type};

use super::{Params, arguments, forbid_generics, require_async};
use crate::diagnostics::{Diagnostics, closest};
use crate::route::lifecycle::{Arguments, Method, Payload, Receiver, Spec};
use crate::route::model::{Accept, Argument, Class, Event, Handle, HookArgument};
use crate::route::parse::Args;

pub(super) fn validate(
    block: ItemImpl,
    args: &Args,
    params: &Params<'_>,
    diagnostics: &mut Diagnostics,
) -> Class {
    let mut accept = None;
    let mut handle: Option<Handle> = None;
    let mut events: Vec<Event> = Vec::new();
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
            "the route table holds one concrete type per route, so implement the route for a \
             concrete type, such as `impl Counter<u64>`",
        );
    }
    // A trait impl's methods are the trait's: checking them as lifecycle methods would mislead.
    let items = if block.trait_.is_none() {
        &block.items[..]
    } else {
        &[]
    };
    for item in items {
        let ImplItem::Fn(method) = item else {
            diagnostics.error_spanned(
                item,
                "a `#[route]` impl block holds only lifecycle methods",
                "move other items to a separate `impl` block",
            );
            continue;
        };
        let Some(kind) = Method::named(&method.sig.ident.to_string()) else {
            unknown_method(method, diagnostics);
            continue;
        };
        let spec = kind.spec();
        check(&spec, method, diagnostics);
        let sig = method.sig.clone();
        match kind {
            Method::Accept => {
                let arguments = arguments(&sig, params, diagnostics);
                accept = Some(Accept {
                    is_async: sig.asyncness.is_some(),
                    returns: sig.output.clone(),
                    arguments: hook_arguments(&sig, arguments),
                });
            }
            Method::Handle => {
                let by_value = sig
                    .receiver()
                    .is_some_and(|receiver| matches!(receiver.kind, ReceiverKind::Value));
                handle = Some(Handle {
                    arguments: arguments(&sig, params, diagnostics),
                    sig,
                    by_value,
                });
            }
            _ => events.push(Event { method: kind, sig }),
        }
    }
    if let (Some(handle), Some(first)) = (&handle, events.first()) {
        diagnostics.error(
            handle.sig.ident.span(),
            format!(
                "`handle` takes over the whole connection, so `{}` would never run",
                first.sig.ident
            ),
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
    Class {
        block,
        init: args.init.clone(),
        accept,
        handle,
        events,
    }
}

fn unknown_method(method: &ImplItemFn, diagnostics: &mut Diagnostics) {
    let ident = &method.sig.ident;
    let name = ident.to_string();
    let known = Method::ALL.map(|method| method.spec().name);
    let help = match closest(&name, known) {
        Some(known) => format!("did you mean `{known}`?"),
        None => {
            let list: Vec<String> = known.iter().map(|name| format!("`{name}`")).collect();
            let and_list = |list: &[String]| match list {
                [rest @ .., last] if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
                _ => list.join(""),
            };
            format!(
                "a class-style route's methods are {}, so move other methods to a separate \
                 `impl` block",
                and_list(&list)
            )
        }
    };
    diagnostics.error(
        ident.span(),
        format!("`{name}` is not a method of a class-style route"),
        help,
    );
}

/// Checks `method` against the rules of its row of the table.
fn check(spec: &Spec, method: &ImplItemFn, diagnostics: &mut Diagnostics) {
    let sig = &method.sig;
    let what = format!("`{}`", spec.name);
    if spec.must_be_async() {
        require_async(sig, &what, spec.example, diagnostics);
    }
    forbid_generics(sig, &what, diagnostics);
    check_receiver(spec, sig, diagnostics);
    if spec.returns_nothing
        && let ReturnType::Type(_, ty) = &sig.output
        && !matches!(&**ty, Type::Tuple(tuple) if tuple.elems.is_empty())
    {
        diagnostics.error_spanned(
            ty,
            format!("{what} returns nothing: the connection is already closed"),
            format!("remove the return type, and handle failures inside {what}"),
        );
    }
    if let Arguments::Fixed { payloads, .. } = spec.arguments {
        check_count(spec, payloads, sig, diagnostics);
    }
}

/// An event method takes exactly its payloads after `&mut self`.
fn check_count(spec: &Spec, payloads: &[Payload], sig: &Signature, diagnostics: &mut Diagnostics) {
    let count = sig
        .inputs
        .iter()
        .filter(|input| matches!(input, FnArg::Typed(_)))
        .count();
    if count != payloads.len() {
        let plural = if payloads.len() == 1 {
            "argument"
        } else {
            "arguments"
        };
        diagnostics.error_spanned(
            &sig.inputs,
            format!(
                "`{}` takes {} {plural} after `&mut self`",
                spec.name,
                payloads.len()
            ),
            format!("write `{}`", spec.example),
        );
    }
}

fn check_receiver(spec: &Spec, sig: &Signature, diagnostics: &mut Diagnostics) {
    let receiver = sig.receiver();
    let mutable =
        receiver.is_some_and(|r| matches!(r.kind, ReceiverKind::Reference(_, _, Some(_))));
    let owned = receiver.is_some_and(|r| matches!(r.kind, ReceiverKind::Value));
    let (fits, message, help) = match spec.receiver {
        Receiver::Forbidden => (
            receiver.is_none(),
            format!(
                "`{}` builds the instance, so it cannot take `self`",
                spec.name
            ),
            format!("take the request and parameters, as in `{}`", spec.example),
        ),
        Receiver::Mutable => (
            mutable,
            format!("`{}` must take `&mut self`", spec.name),
            format!("write `{}`", spec.example),
        ),
        Receiver::OwnedOrMutable => (
            mutable || owned,
            format!("`{}` must take `self` or `&mut self`", spec.name),
            format!("write `{}`", spec.example),
        ),
    };
    if fits {
        return;
    }
    match receiver {
        Some(receiver) => diagnostics.error_spanned(receiver, message, help),
        None => diagnostics.error(sig.ident.span(), message, help),
    }
}

/// The arguments of `accept`: a reference that is not a parameter is the request itself.
fn hook_arguments(sig: &Signature, arguments: Vec<Argument>) -> Vec<HookArgument> {
    let types = sig.inputs.iter().filter_map(|input| match input {
        FnArg::Typed(typed) => Some(&*typed.ty),
        FnArg::Receiver(_) => None,
    });
    arguments
        .into_iter()
        .zip(types)
        .map(|(argument, ty)| match (&argument, ty) {
            (Argument::Extract { .. }, Type::Reference(_)) => HookArgument::Request,
            _ => HookArgument::Route(Box::new(argument)),
        })
        .collect()
}
