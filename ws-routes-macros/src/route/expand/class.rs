//! A class-style route expands to the `impl` block as written, the `ClassRoute` methods that
//! forward to its event methods, and the route description whose `accept` entry builds the
//! instance before the upgrade.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ReturnType};

use super::{bind_from_connection, bind_param, bound_entry, call_span, requires, route_parts};
use crate::crate_path::crate_path_at;
use crate::route::lifecycle::{Arguments, Payload};
use crate::route::model::{Accept, Argument, Class, Event, Handle, HookArgument, Route};
use crate::route::{NamedAfter, name};

pub(super) fn expand(krate: &TokenStream, route: &Route, class: &Class) -> TokenStream {
    let block = &class.block;
    let self_ty = &block.self_ty;
    let name = name(NamedAfter::Class(self_ty));
    let hook_arguments = class.accept.iter().flat_map(|accept| {
        accept
            .arguments
            .iter()
            .filter_map(|argument| match argument {
                HookArgument::Route(argument) => Some(&**argument),
                HookArgument::Request => None,
            })
    });
    let handle_arguments = class.handle.iter().flat_map(|handle| &handle.arguments);
    let requires = requires(krate, handle_arguments, hook_arguments);
    let parts = route_parts(krate, route, &name, requires);
    let forwarders = class
        .events
        .iter()
        .filter_map(|event| forwarder(krate, class, event));
    let run = match &class.handle {
        Some(handle) => run_handle(krate, class, handle),
        None => {
            quote!(::std::boxed::Box::pin(#krate::__private::run_class(__instance, __connection)))
        }
    };
    let instance = instance(krate, class);
    let kind_checks = kind_checks(krate, class);

    quote! {
        #block

        #(#kind_checks)*

        impl #krate::__private::ClassRoute for #self_ty {
            #(#forwarders)*
        }

        impl #krate::__private::RouteItem for #self_ty {
            const ROUTE: #krate::routing::Route = {
                fn __run(
                    __instance: #self_ty,
                    #[allow(unused_mut)] mut __connection: #krate::extract::Connection,
                ) -> #krate::__private::BoxFuture<#krate::__private::Outcome> {
                    #run
                }
                fn __accept(
                    __request: #krate::Request,
                ) -> #krate::__private::BoxFuture<
                    ::core::result::Result<#krate::__private::Admitted, #krate::Reject>,
                > {
                    ::std::boxed::Box::pin(async move {
                        #instance
                        ::core::result::Result::Ok(
                            #krate::__private::Admitted::new(__request, __instance, __run),
                        )
                    })
                }
                #krate::__private::class_route(#parts, __accept)
            };
        }
    }
}

/// The `ClassRoute` method that forwards to an event method, built from its row of the table.
/// The call carries the span of the user's return type, and each payload conversion that of
/// the user's argument type, so that a wrong type is reported where it is written. `None` for
/// a method that no `ClassRoute` method forwards to (validation makes none an event).
fn forwarder(krate: &TokenStream, class: &Class, event: &Event) -> Option<TokenStream> {
    let spec = event.method.spec();
    let Arguments::Fixed {
        payloads,
        forwarder,
    } = spec.arguments
    else {
        return None;
    };
    let forwarder = format_ident!("{}", forwarder);
    let self_ty = &class.block.self_ty;
    let ident = &event.sig.ident;
    let user_types = event.sig.inputs.iter().filter_map(|input| match input {
        FnArg::Typed(typed) => Some(typed.ty.span()),
        FnArg::Receiver(_) => None,
    });
    let parameters = payloads.iter().map(|payload| {
        let variable = payload.variable();
        let ty = payload.ty(krate);
        quote!(#variable: #ty)
    });
    let values = payloads
        .iter()
        .zip(user_types)
        .map(|(payload, span)| payload.convert(krate, span));
    let call = quote!(<#self_ty>::#ident(self, #(#values),*).await);
    if spec.returns_nothing {
        return Some(quote! {
            fn #forwarder(&mut self, #(#parameters),*)
                -> impl ::core::future::Future<Output = ()> + ::core::marker::Send
            {
                async move { #call; }
            }
        });
    }
    let returns = match &event.sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => ident.span(),
    };
    let body = quote_spanned! {returns=>
        async move { #krate::__private::HandlerReturn::__outcome(#call) }
    };
    Some(quote! {
        fn #forwarder(&mut self, #(#parameters),*) -> impl ::core::future::Future<
            Output = #krate::__private::Outcome,
        > + ::core::marker::Send {
            #body
        }
    })
}

/// The compile-time checks that the kind of message `on_message`'s codec reads (known from
/// its argument's type only) is not one that `on_text` or `on_binary` takes already: one
/// constant per such method, which fails to evaluate, at `on_message`, when both would handle
/// the same kind.
fn kind_checks(krate: &TokenStream, class: &Class) -> Vec<TokenStream> {
    let payload_types = |event: &Event| {
        let Arguments::Fixed { payloads, .. } = event.method.spec().arguments else {
            return Vec::new();
        };
        let types = event.sig.inputs.iter().filter_map(|input| match input {
            FnArg::Typed(typed) => Some((*typed.ty).clone()),
            FnArg::Receiver(_) => None,
        });
        payloads.iter().copied().zip(types).collect::<Vec<_>>()
    };
    let Some((on_message, decoded)) = class.events.iter().find_map(|event| {
        payload_types(event)
            .into_iter()
            .find(|(payload, _)| *payload == Payload::Message)
            .map(|(_, ty)| (event, ty))
    }) else {
        return Vec::new();
    };
    let span = on_message.sig.ident.span();
    let at = crate_path_at(krate, span);
    class
        .events
        .iter()
        .flat_map(|event| {
            payload_types(event)
                .into_iter()
                .filter_map(move |(payload, _)| Some((event, payload.kind()?)))
        })
        .map(|(event, kind)| {
            let message = format!(
                "`{}` and `{}` would both handle {kind} messages: the codec of `{}`'s argument \
                 reads {kind} messages, which `{}` takes as they are; keep one, or decode with \
                 a codec of the other kind",
                on_message.sig.ident,
                event.sig.ident,
                on_message.sig.ident,
                event.sig.ident,
                kind = kind.name(),
            );
            let variant = kind.variant();
            quote_spanned! {span=>
                const _: () = if let #at::__private::MessageKind::#variant =
                    <#decoded as #at::__private::FromMessage>::KIND
                {
                    ::core::panic!("{}", #message);
                };
            }
        })
        .collect()
}

/// The body of `__run` for a `handle` method: bind its arguments, call it.
fn run_handle(krate: &TokenStream, class: &Class, handle: &Handle) -> TokenStream {
    let self_ty = &class.block.self_ty;
    let (variables, bindings) = bind_from_connection(krate, &handle.arguments);
    let method = call_span(&handle.sig.ident, &handle.sig);
    let receiver = if handle.by_value {
        quote!(__instance)
    } else {
        quote!(&mut __instance)
    };
    let call = quote! {
        #[allow(unused_mut)]
        let mut __instance = __instance;
        #krate::__private::HandlerReturn::__outcome(
            <#self_ty>::#method(#receiver, #(#variables),*).await,
        )
    };
    bound_entry(
        &variables,
        &bindings,
        &quote!(::std::boxed::Box::pin(async move { #call })),
    )
}

/// Statements that build `__instance` from `__request`: through `accept`, `init` or
/// `Default`.
fn instance(krate: &TokenStream, class: &Class) -> TokenStream {
    let self_ty = &class.block.self_ty;
    match (&class.accept, &class.init) {
        (Some(accept), _) => accept_call(krate, class, accept),
        (None, Some(init)) => quote!(let __instance: #self_ty = #init();),
        (None, None) => {
            let at_type = crate_path_at(krate, self_ty.span());
            quote_spanned! {self_ty.span()=>
                let __instance: #self_ty = #at_type::__private::DefaultInstance::__default();
            }
        }
    }
}

fn accept_call(krate: &TokenStream, class: &Class, accept: &Accept) -> TokenStream {
    let self_ty = &class.block.self_ty;
    let mut bindings = Vec::new();
    let mut values = Vec::new();
    for (index, argument) in accept.arguments.iter().enumerate() {
        let variable = format_ident!("__argument_{}", index);
        let argument = match argument {
            HookArgument::Request => {
                values.push(quote!(&__request));
                continue;
            }
            HookArgument::Route(argument) => &**argument,
        };
        match argument {
            Argument::Param { index, name, ty } => {
                bindings.push(bind_param(
                    krate,
                    quote!(__request.path()),
                    &variable,
                    (*index, name, ty),
                    |error| {
                        quote! {
                            let outcome = #krate::__private::Outcome::from(#error);
                            return ::core::result::Result::Ok(
                                #krate::__private::Admitted::closing(__request, outcome),
                            );
                        }
                    },
                ));
            }
            Argument::Extract { ty } => {
                bindings.push(quote_spanned! {ty.span()=>
                    let #variable: #ty = <#ty as #krate::extract::FromRequest>::from_request(&__request)?;
                });
            }
        }
        values.push(quote!(#variable));
    }
    let call = quote!(<#self_ty>::accept(#(#values),*));
    let call = if accept.is_async {
        quote!(#call.await)
    } else {
        call
    };
    let returns = match &accept.returns {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => self_ty.span(),
    };
    let at_return = crate_path_at(krate, returns);
    let returned = proc_macro2::Ident::new("__returned", Span::call_site().located_at(returns));
    let instance = quote_spanned! {returns=>
        #at_return::__private::AcceptReturn::<#self_ty>::__instance(#returned)?
    };
    quote! {
        #(#bindings)*
        let __returned = #call;
        let __instance: #self_ty = #instance;
    }
}
