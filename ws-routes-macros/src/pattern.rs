//! The route pattern grammar: `/` then segments separated by `/`, each static text, `{name}` or
//! (last only) `{*name}`.

use std::ops::Range;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Static,
    Param,
    CatchAll,
}

/// A parsed segment: its kind, its text (the static text or the parameter name) and where it
/// is in the pattern, in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) kind: Kind,
    pub(crate) text: String,
    pub(crate) range: Range<usize>,
}

/// A mistake in a pattern, with the bytes of the pattern it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PatternError {
    pub(crate) message: String,
    pub(crate) help: String,
    pub(crate) range: Range<usize>,
}

impl PatternError {
    fn new(range: Range<usize>, message: impl Into<String>, help: impl Into<String>) -> Self {
        PatternError {
            message: message.into(),
            help: help.into(),
            range,
        }
    }
}

/// Parses `pattern`, reporting every mistake found.
pub(crate) fn parse(pattern: &str) -> Result<Vec<Segment>, Vec<PatternError>> {
    let Some(body) = pattern.strip_prefix('/') else {
        let error = PatternError::new(
            0..pattern.len(),
            "a route pattern must start with `/`",
            format!("write \"/{pattern}\""),
        );
        return Err(vec![error]);
    };
    let mut errors = Vec::new();
    let mut segments: Vec<Segment> = Vec::new();
    let mut start = 1;
    let count = body.split('/').count();
    for (position, text) in body.split('/').enumerate() {
        let range = start..start + text.len();
        start = range.end + 1;
        let is_last = position + 1 == count;
        match segment(text, range.clone(), is_last) {
            Ok(segment) => {
                let duplicate = segment.kind != Kind::Static
                    && segments
                        .iter()
                        .any(|seen| seen.kind != Kind::Static && seen.text == segment.text);
                if duplicate {
                    errors.push(PatternError::new(
                        range,
                        format!("duplicate parameter `{}`", segment.text),
                        "each parameter of a pattern needs its own name",
                    ));
                }
                segments.push(segment);
            }
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        Ok(segments)
    } else {
        Err(errors)
    }
}

fn segment(text: &str, range: Range<usize>, is_last: bool) -> Result<Segment, PatternError> {
    let offset = range.start;
    let at = |from: usize, to: usize| offset + from..offset + to;
    if text.is_empty() && !is_last {
        return Err(PatternError::new(
            offset.saturating_sub(1)..offset + 1,
            "empty segment (`//`) in route pattern",
            "remove the extra `/`",
        ));
    }
    let (Some(open), close) = (text.find('{'), text.find('}')) else {
        if let Some(close) = text.find('}') {
            return Err(PatternError::new(
                at(close, close + 1),
                format!("unmatched `}}` in segment `{text}`"),
                "parameters are written `{name}`",
            ));
        }
        return static_segment(text, range);
    };
    let Some(close) = close.filter(|close| *close > open) else {
        return Err(PatternError::new(
            at(open, text.len()),
            format!("unclosed `{{` in segment `{text}`"),
            "close the parameter with `}`, as in `{id}`",
        ));
    };
    if open != 0 || close + 1 != text.len() {
        return Err(PatternError::new(
            range,
            format!("a parameter must fill its whole segment, unlike `{text}`"),
            "put the parameter in a segment of its own, as in `/img/{name}` rather than \
             `/img-{name}`",
        ));
    }
    let inner = &text[1..close];
    let (kind, name, name_at) = match inner.strip_prefix('*') {
        Some(name) => (Kind::CatchAll, name, 2),
        None => (Kind::Param, inner, 1),
    };
    if name.is_empty() {
        return Err(PatternError::new(
            range,
            "empty parameter name",
            "name the parameter, as in `{id}` or `{*rest}`",
        ));
    }
    if !is_identifier(name) {
        return Err(PatternError::new(
            at(name_at, name_at + name.len()),
            format!("`{name}` is not a valid parameter name"),
            "a parameter name is a Rust identifier: it binds to the handler argument of that name",
        ));
    }
    if kind == Kind::CatchAll && !is_last {
        return Err(PatternError::new(
            range,
            format!("the catch-all `{{*{name}}}` must be the last segment"),
            "a catch-all takes the rest of the path, so move it to the end, or use `{name}` for one segment",
        ));
    }
    Ok(Segment {
        kind,
        text: name.to_owned(),
        range,
    })
}

fn static_segment(text: &str, range: Range<usize>) -> Result<Segment, PatternError> {
    let bytes = text.as_bytes();
    for (index, &byte) in bytes.iter().enumerate() {
        let at = range.start + index..range.start + index + 1;
        let valid = match byte {
            b'%' => bytes
                .get(index + 1..index + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)),
            b'?' => {
                return Err(PatternError::new(
                    at,
                    "a route pattern cannot contain a query string",
                    "patterns match the path only: take a `Query` argument to read the query string",
                ));
            }
            byte => byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&byte),
        };
        if !valid {
            let shown = text[index..].chars().next().unwrap_or('%');
            return Err(PatternError::new(
                range.start + index..range.start + index + shown.len_utf8(),
                format!("`{shown}` is not allowed in a path segment"),
                "write it percent-encoded (`%20` for a space, for example): static segments match the raw path",
            ));
        }
    }
    Ok(Segment {
        kind: Kind::Static,
        text: text.to_owned(),
        range,
    })
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first == '_' || first.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
        && name != "_"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(pattern: &str) -> Vec<(Kind, String)> {
        parse(pattern)
            .unwrap()
            .into_iter()
            .map(|segment| (segment.kind, segment.text))
            .collect()
    }

    fn error(pattern: &str) -> (String, Range<usize>) {
        let errors = parse(pattern).unwrap_err();
        (errors[0].message.clone(), errors[0].range.clone())
    }

    #[test]
    fn parses_static_param_and_catch_all_segments() {
        assert_eq!(
            kinds("/files/{owner}/{*rest}"),
            vec![
                (Kind::Static, "files".into()),
                (Kind::Param, "owner".into()),
                (Kind::CatchAll, "rest".into())
            ]
        );
    }

    #[test]
    fn root_and_trailing_slash_are_an_empty_last_segment() {
        assert_eq!(kinds("/"), vec![(Kind::Static, String::new())]);
        assert_eq!(
            kinds("/a/"),
            vec![(Kind::Static, "a".into()), (Kind::Static, String::new())]
        );
    }

    #[test]
    fn ranges_point_into_the_pattern() {
        let segments = parse("/light/{status}").unwrap();
        assert_eq!(segments[1].range, 7..15);
        assert_eq!(&"/light/{status}"[segments[1].range.clone()], "{status}");
    }

    #[test]
    fn reports_each_kind_of_mistake_where_it_is() {
        assert_eq!(
            error("light"),
            ("a route pattern must start with `/`".into(), 0..5)
        );
        assert_eq!(
            error("/a/{id"),
            ("unclosed `{` in segment `{id`".into(), 3..6)
        );
        assert_eq!(
            error("/a/id}"),
            ("unmatched `}` in segment `id}`".into(), 5..6)
        );
        assert_eq!(error("/a/{}"), ("empty parameter name".into(), 3..5));
        assert_eq!(error("/a/{*}"), ("empty parameter name".into(), 3..6));
        assert_eq!(
            error("/{1x}"),
            ("`1x` is not a valid parameter name".into(), 2..4)
        );
        assert_eq!(
            error("/{*rest}/a"),
            (
                "the catch-all `{*rest}` must be the last segment".into(),
                1..8
            )
        );
        assert_eq!(
            error("/a//b"),
            ("empty segment (`//`) in route pattern".into(), 2..4)
        );
        assert_eq!(
            error("/img-{x}"),
            (
                "a parameter must fill its whole segment, unlike `img-{x}`".into(),
                1..8
            )
        );
        assert_eq!(
            error("/a b"),
            ("` ` is not allowed in a path segment".into(), 2..3)
        );
        assert_eq!(
            error("/a?x=1"),
            ("a route pattern cannot contain a query string".into(), 2..3)
        );
    }

    #[test]
    fn reports_every_mistake_not_just_the_first() {
        let errors = parse("/{x}/{x}/{").unwrap_err();
        let messages: Vec<_> = errors.iter().map(|error| error.message.as_str()).collect();
        assert_eq!(
            messages,
            ["duplicate parameter `x`", "unclosed `{` in segment `{`"]
        );
        assert_eq!(errors[0].range, 5..8);
    }

    #[test]
    fn accepts_percent_encoded_static_text() {
        assert_eq!(
            kinds("/caf%C3%A9"),
            vec![(Kind::Static, "caf%C3%A9".into())]
        );
        assert_eq!(
            error("/100%"),
            ("`%` is not allowed in a path segment".into(), 4..5)
        );
    }
}
