//! Expansion of class-style routes: the `impl` block as written, the lifecycle trait
//! forwarding to its methods, and the route description whose `accept` entry builds the
//! instance before the upgrade.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ReturnType};

use super::expand::{
    bind_from_connection, call_span, parse_param, requires, route_parts, segments,
};
use super::validate::Argument;
use super::validate_class::{Accept, Handle, HookArgument, ValidClass};
use crate::crate_path::{crate_path, crate_path_at};

pub(crate) fn class(valid: &ValidClass) -> TokenStream {
    let krate = crate_path(valid.krate.as_ref());
    let block = &valid.block;
    let self_ty = &block.self_ty;
    let name = quote!(#self_ty).to_string().replace(' ', "");
    let pattern = &valid.pattern.literal;
    let segments = segments(&krate, &valid.pattern);
    let hook_arguments = valid.accept.iter().flat_map(|accept| {
        accept
            .arguments
            .iter()
            .filter_map(|argument| match argument {
                HookArgument::Route(argument) => Some(&**argument),
                HookArgument::Request => None,
            })
    });
    let handle_arguments = valid.handle.iter().flat_map(|handle| &handle.arguments);
    let requires = requires(&krate, hook_arguments.chain(handle_arguments));
    let parts = route_parts(
        &krate,
        pattern,
        segments,
        &name,
        requires,
        &valid.negotiation,
    );
    let lifecycle = lifecycle(&krate, valid);
    let run = match &valid.handle {
        Some(handle) => run_handle(&krate, valid, handle),
        None => {
            quote!(::std::boxed::Box::pin(#krate::__private::run_class(__instance, __connection)))
        }
    };
    let instance = instance(&krate, valid);

    quote! {
        #block

        impl #krate::__private::ClassRoute for #self_ty {
            #lifecycle
        }

        impl #krate::__private::RouteItem for #self_ty {
            const ROUTE: #krate::Route = {
                fn __run(
                    __instance: #self_ty,
                    #[allow(unused_mut)] mut __connection: #krate::Connection,
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

/// The `ClassRoute` methods that forward to the lifecycle methods the block defines. Each call
/// carries the span of the user's return type, and the payload conversion that of the user's
/// argument type, so that a wrong type is reported where it is written.
fn lifecycle(krate: &TokenStream, valid: &ValidClass) -> TokenStream {
    let self_ty = &valid.block.self_ty;
    let methods = valid.lifecycle.iter().map(|sig| {
        let ident = &sig.ident;
        let returns = match &sig.output {
            ReturnType::Type(_, ty) => ty.span(),
            ReturnType::Default => ident.span(),
        };
        let payload = sig
            .inputs
            .iter()
            .filter_map(|input| match input {
                FnArg::Typed(typed) => Some(typed.ty.span()),
                FnArg::Receiver(_) => None,
            })
            .next_back()
            .unwrap_or_else(|| ident.span());
        let outcome = |call: TokenStream| {
            quote_spanned! {returns=>
                async move { #krate::__private::HandlerReturn::__outcome(#call.await) }
            }
        };
        let future = quote! {
            impl ::core::future::Future<Output = #krate::__private::Outcome> + ::core::marker::Send
        };
        match ident.to_string().as_str() {
            "on_open" => {
                let body = outcome(quote!(<#self_ty>::#ident(self, session)));
                quote!(fn __on_open(&mut self, session: &mut #krate::Session) -> #future { #body })
            }
            "on_text" => {
                let at_payload = crate_path_at(krate, payload);
                let text =
                    quote_spanned!(payload=> #at_payload::__private::FromText::__from_text(text));
                let body = outcome(quote!(<#self_ty>::#ident(self, session, #text)));
                quote! {
                    fn __on_text(
                        &mut self,
                        session: &mut #krate::Session,
                        text: #krate::Utf8Bytes,
                    ) -> #future { #body }
                }
            }
            "on_binary" => {
                let at_payload = crate_path_at(krate, payload);
                let data = quote_spanned!(payload=>
                    #at_payload::__private::FromBinary::__from_binary(data)
                );
                let body = outcome(quote!(<#self_ty>::#ident(self, session, #data)));
                quote! {
                    fn __on_binary(
                        &mut self,
                        session: &mut #krate::Session,
                        data: #krate::Bytes,
                    ) -> #future { #body }
                }
            }
            "on_error" => {
                let body = outcome(quote!(<#self_ty>::#ident(self, session, error)));
                quote! {
                    fn __on_error(
                        &mut self,
                        session: &mut #krate::Session,
                        error: #krate::Error,
                    ) -> #future { #body }
                }
            }
            _ => quote! {
                fn __on_close(
                    &mut self,
                    frame: ::core::option::Option<#krate::CloseFrame>,
                ) -> impl ::core::future::Future<Output = ()> + ::core::marker::Send {
                    async move { <#self_ty>::#ident(self, frame).await }
                }
            },
        }
    });
    quote!(#(#methods)*)
}

/// The body of `__run` for a `handle` method: bind its arguments, call it.
fn run_handle(krate: &TokenStream, valid: &ValidClass, handle: &Handle) -> TokenStream {
    let self_ty = &valid.block.self_ty;
    let (variables, bindings) = bind_from_connection(krate, &handle.arguments);
    let method = call_span(&handle.sig.ident, &handle.sig);
    let receiver = if handle.by_value {
        quote!(__instance)
    } else {
        quote!(&mut __instance)
    };
    quote! {
        ::std::boxed::Box::pin(async move {
            #[allow(unused_mut)]
            let mut __instance = __instance;
            #bindings
            ::core::mem::drop(__connection);
            #krate::__private::HandlerReturn::__outcome(
                <#self_ty>::#method(#receiver, #(#variables),*).await,
            )
        })
    }
}

/// Statements that build `__instance` from `__request`: through `accept`, `init` or
/// `Default`.
fn instance(krate: &TokenStream, valid: &ValidClass) -> TokenStream {
    let self_ty = &valid.block.self_ty;
    match (&valid.accept, &valid.init) {
        (Some(accept), _) => accept_call(krate, valid, accept),
        (None, Some(init)) => quote!(let __instance: #self_ty = #init();),
        (None, None) => {
            let at_type = crate_path_at(krate, self_ty.span());
            quote_spanned! {self_ty.span()=>
                let __instance: #self_ty = #at_type::__private::DefaultInstance::__default();
            }
        }
    }
}

fn accept_call(krate: &TokenStream, valid: &ValidClass, accept: &Accept) -> TokenStream {
    let self_ty = &valid.block.self_ty;
    let mut bindings = Vec::new();
    let mut values = Vec::new();
    for (index, argument) in accept.arguments.iter().enumerate() {
        let variable = quote::format_ident!("__argument_{}", index);
        let argument = match argument {
            HookArgument::Request => {
                values.push(quote!(&__request));
                continue;
            }
            HookArgument::Route(argument) => &**argument,
        };
        match argument {
            Argument::Param { index, name, ty } => {
                let parse = parse_param(krate, quote!(__request.path()), *index, name, ty);
                bindings.push(quote! {
                    let #variable: #ty = match #parse {
                        ::core::result::Result::Ok(value) => value,
                        ::core::result::Result::Err(error) => {
                            let outcome = #krate::__private::Outcome::from(error);
                            return ::core::result::Result::Ok(
                                #krate::__private::Admitted::closing(__request, outcome),
                            );
                        }
                    };
                });
                values.push(quote!(#variable));
            }
            Argument::Extract { ty } => {
                bindings.push(quote_spanned! {ty.span()=>
                    let #variable: #ty = <#ty as #krate::FromRequest>::from_request(&__request)?;
                });
                values.push(quote!(#variable));
            }
        }
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
