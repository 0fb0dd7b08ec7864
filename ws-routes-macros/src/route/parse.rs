//! Parsing: the attribute's arguments and the item it is on.

use proc_macro2::TokenStream;
use syn::parse::{Parse, ParseStream};
use syn::{Ident, Item, ItemFn, ItemImpl, LitStr, Token};

/// `#[route("/pattern")]`, optionally followed by `crate = path` (where ws-routes is),
/// `protocols = ["a", "b"]` and `require_protocol` (subprotocol negotiation) and, on an `impl`
/// block, `init = path` (the constructor used when there is no `accept` hook).
pub(crate) struct Args {
    pub(crate) pattern: LitStr,
    pub(crate) krate: Option<syn::Path>,
    pub(crate) init: Option<syn::Path>,
    /// `protocols = ["chat.v2", "chat.v1"]`: the subprotocols, most preferred first.
    pub(crate) protocols: Option<Vec<LitStr>>,
    /// `require_protocol`: refuse a client that offers none of them.
    pub(crate) require_protocol: Option<Ident>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.is_empty() {
            return Err(
                input.error("expected a route pattern, as in `#[route(\"/light/{status}\")]`")
            );
        }
        let mut args = Args {
            pattern: input.parse()?,
            krate: None,
            init: None,
            protocols: None,
            require_protocol: None,
        };
        while input.parse::<Option<Token![,]>>()?.is_some() && !input.is_empty() {
            let key = if input.peek(Token![crate]) {
                let token = input.parse::<Token![crate]>()?;
                Ident::new("crate", token.span)
            } else {
                input.parse::<Ident>()?
            };
            let name = key.to_string();
            let repeated = match name.as_str() {
                "crate" => args.krate.is_some(),
                "init" => args.init.is_some(),
                "protocols" => args.protocols.is_some(),
                "require_protocol" => args.require_protocol.is_some(),
                _ => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!(
                            "unknown argument `{key}`: `#[route]` takes a pattern, then \
                             optionally `crate = path`, `protocols = [...]`, \
                             `require_protocol` and (on an `impl` block) `init = path`"
                        ),
                    ));
                }
            };
            if repeated {
                return Err(syn::Error::new(
                    key.span(),
                    format!("`{key}` is given twice"),
                ));
            }
            if name == "require_protocol" {
                args.require_protocol = Some(key);
                continue;
            }
            input.parse::<Token![=]>()?;
            match name.as_str() {
                "crate" => args.krate = Some(input.parse()?),
                "init" => args.init = Some(input.parse()?),
                _ => {
                    let content;
                    syn::bracketed!(content in input);
                    let list = content.parse_terminated(<LitStr as Parse>::parse, Token![,])?;
                    args.protocols = Some(list.into_iter().collect());
                }
            }
        }
        if !input.is_empty() {
            return Err(input.error("expected `,` between the arguments of `#[route]`"));
        }
        Ok(args)
    }
}

/// What the attribute is on.
pub(crate) enum Target {
    /// A function route.
    Function(ItemFn),
    /// A class-style route.
    Class(ItemImpl),
}

pub(crate) struct Parsed {
    pub(crate) args: Args,
    pub(crate) target: Target,
}

pub(crate) fn parse(args: TokenStream, item: TokenStream) -> syn::Result<Parsed> {
    let args = syn::parse2(args)?;
    let target = match syn::parse2::<Item>(item)? {
        Item::Fn(function) => Target::Function(function),
        Item::Impl(block) => Target::Class(block),
        other => {
            return Err(syn::Error::new_spanned(
                other,
                "`#[route]` goes on an `async fn` (a function route) or an `impl` block \
                 (a class-style route)",
            ));
        }
    };
    Ok(Parsed { args, target })
}
