//! Compile tests of `#[route]` and `routes![]`: the mistakes they must reject, with the
//! diagnostics they must give, and the uses they must accept.
//!
//! Regenerate the snapshots with `TRYBUILD=overwrite cargo test --test ui`, then read them.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
