//! How a class-style route gets its instance: the `accept` hook's result ([`AcceptReturn`])
//! or the default constructor.

use super::ClassRoute;
use crate::extract::Reject;

/// What a class-style route's `accept` hook may return: the instance, or `Result<Self, E>`
/// where `E` converts into a [`Reject`] (an HTTP refusal).
#[diagnostic::on_unimplemented(
    message = "an `accept` hook must return `Self` or `Result<Self, E>` where `E` converts into `Reject`, not `{Self}`",
    label = "not `Self`, nor a `Result` whose error converts into `Reject`",
    note = "refuse with a `Reject` (`Reject::new(StatusCode::FORBIDDEN).body(\"...\")`), a `StatusCode`, or your own error type `E` with `impl From<E> for Reject`"
)]
pub trait AcceptReturn<C> {
    #[doc(hidden)]
    fn __instance(self) -> Result<C, Reject>;
}

#[diagnostic::do_not_recommend]
impl<C: ClassRoute> AcceptReturn<C> for C {
    fn __instance(self) -> Result<C, Reject> {
        Ok(self)
    }
}

// Reports a wrong error type as a wrong return type (the message above), not as a missing
// `From<E> for Reject`.
#[diagnostic::do_not_recommend]
impl<C, E: Into<Reject>> AcceptReturn<C> for Result<C, E> {
    fn __instance(self) -> Result<C, Reject> {
        self.map_err(Into::into)
    }
}

/// How a class-style route without `accept` or `init` gets its instance: `Default`.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no way to build an instance per connection",
    label = "no `accept` hook, no `init = ...` and no `Default` implementation",
    note = "a class-style route builds one instance per connection: write an `accept` hook, name a constructor with `#[route(\"...\", init = path)]`, or derive `Default`"
)]
pub trait DefaultInstance {
    fn __default() -> Self;
}

impl<T: Default> DefaultInstance for T {
    fn __default() -> Self {
        T::default()
    }
}
