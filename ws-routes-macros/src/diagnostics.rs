//! Error accumulation: every problem found is reported, not just the first.
//!
//! A `syn::Error` becomes one `compile_error!`, whose message rustc prints above the location;
//! stable Rust gives a macro no way to attach a `help:` note below it. So each error is one
//! sentence: what is wrong, then (after a semicolon) what to do about it.

use std::fmt::Display;

use proc_macro2::{Span, TokenStream};

/// Collects `syn::Error`s; each carries its own span.
#[derive(Default)]
pub(crate) struct Diagnostics {
    errors: Option<syn::Error>,
}

impl Diagnostics {
    /// Records an error at `span`: `message` says what is wrong, `help` what to write instead.
    pub(crate) fn error(&mut self, span: Span, message: impl Display, help: impl Display) {
        self.push(syn::Error::new(span, sentence(message, help)));
    }

    /// Records an error covering every token of `tokens` (as far as stable Rust can).
    pub(crate) fn error_spanned(
        &mut self,
        tokens: impl quote::ToTokens,
        message: impl Display,
        help: impl Display,
    ) {
        self.push(syn::Error::new_spanned(tokens, sentence(message, help)));
    }

    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.errors {
            Some(errors) => errors.combine(error),
            None => self.errors = Some(error),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.errors.is_none()
    }

    /// Every error recorded, as `compile_error!`s.
    pub(crate) fn into_compile_errors(self) -> TokenStream {
        self.errors
            .map(syn::Error::into_compile_error)
            .unwrap_or_default()
    }
}

fn sentence(message: impl Display, help: impl Display) -> String {
    format!("{message}; {help}")
}

/// The candidate within two edits of `name`, if any: what a typo most likely meant.
pub(crate) fn closest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
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
        assert_eq!(closest("on_txt", candidates), Some("on_text"));
        assert_eq!(closest("receive", candidates), None);
    }
}
