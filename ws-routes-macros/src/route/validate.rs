//! Validation shared by both kinds of route (the pattern, handler arguments), and that of
//! function routes.

use proc_macro2::Span;
use syn::{FnArg, ItemFn, LitStr, Pat, Signature, Type};

use super::parse::Args;
use crate::diagnostics::Diagnostics;
use crate::pattern::{self, Kind, Segment};

/// The pattern of a route, parsed.
pub(crate) struct Pattern {
    pub(crate) literal: LitStr,
    pub(crate) segments: Vec<Segment>,
    /// The pattern had mistakes: arguments are not checked against its (partial) parameters.
    pub(crate) invalid: bool,
}

impl Pattern {
    pub(crate) fn parse(literal: LitStr, diagnostics: &mut Diagnostics) -> Self {
        let value = literal.value();
        match pattern::parse(&value) {
            Ok(segments) => Pattern {
                literal,
                segments,
                invalid: false,
            },
            Err(errors) => {
                for error in errors {
                    let span = span_within(&literal, error.range);
                    diagnostics.error(span, error.message, error.help);
                }
                Pattern {
                    literal,
                    segments: Vec::new(),
                    invalid: true,
                }
            }
        }
    }

    fn params(&self) -> impl Iterator<Item = (usize, &str)> {
        self.segments
            .iter()
            .enumerate()
            .filter(|(_, segment)| segment.kind != Kind::Static)
            .map(|(index, segment)| (index, segment.text.as_str()))
    }
}

/// Subprotocol negotiation: the protocols a route speaks, most preferred first.
pub(crate) struct Negotiation {
    pub(crate) protocols: Vec<String>,
    pub(crate) required: bool,
}

impl Negotiation {
    pub(crate) fn check(args: &Args, diagnostics: &mut Diagnostics) -> Self {
        let literals = args.protocols.as_deref().unwrap_or_default();
        let mut protocols: Vec<String> = Vec::new();
        for literal in literals {
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
            } else if protocols.contains(&protocol) {
                diagnostics.error(
                    literal.span(),
                    format!("{protocol:?} is listed twice"),
                    "remove one",
                );
            }
            protocols.push(protocol);
        }
        if let (Some(flag), true) = (&args.require_protocol, protocols.is_empty()) {
            diagnostics.error(
                flag.span(),
                "`require_protocol` needs the subprotocols the route speaks",
                "add `protocols = [\"...\"]`",
            );
        }
        Negotiation {
            protocols,
            required: args.require_protocol.is_some(),
        }
    }
}

/// A function route that passed every check.
pub(crate) struct ValidFunction {
    pub(crate) pattern: Pattern,
    pub(crate) negotiation: Negotiation,
    pub(crate) krate: Option<syn::Path>,
    pub(crate) function: ItemFn,
    pub(crate) arguments: Vec<Argument>,
}

/// Where a handler argument comes from.
pub(crate) enum Argument {
    /// The pattern parameter at this segment index, parsed into `ty`.
    Param {
        index: usize,
        name: String,
        ty: Type,
    },
    /// Anything else: taken from the connection or the request.
    Extract { ty: Type },
}

pub(crate) fn function(args: Args, function: ItemFn) -> syn::Result<ValidFunction> {
    let mut diagnostics = Diagnostics::default();
    let negotiation = Negotiation::check(&args, &mut diagnostics);
    let pattern = Pattern::parse(args.pattern, &mut diagnostics);
    if let Some(init) = &args.init {
        diagnostics.error_spanned(
            init,
            "`init` applies to class-style routes only",
            "a function route has no instance to build; remove `init = ...`",
        );
    }
    let sig = &function.sig;
    require_async(sig, "a route handler", &mut diagnostics);
    forbid_generics(sig, "a route handler", &mut diagnostics);
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
    let arguments = arguments(sig, &pattern, &mut diagnostics);
    diagnostics.finish(ValidFunction {
        pattern,
        negotiation,
        krate: args.krate,
        function,
        arguments,
    })
}

pub(crate) fn require_async(sig: &Signature, what: &str, diagnostics: &mut Diagnostics) {
    if sig.asyncness.is_none() {
        diagnostics.error(
            sig.fn_token.span,
            format!("{what} must be an `async fn`"),
            format!("write `async fn {}(...)`", sig.ident),
        );
    }
}

pub(crate) fn forbid_generics(sig: &Signature, what: &str, diagnostics: &mut Diagnostics) {
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        diagnostics.error_spanned(
            &sig.generics,
            format!("{what} cannot be generic"),
            "the route table holds one concrete handler per route; use concrete types",
        );
    }
}

/// Classifies every typed argument of `sig` (the receiver is not one).
pub(crate) fn arguments(
    sig: &Signature,
    pattern: &Pattern,
    diagnostics: &mut Diagnostics,
) -> Vec<Argument> {
    sig.inputs
        .iter()
        .filter_map(|input| match input {
            FnArg::Typed(typed) => Some(argument(&typed.pat, &typed.ty, pattern, diagnostics)),
            FnArg::Receiver(_) => None,
        })
        .collect()
}

fn argument(pat: &Pat, ty: &Type, pattern: &Pattern, diagnostics: &mut Diagnostics) -> Argument {
    let ident = match pat {
        Pat::Ident(binding) if binding.by_ref.is_none() && binding.subpat.is_none() => {
            Some(&binding.ident)
        }
        _ => None,
    };
    let Some(ident) = ident else {
        return Argument::Extract { ty: ty.clone() };
    };
    let name = ident.to_string();
    let name = name.strip_prefix("r#").unwrap_or(&name);
    if let Some((index, _)) = pattern.params().find(|(_, param)| *param == name) {
        if let Type::Reference(reference) = ty {
            diagnostics.error_spanned(
                reference,
                format!("the parameter `{name}` must be taken by value"),
                "parameters are decoded into owned values: use `String` rather than `&str`",
            );
        }
        return Argument::Param {
            index,
            name: name.to_owned(),
            ty: ty.clone(),
        };
    }
    if !pattern.invalid && looks_like_parameter_type(ty) {
        let params: Vec<&str> = pattern.params().map(|(_, param)| param).collect();
        diagnostics.error(
            ident.span(),
            format!(
                "`{name}` is not a parameter of the pattern {:?}",
                pattern.literal.value()
            ),
            parameter_help(name, &params),
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

fn parameter_help(name: &str, params: &[&str]) -> String {
    if params.is_empty() {
        return "the pattern has no parameters; add `{name}` to it, or take a `RoutePath` or \
                `Query` argument"
            .into();
    }
    match closest(name, params.iter().copied()) {
        Some(param) => format!("did you mean `{param}`?"),
        None => {
            let list: Vec<_> = params.iter().map(|param| format!("`{param}`")).collect();
            format!(
                "an argument binds the parameter of the same name; the pattern has {}",
                list.join(", ")
            )
        }
    }
}

/// The candidate within two edits of `name`, if any: what a typo most likely meant.
pub(crate) fn closest<'a>(
    name: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
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

#[cfg(test)]
mod tests {
    use super::{closest, edit_distance};

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("status", "status"), 0);
        assert_eq!(edit_distance("sttaus", "status"), 2);
        assert_eq!(edit_distance("stat", "status"), 2);
        assert_eq!(edit_distance("", "id"), 2);
    }

    #[test]
    fn closest_suggests_only_near_misses() {
        let candidates = ["on_text", "on_binary", "on_open"];
        assert_eq!(closest("on_txt", candidates.into_iter()), Some("on_text"));
        assert_eq!(closest("receive", candidates.into_iter()), None);
    }
}
