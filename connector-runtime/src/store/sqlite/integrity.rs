//! The integrity check a store opened for writing runs first, so that a damaged file is refused
//! before any work is accepted onto it (and lost with it, or made worse).

use rusqlite::{Connection, ErrorCode};

use super::codec::backend;
use crate::store::StoreError;

/// `quick_check` stops after this many problems: enough to say what is wrong, short enough to
/// read in one error message.
const MAX_PROBLEMS: usize = 5;

/// Runs `PRAGMA quick_check`: every page's b-tree structure, the free list, the cells' sizes and
/// `NOT NULL`/`STRICT` constraints (not whether each index matches its table, which
/// `integrity_check` adds at several times the cost). Reads the whole file once.
pub(super) fn check(conn: &Connection, shown: &str) -> Result<(), StoreError> {
    let corrupt = |report: String| StoreError::Corrupt { location: shown.to_owned(), report };
    let problems = conn.prepare(&format!("PRAGMA quick_check({MAX_PROBLEMS})")).and_then(|mut statement| {
        statement.query_map([], |row| row.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()
    });
    match problems {
        Ok(problems) if problems == ["ok"] => Ok(()),
        Ok(problems) => {
            // One row may hold several lines, under a header naming the database ("main").
            let lines: Vec<&str> = problems
                .iter()
                .flat_map(|problem| problem.lines())
                .filter(|line| !line.trim().is_empty() && !line.starts_with("***"))
                .collect();
            Err(corrupt(format!("SQLite's quick_check found: {}", lines.join("; "))))
        }
        // Damage bad enough stops the check itself.
        Err(error)
            if matches!(error.sqlite_error_code(), Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)) =>
        {
            Err(corrupt(format!("SQLite's quick_check failed: {error}")))
        }
        Err(error) => Err(backend(format!("checking the integrity of `{shown}`"), error)),
    }
}
