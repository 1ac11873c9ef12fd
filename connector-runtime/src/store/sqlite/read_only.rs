//! Opening a store read-only: no migration, no WAL switch, no write connection, nothing written, and
//! no waiting for a writer. The schema must be the one this version writes.
//!
//! SQLite reads a WAL file through its `-wal` and `-shm` files, and creates them when they are
//! not there. Where they are there, some store has the file open (or closed it without a
//! checkpoint): they are used, so every commit is seen. Where they are not, every commit is in
//! the database file itself; if the directory cannot take them (no write permission bits, or
//! creating them fails: another user's directory, a read-only mount) the file is opened
//! `immutable=1`, so SQLite creates nothing and takes no locks. The trade-off: such a store
//! assumes nobody writes the file while it is open. A writer that starts meanwhile is not seen,
//! and its checkpoints can make reads fail as if the file were damaged.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode, ffi};

use super::codec::backend;
use super::reader::{Access, ReadPool, connect};
use super::schema::check_version_for_reading;
use crate::store::StoreError;

/// The read connections of a read-only store on `path`; the first one is open already, and the
/// schema checked.
pub(super) fn open(path: &Path, shown: &str) -> Result<ReadPool, StoreError> {
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_file() => {}
        Ok(_) => return Err(StoreError::backend(format!("sqlite: `{shown}` is not a file"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(StoreError::backend(format!(
                "sqlite: there is no run store at `{shown}` (opening one read-only never creates it)"
            )));
        }
        Err(e) => return Err(backend(format!("opening `{shown}` read-only"), e)),
    }
    let access =
        if !wal_file(path).exists() && directory_is_read_only(path) { Access::Immutable } else { Access::ReadOnly };
    let (conn, version, access) = match probe(path, access) {
        Ok((conn, version)) => (conn, version, access),
        Err(error) if access == Access::ReadOnly && cannot_create_side_files(&error) && !wal_file(path).exists() => {
            match probe(path, Access::Immutable) {
                Ok((conn, version)) => (conn, version, Access::Immutable),
                Err(_) => return Err(backend(format!("opening `{shown}` read-only"), error)),
            }
        }
        Err(error) => return Err(backend(format!("opening `{shown}` read-only"), error)),
    };
    check_version_for_reading(version, shown)?;
    let pool = ReadPool::new(path.to_path_buf(), access);
    pool.give_back(conn);
    Ok(pool)
}

/// A connection and the file's schema version: the first read, which is where SQLite opens (or
/// fails to create) the side files.
fn probe(path: &Path, access: Access) -> rusqlite::Result<(Connection, i64)> {
    let conn = connect(path, access)?;
    let version = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    Ok((conn, version))
}

/// SQLite could not create or share the `-wal` and `-shm` files beside the database.
fn cannot_create_side_files(error: &rusqlite::Error) -> bool {
    error.sqlite_error().is_some_and(|error| {
        error.code == ErrorCode::CannotOpen
            || matches!(
                error.extended_code,
                ffi::SQLITE_READONLY_DIRECTORY | ffi::SQLITE_READONLY_CANTINIT | ffi::SQLITE_READONLY_CANTLOCK
            )
    })
}

/// `{path}-wal`: there while a connection has the file open, or after one ended without a
/// checkpoint; either way it may hold commits the database file does not.
fn wal_file(path: &Path) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push("-wal");
    PathBuf::from(name)
}

/// Whether the file's directory has no write permission at all. Judged by its mode, not by
/// whether this process could write there: root can, but a directory made read-only is not
/// one to leave files in.
#[cfg(unix)]
fn directory_is_read_only(path: &Path) -> bool {
    let directory = path.parent().filter(|parent| !parent.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::metadata(directory).is_ok_and(|metadata| metadata.permissions().readonly())
}

/// Elsewhere a directory's read-only flag does not say whether files can be made in it: only a
/// failure to create the side files does.
#[cfg(not(unix))]
fn directory_is_read_only(_path: &Path) -> bool {
    false
}
