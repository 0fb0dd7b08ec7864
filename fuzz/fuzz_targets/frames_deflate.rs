//! The frame reader with permessage-deflate, with and without context takeover: compressed
//! messages (deflate bombs among them) must inflate to what was sent, within the message limit
//! (see `ws_routes_fuzz::frames` for what is checked).

#![no_main]

use libfuzzer_sys::fuzz_target;
use ws_routes_fuzz::frames::{Input, run};

fuzz_target!(|input: Input| run(input, true));
