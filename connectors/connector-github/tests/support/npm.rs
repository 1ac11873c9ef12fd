//! The npm packages the tests read: GitHub's OpenAPI description (`@octokit/openapi`) and its
//! webhook examples (`@octokit/webhooks-examples`), installed by `npm ci` in this crate's
//! folder. Missing files fail the test (never skip it), saying what to run.

use std::path::PathBuf;

/// The path of `relative` under this crate's `node_modules`, which must exist.
pub fn file(relative: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("node_modules").join(relative);
    if !path.is_file() {
        let ci = std::env::var("CI").is_ok_and(|value| !value.is_empty() && value != "false");
        panic!(
            "{} is missing: run `npm ci --no-audit --no-fund` in connectors/connector-github (it installs the \
             versions package-lock.json pins){}",
            path.display(),
            if ci { "; under CI, .ci/run does this before the tests" } else { "" }
        );
    }
    path
}

/// The JSON file `relative` under `node_modules`, parsed.
pub fn json(relative: &str) -> serde_json::Value {
    let path = file(relative);
    let text = std::fs::read(&path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()))
}
