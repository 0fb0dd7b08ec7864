//! Error accumulation: every problem found is reported, not just the first.

use proc_macro2::{Span, TokenStream};

/// Collects `syn::Error`s; each carries its own span.
#[derive(Default)]
pub(crate) struct Diagnostics {
    errors: Option<syn::Error>,
}

impl Diagnostics {
    /// Records an error at `span`, with a `help` line under the message.
    pub(crate) fn error(&mut self, span: Span, message: impl AsRef<str>, help: impl AsRef<str>) {
        let text = format!("{}\n= help: {}", message.as_ref(), help.as_ref());
        self.push(syn::Error::new(span, text));
    }

    /// Records an error covering every token of `tokens` (as far as stable Rust can), with a
    /// `help` line.
    pub(crate) fn error_spanned(
        &mut self,
        tokens: impl quote::ToTokens,
        message: impl AsRef<str>,
        help: impl AsRef<str>,
    ) {
        let text = format!("{}\n= help: {}", message.as_ref(), help.as_ref());
        self.push(syn::Error::new_spanned(tokens, text));
    }

    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.errors {
            Some(errors) => errors.combine(error),
            None => self.errors = Some(error),
        }
    }

    /// `Ok(value)` when nothing was recorded.
    pub(crate) fn finish<T>(self, value: T) -> Result<T, syn::Error> {
        match self.errors {
            Some(errors) => Err(errors),
            None => Ok(value),
        }
    }
}

/// The item as written followed by the errors, so that code using the item still resolves.
pub(crate) fn with_item(item: TokenStream, error: syn::Error) -> TokenStream {
    let mut tokens = item;
    tokens.extend(error.into_compile_error());
    tokens
}
