//! The frame reader without permessage-deflate, on streams of well-formed and arbitrary frames
//! read in arbitrary pieces (see `ws_routes_fuzz::frames` for what is checked).

#![no_main]

use libfuzzer_sys::fuzz_target;
use ws_routes_fuzz::frames::{Input, run};

fuzz_target!(|input: Input| run(input, false));
