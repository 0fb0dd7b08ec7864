//! [`Headers`]: a request's headers, looked up where the head was parsed and made into a
//! `HeaderMap` only when something asks for one.
//!
//! The handshake looks up a few headers by name. A `HeaderMap` costs, for every header, a
//! checked and lowercased name, a value that shares the head, a hash and an insertion, and
//! then two allocations of its own: about a seventh of the standalone server's work per
//! handshake (bench/README.md), for a map most handlers never read. So the standalone server
//! keeps where each header lies in the head's one copy, looks up what the handshake needs
//! there (a scan of the headers per name, comparing names in any case), and builds the map the
//! first time a handler asks for it ([`Request::headers`](crate::Request::headers)).

use std::fmt;
use std::ops::Range;
use std::sync::OnceLock;

use bytes::Bytes;

use crate::http::{HeaderMap, HeaderName, HeaderValue};
use crate::wire::handshake::{HeaderValues, SharedHead};

/// The longest header name a `HeaderName` holds.
const MAX_NAME: usize = u16::MAX as usize;

/// The headers of a request head (public only to the fuzz targets, through `__private`): as
/// an HTTP server gave them to a mounted route table, or as the standalone server parsed them.
#[derive(Clone)]
pub struct Headers {
    parsed: Option<Parsed>,
    map: OnceLock<HeaderMap>,
}

/// The headers of a parsed head: the head, and where each name and value lies in it.
#[derive(Clone)]
struct Parsed {
    head: Bytes,
    fields: Vec<Field>,
}

#[derive(Clone)]
struct Field {
    name: Range<usize>,
    value: Range<usize>,
}

impl Headers {
    /// The headers httparse parsed from `head`: `None` when one would not make a
    /// `HeaderName` and a `HeaderValue`. httparse takes only a token as a name and no control
    /// character but tab in a value, as they do (a test below holds it to that); what is left
    /// to check is a name's length.
    pub(crate) fn parsed(head: &SharedHead<'_>, headers: &[httparse::Header<'_>]) -> Option<Self> {
        let mut fields = Vec::with_capacity(headers.len());
        for header in headers {
            if header.name.len() > MAX_NAME {
                return None;
            }
            fields.push(Field {
                name: head.range_of(header.name.as_bytes())?,
                value: head.range_of(header.value)?,
            });
        }
        Some(Headers {
            parsed: Some(Parsed {
                head: head.bytes().clone(),
                fields,
            }),
            map: OnceLock::new(),
        })
    }

    /// The headers as a `HeaderMap`, made at the first call.
    pub fn map(&self) -> &HeaderMap {
        self.map
            .get_or_init(|| self.parsed.as_ref().map(Parsed::to_map).unwrap_or_default())
    }

    /// The headers as a `HeaderMap`, made if no call made it before.
    pub(crate) fn into_map(self) -> HeaderMap {
        match (self.map.into_inner(), self.parsed) {
            (Some(map), _) => map,
            (None, parsed) => parsed.as_ref().map(Parsed::to_map).unwrap_or_default(),
        }
    }
}

impl HeaderValues for Headers {
    fn values<'h>(&'h self, name: &HeaderName) -> impl Iterator<Item = &'h [u8]> {
        match (self.map.get(), &self.parsed) {
            (None, Some(parsed)) => Values::Parsed {
                parsed,
                fields: parsed.fields.iter(),
                // A `HeaderName` is lowercase; the head's names come in any case.
                name: name.as_str().as_bytes(),
            },
            // Made already, or given (a mounted route table's).
            _ => Values::Map(self.map().get_all(name).iter()),
        }
    }
}

/// The values of one name, from wherever [`Headers`] keeps them.
enum Values<'h, 'n> {
    Map(crate::http::header::ValueIter<'h, HeaderValue>),
    Parsed {
        parsed: &'h Parsed,
        fields: std::slice::Iter<'h, Field>,
        name: &'n [u8],
    },
}

impl<'h> Iterator for Values<'h, '_> {
    type Item = &'h [u8];

    fn next(&mut self) -> Option<&'h [u8]> {
        match self {
            Values::Map(values) => values.next().map(HeaderValue::as_bytes),
            Values::Parsed {
                parsed,
                fields,
                name,
            } => fields
                .find(|field| parsed.head[field.name.clone()].eq_ignore_ascii_case(name))
                .map(|field| &parsed.head[field.value.clone()]),
        }
    }
}

impl From<HeaderMap> for Headers {
    fn from(map: HeaderMap) -> Self {
        Headers {
            parsed: None,
            map: OnceLock::from(map),
        }
    }
}

impl PartialEq for Headers {
    fn eq(&self, other: &Self) -> bool {
        self.map() == other.map()
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.map().fmt(f)
    }
}

impl Parsed {
    fn to_map(&self) -> HeaderMap {
        let mut map = HeaderMap::with_capacity(self.fields.len());
        for field in &self.fields {
            // Both were checked as `HeaderName` and `HeaderValue` check them: neither fails.
            let name = HeaderName::from_bytes(&self.head[field.name.clone()]);
            let value = HeaderValue::from_maybe_shared(self.head.slice(field.value.clone()));
            if let (Ok(name), Ok(value)) = (name, value) {
                map.append(name, value);
            }
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::header::{HOST, ORIGIN, SEC_WEBSOCKET_KEY};

    /// The headers of `head`, or `None` when httparse or [`Headers::parsed`] refuses them.
    fn parsed(head: &[u8]) -> Option<Headers> {
        let mut storage = [httparse::EMPTY_HEADER; 16];
        let mut request = httparse::Request::new(&mut storage);
        request.parse(head).ok()?;
        Headers::parsed(&SharedHead::new(head), request.headers)
    }

    /// Standard names and others, in any case, and a name that is not there.
    #[test]
    fn looked_up_in_the_head_or_in_the_map_the_values_are_the_same() {
        let head =
            b"GET / HTTP/1.1\r\nHoST: a\r\nX-List: 1\r\nx-list: 2\r\nsec-websocket-KEY: k\r\n\
                     X-LIST: 3\r\nSec-WebSocket-Key: l\r\n\r\n";
        let headers = parsed(head).unwrap();
        let names = [
            HOST,
            HeaderName::from_static("x-list"),
            SEC_WEBSOCKET_KEY,
            ORIGIN,
        ];
        fn values<'h>(headers: &'h Headers, names: &[HeaderName]) -> Vec<Vec<&'h [u8]>> {
            names
                .iter()
                .map(|name| headers.values(name).collect())
                .collect()
        }
        let expected: [&[&[u8]]; 4] = [&[b"a"], &[b"1", b"2", b"3"], &[b"k", b"l"], &[]];
        assert_eq!(values(&headers, &names), expected);
        assert!(headers.map.get().is_none(), "looking up made no map");
        let map = headers.map();
        assert_eq!(map.len(), 6);
        assert_eq!(values(&headers, &names), expected);
    }

    /// Headers compare and print as the `HeaderMap` made of them, however they are kept.
    #[test]
    fn parsed_headers_are_equal_to_their_map_and_print_as_it_does() {
        let parsed = parsed(b"GET / HTTP/1.1\r\nHost: a\r\nX-List: 1\r\n\r\n").unwrap();
        let mut map = HeaderMap::new();
        map.append("host", HeaderValue::from_static("a"));
        map.append("x-list", HeaderValue::from_static("1"));
        assert_eq!(format!("{parsed:?}"), format!("{map:?}"));
        assert!(parsed == Headers::from(map.clone()));
        map.append("x-list", HeaderValue::from_static("2"));
        assert!(parsed != Headers::from(map));
    }

    #[test]
    fn a_header_map_looks_up_its_own_values() {
        let mut map = HeaderMap::new();
        map.append("x-list", HeaderValue::from_static("1"));
        map.append("x-list", HeaderValue::from_static("2"));
        let headers = Headers::from(map.clone());
        let name = HeaderName::from_static("x-list");
        assert_eq!(headers.values(&name).collect::<Vec<_>>(), [b"1", b"2"]);
        assert_eq!(headers.into_map(), map);
    }

    /// What httparse takes in a name or a value, `HeaderName` and `HeaderValue` take too:
    /// [`Headers::parsed`] checks no bytes of its own, and the `HeaderMap` made later leaves
    /// none out.
    #[test]
    fn what_httparse_takes_in_a_header_header_map_takes() {
        for byte in 0..=u8::MAX {
            // The byte in a name, then in a value.
            for line in [
                [b'x', byte, b'y', b':', b' ', b'v'],
                [b'x', b':', b' ', b'a', byte, b'b'],
            ] {
                let head = [&b"GET / HTTP/1.1\r\n"[..], &line, b"\r\n\r\n"].concat();
                let mut storage = [httparse::EMPTY_HEADER; 4];
                let mut request = httparse::Request::new(&mut storage);
                if request.parse(&head).is_err() {
                    continue;
                }
                for header in request.headers.iter() {
                    assert!(
                        HeaderName::from_bytes(header.name.as_bytes()).is_ok(),
                        "{byte:#04x}"
                    );
                    assert!(HeaderValue::from_bytes(header.value).is_ok(), "{byte:#04x}");
                }
                let headers = Headers::parsed(&SharedHead::new(&head), request.headers).unwrap();
                assert_eq!(headers.map().len(), request.headers.len());
            }
        }
    }

    #[test]
    fn a_name_longer_than_header_name_holds_is_refused() {
        let name = vec![b'a'; MAX_NAME + 1];
        let head = [&b"GET / HTTP/1.1\r\n"[..], &name, b": v\r\n\r\n"].concat();
        assert!(parsed(&head).is_none());
        assert!(HeaderName::from_bytes(&name).is_err());
        let head = [&b"GET / HTTP/1.1\r\n"[..], &name[1..], b": v\r\n\r\n"].concat();
        assert_eq!(parsed(&head).unwrap().map().len(), 1);
    }
}
