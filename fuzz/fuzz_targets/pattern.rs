//! The route pattern parser (the macro crate's, compiled here as a plain module) on any
//! string: it never panics, and what it accepts is exactly what it describes.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../ws-routes-macros/src/pattern.rs"]
#[allow(dead_code)]
mod pattern;

use pattern::Kind;

fuzz_target!(|input: &str| {
    let Ok(segments) = pattern::parse(input) else {
        return;
    };
    let mut rebuilt = String::new();
    for (index, segment) in segments.iter().enumerate() {
        assert_eq!(
            segment.range.end,
            segment.range.start + input[segment.range.clone()].len()
        );
        rebuilt.push('/');
        match segment.kind {
            Kind::Static => {
                assert_eq!(&input[segment.range.clone()], segment.text);
                rebuilt.push_str(&segment.text);
            }
            Kind::Param => rebuilt.push_str(&format!("{{{}}}", segment.text)),
            Kind::CatchAll => {
                assert_eq!(index + 1, segments.len(), "a catch-all is last");
                rebuilt.push_str(&format!("{{*{}}}", segment.text));
            }
        }
        if segment.kind != Kind::Static {
            let mut chars = segment.text.chars();
            assert!(chars.next().is_some_and(|c| c == '_' || c.is_alphabetic()));
            let others: Vec<_> = segments
                .iter()
                .filter(|s| s.kind != Kind::Static && s.text == segment.text)
                .collect();
            assert_eq!(others.len(), 1, "parameter names are unique");
        }
    }
    assert_eq!(rebuilt, input, "the segments describe the whole pattern");
});
