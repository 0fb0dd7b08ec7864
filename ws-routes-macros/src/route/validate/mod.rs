//! Validation: checks the parsed item against the rules of its kind of route, recording every
//! mistake, and builds the model that expansion reads. What both kinds share (the pattern,
//! subprotocols, handler arguments) is here; each kind's own rules are in a module of its own.

mod class;
mod function;

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::{Attribute, Expr, FnArg, Lit, LitStr, Meta, Pat, Signature, Type};

use super::lifecycle::Method;
use super::model::{Argument, Handler, Messages, Pattern, Protocols, Route};
use super::parse::{Args, Target};
use crate::diagnostics::{Diagnostics, closest};
use crate::pattern::{self, Kind, Segment};

pub(crate) fn route(args: Args, target: Target, diagnostics: &mut Diagnostics) -> Route {
    let protocols = protocols(&args, diagnostics);
    let segments = segments(&args.pattern, diagnostics);
    let params = Params {
        literal: &args.pattern,
        segments: segments.as_deref(),
    };
    let doc = match &target {
        Target::Function(item) => doc(&item.attrs),
        Target::Class(block) => doc(&block.attrs),
    };
    let handler = match target {
        Target::Function(item) => Handler::Function(Box::new(function::validate(
            item,
            &args,
            &params,
            diagnostics,
        ))),
        Target::Class(block) => Handler::Class(Box::new(class::validate(
            block,
            &args,
            &params,
            diagnostics,
        ))),
    };
    let receives = receives(&args, &handler, diagnostics);
    let compression = args.compression.as_ref().is_none_or(|flag| flag.value);
    Route {
        pattern: Pattern {
            literal: args.pattern,
            segments: segments.unwrap_or_default(),
        },
        protocols,
        compression,
        handler,
        doc,
        receives,
        sends: args.sends.map_or(Messages::Untyped, Messages::Declared),
    }
}

/// The text of the `///` lines (`#[doc = "..."]` attributes), each without its first space,
/// with blank lines at either end removed.
fn doc(attrs: &[Attribute]) -> String {
    let lines: Vec<String> = attrs
        .iter()
        .filter_map(|attr| match &attr.meta {
            Meta::NameValue(doc) if doc.path.is_ident("doc") => match &doc.value {
                Expr::Lit(literal) => match &literal.lit {
                    Lit::Str(text) => Some(text.value()),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        })
        .flat_map(|text| {
            text.split('\n')
                .map(|line| line.strip_prefix(' ').unwrap_or(line).trim_end().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    lines.join("\n").trim_matches('\n').to_owned()
}

/// What clients send: the type `on_message` decodes, or `receives = T`, else untyped.
fn receives(args: &Args, handler: &Handler, diagnostics: &mut Diagnostics) -> Messages {
    let on_message = match handler {
        Handler::Class(class) => class
            .events
            .iter()
            .find(|event| event.method == Method::OnMessage)
            .and_then(|event| {
                event.sig.inputs.iter().rev().find_map(|input| match input {
                    FnArg::Typed(typed) => Some((*typed.ty).clone()),
                    FnArg::Receiver(_) => None,
                })
            }),
        Handler::Function(_) => None,
    };
    match (on_message, &args.receives) {
        (Some(_), Some(explicit)) => {
            diagnostics.error_spanned(
                explicit,
                "`receives` is the type `on_message` decodes already",
                "remove `receives = ...`",
            );
            Messages::Untyped
        }
        (Some(ty), None) => Messages::OnMessage(ty),
        (None, Some(ty)) => Messages::Declared(ty.clone()),
        (None, None) => Messages::Untyped,
    }
}

/// The pattern's segments; `None` when it has mistakes (each one recorded where it is).
fn segments(literal: &LitStr, diagnostics: &mut Diagnostics) -> Option<Vec<Segment>> {
    pattern::parse(&literal.value())
        .map_err(|errors| {
            for error in errors {
                let span = span_within(literal, error.range);
                diagnostics.error(span, error.message, error.help);
            }
        })
        .ok()
}

fn protocols(args: &Args, diagnostics: &mut Diagnostics) -> Protocols {
    let mut names: Vec<String> = Vec::new();
    for literal in &args.protocols {
        let protocol = literal.value();
        let is_token = !protocol.is_empty()
            && protocol
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte));
        if !is_token {
            diagnostics.error(
                literal.span(),
                format!("{protocol:?} is not a valid subprotocol name"),
                "a subprotocol is an HTTP token: letters, digits and `!#$%&'*+-.^_`|~`, as in \"chat.v2\"",
            );
        } else if names.contains(&protocol) {
            diagnostics.error(
                literal.span(),
                format!("{protocol:?} is listed twice"),
                "remove one",
            );
        }
        names.push(protocol);
    }
    if let (Some(flag), true) = (args.require_protocol, names.is_empty()) {
        diagnostics.error(
            flag,
            "`require_protocol` needs the subprotocols the route speaks",
            "add `protocols = [\"...\"]`",
        );
    }
    Protocols {
        names,
        required: args.require_protocol.is_some(),
    }
}

/// The pattern's parameters, as handler arguments are checked against them.
pub(crate) struct Params<'a> {
    literal: &'a LitStr,
    /// `None` when the pattern has mistakes: then argument names are not checked.
    segments: Option<&'a [Segment]>,
}

impl Params<'_> {
    fn iter(&self) -> impl Iterator<Item = (usize, &str)> {
        self.segments
            .unwrap_or_default()
            .iter()
            .enumerate()
            .filter(|(_, segment)| segment.kind != Kind::Static)
            .map(|(index, segment)| (index, segment.text.as_str()))
    }

    /// The segment index of the parameter an argument named `name` binds: `{name}`, or for
    /// `_name` (the name rustc suggests for an unused argument) `{name}` too.
    fn bound_by(&self, name: &str) -> Option<(usize, &str)> {
        let exact = self.iter().find(|(_, param)| *param == name);
        exact.or_else(|| {
            let unused = name.strip_prefix('_')?;
            self.iter().find(|(_, param)| *param == unused)
        })
    }
}

pub(crate) fn require_async(
    sig: &Signature,
    what: &str,
    example: &str,
    diagnostics: &mut Diagnostics,
) {
    if sig.asyncness.is_none() {
        diagnostics.error(
            sig.fn_token.span,
            format!("{what} must be an `async fn`"),
            format!("write `{example}`"),
        );
    }
}

pub(crate) fn forbid_generics(sig: &Signature, what: &str, diagnostics: &mut Diagnostics) {
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        diagnostics.error_spanned(
            &sig.generics,
            format!("{what} cannot be generic"),
            "the route table holds one concrete handler per route, so use concrete types",
        );
    }
}

/// Classifies every typed argument of `sig` (the receiver is not one).
pub(crate) fn arguments(
    sig: &Signature,
    params: &Params<'_>,
    diagnostics: &mut Diagnostics,
) -> Vec<Argument> {
    sig.inputs
        .iter()
        .filter_map(|input| match input {
            FnArg::Typed(typed) => Some(argument(&typed.pat, &typed.ty, params, diagnostics)),
            FnArg::Receiver(_) => None,
        })
        .collect()
}

fn argument(pat: &Pat, ty: &Type, params: &Params<'_>, diagnostics: &mut Diagnostics) -> Argument {
    let ident = match pat {
        Pat::Ident(binding) if binding.by_ref.is_none() && binding.subpat.is_none() => {
            &binding.ident
        }
        _ => return Argument::Extract { ty: ty.clone() },
    };
    let name = ident.unraw().to_string();
    let name = name.as_str();
    if let Some((index, param)) = params.bound_by(name) {
        if let Type::Reference(reference) = ty {
            diagnostics.error_spanned(
                reference,
                format!("the parameter `{param}` must be taken by value"),
                "parameters are decoded into owned values: use `String` rather than `&str`",
            );
        }
        return Argument::Param {
            index,
            name: param.to_owned(),
            ty: ty.clone(),
        };
    }
    if params.segments.is_some() && looks_like_parameter_type(ty) {
        diagnostics.error(
            ident.span(),
            format!(
                "`{name}` is not a parameter of the pattern {:?}",
                params.literal.value()
            ),
            parameter_help(name, params),
        );
    }
    Argument::Extract { ty: ty.clone() }
}

/// Types that are path parameters, never extractors: an argument of such a type whose name is
/// not a parameter is a misspelt one.
fn looks_like_parameter_type(ty: &Type) -> bool {
    const SCALARS: &[&str] = &[
        "String", "str", "Cow", "bool", "char", "u8", "u16", "u32", "u64", "u128", "usize", "i8",
        "i16", "i32", "i64", "i128", "isize", "f32", "f64",
    ];
    match ty {
        Type::Path(path) => {
            path.qself.is_none()
                && path
                    .path
                    .segments
                    .last()
                    .is_some_and(|last| SCALARS.iter().any(|scalar| last.ident == scalar))
        }
        Type::Reference(reference) => looks_like_parameter_type(&reference.elem),
        Type::Paren(inner) => looks_like_parameter_type(&inner.elem),
        _ => false,
    }
}

fn parameter_help(name: &str, params: &Params<'_>) -> String {
    let names: Vec<&str> = params.iter().map(|(_, param)| param).collect();
    if names.is_empty() {
        return "the pattern has no parameters: add `{name}` to it, or take a `RoutePath` or \
                `Query` argument"
            .into();
    }
    match closest(name.trim_start_matches('_'), names.iter().copied()) {
        Some(param) => format!("did you mean `{param}`?"),
        None => {
            let list: Vec<_> = names.iter().map(|param| format!("`{param}`")).collect();
            format!(
                "an argument binds the parameter of the same name, and the pattern has {}",
                list.join(", ")
            )
        }
    }
}

/// The span of `range` (bytes of the literal's value) inside the literal, where the compiler
/// can point inside literals and the literal has no escapes; else the whole literal.
fn span_within(literal: &LitStr, range: std::ops::Range<usize>) -> Span {
    let token = literal.token();
    let source = token.to_string();
    let plain = source.len() == literal.value().len() + 2 && source.starts_with('"');
    plain
        .then(|| token.subspan(range.start + 1..range.end + 1))
        .flatten()
        .unwrap_or_else(|| literal.span())
}
