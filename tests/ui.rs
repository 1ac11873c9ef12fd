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

/// The macros reject a `retry(min_delay = ..)` longer than the default `max_delay` without
/// seeing the runtime (a proc-macro crate cannot depend on it): they hold the default as a
/// number of their own, which this keeps in step.
#[test]
fn the_macros_know_the_default_max_delay() {
    assert_eq!(
        connector_runtime::RetryPolicy::DEFAULT.max_delay,
        std::time::Duration::from_secs(60),
        "change DEFAULT_MAX_DELAY_MILLIS in connector-macros/src/valid.rs with it"
    );
}
