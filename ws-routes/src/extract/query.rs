//! The [`Query`] extractor: the query string, decoded on demand.

use std::borrow::Cow;
use std::fmt;

use crate::routing::Redacted;

/// The query string of the request, kept apart from the path parameters. Its `Debug` output
/// shows the length only, as [`RoutePath`](crate::extract::RoutePath)'s does, since a query string often
/// carries tokens.
///
/// ```
/// use ws_routes::{route, WebSocket};
/// use ws_routes::extract::Query;
///
/// #[route("/feed")]
/// async fn feed(mut ws: WebSocket, query: Query) {
///     // ws://host/feed?topic=rust%20lang&limit=5
///     let topic = query.get("topic").unwrap_or_default(); // "rust lang"
///     let _ = ws.send(format!("subscribed to {topic}")).await;
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = ws_routes::Server::new(ws_routes::routes![feed]).bind("127.0.0.1:0").await?;
/// # let addr = server.local_addr()?;
/// # tokio::spawn(server.run());
/// # let mut ws = ws_routes::connect(&format!("ws://{addr}/feed?topic=rust%20lang&limit=5")).await?;
/// # assert_eq!(ws.recv().await.unwrap()?.as_text(), Some("subscribed to rust lang"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Query {
    raw: Option<String>,
}

impl fmt::Debug for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Query")
            .field(&Redacted(self.raw.as_deref()))
            .finish()
    }
}

impl Query {
    pub(crate) fn new(raw: Option<String>) -> Self {
        Query { raw }
    }

    /// The query string as sent (after `?`, still encoded); `""` when there is none.
    pub fn as_str(&self) -> &str {
        self.raw.as_deref().unwrap_or("")
    }

    /// The first value of `key`, decoded as `application/x-www-form-urlencoded`.
    pub fn get(&self, key: &str) -> Option<Cow<'_, str>> {
        self.pairs()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value)
    }

    /// Every `key=value` pair, decoded, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
        form_urlencoded::parse(self.as_str().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::Query;

    #[test]
    fn debug_output_redacts_the_query_string() {
        let query = Query::new(Some("token=secret".into()));
        assert_eq!(format!("{query:?}"), "Query(<12 bytes, redacted>)");
        assert_eq!(format!("{:?}", Query::new(None)), "Query(None)");
    }
}
