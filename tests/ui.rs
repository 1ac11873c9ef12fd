//! Compile-fail cases: each `ui/*.rs` makes one mistake a user could make, and its `.stderr` is
//! what rustc tells them. Regenerate with `TRYBUILD=overwrite cargo test -p connector-tests --test ui`
//! and read every changed `.stderr` before committing it.
//!
//! Pass cases, `ui/pass/*.rs`, compile and run: what the macros must accept.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui/*.rs");
    cases.pass("ui/pass/*.rs");
}
