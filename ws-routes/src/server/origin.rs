//! The origin allow-list: the defence against cross-site WebSocket hijacking, where a page on
//! another site opens a WebSocket to this server with the visitor's cookies.

use std::fmt;

/// An allowed `Origin`, checked when the server is bound: `scheme://host[:port]`, where the
/// host may start with a whole `*.` label (`https://*.example.com` matches any subdomain, not
/// `https://example.com` itself) and the port may be `*` (`http://localhost:*`). Compared
/// without regard to ASCII case; an origin that is not of that form never matches.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct OriginPattern {
    scheme: String,
    /// For `*.example.com`, `example.com` with `any_subdomain`.
    host: String,
    any_subdomain: bool,
    port: Port,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Port {
    /// None written: the scheme's default.
    Default,
    Exact(u16),
    Any,
}

impl OriginPattern {
    /// Parses a pattern; the error says what is wrong with it.
    pub(crate) fn parse(pattern: &str) -> Result<Self, String> {
        let invalid = |why: &str| {
            Err(format!(
                "allowed origin `{pattern}` {why}: write `scheme://host[:port]`, such as \
                 `https://app.example.com`, `https://*.example.com` or `http://localhost:*`"
            ))
        };
        let lower = pattern.trim().to_ascii_lowercase();
        let Some((scheme, rest)) = lower.split_once("://") else {
            return invalid("has no scheme");
        };
        if scheme.is_empty()
            || !scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        {
            return invalid("has an invalid scheme");
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, "*")) => (host, Port::Any),
            Some((host, port)) => match port.parse() {
                Ok(port) => (host, Port::Exact(port)),
                Err(_) => return invalid("has an invalid port"),
            },
            None => (rest, Port::Default),
        };
        let (host, any_subdomain) = match host.strip_prefix("*.") {
            Some(host) => (host, true),
            None => (host, false),
        };
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b))
        {
            return invalid(
                "has a path, a wildcard that is not a whole leading `*.` label, or an invalid host",
            );
        }
        Ok(OriginPattern {
            scheme: scheme.into(),
            host: host.into(),
            any_subdomain,
            port,
        })
    }

    /// Whether the request's `origin` is one this pattern allows.
    pub(crate) fn matches(&self, origin: &Origin) -> bool {
        let Origin { scheme, host, port } = origin;
        let host = host.as_str();
        let port_matches = match (self.port, *port) {
            (Port::Default, None) | (Port::Any, Some(_)) => true,
            (Port::Exact(wanted), Some(port)) => wanted == port,
            _ => false,
        };
        let host_matches = if self.any_subdomain {
            host.strip_suffix(self.host.as_str())
                .and_then(|label| label.strip_suffix('.'))
                .is_some_and(|labels| {
                    !labels.is_empty()
                        && labels.split('.').all(|label| {
                            !label.is_empty()
                                && label
                                    .bytes()
                                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                        })
                })
        } else {
            host == self.host
        };
        *scheme == self.scheme && host_matches && port_matches
    }
}

/// A request's `Origin` (`scheme://host[:port]`), lowercased and split once, to compare with
/// every pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    scheme: String,
    host: String,
    /// None written: the scheme's default.
    port: Option<u16>,
}

impl Origin {
    /// Parses the value of an `Origin` header; `None` when it is not of that form (it then
    /// matches no pattern).
    pub(crate) fn parse(origin: &str) -> Option<Self> {
        let origin = origin.trim().to_ascii_lowercase();
        let (scheme, rest) = origin.split_once("://")?;
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(port.parse::<u16>().ok()?)),
            None => (rest, None),
        };
        Some(Origin {
            scheme: scheme.into(),
            host: host.into(),
            port,
        })
    }
}

impl fmt::Debug for OriginPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let wildcard = if self.any_subdomain { "*." } else { "" };
        write!(f, "{}://{wildcard}{}", self.scheme, self.host)?;
        match self.port {
            Port::Default => Ok(()),
            Port::Exact(port) => write!(f, ":{port}"),
            Port::Any => f.write_str(":*"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Origin, OriginPattern};

    fn pattern(text: &str) -> OriginPattern {
        OriginPattern::parse(text).unwrap()
    }

    impl OriginPattern {
        /// `matches` on a request's `Origin` header as sent.
        fn allows(&self, origin: &str) -> bool {
            Origin::parse(origin).is_some_and(|origin| self.matches(&origin))
        }
    }

    #[test]
    fn exact_origins_match_without_regard_to_case() {
        let pattern = pattern("https://App.example.com");
        assert!(pattern.allows("https://app.EXAMPLE.com"));
        assert!(!pattern.allows("https://app.example.com.evil.net"));
        assert!(!pattern.allows("http://app.example.com"));
        assert!(!pattern.allows("https://app.example.com:8443"));
    }

    #[test]
    fn a_wildcard_stands_for_one_or_more_whole_leading_labels() {
        let pattern = pattern("https://*.example.com");
        assert!(pattern.allows("https://a.example.com"));
        assert!(pattern.allows("https://a.b.example.com"));
        assert!(!pattern.allows("https://example.com"));
        assert!(!pattern.allows("https://evilexample.com"));
        assert!(!pattern.allows("https://evil.net/.example.com"));
        assert!(!pattern.allows("https://evil.net:1@x.example.com"));
        assert!(!pattern.allows("http://a.example.com"));
        assert!(!pattern.allows("https://.example.com"));
    }

    #[test]
    fn a_wildcard_port_is_any_explicit_port() {
        let pattern = pattern("http://localhost:*");
        assert!(pattern.allows("http://localhost:8080"));
        assert!(!pattern.allows("http://localhost"));
        let exact = self::pattern("http://localhost:8080");
        assert!(exact.allows("http://localhost:8080"));
        assert!(!exact.allows("http://localhost:8081"));
    }

    #[test]
    fn malformed_patterns_are_refused_with_a_reason() {
        for bad in [
            "*example.com",
            "https://*example.com",
            "https://example.com/app",
            "example.com",
            "https://a.*.com",
            "https://example.com:99999",
            "https://",
            "://x.com",
            "ht tp://x",
        ] {
            let error = OriginPattern::parse(bad).unwrap_err();
            assert!(error.contains(bad), "{error}");
        }
    }
}
