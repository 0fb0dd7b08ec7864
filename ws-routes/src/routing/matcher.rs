//! Finds the route for a request path: a segment trie built once from a [`Routes`] table.
//!
//! Precedence is segment by segment from the left: a static segment beats `{param}`, which
//! beats `{*rest}`; when a more specific branch fails further down, matching backtracks to the
//! next candidate. Matching allocates nothing.

use rustc_hash::FxHashMap;

use super::route::{Route, Routes, Segment};

/// The index of a route in its table.
pub(crate) type RouteIndex = usize;

/// Past this many static children a node looks them up by hash rather than one by one.
const FEW: usize = 8;

#[derive(Debug)]
pub(crate) struct Matcher {
    root: Node,
    routes: Routes,
}

#[derive(Debug, Default)]
struct Node {
    statics: Statics,
    param: Option<Box<Node>>,
    catch_all: Option<RouteIndex>,
    /// The route whose pattern ends at this node.
    route: Option<RouteIndex>,
}

/// A node's static children: a short list, or a hash map once there are many. The keys are
/// the developer's route segments, fixed at start-up, so a fast non-keyed hash is safe here.
#[derive(Debug)]
enum Statics {
    Few(Vec<(&'static str, Node)>),
    Many(FxHashMap<&'static str, Node>),
}

impl Default for Statics {
    fn default() -> Self {
        Statics::Few(Vec::new())
    }
}

impl Statics {
    fn get(&self, segment: &str) -> Option<&Node> {
        match self {
            Statics::Few(children) => children
                .iter()
                .find(|(key, _)| *key == segment)
                .map(|(_, node)| node),
            Statics::Many(children) => children.get(segment),
        }
    }

    fn get_or_insert(&mut self, segment: &'static str) -> &mut Node {
        let Statics::Few(children) = self else {
            unreachable!("the trie is sealed only once it is complete")
        };
        match children.iter().position(|(key, _)| *key == segment) {
            Some(at) => &mut children[at].1,
            None => {
                children.push((segment, Node::default()));
                &mut children.last_mut().expect("just pushed").1
            }
        }
    }
}

impl Matcher {
    /// Builds the trie. `routes![]` guarantees at compile time that no two routes share a shape;
    /// should a table hold such a pair anyway, the first listed wins.
    pub(crate) fn new(routes: Routes) -> Self {
        let mut matcher = Matcher {
            root: Node::default(),
            routes,
        };
        for (index, route) in routes.table().iter().enumerate() {
            let mut node = &mut matcher.root;
            let (last, init) = route
                .parts
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
        matcher.root.seal();
        matcher
    }

    /// The index in the table of the route for `path` (which starts with `/` and has no
    /// query string).
    pub(crate) fn find(&self, path: &str) -> Option<RouteIndex> {
        self.root.find(path.strip_prefix('/')?)
    }

    /// The route for `path`.
    pub(crate) fn route(&self, path: &str) -> Option<&'static Route> {
        self.find(path).map(|index| &self.routes.table()[index])
    }

    /// The route table it was built from.
    #[cfg(feature = "tower")]
    pub(crate) fn routes(&self) -> Routes {
        self.routes
    }
}

impl Node {
    fn child(&mut self, segment: &Segment) -> &mut Node {
        match segment {
            Segment::Static(text) => self.statics.get_or_insert(text),
            Segment::Param(_) => self.param.get_or_insert_with(Box::default),
            Segment::CatchAll(_) => unreachable!("a catch-all is always the last segment"),
        }
    }

    /// Turns long lists of static children into hash maps, all the way down.
    fn seal(&mut self) {
        if let Some(param) = &mut self.param {
            param.seal();
        }
        let Statics::Few(children) = &mut self.statics else {
            return;
        };
        for (_, child) in children.iter_mut() {
            child.seal();
        }
        if children.len() > FEW {
            self.statics = Statics::Many(std::mem::take(children).into_iter().collect());
        }
    }

    /// `rest` is the path after the `/` that leads to this node's segment.
    fn find(&self, rest: &str) -> Option<RouteIndex> {
        let (segment, tail) = match rest.split_once('/') {
            Some((segment, tail)) => (segment, Some(tail)),
            None => (rest, None),
        };
        if let Some(found) = self
            .statics
            .get(segment)
            .and_then(|node| node.descend(tail))
        {
            return Some(found);
        }
        if !segment.is_empty()
            && let Some(found) = self.param.as_deref().and_then(|node| node.descend(tail))
        {
            return Some(found);
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

#[cfg(test)]
mod tests {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    use proptest::prelude::*;

    use super::*;
    use crate::__private::function_route;
    use crate::extract::Connection;
    use crate::handler::{BoxFuture, Outcome};
    use crate::routing::route::RouteParts;
    use crate::routing::{Messages, RoutePath};

    fn entry(_: Connection) -> BoxFuture<Outcome> {
        Box::pin(async { Outcome::Finished })
    }

    fn table(patterns: &[&[Segment]]) -> Routes {
        let routes: Vec<Route> = patterns
            .iter()
            .map(|segments| {
                let parts = RouteParts {
                    pattern: "",
                    segments: Box::leak(segments.to_vec().into_boxed_slice()),
                    handler: "test",
                    requires: &[],
                    protocols: &[],
                    protocol_required: false,
                    compression: true,
                    doc: "",
                    receives: Messages::Untyped,
                    sends: Messages::Untyped,
                };
                function_route(parts, entry)
            })
            .collect();
        Routes::__from_checked(Box::leak(routes.into_boxed_slice()))
    }

    use Segment::{CatchAll, Param, Static};

    #[test]
    fn a_clone_of_a_match_copies_its_target_rather_than_keep_the_head() {
        let routes = table(&[&[Static("p"), Param("x")]]);
        let head = bytes::Bytes::from_static(b"/p/a?k=v HTTP/1.1\r\nCookie: a-long-one\r\n");
        let uri = crate::http::Uri::from_maybe_shared(head.slice(..8)).unwrap();
        let matched = RoutePath::new(&routes.table()[0], &uri);
        let kept = matched.clone();
        assert_eq!(
            (kept.path(), kept.query(), kept.param("x").as_deref()),
            ("/p/a", "k=v", Some("a"))
        );
        let in_head = |text: &str| head.as_ptr_range().contains(&text.as_ptr());
        assert!(in_head(matched.path()), "the request's own shares the head");
        assert!(!in_head(kept.path()), "a clone has its own copy");
    }

    #[test]
    fn a_match_from_parts_is_what_a_request_target_carries_or_nothing() {
        let routes = table(&[&[Static("p"), Param("x")]]);
        let route = &routes.table()[0];
        let matched = RoutePath::from_parts(route, "/p/a%20b", Some("k=v&w")).unwrap();
        assert_eq!(
            (
                matched.path(),
                matched.query(),
                matched.param("x").as_deref()
            ),
            ("/p/a%20b", "k=v&w", Some("a b"))
        );
        let plain = RoutePath::from_parts(route, "/p/a", None).unwrap();
        assert_eq!((plain.path(), plain.query()), ("/p/a", ""));
        // A URI cuts a fragment off and holds no space: neither is a request's target.
        for (path, query) in [("/p/a#b", None), ("/p/a b", None), ("/p/a", Some("k#v"))] {
            assert!(
                RoutePath::from_parts(route, path, query).is_none(),
                "{path:?} {query:?}"
            );
        }
    }

    #[test]
    fn precedence_is_static_then_param_then_catch_all_with_backtracking() {
        let routes = table(&[
            &[Static("a"), Static("b"), Static("c")],
            &[Static("a"), Param("x"), Static("d")],
            &[Static("a"), CatchAll("rest")],
            &[Static("a"), Param("x")],
            &[Static("")],
        ]);
        let matcher = Matcher::new(routes);
        assert_eq!(matcher.find("/a/b/c"), Some(0));
        assert_eq!(
            matcher.find("/a/b/d"),
            Some(1),
            "backtracks from the static `b` to `{{x}}`"
        );
        assert_eq!(
            matcher.find("/a/b/e"),
            Some(2),
            "falls back to the catch-all"
        );
        assert_eq!(matcher.find("/a/b"), Some(3));
        assert_eq!(matcher.find("/a/"), None, "a catch-all is never empty");
        assert_eq!(matcher.find("/a//x"), Some(2));
        assert_eq!(matcher.find("/a"), None);
        assert_eq!(matcher.find("/"), Some(4));
        assert_eq!(matcher.find(""), None);
        assert_eq!(matcher.find("/b"), None);
    }

    #[test]
    fn a_trailing_slash_is_a_segment_of_its_own() {
        let routes = table(&[&[Static("a"), Param("x")], &[Static("b"), Static("")]]);
        let matcher = Matcher::new(routes);
        assert_eq!(matcher.find("/a/1"), Some(0));
        assert_eq!(matcher.find("/a/1/"), None);
        assert_eq!(matcher.find("/a/"), None, "a parameter is never empty");
        assert_eq!(matcher.find("/b/"), Some(1));
        assert_eq!(matcher.find("/b"), None);
    }

    #[test]
    fn a_thousand_routes_each_find_their_own() {
        let names: Vec<&'static str> = (0..1000)
            .map(|i| &*Box::leak(format!("r{i}").into_boxed_str()))
            .collect();
        let patterns: Vec<Vec<Segment>> = names
            .iter()
            .enumerate()
            .map(|(i, name)| match i % 3 {
                0 => vec![Static("static"), Static(name)],
                1 => vec![Static(name), Param("id")],
                _ => vec![Static("files"), Static(name), CatchAll("rest")],
            })
            .collect();
        let slices: Vec<&[Segment]> = patterns.iter().map(Vec::as_slice).collect();
        let matcher = Matcher::new(table(&slices));
        for (i, name) in names.iter().enumerate() {
            let path = match i % 3 {
                0 => format!("/static/{name}"),
                1 => format!("/{name}/42"),
                _ => format!("/files/{name}/a/b"),
            };
            assert_eq!(matcher.find(&path), Some(i), "{path}");
        }
    }

    /// A pattern of up to five segments, each static or a parameter, perhaps ending in a
    /// catch-all, with a value for every parameter.
    fn pattern_and_values() -> impl Strategy<Value = (Vec<Segment>, Vec<String>)> {
        const STATICS: &[&str] = &["a", "b", "light", "v1", "%C3%A9"];
        const NAMES: &[&str] = &["p0", "p1", "p2", "p3", "p4", "rest"];
        let segment = prop_oneof![(0..STATICS.len()).prop_map(Some), Just(None)];
        (prop::collection::vec(segment, 1..5), any::<bool>()).prop_flat_map(|(kinds, catch_all)| {
            let mut segments: Vec<Segment> = kinds
                .iter()
                .enumerate()
                .map(|(i, kind)| kind.map_or(Param(NAMES[i]), |s| Static(STATICS[s])))
                .collect();
            if catch_all {
                segments.push(CatchAll(NAMES[5]));
            }
            let count = segments.iter().filter(|s| s.param_name().is_some()).count();
            // Any non-empty text: unicode, slashes, `%`, `?` and `#` included.
            (Just(segments), prop::collection::vec("\\PC{1,12}", count))
        })
    }

    proptest! {
        #[test]
        fn a_path_built_from_parameters_matches_and_gives_them_back((segments, values) in pattern_and_values()) {
            let mut values_left = values.iter();
            let mut path = String::new();
            for segment in &segments {
                path.push('/');
                match segment {
                    Static(text) => path.push_str(text),
                    Param(_) | CatchAll(_) => {
                        let value = values_left.next().unwrap();
                        path.push_str(&utf8_percent_encode(value, NON_ALPHANUMERIC).to_string());
                    }
                }
            }
            let routes = table(&[&segments, &[Static("other")]]);
            let matcher = Matcher::new(routes);
            prop_assert_eq!(matcher.find(&path), Some(0));

            let matched = RoutePath::from_parts(&routes.table()[0], &path, None).unwrap();
            let names: Vec<_> = segments.iter().filter_map(Segment::param_name).collect();
            let got: Vec<(&str, String)> = matched.params().map(|(n, v)| (n, v.into_owned())).collect();
            let expected: Vec<(&str, String)> = names.iter().copied().zip(values.iter().cloned()).collect();
            prop_assert_eq!(got, expected);
            for (name, value) in names.iter().zip(&values) {
                let decoded = matched.param(name);
                prop_assert_eq!(decoded.as_deref(), Some(value.as_str()));
            }
        }
    }
}
