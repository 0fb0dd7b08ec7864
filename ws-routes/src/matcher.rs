//! Finds the route for a request path: a segment trie built once from a [`Routes`] table.
//!
//! Precedence is segment by segment from the left: a static segment beats `{param}`, which
//! beats `{*rest}`; when a more specific branch fails further down, matching backtracks to the
//! next candidate. Matching allocates nothing.

use crate::route::{Routes, Segment};

/// The index of a route in its table.
pub(crate) type RouteIndex = usize;

#[derive(Debug, Default)]
pub(crate) struct Matcher {
    root: Node,
}

#[derive(Debug, Default)]
struct Node {
    /// Static children, sorted by segment text for binary search.
    statics: Vec<(&'static str, Node)>,
    param: Option<Box<Node>>,
    catch_all: Option<RouteIndex>,
    /// The route whose pattern ends at this node.
    route: Option<RouteIndex>,
}

impl Matcher {
    /// Builds the trie. `routes![]` guarantees at compile time that no two routes share a shape;
    /// should a table hold such a pair anyway, the first listed wins.
    pub(crate) fn new(routes: &Routes) -> Self {
        let mut matcher = Matcher::default();
        for (index, route) in routes.table().iter().enumerate() {
            let mut node = &mut matcher.root;
            let (last, init) = route
                .segments
                .split_last()
                .expect("#[route] patterns have at least one segment");
            for segment in init {
                node = node.child(segment);
            }
            let slot = match last {
                Segment::CatchAll(_) => &mut node.catch_all,
                segment => &mut node.child(segment).route,
            };
            if slot.is_none() {
                *slot = Some(index);
            }
        }
        matcher
    }

    /// The route for `path` (which starts with `/` and has no query string).
    pub(crate) fn find(&self, path: &str) -> Option<RouteIndex> {
        self.root.find(path.strip_prefix('/')?)
    }
}

impl Node {
    fn child(&mut self, segment: &Segment) -> &mut Node {
        match segment {
            Segment::Static(text) => {
                let at = match self.statics.binary_search_by(|(key, _)| key.cmp(text)) {
                    Ok(at) => at,
                    Err(at) => {
                        self.statics.insert(at, (text, Node::default()));
                        at
                    }
                };
                &mut self.statics[at].1
            }
            Segment::Param(_) => self.param.get_or_insert_with(Box::default),
            Segment::CatchAll(_) => unreachable!("a catch-all is always the last segment"),
        }
    }

    /// `rest` is the path after the `/` that leads to this node's segment.
    fn find(&self, rest: &str) -> Option<RouteIndex> {
        let (segment, tail) = match rest.split_once('/') {
            Some((segment, tail)) => (segment, Some(tail)),
            None => (rest, None),
        };
        if let Ok(at) = self
            .statics
            .binary_search_by(|(key, _)| (*key).cmp(segment))
        {
            if let Some(found) = self.statics[at].1.descend(tail) {
                return Some(found);
            }
        }
        if !segment.is_empty() {
            if let Some(found) = self.param.as_deref().and_then(|node| node.descend(tail)) {
                return Some(found);
            }
        }
        if rest.is_empty() {
            None
        } else {
            self.catch_all
        }
    }

    fn descend(&self, tail: Option<&str>) -> Option<RouteIndex> {
        match tail {
            None => self.route,
            Some(tail) => self.find(tail),
        }
    }
}
