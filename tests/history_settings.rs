//! A room history's settings as a program reads them back (to log or show its configuration):
//! the defaults, and what each builder method set.

use std::time::Duration;

use ws_routes::rooms::History;

#[test]
fn a_history_reads_back_its_defaults_and_its_settings() {
    let defaults = History::new();
    assert_eq!(
        (defaults.messages(), defaults.bytes(), defaults.age()),
        (1000, 1 << 20, Duration::from_secs(120))
    );
    assert_eq!(
        (defaults.messages(), defaults.bytes(), defaults.age()),
        (
            History::DEFAULT_MAX_MESSAGES,
            History::DEFAULT_MAX_BYTES,
            History::DEFAULT_MAX_AGE
        )
    );

    let set = History::new()
        .max_messages(50)
        .max_bytes(4096)
        .max_age(Duration::from_secs(30));
    assert_eq!(
        (set.messages(), set.bytes(), set.age()),
        (50, 4096, Duration::from_secs(30))
    );
    // A room keeps at least one message.
    assert_eq!(History::new().max_messages(0).messages(), 1);
}
