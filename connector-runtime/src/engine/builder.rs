//! [`EngineBuilder`]: registers connector instances and jobs, checks them, opens the store.

#[cfg(feature = "sqlite")]
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use super::io::{Clock, SchemaCache, Settings};
use super::job::Job;
use super::members::ConnectorMembers;
use super::registry::{JobEntry, Registry};
use super::{Engine, EngineError, Shared};
use crate::connector::Integration;
use crate::model::{IntegrationRef, RetryPolicy};
use crate::store::RunStore;

/// Where the default SQLite store lives unless `CONNECTOR_RUNTIME_DB` or
/// [`EngineBuilder::sqlite`] says otherwise (relative to the working directory).
pub const DEFAULT_DB_PATH: &str = ".connector-runtime/runs.sqlite3";

/// The variable naming a PostgreSQL database (`postgres://user@host:5432/db`) to keep runs in,
/// with the `postgres` feature, when no store is given: it is chosen before SQLite. Connecting
/// is asynchronous, so an engine on it is built with [`EngineBuilder::build_async`].
pub const DATABASE_URL_ENV: &str = "CONNECTOR_RUNTIME_DATABASE_URL";

/// The default limit on a step's output, as JSON: 3 MiB.
pub const DEFAULT_MAX_STEP_OUTPUT: usize = 3 * 1024 * 1024;

/// How many runs execute at once in a process claiming from a shared store, unless told otherwise.
const DEFAULT_WORKER_CONCURRENCY: usize = 64;

/// How soon a run a store failure left unfinished is executed again, unless told otherwise.
const DEFAULT_STRANDED_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// Builds an [`Engine`]; [`EngineBuilder::build`] checks that every job's integrations are there.
#[must_use = "call `.build()` to get the engine"]
pub struct EngineBuilder {
    registry: Registry,
    declared: Vec<(&'static str, IntegrationRef)>,
    store: StoreChoice,
    settings: Settings,
    duplicate: Option<EngineError>,
}

/// Which store [`EngineBuilder::build`] opens.
enum StoreChoice {
    /// PostgreSQL at [`DATABASE_URL_ENV`] when it is set (with the `postgres` feature), else
    /// SQLite at `CONNECTOR_RUNTIME_DB` or [`DEFAULT_DB_PATH`] (with the `sqlite` feature).
    Default,
    #[cfg(feature = "sqlite")]
    Sqlite(PathBuf),
    /// The database at this URL, connected by [`EngineBuilder::build_async`].
    #[cfg(feature = "postgres")]
    Postgres(String),
    Given(Arc<dyn RunStore>),
}

impl StoreChoice {
    /// `Default` made concrete: the environment's choice, or the built-in default.
    fn resolve(self) -> Result<StoreChoice, EngineError> {
        if !matches!(self, StoreChoice::Default) {
            return Ok(self);
        }
        if let Some(url) = std::env::var_os(DATABASE_URL_ENV) {
            let url = url.to_string_lossy();
            let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
            #[cfg(feature = "postgres")]
            if postgres {
                return Ok(StoreChoice::Postgres(url.into_owned()));
            }
            // Set and not used would keep runs somewhere the operator did not ask for.
            let reason = if postgres {
                format!("`{DATABASE_URL_ENV}` names a PostgreSQL database, but this build has no `postgres` feature")
            } else {
                format!("`{DATABASE_URL_ENV}` must be a `postgres://` URL")
            };
            return Err(EngineError::StoreUnavailable(reason));
        }
        #[cfg(feature = "sqlite")]
        return Ok(StoreChoice::Sqlite(match std::env::var_os("CONNECTOR_RUNTIME_DB") {
            Some(path) => PathBuf::from(path),
            None => PathBuf::from(DEFAULT_DB_PATH),
        }));
        #[cfg(not(feature = "sqlite"))]
        Err(EngineError::NoStore)
    }

    /// The store, for a choice opened without waiting (all but PostgreSQL).
    fn open_sync(self) -> Result<Arc<dyn RunStore>, EngineError> {
        match self.resolve()? {
            StoreChoice::Given(store) => Ok(store),
            #[cfg(feature = "sqlite")]
            StoreChoice::Sqlite(path) => Ok(Arc::new(crate::store::SqliteStore::open(path)?)),
            #[cfg(feature = "postgres")]
            StoreChoice::Postgres(_) => Err(EngineError::StoreUnavailable(
                "the PostgreSQL store connects asynchronously: build the engine with `.build_async().await`".to_owned(),
            )),
            StoreChoice::Default => Err(EngineError::NoStore),
        }
    }

    /// The store, connecting to PostgreSQL when that is the choice.
    async fn open(self) -> Result<Arc<dyn RunStore>, EngineError> {
        match self.resolve()? {
            #[cfg(feature = "postgres")]
            StoreChoice::Postgres(url) => Ok(Arc::new(crate::store::PostgresStore::connect(&url).await?)),
            other => other.open_sync(),
        }
    }
}

impl Default for EngineBuilder {
    fn default() -> Self {
        EngineBuilder {
            registry: Registry::default(),
            declared: Vec::new(),
            store: StoreChoice::Default,
            settings: Settings {
                retry: RetryPolicy::DEFAULT,
                max_step_output: DEFAULT_MAX_STEP_OUTPUT,
                clock: Clock::Wall,
                check_typed_sends: true,
                stranded_retry: DEFAULT_STRANDED_RETRY,
                executes: true,
                worker_concurrency: DEFAULT_WORKER_CONCURRENCY,
            },
            duplicate: None,
        }
    }
}

impl EngineBuilder {
    /// Registers a connector instance (what `MyConnector::init(config)` returns).
    pub fn connector<C: ConnectorMembers>(mut self, integration: Integration<C>) -> Self {
        if !self.registry.add_connector(integration) {
            self.duplicate.get_or_insert(EngineError::Duplicate { kind: "connector", id: C::ID });
        }
        self
    }

    /// Registers a job (the `{FnName}Job` marker `#[job]` generates).
    pub fn job<J: Job>(mut self, _job: J) -> Self {
        if self.registry.job(J::ID).is_some() {
            self.duplicate.get_or_insert(EngineError::Duplicate { kind: "job", id: J::ID });
        }
        self.registry.jobs.push(JobEntry::of::<J>());
        self.declared.extend(J::integrations().into_iter().map(|integration| (J::ID, integration)));
        self
    }

    /// Keeps runs in `store` (default: SQLite at [`DEFAULT_DB_PATH`]).
    pub fn store(self, store: impl RunStore) -> Self {
        self.shared_store(Arc::new(store))
    }

    /// Keeps runs in a store shared with other code (a CLI listing runs, a test).
    pub fn shared_store(mut self, store: Arc<dyn RunStore>) -> Self {
        self.store = StoreChoice::Given(store);
        self
    }

    /// Keeps runs in the SQLite file at `path` (created on first use).
    #[cfg(feature = "sqlite")]
    pub fn sqlite(mut self, path: impl Into<PathBuf>) -> Self {
        self.store = StoreChoice::Sqlite(path.into());
        self
    }

    /// Keeps runs in the PostgreSQL database at `url` (`postgres://user@host:5432/db`; its schema
    /// is brought up to date on connect). Build the engine with
    /// [`build_async`](Self::build_async), which connects; [`build`](Self::build) refuses it.
    /// For a schema of its own or a pool of another size, connect a
    /// [`PostgresStore`](crate::store::PostgresStore) with `connect_with` and pass it to
    /// [`shared_store`](Self::shared_store).
    #[cfg(feature = "postgres")]
    pub fn postgres(mut self, url: impl Into<String>) -> Self {
        self.store = StoreChoice::Postgres(url.into());
        self
    }

    /// The retry policy of steps whose action, job and call set none.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.settings.retry = policy;
        self
    }

    /// Answers every call of action `A` with `answer` instead of calling the service: for tests
    /// of jobs (see [`crate::testing`]). The connector is still registered (its config can be a
    /// dummy); the calls are recorded as steps as usual.
    #[cfg(feature = "testing")]
    pub fn mock<A: crate::connector::Action>(
        mut self,
        _action: A,
        answer: impl Fn(A::Input) -> Result<A::Output, crate::model::ActionError> + Send + Sync + 'static,
    ) -> Self {
        use crate::model::ActionError;
        let erased = move |input: serde_json::Value| {
            let input = serde_json::from_value(input).map_err(|error| ActionError::InvalidInput(error.to_string()))?;
            serde_json::to_value(answer(input)?).map_err(|error| ActionError::InvalidOutput(error.to_string()))
        };
        let connector = <A::Connector as crate::connector::Connector>::ID;
        self.registry.mocks.insert((connector, A::ID), Arc::new(erased));
        self
    }

    /// Measures durable waits and token timeouts by tokio's clock, so a test on a paused tokio
    /// runtime (`#[tokio::test(start_paused = true)]`) skips them without sleeping.
    #[cfg(feature = "testing")]
    pub fn tokio_clock(mut self) -> Self {
        self.settings.clock = Clock::Tokio { wall: chrono::Utc::now(), instant: tokio::time::Instant::now() };
        self
    }

    /// Whether events sent from Rust (`engine.send`, `io.send_event`) are checked against the
    /// constraints their type's schema declares (`range`, `length`, `regex`, ..), as events from
    /// outside always are (default: checked). The compiler has checked their shape either way;
    /// turn this off to save the check on a hot path whose values are known to fit.
    pub fn check_typed_sends(mut self, check: bool) -> Self {
        self.settings.check_typed_sends = check;
        self
    }

    /// How long after a run store failure left a run unfinished the engine executes it again,
    /// and again at this interval while the store keeps failing (default 1 s).
    pub fn retry_stranded_every(mut self, interval: std::time::Duration) -> Self {
        self.settings.stranded_retry = interval;
        self
    }

    /// Whether this engine executes runs (default: yes). On a store several processes share
    /// (PostgreSQL), `false` makes it accept runs only (webhooks, events, the API) and queue
    /// them for the processes that execute runs (`worker`s). A store one process owns
    /// (SQLite, memory) ignores it: its engine executes what it accepts.
    pub fn execute_runs(mut self, executes: bool) -> Self {
        self.settings.executes = executes;
        self
    }

    /// How many runs at most execute in this process at once when it claims runs from a shared
    /// store's queue (default 64): [`Engine::start_worker`] claims only while fewer execute.
    pub fn worker_concurrency(mut self, runs: usize) -> Self {
        self.settings.worker_concurrency = runs.max(1);
        self
    }

    /// The largest step output, in bytes of JSON, a store accepts (default 3 MiB).
    pub fn max_step_output(mut self, bytes: usize) -> Self {
        self.settings.max_step_output = bytes;
        self
    }

    /// Checks the registrations, opens the store and returns the engine: a job whose integration
    /// is not registered is refused here, before anything runs.
    ///
    /// Call [`Engine::recover`] next to resume what an earlier process left unfinished.
    ///
    /// A PostgreSQL store (chosen with `postgres(url)` or by [`DATABASE_URL_ENV`]) is refused
    /// with [`EngineError::StoreUnavailable`]: it connects asynchronously, so use
    /// [`build_async`](Self::build_async), or connect it yourself and pass it to
    /// [`shared_store`](Self::shared_store).
    pub fn build(self) -> Result<Engine, EngineError> {
        let (registry, settings, choice) = self.check()?;
        Ok(assemble(registry, settings, choice.open_sync()?))
    }

    /// [`build`](Self::build), for every store, PostgreSQL's too: a store chosen with
    /// `postgres(url)` (feature `postgres`) or by [`DATABASE_URL_ENV`] is connected here (the others are
    /// opened as `build` opens them).
    pub async fn build_async(self) -> Result<Engine, EngineError> {
        let (registry, settings, choice) = self.check()?;
        Ok(assemble(registry, settings, choice.open().await?))
    }

    /// The registrations checked, and the parts the engine is made of.
    fn check(self) -> Result<(Registry, Settings, StoreChoice), EngineError> {
        if let Some(error) = self.duplicate {
            return Err(error);
        }
        let registry = self.registry;
        if let Some((job, missing)) =
            self.declared.into_iter().find(|(_, i)| !registry.integrations.contains_key(i.connector.as_str()))
        {
            return Err(EngineError::MissingIntegration {
                job,
                key: missing.key,
                connector: missing.connector,
                connector_type: missing.connector_type,
            });
        }
        registry.check_event_types()?;
        registry.check_signed_triggers()?;
        for job in &registry.jobs {
            if let Some(schedule) = &job.schedule {
                crate::model::schedule::check(schedule).map_err(|reason| EngineError::InvalidSchedule {
                    job: job.id,
                    schedule: schedule.to_string(),
                    reason,
                })?;
            }
        }
        Ok((registry, self.settings, self.store))
    }
}

/// The engine, from checked registrations and an open store.
fn assemble(registry: Registry, settings: Settings, store: Arc<dyn RunStore>) -> Engine {
    for (id, integration) in &registry.integrations {
        // Upcast: every run store is a token store too, so OAuth2 tokens survive restarts.
        let tokens: Arc<dyn crate::client::TokenStore> = Arc::clone(&store) as Arc<dyn crate::client::TokenStore>;
        integration.http.attach_store(tokens, (*id).to_owned());
    }
    let job_slots = registry
        .jobs
        .iter()
        .filter_map(|job| Some((job.id, Arc::new(Semaphore::new(job.concurrency?.max(1))))))
        .collect();
    // Every run the engine writes is announced (for pages that show runs live).
    let (store, changes) = super::changes::Announcing::wrap(store);
    Engine {
        shared: Arc::new(Shared {
            registry: Arc::new(registry),
            store,
            changes,
            settings,
            schemas: Arc::new(SchemaCache::default()),
            job_slots,
            active: Mutex::default(),
            stranded: Default::default(),
            queue: Default::default(),
        }),
    }
}
