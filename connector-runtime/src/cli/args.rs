//! The command line, as clap derives it: the flags every command takes, and the built-in
//! commands.

use std::net::IpAddr;
#[cfg(feature = "sqlite")]
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::model::RunStatus;

/// The built-in part of every app's command line; the app's name, about text and own commands
/// are added to it at run time.
#[derive(Debug, Parser)]
pub(super) struct Cli {
    #[command(flatten)]
    pub(super) global: Global,
    #[command(subcommand)]
    pub(super) command: Option<Command>,
}

/// Flags every command takes, before or after its name.
#[derive(Debug, Args)]
pub(super) struct Global {
    /// Print one JSON document on stdout instead of text (errors too: `{"error": {..}}`).
    #[arg(long, global = true)]
    pub(super) json: bool,
    /// The SQLite file runs are kept in [default: .connector-runtime/runs.sqlite3 in the working
    /// directory, or the app's choice].
    #[cfg(feature = "sqlite")]
    #[arg(long, global = true, value_name = "PATH", env = "CONNECTOR_RUNTIME_DB")]
    pub(super) db: Option<PathBuf>,
    /// A PostgreSQL database to keep runs in instead (`postgres://user@host:5432/db`), shared
    /// by every `serve` and `worker` process pointed at it. Wins over `--db`.
    #[cfg(feature = "postgres")]
    #[arg(long, global = true, value_name = "URL", env = "CONNECTOR_RUNTIME_DATABASE_URL", hide_env_values = true)]
    pub(super) database_url: Option<String>,
    /// Export each run as a trace to this OpenTelemetry collector, its OTLP/HTTP address
    /// (`http://127.0.0.1:4318`).
    #[cfg(feature = "otel")]
    #[arg(long, global = true, value_name = "URL", env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub(super) otel_endpoint: Option<String>,
}

/// The built-in commands.
// Adding one: a variant here (its doc comment is its `--help`), a fn in `commands.rs` or
// `runs.rs` that calls one public engine method and returns a `Report` (with the `Exit` its
// outcome means), an arm in `App::run_built_in`, its name in `BUILT_IN`, and the exit code of
// each of the method's errors in `exit.rs`.
#[derive(Debug, Subcommand)]
pub(super) enum Command {
    /// Serve webhooks and the event and runs API, with schedules and polls, until Ctrl-C or SIGTERM.
    /// On SQLite it executes the runs too; on a shared PostgreSQL store only with `--execute`
    /// (`worker` processes execute them).
    Serve(ServeArgs),
    /// Execute runs from a shared PostgreSQL store until Ctrl-C or SIGTERM: queued runs, woken
    /// runs, and the runs of workers that died (once their leases lapse), `--concurrency` at once.
    Worker(WorkerArgs),
    /// List stored runs, newest first; `runs show ID` shows one run's steps. Reads the store
    /// read-only: it works on a read-only file and does not wait for a running `serve`.
    Runs(RunsArgs),
    /// Resume an unfinished run or retry a failed or cancelled one (by id or unambiguous id
    /// prefix) and wait for it: steps that succeeded are not run again.
    Resume {
        /// The run's id, or the start of it.
        id: String,
    },
    /// Cancel a run (by id or unambiguous id prefix): it stops at its next step boundary, or at
    /// once if it is queued or waiting; `resume` takes it up again.
    Cancel {
        /// The run's id, or the start of it.
        id: String,
    },
    /// Complete the token a run waits for (`io.wait_for_token`, `{run id}:{step key}`) with a
    /// JSON payload, and wait for the run it resumes.
    Complete {
        /// The token.
        token: String,
        /// The payload, as JSON (`-` reads it from stdin); the job checks it against the type it
        /// waits for.
        payload: String,
    },
    /// Send an event by name with a JSON payload (checked against the event's type), and wait for
    /// the runs it starts to finish or to wait for a token.
    Send {
        /// The event's name, as in `#[event(name = "..")]`.
        event: String,
        /// The payload, as JSON (`-` reads it from stdin).
        payload: String,
        /// A delivery id: sending the same id again starts nothing new.
        #[arg(long)]
        id: Option<String>,
    },
    /// Call one action of a connector directly with JSON input, checked against the action's
    /// input type: no run, no step.
    Call {
        /// The connector's id.
        connector: String,
        /// The action's id.
        action: String,
        /// The input, as JSON (`-` reads it from stdin).
        input: String,
    },
    /// Check connectors' credentials against their services: one connector, or every one.
    Check {
        /// The connector's id [default: every registered connector].
        connector: Option<String>,
    },
    /// Print the manifest document: every connector and job with their JSON Schemas.
    Manifest,
    /// Serve every connector action as an MCP tool on stdin and stdout, for a desktop agent
    /// that starts this command, until stdin closes. Each call is recorded as a run (`runs`
    /// lists them); logs go to stderr.
    #[cfg(feature = "mcp")]
    Mcp,
}

/// `serve`: where to listen, the API key, how long shutdown waits.
#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    /// The port to listen on; 0 picks a free one.
    #[arg(long)]
    pub(super) port: Option<u16>,
    /// The address to listen on.
    #[arg(long, value_name = "ADDR")]
    pub(super) bind: Option<IpAddr>,
    /// The URL services reach this server at, for the webhooks triggers register
    /// [default: http://{bind}:{port}].
    #[arg(long, value_name = "URL")]
    pub(super) public_url: Option<String>,
    /// The key the /api routes (and /mcp) require as a bearer token; without one they refuse
    /// every request.
    #[arg(long, value_name = "KEY", env = API_KEY_ENV, hide_env_values = true)]
    pub(super) api_key: Option<String>,
    /// How long runs executing at shutdown get to finish or reach a durable wait (`500ms`,
    /// `10s`, `2m`); what is left resumes at the next start.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(super) grace: Option<Duration>,
    /// How long a request's head may take to arrive before the connection is closed.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(super) header_timeout: Option<Duration>,
    /// How long a request's body may take to arrive before the answer is 408.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(super) body_timeout: Option<Duration>,
    /// How long a keep-alive connection may wait for its next request before it is closed.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(super) idle_timeout: Option<Duration>,
    /// How many connections are served at once; more wait to be accepted.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(super) max_connections: Option<u32>,
    /// On a shared PostgreSQL store, execute runs here too (as a worker does); on SQLite
    /// `serve` always does.
    #[arg(long)]
    pub(super) execute: bool,
    /// How many runs execute here at once when claiming from a shared store (with `--execute`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(super) concurrency: Option<u32>,
}

/// `worker`: how many runs at once, how long shutdown waits.
#[derive(Debug, Args)]
pub(super) struct WorkerArgs {
    /// How many runs execute here at once.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub(super) concurrency: u32,
    /// How long runs executing at shutdown get to finish or reach a durable wait; what is left
    /// is resumed by another worker once its lease lapses.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(super) grace: Option<Duration>,
}

/// The environment variable `serve --api-key` falls back on, unless the app names another.
pub(super) const API_KEY_ENV: &str = "CONNECTOR_RUNTIME_API_KEY";

/// `runs`: a filter, or `runs show ID`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(super) struct RunsArgs {
    #[command(subcommand)]
    pub(super) show: Option<RunsCommand>,
    /// Only runs of this job.
    #[arg(long, value_name = "JOB_ID")]
    pub(super) job: Option<String>,
    /// Only runs with these statuses (queued, running, waiting, succeeded, failed, cancelled),
    /// comma-separated.
    #[arg(long, value_name = "STATUS", value_delimiter = ',', value_parser = parse_status)]
    pub(super) status: Vec<RunStatus>,
    /// At most this many.
    #[arg(long, default_value_t = 20)]
    pub(super) limit: usize,
}

#[derive(Debug, Subcommand)]
pub(super) enum RunsCommand {
    /// Show one run: its trigger, payload, output or error, and a timeline of its steps.
    Show {
        /// The run's id, or the start of it.
        id: String,
    },
}

fn parse_status(text: &str) -> Result<RunStatus, String> {
    text.parse().map_err(|error: crate::model::UnknownStatus| error.to_string())
}

/// `250ms`, `10s`, `2m`, `1h`; a bare number is seconds.
pub(super) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| format!("`{text}` is not a duration: write 500ms, 10s, 2m or 1h"))?;
    let seconds = match unit.trim() {
        "ms" => number / 1_000.0,
        "" | "s" => number,
        "m" => number * 60.0,
        "h" => number * 3_600.0,
        other => return Err(format!("`{other}` is not a unit of time: use ms, s, m or h")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{text}` is not a duration"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1_500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("10 days").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn statuses_parse_in_any_case() {
        assert_eq!(parse_status("Failed"), Ok(RunStatus::Failed));
        assert!(parse_status("done").unwrap_err().contains("queued, running"));
    }
}
