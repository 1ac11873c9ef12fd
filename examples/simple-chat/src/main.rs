//! `cargo run -p simple-chat`: the Simple Chat jobs end to end against a real Simple Chat
//! service on loopback. Other subcommands print the manifest and work with the stored runs.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use connector_runtime::server::{self, ServerConfig};
use connector_runtime::store::{RunFilter, RunStore, SqliteStore};
use connector_runtime::{Engine, Run, RunId, RunStatus, Secret};
use simple_chat::SimpleChatConfig;
use simple_chat::jobs::{GetChannelInfoEvent, SendMessageEvent};
use simple_chat::service::{ChatService, ChatServiceHandle};

/// The Simple Chat example: a typed connector, its jobs, and the chat service it talks to.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// The SQLite file runs are kept in [default: $CONNECTOR_RUNTIME_DB, or
    /// .connector-runtime/runs.sqlite3 in the working directory].
    #[arg(long, global = true)]
    db: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the demo end to end (the default): start the chat service, send both events,
    /// deliver a received message, show every run's steps and result.
    Demo,
    /// Print the manifest document (`{"connectors":[...],"jobs":[...]}`) to stdout.
    Manifest,
    /// List stored runs, newest first; `runs show ID` shows one with its steps.
    Runs(RunsArgs),
    /// Resume an unfinished run or retry a failed one: steps that succeeded are not run again.
    Resume {
        /// The run's id.
        id: String,
    },
    /// Call one action directly with JSON input, checked against its input type:
    /// `call simple-chat sendMessage '{"channel":"general","message":"hi"}'`.
    Call {
        /// The connector's id.
        connector: String,
        /// The action's id.
        action: String,
        /// The input, as JSON.
        input: String,
    },
    /// Check the connector's credentials against the service (set SIMPLE_CHAT_API_KEY to try
    /// another key).
    Check,
    /// Serve webhooks and the API (with the chat service beside it) until Ctrl-C.
    Serve {
        /// The port to listen on, on 127.0.0.1.
        #[arg(long, default_value_t = server::DEFAULT_PORT)]
        port: u16,
    },
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
struct RunsArgs {
    #[command(subcommand)]
    show: Option<RunsCommand>,
    /// Only runs of this job.
    #[arg(long)]
    job: Option<String>,
    /// Only runs with this status (queued, running, waiting, succeeded, failed).
    #[arg(long)]
    status: Option<String>,
    /// At most this many.
    #[arg(long, default_value_t = 20)]
    limit: usize,
}

#[derive(Subcommand)]
enum RunsCommand {
    /// Show one run with its steps, as JSON.
    Show {
        /// The run's id.
        id: String,
    },
}

type AnyError = Box<dyn std::error::Error + Send + Sync>;

/// `println!` that ends the program quietly when stdout is closed (`simple-chat runs | head`)
/// instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(error) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if error.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let db = cli.db.clone().unwrap_or_else(default_db);
    let result = match cli.command.unwrap_or(Command::Demo) {
        Command::Demo => demo(db).await,
        Command::Manifest => print_manifest(),
        Command::Runs(args) => runs(db, args).await,
        Command::Resume { id } => resume(db, id).await,
        Command::Serve { port } => serve(db, port).await,
        Command::Call { connector, action, input } => call(db, connector, action, input).await,
        Command::Check => check(db).await,
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn default_db() -> PathBuf {
    std::env::var_os("CONNECTOR_RUNTIME_DB")
        .map_or_else(|| PathBuf::from(connector_runtime::DEFAULT_DB_PATH), PathBuf::from)
}

fn init_logs() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
}

fn print_manifest() -> Result<ExitCode, AnyError> {
    say!("{}", serde_json::to_string_pretty(&simple_chat::manifest())?);
    Ok(ExitCode::SUCCESS)
}

/// Starts the chat service and an engine talking to it, keeping runs in `db`. The connector
/// uses the service's key unless SIMPLE_CHAT_API_KEY says otherwise.
async fn start(db: PathBuf) -> Result<(ChatServiceHandle, Engine), AnyError> {
    let service_key = format!("demo-{}", uuid::Uuid::new_v4());
    let service = ChatService::start(service_key.clone()).await?;
    let api_key = std::env::var("SIMPLE_CHAT_API_KEY").unwrap_or(service_key);
    // On stderr, so `call`'s JSON on stdout stays clean.
    eprintln!("Simple Chat service listening on {}", service.base_url());
    eprintln!("Runs are kept in {}", db.display());
    let webhook_secret =
        std::env::var("SIMPLE_CHAT_WEBHOOK_SECRET").unwrap_or_else(|_| format!("whsec-{}", uuid::Uuid::new_v4()));
    let config = SimpleChatConfig::new(Secret::new(api_key))
        .base_url(service.base_url())
        .webhook_secret(Secret::new(webhook_secret));
    let engine = simple_chat::engine(config).sqlite(db).build()?;
    Ok((service, engine))
}

async fn demo(db: PathBuf) -> Result<ExitCode, AnyError> {
    init_logs();
    let (service, engine) = start(db).await?;

    let mut runs = Vec::new();
    say!("\n== event manual.send.message (the service fails the first two tries with 503)");
    service.fail_next(2, 503);
    runs.extend(engine.send(SendMessageEvent { channel: "general".into(), message: "Hello from Rust!".into() }).await?);
    say!("\n== event manual.get.channel.info (dev-team, then an unknown channel)");
    runs.extend(engine.send(GetChannelInfoEvent { channel_id: "dev-team".into() }).await?);
    runs.extend(engine.send(GetChannelInfoEvent { channel_id: "random".into() }).await?);

    say!("\n== trigger simple-chat/message.received: a member posts, the service calls our webhook");
    let local = ServerConfig { bind: std::net::SocketAddr::from(([127, 0, 0, 1], 0)), ..ServerConfig::default() };
    let server = server::start(engine.clone(), local).await?;
    say!("webhook server listening on {} (the trigger registered its webhook with the service)", server.url());
    let since = chrono::Utc::now();
    service.receive_message("general", "ada", "Is the build green?")?;
    runs.push(wait_for_job(&engine, "acknowledge-message", since).await?);
    server.shutdown().await?;

    say!("");
    for run in &runs {
        print_run(run);
    }
    say!("\nThe chat service stored {} message(s).", service.posted_messages().len());

    let failed = runs.iter().filter(|run| run.status != RunStatus::Succeeded).count();
    if failed > 0 {
        say!("{failed} run(s) failed");
        return Ok(ExitCode::FAILURE);
    }
    say!("All {} runs succeeded. List them with `cargo run -p simple-chat -- runs`.", runs.len());
    Ok(ExitCode::SUCCESS)
}

/// Waits (up to 10 s) for a run of `job` created since `since` to finish (the store may hold
/// runs of earlier demos).
async fn wait_for_job(engine: &Engine, job: &str, since: chrono::DateTime<chrono::Utc>) -> Result<Run, AnyError> {
    let filter = RunFilter { job_id: Some(job.to_owned()), ..RunFilter::default() };
    for _ in 0..200 {
        let runs = engine.runs(&filter).await?;
        if let Some(run) = runs.iter().find(|run| run.created_at >= since && run.status.is_finished()) {
            return Ok(engine.wait(&run.id).await?);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Err(format!("no run of `{job}` finished within 10 s").into())
}

async fn serve(db: PathBuf, port: u16) -> Result<ExitCode, AnyError> {
    init_logs();
    let (_service, engine) = start(db).await?;
    let resumed = engine.recover().await?;
    if !resumed.is_empty() {
        say!("resumed {} unfinished run(s)", resumed.len());
    }
    let api_key =
        std::env::var("SIMPLE_CHAT_SERVER_API_KEY").unwrap_or_else(|_| format!("key-{}", uuid::Uuid::new_v4()));
    let config = ServerConfig {
        bind: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        api_key: Some(Secret::new(api_key.clone())),
        ..ServerConfig::default()
    };
    say!("serving on http://127.0.0.1:{port} (API key from SIMPLE_CHAT_SERVER_API_KEY, or this one: {api_key})");
    say!("webhook deliveries are signed with SIMPLE_CHAT_WEBHOOK_SECRET (random when unset)");
    say!("  curl -s -H 'Authorization: Bearer {api_key}' -H 'Content-Type: application/json' \\");
    say!(
        "       -d '{{\"name\":\"manual.send.message\",\"payload\":{{\"channel\":\"general\",\"message\":\"hi\"}}}}' \\"
    );
    say!("       http://127.0.0.1:{port}/api/events");
    say!("  curl -s -H 'Authorization: Bearer {api_key}' http://127.0.0.1:{port}/api/runs");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    server::serve(engine, config, shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

async fn call(db: PathBuf, connector: String, action: String, input: String) -> Result<ExitCode, AnyError> {
    let input: serde_json::Value =
        serde_json::from_str(&input).map_err(|error| format!("the input is not JSON: {error}"))?;
    let (_service, engine) = start(db).await?;
    match engine.call_action(&connector, &action, input).await {
        Ok(output) => {
            say!("{}", serde_json::to_string_pretty(&output)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("error: {error}");
            Ok(ExitCode::from(2))
        }
    }
}

async fn check(db: PathBuf) -> Result<ExitCode, AnyError> {
    let (_service, engine) = start(db).await?;
    match engine.check("simple-chat").await {
        Ok(()) => {
            say!("simple-chat: the service accepted the credentials");
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("error: {error}");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn runs(db: PathBuf, args: RunsArgs) -> Result<ExitCode, AnyError> {
    let store = SqliteStore::open(&db)?;
    if let Some(RunsCommand::Show { id }) = args.show {
        let Some(run) = store.run(&RunId::from(id.as_str())).await? else {
            eprintln!("no run with id `{id}` in {}", db.display());
            return Ok(ExitCode::FAILURE);
        };
        say!("{}", serde_json::to_string_pretty(&run)?);
        return Ok(ExitCode::SUCCESS);
    }
    let statuses =
        match args.status.as_deref() {
            Some(status) => {
                vec![serde_json::from_value::<RunStatus>(serde_json::json!(status)).map_err(|_| {
                    format!("unknown status `{status}`: use queued, running, waiting, succeeded or failed")
                })?]
            }
            None => Vec::new(),
        };
    let filter = RunFilter { job_id: args.job, statuses, limit: Some(args.limit) };
    let runs = store.list_runs(&filter).await?;
    if runs.is_empty() {
        say!("no runs in {}", db.display());
    }
    for run in runs {
        say!("{}  {:<10} {:<24} {}", run.id, run.status, run.job_id, run.created_at.format("%Y-%m-%d %H:%M:%S"));
    }
    Ok(ExitCode::SUCCESS)
}

async fn resume(db: PathBuf, id: String) -> Result<ExitCode, AnyError> {
    init_logs();
    let (_service, engine) = start(db).await?;
    let id = engine.resume(&RunId::from(id)).await?;
    let run = engine.wait(&id).await?;
    print_run(&run);
    Ok(if run.status == RunStatus::Succeeded { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn print_run(run: &Run) {
    say!("run {} · job {} · {}", run.id, run.job_id, run.status);
    for step in &run.steps {
        say!(
            "  step {:<24} {:<9} attempts {}  output {}",
            step.key,
            format!("{:?}", step.status).to_lowercase(),
            step.attempts,
            step.output.as_ref().map(|o| o.to_string()).unwrap_or_else(|| "-".into()),
        );
        if let Some(error) = &step.error {
            say!("    last error: {error}");
        }
    }
    match (&run.output, &run.error) {
        (Some(output), _) => say!("  result {output}"),
        (_, Some(error)) => say!("  error {error}"),
        _ => {}
    }
}
