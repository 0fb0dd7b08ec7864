//! The origin allow-list: the defence against cross-site WebSocket hijacking, where a page on
//! another site opens a WebSocket to this server with the visitor's cookies.

use std::fmt;

/// An allowed `Origin`: exact (`https://app.example.com`) or with one `*` standing for a
/// non-empty run of host characters (`https://*.example.com`, which does not match
/// `https://example.com`). Compared without regard to ASCII case.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct OriginPattern {
    prefix: String,
    /// `Some` when the pattern has a `*`: what must follow it.
    suffix: Option<String>,
}

impl OriginPattern {
    pub(crate) fn new(pattern: &str) -> Self {
        let pattern = pattern.trim().to_ascii_lowercase();
        match pattern.split_once('*') {
            Some((prefix, suffix)) => OriginPattern {
                prefix: prefix.into(),
                suffix: Some(suffix.into()),
            },
            None => OriginPattern {
                prefix: pattern,
                suffix: None,
            },
        }
    }

    pub(crate) fn matches(&self, origin: &str) -> bool {
        let origin = origin.trim().to_ascii_lowercase();
        match &self.suffix {
            None => origin == self.prefix,
            Some(suffix) => origin
                .strip_prefix(&self.prefix)
                .and_then(|rest| rest.strip_suffix(suffix.as_str()))
                .is_some_and(|wild| !wild.is_empty() && !wild.contains(['/', ':', '@'])),
        }
    }
}

impl fmt::Debug for OriginPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.suffix {
            Some(suffix) => write!(f, "{}*{}", self.prefix, suffix),
            None => f.write_str(&self.prefix),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::OriginPattern;

    #[test]
    fn exact_origins_match_without_regard_to_case() {
        let pattern = OriginPattern::new("https://App.example.com");
        assert!(pattern.matches("https://app.EXAMPLE.com"));
        assert!(!pattern.matches("https://app.example.com.evil.net"));
        assert!(!pattern.matches("http://app.example.com"));
    }

    #[test]
    fn a_wildcard_stands_for_one_or_more_host_labels() {
        let pattern = OriginPattern::new("https://*.example.com");
        assert!(pattern.matches("https://a.example.com"));
        assert!(pattern.matches("https://a.b.example.com"));
        assert!(!pattern.matches("https://example.com"));
        assert!(!pattern.matches("https://evil.net/.example.com"));
        assert!(!pattern.matches("https://evil.net:1@x.example.com"));
        assert!(!pattern.matches("http://a.example.com"));
    }

    #[test]
    fn a_wildcard_port_is_a_pattern_too() {
        let pattern = OriginPattern::new("http://localhost:*");
        assert!(pattern.matches("http://localhost:8080"));
        assert!(!pattern.matches("http://localhost"));
    }
}
