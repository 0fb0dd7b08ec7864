//! Shared application state: the values given to [`Server::with_state`](crate::Server::with_state),
//! the [`State`] extractor that hands them out, and the check, when the server is bound, that
//! every state a route takes is there.

use std::any::{Any, TypeId, type_name};
use std::collections::HashMap;
use std::fmt;

use super::{FromRequest, Reject, Request};
use crate::error::MissingState;
use crate::http::StatusCode;
use crate::routing::Routes;

/// Application state, one value per type, shared by every connection.
#[derive(Default)]
pub(crate) struct States {
    values: HashMap<TypeId, Box<dyn Any + Send + Sync>>,
}

impl States {
    pub(crate) fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        self.values.insert(TypeId::of::<T>(), Box::new(value));
    }

    pub(crate) fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.values
            .get(&TypeId::of::<T>())
            .and_then(|value| value.downcast_ref())
    }

    /// The first state a route of `routes` takes that is not here.
    pub(crate) fn first_missing(&self, routes: Routes) -> Option<MissingState> {
        routes.iter().find_map(|route| {
            let key = route
                .parts
                .requires
                .iter()
                .filter_map(|required| required())
                .find(|key| !self.values.contains_key(&(key.type_id)()))?;
            Some(MissingState {
                handler: route.parts.handler,
                pattern: route.parts.pattern,
                state: short_type_name((key.type_name)()),
            })
        })
    }
}

impl fmt::Debug for States {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("States")
            .field("count", &self.values.len())
            .finish()
    }
}

/// A state type a handler needs: checked when the server is bound, so that a missing
/// `.with_state(...)` is an error at start-up rather than on the first connection.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct StateKey {
    pub(crate) type_id: fn() -> TypeId,
    pub(crate) type_name: fn() -> &'static str,
}

/// Shared application state, given to the server with
/// [`Server::with_state`](crate::Server::with_state) and taken by any handler or hook as a
/// `State<T>` argument (a clone of it: wrap what must be shared in an `Arc`).
///
/// A route that takes `State<T>` when the server has no `T` makes
/// [`Server::bind`](crate::Server::bind) fail, before any connection.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use ws_routes::{route, routes, Server, State, WebSocket};
///
/// #[derive(Clone, Default)]
/// struct Visits(Arc<AtomicU64>);
///
/// #[route("/visit")]
/// async fn visit(mut ws: WebSocket, State(visits): State<Visits>) {
///     let count = visits.0.fetch_add(1, Ordering::Relaxed) + 1;
///     let _ = ws.send(format!("visitor number {count}")).await;
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = Server::new(routes![visit]).with_state(Visits::default()).bind("127.0.0.1:0").await?;
/// # let url = format!("ws://{}/visit", server.local_addr()?);
/// # tokio::spawn(server.run());
/// # for expected in ["visitor number 1", "visitor number 2"] {
/// #     let mut ws = ws_routes::connect(&url).await?;
/// #     assert_eq!(ws.recv().await.unwrap()?.as_text(), Some(expected));
/// # }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct State<T>(pub T);

impl<T: Clone + Send + Sync + 'static> FromRequest for State<T> {
    fn from_request(request: &Request) -> Result<Self, Reject> {
        match request.state::<T>() {
            Some(value) => Ok(State(value.clone())),
            None => {
                tracing::error!(
                    state = type_name::<T>(),
                    "no state of this type: add it with `Server::with_state`"
                );
                Err(Reject::new(StatusCode::INTERNAL_SERVER_ERROR))
            }
        }
    }

    fn __state() -> Option<StateKey> {
        Some(StateKey {
            type_id: TypeId::of::<T>,
            type_name: type_name::<T>,
        })
    }
}

/// A type's name without module paths: `Arc<Db>` for `alloc::sync::Arc<my_app::db::Db>`.
fn short_type_name(full: &str) -> String {
    let mut short = String::with_capacity(full.len());
    let mut word = String::new();
    for ch in full.chars() {
        if ch.is_alphanumeric() || ch == '_' || ch == ':' {
            word.push(ch);
        } else {
            short.push_str(word.rsplit("::").next().unwrap_or_default());
            word.clear();
            short.push(ch);
        }
    }
    short.push_str(word.rsplit("::").next().unwrap_or_default());
    short
}

#[cfg(test)]
mod tests {
    use super::short_type_name;

    #[test]
    fn type_names_lose_their_module_paths() {
        assert_eq!(short_type_name("my_app::db::Db"), "Db");
        assert_eq!(
            short_type_name("alloc::sync::Arc<std::sync::Mutex<my_app::Db>>"),
            "Arc<Mutex<Db>>"
        );
        assert_eq!(short_type_name("(u8, app::A)"), "(u8, A)");
    }
}
