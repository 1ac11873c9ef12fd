//! The read side: a small pool of read connections (WAL lets them read while a writer commits),
//! opened the way the store was: beside its own writer, or read-only.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags};

use super::codec::backend;
use super::{BUSY_TIMEOUT, MAX_IDLE_READERS, STATEMENT_CACHE};
use crate::store::StoreError;

/// How read connections open the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    /// Beside the store's own write connection.
    BesideWriter,
    /// A read-only store: SQLite's read-only mode, sharing the WAL index (`-shm`) with any
    /// writer, so reads see every commit and never wait for one.
    ReadOnly,
    /// A read-only store in a directory that cannot take the WAL's `-wal` and `-shm` files:
    /// `immutable=1`, so SQLite neither creates them nor locks the file.
    Immutable,
}

pub(super) struct ReadPool {
    pub(super) path: PathBuf,
    pub(super) access: Access,
    pub(super) idle: Mutex<Vec<Connection>>,
}

impl ReadPool {
    pub(super) fn new(path: PathBuf, access: Access) -> Self {
        ReadPool { path, access, idle: Mutex::new(Vec::new()) }
    }

    pub(super) fn with<T>(&self, read: impl FnOnce(&mut Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).pop();
        let mut conn = match idle {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let result = read(&mut conn);
        self.give_back(conn);
        result
    }

    /// Keeps `conn` for the next read, unless enough are kept already.
    pub(super) fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
    }

    pub(super) fn connect(&self) -> Result<Connection, StoreError> {
        connect(&self.path, self.access)
            .map_err(|e| backend(format!("opening a read connection to `{}`", self.path.display()), e))
    }
}

/// A read connection to `path`. None of the ways creates the file: a reader must not leave an
/// empty database where the store's was.
pub(super) fn connect(path: &Path, access: Access) -> rusqlite::Result<Connection> {
    let conn = match access {
        Access::BesideWriter => {
            let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let conn = Connection::open_with_flags(path, flags)?;
            conn.pragma_update(None, "query_only", true)?;
            conn
        }
        Access::ReadOnly => {
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?
        }
        Access::Immutable => {
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
            Connection::open_with_flags(immutable_uri(path), flags)?
        }
    };
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// `file:{path}?immutable=1`, the path percent-encoded (SQLite decodes it), so that a `?`, `#`
/// or `%` in it stays part of the name.
fn immutable_uri(path: &Path) -> String {
    #[cfg(unix)]
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()).to_vec();
    #[cfg(not(unix))]
    let bytes = path.to_string_lossy().into_owned().into_bytes();
    // An empty authority first, so that a path starting with `//` is not read as one.
    let mut uri = String::from(if cfg!(unix) && path.is_absolute() { "file://" } else { "file:" });
    for byte in bytes {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri.push_str("?immutable=1");
    uri
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_immutable_uri_keeps_odd_characters_in_the_name() {
        assert_eq!(immutable_uri(Path::new("runs.db")), "file:runs.db?immutable=1");
        #[cfg(unix)]
        assert_eq!(immutable_uri(Path::new("/a b/r?#%.db")), "file:///a%20b/r%3F%23%25.db?immutable=1");
    }
}
