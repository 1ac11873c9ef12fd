//! Files and directories as a read-only test sees them, shared by the store's read-only tests
//! and the CLI's (`#[path]`-included by both).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The names of the files in `dir`, sorted.
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

/// A directory made read-only (0o555, its files 0o444) until dropped, when it is made writable
/// again so that it can be removed, whatever the test did.
pub struct ReadOnlyDir {
    path: PathBuf,
}

impl ReadOnlyDir {
    pub fn new(path: &Path) -> Self {
        for name in files_in(path) {
            std::fs::set_permissions(path.join(name), std::fs::Permissions::from_mode(0o444)).unwrap();
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o555)).unwrap();
        ReadOnlyDir { path: path.to_path_buf() }
    }
}

impl Drop for ReadOnlyDir {
    fn drop(&mut self) {
        let _ = std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o755));
        for name in files_in(&self.path) {
            let _ = std::fs::set_permissions(self.path.join(name), std::fs::Permissions::from_mode(0o644));
        }
    }
}

/// A file's bytes and modification time.
pub fn bytes_and_mtime(path: &Path) -> (Vec<u8>, SystemTime) {
    (std::fs::read(path).unwrap(), std::fs::metadata(path).unwrap().modified().unwrap())
}

/// A directory's modification time: it changes when a file is created or removed in it, so it
/// shows side files that came and went.
pub fn dir_mtime(dir: &Path) -> SystemTime {
    std::fs::metadata(dir).unwrap().modified().unwrap()
}
