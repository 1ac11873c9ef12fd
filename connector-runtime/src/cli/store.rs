//! Which run store a command uses: `--database-url` (or `CONNECTOR_RUNTIME_DATABASE_URL`, a
//! PostgreSQL database, with the `postgres` feature), else `--db` (or `CONNECTOR_RUNTIME_DB`),
//! else the app's choice, else SQLite at [`DEFAULT_DB_PATH`](crate::DEFAULT_DB_PATH). Opened
//! once per command, only when the command needs it, and read-only when it only reads. A
//! PostgreSQL store connects asynchronously: [`StoreLocation::connect`] does it first.

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
    /// A PostgreSQL database, by URL, not connected yet.
    #[cfg(feature = "postgres")]
    Postgres(String),
    /// A store connected already, with how messages name it.
    #[cfg(feature = "postgres")]
    Connected(Arc<dyn RunStore>, String),
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
            #[cfg(feature = "postgres")]
            StoreChoice::Connected(_, shown) => shown.clone(),
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

    /// `--database-url` wins over every other choice.
    #[cfg(feature = "postgres")]
    pub(super) fn with_database_url(self, url: Option<String>) -> Self {
        match url {
            Some(url) => StoreLocation { choice: StoreChoice::Postgres(url) },
            None => self,
        }
    }

    /// Connects a PostgreSQL store (the others open synchronously, when a command needs them).
    pub(super) async fn connect(self) -> Result<Self, CliError> {
        match self.choice {
            #[cfg(feature = "postgres")]
            StoreChoice::Postgres(url) => match crate::store::PostgresStore::connect(&url).await {
                Ok(store) => {
                    let shown = store.location().to_owned();
                    Ok(StoreLocation { choice: StoreChoice::Connected(Arc::new(store), shown) })
                }
                Err(error) => Err(CliError::new(Exit::Unavailable, format!("cannot open the run store: {error}"))),
            },
            choice => Ok(StoreLocation { choice }),
        }
    }

    fn app_store(&self) -> Result<Arc<dyn RunStore>, CliError> {
        match &self.choice {
            StoreChoice::Given(store) => Ok(Arc::clone(store)),
            #[cfg(feature = "postgres")]
            StoreChoice::Connected(store, _) => Ok(Arc::clone(store)),
            #[cfg(feature = "postgres")]
            StoreChoice::Postgres(_) => {
                Err(CliError::new(Exit::Failed, "the PostgreSQL store was not connected before the command ran"))
            }
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
