//! Parsing: the attribute's arguments and the item it is on.

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::parse::{ParseStream, Parser};
use syn::{Item, ItemFn, ItemImpl, LitBool, LitStr, Path, Token, Type};

use crate::diagnostics::Diagnostics;

/// `#[route("/pattern", key = value, ...)]`.
pub(crate) struct Args {
    pub(crate) pattern: LitStr,
    /// `crate = path`: where ws-routes is.
    pub(crate) krate: Option<Path>,
    /// `init = path`: the constructor of a class-style route without an `accept` hook.
    pub(crate) init: Option<Path>,
    /// `protocols = ["chat.v2", "chat.v1"]`: the subprotocols, most preferred first.
    pub(crate) protocols: Vec<LitStr>,
    /// `require_protocol`: refuse a client that offers none of them.
    pub(crate) require_protocol: Option<Span>,
    /// `receives = Type`: the JSON messages clients send, for the route's documentation.
    pub(crate) receives: Option<Type>,
    /// `sends = Type`: the JSON messages the route sends, for the route's documentation.
    pub(crate) sends: Option<Type>,
    /// `compression = false`: never agree on permessage-deflate for this route.
    pub(crate) compression: Option<LitBool>,
}

const USAGE: &str = "`#[route]` takes a pattern, then optionally `crate = path`, \
                     `protocols = [\"...\"]`, `require_protocol`, `receives = Type`, \
                     `sends = Type`, `compression = false` and (on an `impl` block) \
                     `init = path`";

/// Parses the arguments. A mistake in one `key = value` is recorded and the others are still
/// read; a pattern that is not a string literal, or tokens that do not parse at all, give
/// `None`.
pub(crate) fn args(tokens: TokenStream, diagnostics: &mut Diagnostics) -> Option<Args> {
    let parser = |input: ParseStream<'_>| {
        if input.is_empty() {
            return Err(
                input.error("expected a route pattern, as in `#[route(\"/light/{status}\")]`")
            );
        }
        let mut args = Args {
            pattern: input.parse()?,
            krate: None,
            init: None,
            protocols: Vec::new(),
            require_protocol: None,
            receives: None,
            sends: None,
            compression: None,
        };
        if !input.is_empty() {
            input.parse::<Token![,]>()?;
            let rest: TokenStream = input.parse()?;
            syn::meta::parser(|meta| args.argument(&meta, diagnostics)).parse2(rest)?;
        }
        Ok(args)
    };
    parser
        .parse2(tokens)
        .map_err(|error| diagnostics.push(error))
        .ok()
}

impl Args {
    fn argument(
        &mut self,
        meta: &ParseNestedMeta<'_>,
        diagnostics: &mut Diagnostics,
    ) -> syn::Result<()> {
        let Some(key) = meta.path.get_ident() else {
            return Err(meta.error(format!("unknown argument; {USAGE}")));
        };
        let repeated = if key == "crate" {
            set_once(&mut self.krate, meta.value()?.parse()?)
        } else if key == "init" {
            set_once(&mut self.init, meta.value()?.parse()?)
        } else if key == "receives" {
            set_once(&mut self.receives, meta.value()?.parse()?)
        } else if key == "sends" {
            set_once(&mut self.sends, meta.value()?.parse()?)
        } else if key == "compression" {
            set_once(&mut self.compression, meta.value()?.parse()?)
        } else if key == "protocols" {
            let value = meta.value()?;
            let content;
            syn::bracketed!(content in value);
            let list = content.parse_terminated(<LitStr as syn::parse::Parse>::parse, Token![,])?;
            let repeated = !self.protocols.is_empty();
            self.protocols.extend(list);
            repeated
        } else if key == "require_protocol" {
            if !meta.input.is_empty() && !meta.input.peek(Token![,]) {
                diagnostics.error(
                    key.span(),
                    "`require_protocol` is a flag and takes no value",
                    "write `require_protocol` alone to refuse clients that offer none of `protocols`",
                );
                skip_value(meta)?;
            }
            set_once(&mut self.require_protocol, key.span())
        } else {
            diagnostics.error(key.span(), format!("unknown argument `{key}`"), USAGE);
            skip_value(meta)?;
            false
        };
        if repeated {
            diagnostics.error(key.span(), format!("`{key}` is given twice"), "remove one");
        }
        Ok(())
    }
}

/// Stores `value`; `true` if there was one already.
fn set_once<T>(slot: &mut Option<T>, value: T) -> bool {
    slot.replace(value).is_some()
}

/// Steps over the value of an unknown argument, `= expr` or `(...)`, so that the arguments
/// after it are still read.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.value()?.parse::<syn::Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.parse_nested_meta(|nested| skip_value(&nested))?;
    }
    Ok(())
}

/// What the attribute is on.
pub(crate) enum Target {
    /// A function route.
    Function(ItemFn),
    /// A class-style route.
    Class(ItemImpl),
}

pub(crate) fn target(item: TokenStream) -> syn::Result<Target> {
    match syn::parse2::<Item>(item)? {
        Item::Fn(function) => Ok(Target::Function(function)),
        Item::Impl(block) => Ok(Target::Class(block)),
        other => Err(syn::Error::new_spanned(
            other,
            "`#[route]` goes on an `async fn` (a function route) or an `impl` block \
             (a class-style route)",
        )),
    }
}
