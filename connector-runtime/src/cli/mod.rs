//! One command line for every application (feature `cli`): an app's `main` is its registrations
//! and one call.
//!
//! ```no_run
//! use std::process::ExitCode;
//!
//! use connector_runtime::cli::App;
//! use connector_runtime::prelude::*;
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct EchoConfig {}
//!
//! #[derive(Serialize, Deserialize, JsonSchema)]
//! struct Say { text: String }
//!
//! /// Says things back.
//! struct Echo;
//!
//! #[connector(id = "echo", name = "Echo", version = "1.0.0", config = EchoConfig)]
//! impl Echo {
//!     /// Says it back.
//!     #[action(id = "say", name = "Say")]
//!     async fn say(_ctx: &ActionContext<EchoConfig>, input: Say) -> Result<Say, ActionError> {
//!         Ok(input)
//!     }
//! }
//!
//! /// Someone asked for an echo.
//! #[derive(Serialize, Deserialize, JsonSchema, Event)]
//! #[event(name = "echo.requested")]
//! struct EchoRequested { text: String }
//!
//! #[job(id = "echo", name = "Echo", version = "1.0.0", event = EchoRequested, integrations(echo = Echo))]
//! async fn echo(payload: EchoRequested, io: EchoIo<'_>) -> Result<String, JobError> {
//!     Ok(io.echo.say("say", Say { text: payload.text }).await?.text)
//! }
//!
//! fn main() -> ExitCode {
//!     App::new("echo")
//!         .about("Echoes, durably.")
//!         .connector(Echo::init(EchoConfig {}))
//!         .job(EchoJob)
//!         .run_cli()
//! }
//! ```
//!
//! That program has these commands (`--help` lists them, `COMMAND --help` explains one):
//!
//! | command | what |
//! | --- | --- |
//! | `serve [--port P] [--bind ADDR] [--public-url URL] [--api-key KEY] [--grace 10s] [--header-timeout 10s] [--body-timeout 30s] [--idle-timeout 60s] [--max-connections 512]` | the webhook and API server ([`server`](crate::server)), with schedules and polls, until Ctrl-C or SIGTERM |
//! | `runs [--job ID] [--status S,..] [--limit N]` | stored runs, newest first, as a table |
//! | `runs show ID` | one run: trigger, payload, a timeline of its steps (key, kind, status, attempts, duration, error), output or error |
//! | `resume ID` | resumes an unfinished run or retries a failed or cancelled one, and waits for it |
//! | `cancel ID` | cancels a run ([`Engine::cancel`]) |
//! | `send EVENT JSON [--id ID]` | sends an event by name ([`Engine::accept_event`]), the payload checked against its type, and waits for the runs |
//! | `complete TOKEN JSON` | completes the token a run waits for ([`Engine::complete_token`]), and waits for the run |
//! | `call CONNECTOR ACTION JSON` | calls one action ([`Engine::call_action`]), the input checked against its type |
//! | `check [CONNECTOR]` | checks credentials ([`Engine::check`]): one connector or every one |
//! | `manifest` | the manifest document of every connector and job |
//! | `mcp` | every connector action as an MCP tool on stdin/stdout, for a desktop agent (feature `mcp`) |
//!
//! Wherever a command takes a run `ID`, the start of an id is enough when only one run's id
//! starts with it; an ambiguous prefix lists the candidates. A JSON argument `-` is read from
//! stdin. `--db PATH` (or `CONNECTOR_RUNTIME_DB`) chooses the SQLite file. `runs` and `runs show`
//! open it read-only (`SqliteStore::open_read_only`), so they work on a file they cannot write and
//! never wait for a `serve` writing it; the other commands open it for writing, which refuses a
//! damaged file (exit code 5). The commands that run a job (`send`, `resume`, `complete`) wait
//! until its runs finish, or wait for a token (directly or through a child run): nothing in the
//! process would take them further.
//!
//! # Output and exit codes
//!
//! Text for people by default; `--json` on any command prints one JSON document on stdout
//! instead (errors as `{"error": {"kind", "code", "message", ..}}`, with `"path"` for a field
//! that does not fit; a command line clap cannot parse gets clap's text, and exit code 2). Logs and diagnostics go to stderr (`RUST_LOG` filters them), and
//! the `tracing` events a step's own code emits to its run's log too ([`RunLogLayer`](crate::RunLogLayer)). With
//! feature `otel`, `--otel-endpoint URL` (or `OTEL_EXPORTER_OTLP_ENDPOINT`) exports each run as a
//! trace to that OTLP/HTTP collector ([`otel`](crate::otel)), as the service `OTEL_SERVICE_NAME`
//! or the app's name, and sends what is left before the command exits. The exit
//! code says what happened; see [`Exit`]: 0 done, 1 the thing failed (a run, an action, a
//! check), 2 usage, 3 not found, 4 input refused, 5 unavailable. A run waiting for a token is
//! not a failure.
//!
//! # Graceful shutdown
//!
//! On Ctrl-C or SIGTERM, `serve` stops accepting requests (those in flight finish), stops its
//! schedules and polls, removes the webhooks it registered ([`Running::stop`](crate::Running::stop)),
//! and gives the runs executing in the process the grace period (`--grace`, default 10 s) to finish
//! or reach a durable wait. What still executes then is left as a crash leaves it: recorded, and
//! resumed by the next start on the same store without repeating a completed step (a step cut off
//! mid-way runs again, under the same idempotency key). A second signal stops at once.
//!
//! # Setup, and the app's own commands
//!
//! When connectors need configuration that only exists at run time (from the environment, or a
//! service started first), [`App::setup`] builds them, and runs only for the commands that need
//! an engine (not for `--help` or `runs`); what it [`keep`](Setup::keep)s lives as long as the
//! command. [`App::default_command`] adds a command of the app's own that also runs when no
//! command is given (the examples' `demo`); [`App::command`] adds others. They get a
//! [`Context`]: the engine, what the setup kept, `--json`.
//!
//! Each built-in command maps onto one public engine call and the exit codes above; a command
//! the CLI does not have yet, an app adds with [`App::command`].

mod args;
mod commands;
mod exit;
mod output;
mod runs;
mod serve;
mod store;

pub use exit::{CliError, Exit};

use std::any::Any;
use std::ffi::OsString;
use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches};
use futures::future::BoxFuture;

use crate::connector::Integration;
use crate::engine::{ConnectorMembers, Engine, EngineBuilder, Job};
use crate::model::Run;
use crate::server::ServerConfig;
use crate::store::{MemoryStore, RunFilter, RunStore};
use args::{Cli, Command, Global, RunsCommand};
use output::Format;
use store::{StoreChoice, StoreLocation};

/// The error an app's setup and commands may return: anything that is an error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long `serve` gives runs to finish at shutdown unless told otherwise.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// The built-in commands, which the app's own may not be named.
const BUILT_IN: [&str; 12] =
    ["serve", "worker", "runs", "resume", "cancel", "send", "complete", "call", "check", "manifest", "mcp", "help"];

type SetupFn = Box<dyn FnOnce(EngineBuilder) -> BoxFuture<'static, Result<Setup, BoxError>> + Send>;
type CommandFn = Box<dyn FnOnce(Context) -> BoxFuture<'static, Result<Exit, BoxError>> + Send>;

/// An application's command line: its name, its connectors and jobs (or a [`setup`](App::setup)
/// that registers them), where runs are kept, server defaults, and its own commands.
/// [`App::run_cli`] parses the arguments and runs the command.
#[must_use = "call `.run_cli()` to run the command line"]
pub struct App {
    name: &'static str,
    about: Option<String>,
    version: Option<&'static str>,
    builder: EngineBuilder,
    setup: Option<SetupFn>,
    store: StoreChoice,
    server: ServerConfig,
    api_key_env: &'static str,
    grace: Duration,
    commands: Vec<AppCommand>,
    default_command: Option<usize>,
    logs: bool,
    /// The collector `--otel-endpoint` names, read with the command line.
    #[cfg(feature = "otel")]
    otel_endpoint: Option<String>,
}

struct AppCommand {
    name: &'static str,
    about: String,
    run: CommandFn,
}

impl App {
    /// An app named `name` (what `--help` calls it), with no connectors or jobs yet.
    pub fn new(name: &'static str) -> Self {
        App {
            name,
            about: None,
            version: None,
            builder: Engine::builder(),
            setup: None,
            store: StoreChoice::Default,
            server: ServerConfig::default(),
            api_key_env: args::API_KEY_ENV,
            grace: DEFAULT_GRACE,
            commands: Vec::new(),
            default_command: None,
            logs: true,
            #[cfg(feature = "otel")]
            otel_endpoint: None,
        }
    }

    /// What `--help` says the app does.
    pub fn about(mut self, about: impl Into<String>) -> Self {
        self.about = Some(about.into());
        self
    }

    /// What `--version` prints (`env!("CARGO_PKG_VERSION")`).
    pub fn version(mut self, version: &'static str) -> Self {
        self.version = Some(version);
        self
    }

    /// Registers a connector instance, as [`EngineBuilder::connector`] does.
    pub fn connector<C: ConnectorMembers>(mut self, integration: Integration<C>) -> Self {
        self.builder = self.builder.connector(integration);
        self
    }

    /// Registers a job, as [`EngineBuilder::job`] does.
    pub fn job<J: Job>(mut self, job: J) -> Self {
        self.builder = self.builder.job(job);
        self
    }

    /// Configures the engine builder further (a retry policy, the step output limit).
    pub fn engine(mut self, configure: impl FnOnce(EngineBuilder) -> EngineBuilder) -> Self {
        self.builder = configure(self.builder);
        self
    }

    /// Finishes the registrations at run time, for the commands that need an engine: `setup`
    /// gets the builder with what was registered so far and returns it with the rest (say,
    /// connectors configured from the environment), plus anything that must live as long as
    /// the command ([`Setup::keep`]: a service the connectors talk to). A failing setup ends
    /// the command with [`Exit::Unavailable`].
    ///
    /// ```no_run
    /// # use connector_runtime::cli::{App, BoxError, Setup};
    /// # use connector_runtime::EngineBuilder;
    /// async fn setup(engine: EngineBuilder) -> Result<Setup, BoxError> {
    ///     let api_key = std::env::var("CHAT_API_KEY")?;
    ///     // engine.connector(Chat::init(ChatConfig::new(api_key)))
    ///     # let _ = api_key;
    ///     Ok(engine.into())
    /// }
    /// # fn main() -> std::process::ExitCode {
    /// App::new("chat-app").setup(setup).run_cli()
    /// # }
    /// ```
    pub fn setup<F, Fut>(mut self, setup: F) -> Self
    where
        F: FnOnce(EngineBuilder) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Setup, BoxError>> + Send + 'static,
    {
        self.setup = Some(Box::new(move |builder| Box::pin(setup(builder))));
        self
    }

    /// Keeps runs in the SQLite file at `path` unless `--db` or `CONNECTOR_RUNTIME_DB` says
    /// otherwise (default: [`DEFAULT_DB_PATH`](crate::DEFAULT_DB_PATH)).
    #[cfg(feature = "sqlite")]
    pub fn sqlite(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.store = StoreChoice::Sqlite(path.into());
        self
    }

    /// Keeps runs in `store` unless `--db` or `CONNECTOR_RUNTIME_DB` names a SQLite file.
    pub fn store(self, store: impl RunStore) -> Self {
        self.shared_store(Arc::new(store))
    }

    /// Keeps runs in a store shared with other code, unless `--db` or `CONNECTOR_RUNTIME_DB`
    /// names a SQLite file.
    pub fn shared_store(mut self, store: Arc<dyn RunStore>) -> Self {
        self.store = StoreChoice::Given(store);
        self
    }

    /// What `serve` uses unless its flags say otherwise: the address, the body limit, the
    /// public URL, the API key, the timeouts and the connection cap (default:
    /// [`ServerConfig::default`], loopback port 8787).
    pub fn server(mut self, config: ServerConfig) -> Self {
        self.server = config;
        self
    }

    /// The environment variable `serve --api-key` falls back on (default
    /// `CONNECTOR_RUNTIME_API_KEY`).
    pub fn api_key_env(mut self, name: &'static str) -> Self {
        self.api_key_env = name;
        self
    }

    /// How long `serve` gives runs to finish at shutdown unless `--grace` says otherwise
    /// (default [`DEFAULT_GRACE`]).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Whether the CLI sends logs to stderr (default: yes, filtered by `RUST_LOG`); turn it off
    /// to install a `tracing` subscriber of your own.
    pub fn logs(mut self, logs: bool) -> Self {
        self.logs = logs;
        self
    }

    /// Adds a command of the app's own, `name`, described by `about` in `--help`. It runs after
    /// the setup, with a [`Context`]; its `Ok` is the exit code, its error is printed and exits
    /// with [`Exit::Failed`] (or the code of a [`CliError`]).
    ///
    /// # Panics
    ///
    /// If `name` is a built-in command's, or an app command's already.
    pub fn command<F, Fut>(mut self, name: &'static str, about: impl Into<String>, run: F) -> Self
    where
        F: FnOnce(Context) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Exit, BoxError>> + Send + 'static,
    {
        assert!(
            !BUILT_IN.contains(&name),
            "`{name}` is a built-in command of the CLI; give the app's command another name"
        );
        assert!(self.commands.iter().all(|command| command.name != name), "the app has a command `{name}` already");
        let run: CommandFn = Box::new(move |context| Box::pin(run(context)));
        self.commands.push(AppCommand { name, about: about.into(), run });
        self
    }

    /// Adds a command of the app's own, as [`App::command`] does, that also runs when no
    /// command is given.
    ///
    /// # Panics
    ///
    /// As [`App::command`] does.
    pub fn default_command<F, Fut>(self, name: &'static str, about: impl Into<String>, run: F) -> Self
    where
        F: FnOnce(Context) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Exit, BoxError>> + Send + 'static,
    {
        let about = format!("{} (the default command)", about.into());
        let mut app = self.command(name, about, run);
        app.default_command = Some(app.commands.len() - 1);
        app
    }

    /// Parses the process's arguments and runs the command on a new tokio runtime; returns the
    /// exit code for `main` to return.
    pub fn run_cli(self) -> ExitCode {
        let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(error) => {
                eprintln!("error: cannot start the tokio runtime: {error}");
                return Exit::Unavailable.into();
            }
        };
        let exit = runtime.block_on(self.run());
        // Runs still executing (past `serve`'s grace period) stop here, as after a crash.
        runtime.shutdown_timeout(Duration::from_secs(1));
        exit.into()
    }

    /// Parses the process's arguments and runs the command, on the current tokio runtime.
    pub async fn run(self) -> Exit {
        self.run_from(std::env::args_os()).await
    }

    /// Parses `args` (the first is the program's name) and runs the command.
    pub async fn run_from<I, T>(mut self, args: I) -> Exit
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let mut command = self.command_line();
        let matches = match command.try_get_matches_from_mut(args) {
            Ok(matches) => matches,
            Err(error) => {
                let _ = error.print();
                return if error.exit_code() == 0 { Exit::Ok } else { Exit::Usage };
            }
        };
        let global = match Global::from_arg_matches(&matches) {
            Ok(global) => global,
            Err(error) => {
                let _ = error.print();
                return Exit::Usage;
            }
        };
        let format = if global.json { Format::Json } else { Format::Human };
        #[cfg(feature = "otel")]
        {
            self.otel_endpoint = global.otel_endpoint;
        }
        #[cfg(feature = "sqlite")]
        let store = StoreLocation::resolve(global.db, &self.store);
        #[cfg(not(feature = "sqlite"))]
        let store = StoreLocation::resolve(&self.store);
        #[cfg(feature = "postgres")]
        let store = store.with_database_url(global.database_url);

        let app_command = match matches.subcommand_name() {
            None => match self.default_command {
                Some(index) => Some(index),
                None => {
                    let _ = command.print_help();
                    return Exit::Usage;
                }
            },
            Some(name) => self.commands.iter().position(|command| command.name == name),
        };
        let outcome = match app_command {
            Some(index) => {
                let command = self.commands.swap_remove(index);
                self.run_app_command(command, store, format).await
            }
            None => match Cli::from_arg_matches(&matches) {
                Ok(Cli { command: Some(command), .. }) => self.run_built_in(command, store, format).await,
                Ok(Cli { command: None, .. }) => Err(CliError::new(Exit::Usage, "no command given")),
                Err(error) => {
                    let _ = error.print();
                    return Exit::Usage;
                }
            },
        };
        match outcome {
            Ok(exit) => exit,
            Err(error) => {
                output::print_error(&error, format);
                error.exit()
            }
        }
    }

    /// The clap command: the built-in commands, with the app's name, text, defaults and commands.
    fn command_line(&self) -> clap::Command {
        // The serve flags' defaults are the app's.
        let (ip, port) = (self.server.bind.ip(), self.server.bind.port());
        let port_help = format!("The port to listen on; 0 picks a free one [default: {port}]");
        let bind_help = format!("The address to listen on [default: {ip}]");
        let grace_help = format!(
            "How long runs executing at shutdown get to finish or reach a durable wait (500ms, 10s, 2m); \
             what is left resumes at the next start [default: {}]",
            output::duration(self.grace)
        );
        let limit_help = |what: &str, default: Duration| format!("{what} [default: {}]", output::duration(default));
        let header_help = limit_help(
            "How long a request's head may take to arrive before the connection is closed",
            self.server.header_timeout,
        );
        let body_help = limit_help(
            "How long a request's body may take to arrive before the answer is 408",
            self.server.body_timeout,
        );
        let idle_help = limit_help(
            "How long a keep-alive connection may wait for its next request before it is closed",
            self.server.idle_timeout,
        );
        let connections_help = format!(
            "How many connections are served at once; more wait to be accepted [default: {}]",
            self.server.max_connections
        );
        let mut command = Cli::command()
            .name(self.name)
            .bin_name(self.name)
            .after_help(exit::EXIT_CODES_HELP)
            .mut_subcommand("serve", |serve| {
                serve
                    .mut_arg("port", |arg| arg.help(port_help))
                    .mut_arg("bind", |arg| arg.help(bind_help))
                    .mut_arg("api_key", |arg| arg.env(self.api_key_env))
                    .mut_arg("grace", |arg| arg.help(grace_help))
                    .mut_arg("header_timeout", |arg| arg.help(header_help))
                    .mut_arg("body_timeout", |arg| arg.help(body_help))
                    .mut_arg("idle_timeout", |arg| arg.help(idle_help))
                    .mut_arg("max_connections", |arg| arg.help(connections_help))
            });
        if let Some(about) = &self.about {
            command = command.about(about.clone());
        }
        if let Some(version) = self.version {
            command = command.version(version);
        }
        for app_command in &self.commands {
            command = command.subcommand(clap::Command::new(app_command.name).about(app_command.about.clone()));
        }
        command
    }

    async fn run_app_command(
        self,
        command: AppCommand,
        store: StoreLocation,
        format: Format,
    ) -> Result<Exit, CliError> {
        let _logs = self.init_logs("info")?;
        let store = store.connect().await?;
        let setup = prepare(self.builder, self.setup).await?;
        let context = Context { builder: Some(setup.builder), engine: None, kept: setup.kept, store, format };
        match (command.run)(context).await {
            Ok(exit) => Ok(exit),
            Err(error) => match error.downcast::<CliError>() {
                Ok(error) => Err(*error),
                Err(error) => Err(CliError::new(Exit::Failed, error.to_string())),
            },
        }
    }

    async fn run_built_in(self, command: Command, store: StoreLocation, format: Format) -> Result<Exit, CliError> {
        let _logs = self.init_logs(match command {
            Command::Serve(_)
            | Command::Worker(_)
            | Command::Send { .. }
            | Command::Resume { .. }
            | Command::Complete { .. } => "info",
            _ => "warn",
        })?;
        let App { builder, setup, server, grace, .. } = self;
        // The manifest needs no store at all.
        let store = if matches!(command, Command::Manifest) { store } else { store.connect().await? };
        let place = store.describe();
        let exit = match command {
            Command::Runs(args) => {
                // Reading an absent store need not create it, nor a present one write to it.
                let opened = if store.is_absent() { None } else { Some(store.open_read_only()?) };
                let report = match args.show {
                    Some(RunsCommand::Show { id }) => runs::show(opened.as_deref(), &id, &place).await?,
                    None => {
                        let filter = RunFilter {
                            job_id: args.job,
                            statuses: args.status,
                            limit: Some(args.limit),
                            ..RunFilter::default()
                        };
                        runs::list(opened.as_deref(), &filter, &place).await?
                    }
                };
                report.print(format);
                Exit::Ok
            }
            Command::Resume { id } => {
                if store.is_absent() {
                    return Err(CliError::new(Exit::NotFound, format!("no runs in {place}")));
                }
                let opened = store.open()?;
                // Found before the setup runs: a wrong id costs nothing.
                let run = runs::find(&*opened, &id, &place).await?;
                let (engine, _kept) = build(builder, setup, opened).await?;
                let (report, exit) = runs::resume(&engine, &run.id).await?;
                report.print(format);
                exit
            }
            Command::Cancel { id } => {
                if store.is_absent() {
                    return Err(CliError::new(Exit::NotFound, format!("no runs in {place}")));
                }
                let opened = store.open()?;
                let run = runs::find(&*opened, &id, &place).await?;
                let (engine, _kept) = build(builder, setup, opened).await?;
                runs::cancel(&engine, &run).await?.print(format);
                Exit::Ok
            }
            Command::Complete { token, payload } => {
                let payload = commands::json_argument("payload", &payload)?;
                let (engine, _kept) = build(builder, setup, store.open()?).await?;
                let (report, exit) = commands::complete(&engine, &token, payload).await?;
                report.print(format);
                exit
            }
            Command::Send { event, payload, id } => {
                let payload = commands::json_argument("payload", &payload)?;
                let (engine, _kept) = build(builder, setup, store.open()?).await?;
                let (report, exit) = commands::send(&engine, &event, payload, id).await?;
                report.print(format);
                exit
            }
            Command::Call { connector, action, input } => {
                let input = commands::json_argument("input", &input)?;
                let (engine, _kept) = build(builder, setup, store.open()?).await?;
                commands::call(&engine, &connector, &action, input).await?.print(format);
                Exit::Ok
            }
            Command::Check { connector } => {
                let (engine, _kept) = build(builder, setup, store.open()?).await?;
                let (report, exit) = commands::check(&engine, connector.as_deref()).await?;
                report.print(format);
                exit
            }
            #[cfg(feature = "mcp")]
            Command::Mcp => {
                let (engine, _kept) = build(builder, setup, store.open()?).await?;
                commands::mcp(engine).await?
            }
            Command::Manifest => {
                // The registrations are all the manifest needs: no store is opened.
                let (engine, _kept) = build(builder, setup, Arc::new(MemoryStore::new())).await?;
                commands::manifest(&engine).print(format);
                Exit::Ok
            }
            Command::Serve(args) => {
                let mut config = server;
                if let Some(ip) = args.bind {
                    config.bind.set_ip(ip);
                }
                if let Some(port) = args.port {
                    config.bind.set_port(port);
                }
                if let Some(url) = args.public_url {
                    config.public_url = Some(url);
                }
                config.header_timeout = args.header_timeout.unwrap_or(config.header_timeout);
                config.body_timeout = args.body_timeout.unwrap_or(config.body_timeout);
                config.idle_timeout = args.idle_timeout.unwrap_or(config.idle_timeout);
                config.max_connections = args.max_connections.map_or(config.max_connections, |n| n as usize);
                let serve = serve::Serve::new(config, args.api_key, args.grace.unwrap_or(grace), format);
                let mut builder = builder.execute_runs(args.execute);
                if let Some(concurrency) = args.concurrency {
                    builder = builder.worker_concurrency(concurrency as usize);
                }
                let (engine, _kept) = build(builder, setup, store.open()?).await?;
                serve::serve(engine, serve).await?
            }
            Command::Worker(args) => {
                let opened = store.open()?;
                if opened.queue().is_none() {
                    return Err(CliError::new(
                        Exit::Usage,
                        format!(
                            "`worker` needs a run store several processes share: give --database-url (or \
                             CONNECTOR_RUNTIME_DATABASE_URL) a postgres:// URL; on {place}, `serve` executes the runs itself"
                        ),
                    ));
                }
                let builder = builder.execute_runs(true).worker_concurrency(args.concurrency as usize);
                let (engine, _kept) = build(builder, setup, opened).await?;
                let worker = serve::WorkerOptions {
                    concurrency: args.concurrency as usize,
                    grace: args.grace.unwrap_or(grace),
                    format,
                    place,
                };
                serve::work(engine, worker).await?
            }
        };
        Ok(exit)
    }
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("name", &self.name)
            .field("commands", &self.commands.iter().map(|command| command.name).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// What an app's [`setup`](App::setup) returns: the engine builder with every registration,
/// and what must live as long as the command.
#[must_use]
pub struct Setup {
    builder: EngineBuilder,
    kept: Vec<Box<dyn Any + Send>>,
}

impl Setup {
    /// The registrations in `builder`, nothing kept.
    pub fn new(builder: EngineBuilder) -> Self {
        Setup { builder, kept: Vec::new() }
    }

    /// Keeps `value` alive until the command ends (a service the connectors talk to, a
    /// temporary directory); the app's own commands get it with [`Context::get`].
    pub fn keep<T: Any + Send>(mut self, value: T) -> Self {
        self.kept.push(Box::new(value));
        self
    }
}

impl From<EngineBuilder> for Setup {
    fn from(builder: EngineBuilder) -> Self {
        Setup::new(builder)
    }
}

impl std::fmt::Debug for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Setup").field("kept", &self.kept.len()).finish_non_exhaustive()
    }
}

/// What an app's own command gets: the engine (built on the run store the command line chose),
/// what the setup kept, and whether `--json` was given.
pub struct Context {
    builder: Option<EngineBuilder>,
    engine: Option<Engine>,
    kept: Vec<Box<dyn Any + Send>>,
    store: StoreLocation,
    format: Format,
}

impl Context {
    /// The app's engine, on the store `--db` or the app chose; built at the first call.
    pub fn engine(&mut self) -> Result<Engine, CliError> {
        if let Some(engine) = &self.engine {
            return Ok(engine.clone());
        }
        let store = self.store.open()?;
        self.build_with(store)
    }

    /// The app's engine on another store (a demo that starts from nothing, a test). Only once,
    /// and only before [`Context::engine`].
    pub fn engine_on(&mut self, store: impl RunStore) -> Result<Engine, CliError> {
        self.build_with(Arc::new(store))
    }

    fn build_with(&mut self, store: Arc<dyn RunStore>) -> Result<Engine, CliError> {
        let builder =
            self.builder.take().ok_or_else(|| CliError::new(Exit::Failed, "the command built its engine already"))?;
        let engine = builder.shared_store(store).build()?;
        self.engine = Some(engine.clone());
        Ok(engine)
    }

    /// Something the setup kept, by type.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.kept.iter().find_map(|value| value.downcast_ref::<T>())
    }

    /// Takes something the setup kept, by type (to shut a service down, say).
    pub fn take<T: Any>(&mut self) -> Option<T> {
        let index = self.kept.iter().position(|value| value.is::<T>())?;
        self.kept.swap_remove(index).downcast::<T>().ok().map(|value| *value)
    }

    /// Whether `--json` was given: print one JSON document on stdout.
    pub fn json(&self) -> bool {
        self.format == Format::Json
    }

    /// Where the runs are, for messages: the SQLite file's path, or "the app's run store".
    pub fn store_location(&self) -> String {
        self.store.describe()
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("store", &self.store.describe())
            .field("json", &self.json())
            .finish_non_exhaustive()
    }
}

/// A run as `runs show` prints it: what started it, its payload, a timeline of its steps (when
/// each started, key, kind, status, attempts, duration, error), its output or error. For an
/// app's own commands that show runs.
pub fn timeline(run: &Run) -> String {
    runs::timeline(run)
}

/// Runs the app's setup, if it has one.
async fn prepare(builder: EngineBuilder, setup: Option<SetupFn>) -> Result<Setup, CliError> {
    match setup {
        Some(setup) => setup(builder)
            .await
            .map_err(|error| CliError::new(Exit::Unavailable, format!("the app's setup failed: {error}"))),
        None => Ok(Setup::new(builder)),
    }
}

/// The engine on `store`, after the setup, with what the setup kept.
async fn build(
    builder: EngineBuilder,
    setup: Option<SetupFn>,
    store: Arc<dyn RunStore>,
) -> Result<(Engine, Vec<Box<dyn Any + Send>>), CliError> {
    let Setup { builder, kept } = prepare(builder, setup).await?;
    let engine = builder.shared_store(store).build()?;
    Ok((engine, kept))
}

/// What the command's logs need kept until it ends: the trace export, which sends what is left
/// when dropped.
#[derive(Default)]
struct Logs {
    #[cfg(feature = "otel")]
    _otel: Option<crate::otel::OtelGuard>,
}

impl App {
    /// Logs on stderr, `RUST_LOG` or `default` deciding what shows, the events inside runs in
    /// their logs, and (feature `otel`) spans to the collector; a subscriber installed already
    /// stays. Nothing with [`App::logs`]`(false)`.
    fn init_logs(&self, default: &str) -> Result<Logs, CliError> {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;

        if !self.logs {
            return Ok(Logs::default());
        }
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
        let subscriber = tracing_subscriber::registry()
            .with(filter)
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .with(crate::RunLogLayer::new());
        #[cfg(feature = "otel")]
        {
            let (otel, guard) = match &self.otel_endpoint {
                Some(endpoint) => {
                    let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| self.name.to_owned());
                    let (layer, guard) = crate::otel::layer(endpoint, &service)
                        .map_err(|error| CliError::new(Exit::Usage, error.to_string()))?;
                    (Some(layer), Some(guard))
                }
                None => (None, None),
            };
            let installed = subscriber.with(otel).try_init().is_ok();
            Ok(Logs { _otel: guard.filter(|_| installed) })
        }
        #[cfg(not(feature = "otel"))]
        {
            let _ = subscriber.try_init();
            Ok(Logs::default())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> App {
        App::new("test-app")
            .version("1.2.3")
            .store(MemoryStore::new())
            .logs(false)
            .default_command("demo", "The demo", |mut ctx: Context| async move {
                ctx.engine()?;
                Ok(if ctx.get::<&str>() == Some(&"kept") { Exit::Ok } else { Exit::Failed })
            })
            .command("missing", "Fails with a code of its own", |_| async {
                Err(CliError::new(Exit::NotFound, "nothing here").into())
            })
            .command("broken", "Fails", |_| async { Err("it broke".into()) })
            .setup(|engine| async move { Ok(Setup::new(engine).keep("kept")) })
    }

    #[test]
    fn the_command_line_with_the_apps_commands_is_consistent() {
        app().command_line().debug_assert();
    }

    #[tokio::test]
    async fn the_default_command_runs_with_no_command_after_the_setup() {
        assert_eq!(app().run_from(["test-app"]).await, Exit::Ok);
        assert_eq!(app().run_from(["test-app", "demo"]).await, Exit::Ok);
    }

    #[tokio::test]
    async fn an_app_commands_error_gives_the_exit_code() {
        assert_eq!(app().run_from(["test-app", "missing"]).await, Exit::NotFound);
        assert_eq!(app().run_from(["test-app", "broken"]).await, Exit::Failed);
    }

    #[tokio::test]
    async fn usage_errors_exit_2_and_help_exits_0() {
        assert_eq!(app().run_from(["test-app", "bogus"]).await, Exit::Usage);
        assert_eq!(app().run_from(["test-app", "runs", "--limit", "many"]).await, Exit::Usage);
        assert_eq!(app().run_from(["test-app", "--version"]).await, Exit::Ok);
    }

    #[tokio::test]
    async fn a_failing_setup_leaves_the_app_unavailable() {
        let app =
            App::new("test-app").store(MemoryStore::new()).logs(false).setup(|_| async { Err("no config".into()) });
        assert_eq!(app.run_from(["test-app", "manifest"]).await, Exit::Unavailable);
    }

    #[test]
    #[should_panic(expected = "`runs` is a built-in command")]
    fn an_app_command_may_not_take_a_built_in_name() {
        let _ = App::new("test-app").command("runs", "Mine", |_| async { Ok(Exit::Ok) });
    }
}
