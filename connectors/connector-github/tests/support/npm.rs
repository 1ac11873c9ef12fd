//! The npm packages the tests read: GitHub's OpenAPI description (`@octokit/openapi`) and its
//! webhook examples (`@octokit/webhooks-examples`), at the versions this crate's
//! `package-lock.json` pins. When they are missing, the first test that needs them installs them
//! with `npm ci` (so `cargo test --workspace` works on a fresh machine with Node.js); when that
//! fails, the test fails (never skips), saying what to run.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One install at a time among this binary's tests.
static INSTALL: Mutex<()> = Mutex::new(());

/// The path of `relative` under this crate's `node_modules`, installed if it is missing.
pub fn file(relative: &str) -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = crate_dir.join("node_modules").join(relative);
    if path.is_file() {
        return path;
    }
    let _installing = INSTALL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if !path.is_file() {
        let installed = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(crate_dir)
            .status()
            .map_err(|error| error.to_string())
            .and_then(|status| if status.success() { Ok(()) } else { Err(format!("npm ci exited with {status}")) });
        if let Err(error) = installed {
            panic!(
                "{} is missing and installing it failed ({error}): run `npm ci --no-audit --no-fund` in \
                 connectors/connector-github (Node.js and npm needed; it installs the versions package-lock.json pins)",
                path.display()
            );
        }
    }
    assert!(path.is_file(), "{} is missing after `npm ci`", path.display());
    path
}

/// The JSON file `relative` under `node_modules`, parsed.
pub fn json(relative: &str) -> serde_json::Value {
    let path = file(relative);
    let text = std::fs::read(&path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()))
}
