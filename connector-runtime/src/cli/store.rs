//! Which run store a command uses: `--db` (or `CONNECTOR_RUNTIME_DB`), else the app's choice,
//! else SQLite at [`DEFAULT_DB_PATH`](crate::DEFAULT_DB_PATH). Opened once per command, only when
//! the command needs it, and read-only when it only reads.

#[cfg(feature = "sqlite")]
use std::path::PathBuf;
use std::sync::Arc;

use super::exit::{CliError, Exit};
use crate::store::RunStore;

/// The store an app chose with [`App::sqlite`](super::App::sqlite) or
/// [`App::store`](super::App::store).
#[derive(Clone, Default)]
pub(super) enum StoreChoice {
    /// SQLite at the default path.
    #[default]
    Default,
    #[cfg(feature = "sqlite")]
    Sqlite(PathBuf),
    Given(Arc<dyn RunStore>),
}

/// Where a command's runs are: the choice, resolved, not opened yet.
#[derive(Clone)]
pub(super) struct StoreLocation {
    choice: StoreChoice,
}

impl StoreLocation {
    /// `--db` wins over the app's choice.
    #[cfg(feature = "sqlite")]
    pub(super) fn resolve(db: Option<PathBuf>, app: &StoreChoice) -> Self {
        let choice = match (db, app) {
            (Some(path), _) => StoreChoice::Sqlite(path),
            (None, StoreChoice::Default) => StoreChoice::Sqlite(PathBuf::from(crate::DEFAULT_DB_PATH)),
            (None, choice) => choice.clone(),
        };
        StoreLocation { choice }
    }

    #[cfg(not(feature = "sqlite"))]
    pub(super) fn resolve(app: &StoreChoice) -> Self {
        StoreLocation { choice: app.clone() }
    }

    /// Where the runs are, for messages: the SQLite file's path, or "the app's store".
    pub(super) fn describe(&self) -> String {
        match &self.choice {
            #[cfg(feature = "sqlite")]
            StoreChoice::Sqlite(path) => path.display().to_string(),
            _ => "the app's run store".to_owned(),
        }
    }

    /// Whether the store certainly holds no runs yet (its file does not exist), so a command
    /// that only reads need not create it.
    pub(super) fn is_absent(&self) -> bool {
        match &self.choice {
            #[cfg(feature = "sqlite")]
            StoreChoice::Sqlite(path) => !path.exists(),
            _ => false,
        }
    }

    /// Opens the store for a command that writes (or runs an engine, which may).
    pub(super) fn open(&self) -> Result<Arc<dyn RunStore>, CliError> {
        match &self.choice {
            #[cfg(feature = "sqlite")]
            StoreChoice::Sqlite(path) => match crate::store::SqliteStore::open(path) {
                Ok(store) => Ok(Arc::new(store)),
                Err(error) => Err(cannot_open(path, &error)),
            },
            _ => self.app_store(),
        }
    }

    /// Opens the store for a command that only reads: a SQLite file read-only, so that it
    /// works on a file or directory this process cannot write and never waits for a process
    /// writing the same file. The app's own store is used as it is.
    pub(super) fn open_read_only(&self) -> Result<Arc<dyn RunStore>, CliError> {
        match &self.choice {
            #[cfg(feature = "sqlite")]
            StoreChoice::Sqlite(path) => match crate::store::SqliteStore::open_read_only(path) {
                Ok(store) => Ok(Arc::new(store)),
                Err(error) => Err(cannot_open(path, &error)),
            },
            _ => self.app_store(),
        }
    }

    fn app_store(&self) -> Result<Arc<dyn RunStore>, CliError> {
        match &self.choice {
            StoreChoice::Given(store) => Ok(Arc::clone(store)),
            _ => Err(CliError::new(
                Exit::Unavailable,
                "no run store: give the app one with `App::store`, or enable the `sqlite` feature",
            )),
        }
    }
}

/// A store that cannot be opened (a damaged file among them) leaves the app unavailable.
#[cfg(feature = "sqlite")]
fn cannot_open(path: &std::path::Path, error: &crate::store::StoreError) -> CliError {
    CliError::new(Exit::Unavailable, format!("cannot open the run store {}: {error}", path.display()))
}
