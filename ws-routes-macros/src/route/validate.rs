//! Validation: the pattern, and the handler's signature against it.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, LitStr, Pat, Type};

use super::parse::Parsed;
use crate::diagnostics::Diagnostics;
use crate::pattern::{self, Kind, Segment};

/// A route that passed every check.
pub(crate) struct Valid {
    pub(crate) pattern: LitStr,
    pub(crate) krate: Option<syn::Path>,
    pub(crate) segments: Vec<Segment>,
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
    /// An extractor.
    Extract { ty: Type },
}

pub(crate) fn validate(parsed: Parsed) -> syn::Result<Valid> {
    let Parsed { args, function } = parsed;
    let mut diagnostics = Diagnostics::default();
    let value = args.pattern.value();
    let segments = pattern::parse(&value).unwrap_or_else(|errors| {
        for error in errors {
            let span = span_within(&args.pattern, error.range);
            diagnostics.error(span, error.message, error.help);
        }
        Vec::new()
    });
    check_signature(&function, &mut diagnostics);
    let arguments = function
        .sig
        .inputs
        .iter()
        .filter_map(|input| match input {
            FnArg::Typed(typed) => Some(argument(
                &typed.pat,
                &typed.ty,
                &args.pattern,
                &segments,
                &mut diagnostics,
            )),
            FnArg::Receiver(_) => None,
        })
        .collect();
    diagnostics.finish(Valid {
        pattern: args.pattern,
        krate: args.krate,
        segments,
        function,
        arguments,
    })
}

fn check_signature(function: &ItemFn, diagnostics: &mut Diagnostics) {
    let sig = &function.sig;
    if sig.asyncness.is_none() {
        diagnostics.error(
            sig.fn_token.span,
            "a route handler must be an `async fn`",
            format!("write `async fn {}(...)`", sig.ident),
        );
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        diagnostics.error(
            sig.generics.span(),
            "a route handler cannot be generic",
            "the route table needs one concrete handler per route; use concrete types",
        );
    }
    if let Some(receiver) = sig.receiver() {
        diagnostics.error(
            receiver.span(),
            "a function route cannot take `self`",
            "write a free `async fn`; a class-style route is an annotated `impl` block",
        );
    }
    if let Some(variadic) = &sig.variadic {
        diagnostics.error(
            variadic.span(),
            "a route handler cannot be variadic",
            "remove the `...`",
        );
    }
}

fn argument(
    pat: &Pat,
    ty: &Type,
    pattern: &LitStr,
    segments: &[Segment],
    diagnostics: &mut Diagnostics,
) -> Argument {
    let ident = match pat {
        Pat::Ident(binding) if binding.by_ref.is_none() && binding.subpat.is_none() => {
            Some(&binding.ident)
        }
        _ => None,
    };
    let name = ident.map(|ident| ident.to_string());
    let name = name
        .as_deref()
        .map(|name| name.strip_prefix("r#").unwrap_or(name));
    let param = name.and_then(|name| {
        segments
            .iter()
            .position(|segment| segment.kind != Kind::Static && segment.text == name)
    });
    if let (Some(index), Some(name)) = (param, name) {
        if let Type::Reference(reference) = ty {
            diagnostics.error(
                reference.span(),
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
    if let (Some(ident), Some(name)) = (ident, name) {
        if looks_like_parameter_type(ty) {
            let params: Vec<_> = segments
                .iter()
                .filter(|s| s.kind != Kind::Static)
                .map(|s| s.text.as_str())
                .collect();
            diagnostics.error(
                ident.span(),
                format!(
                    "`{name}` is not a parameter of the pattern {:?}",
                    pattern.value()
                ),
                parameter_help(name, &params),
            );
        }
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
        return "the pattern has no parameters; add `{name}` to it, or take a `RoutePath` or `Query` argument".into();
    }
    let closest = params.iter().min_by_key(|param| edit_distance(name, param));
    match closest {
        Some(param) if edit_distance(name, param) <= 2 => format!("did you mean `{param}`?"),
        _ => {
            let list: Vec<_> = params.iter().map(|param| format!("`{param}`")).collect();
            format!(
                "an argument binds the parameter of the same name; the pattern has {}",
                list.join(", ")
            )
        }
    }
}

/// Levenshtein distance, for suggesting the parameter a misspelt argument meant.
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
pub(crate) fn span_within(literal: &LitStr, range: std::ops::Range<usize>) -> Span {
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
    use super::edit_distance;

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("status", "status"), 0);
        assert_eq!(edit_distance("sttaus", "status"), 2);
        assert_eq!(edit_distance("stat", "status"), 2);
        assert_eq!(edit_distance("", "id"), 2);
    }
}
