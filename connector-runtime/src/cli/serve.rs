//! `serve`: the server until Ctrl-C or SIGTERM, then a graceful stop; `worker`: the same for a
//! process that only executes runs from a shared store.
//!
//! On the first signal: stop accepting (requests in flight finish), stop the schedules and
//! polls, remove the webhooks this process registered, then give the runs executing here until
//! the grace period ends to finish or to reach a durable wait. Whatever still executes then is
//! left as a crash would leave it: recorded, resumed at the next start, its completed steps not
//! run again. A second signal stops at once.

use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde_json::json;
use tokio::time::Instant;

use super::exit::{CliError, Exit};
use super::output::{self, Format, Report};
use crate::engine::{Engine, StartOptions};
use crate::model::{RunId, RunStatus, Secret};
use crate::server::{self, ServerConfig};

/// How often shutdown looks at whether a run reached a durable wait.
const SETTLE_POLL: Duration = Duration::from_millis(50);

/// What `serve` was told, with the app's defaults filled in.
pub(super) struct Serve {
    pub(super) config: ServerConfig,
    pub(super) grace: Duration,
    pub(super) format: Format,
}

impl Serve {
    pub(super) fn new(mut config: ServerConfig, api_key: Option<String>, grace: Duration, format: Format) -> Self {
        // The key is never printed: without one, `/api` stays closed and the report says how
        // to open it.
        if let Some(key) = api_key {
            config.api_key = Some(Secret::new(key));
        }
        Serve { config, grace, format }
    }
}

pub(super) async fn serve(engine: Engine, serve: Serve) -> Result<Exit, CliError> {
    // Listening before the server starts: a signal during start-up is a graceful stop too.
    let mut signals = Signals::new()?;
    let bind = serve.config.bind;
    let running = server::start(engine.clone(), serve.config.clone())
        .await
        .map_err(|error| CliError::new(Exit::Unavailable, format!("cannot serve on {bind}: {error}")))?;
    let ready = ready(&serve, running.addr());
    match serve.format {
        // One line, so a script can wait for it line by line.
        Format::Json => output::stdout(&ready.json.to_string()),
        Format::Human => output::stdout(&ready.text),
    }

    let signal = signals.next().await;
    let deadline = Instant::now() + serve.grace;
    eprintln!(
        "{signal}: stopping; runs executing get {} to finish (a second signal stops at once)",
        output::duration(serve.grace)
    );
    let stop = async {
        if tokio::time::timeout_at(deadline, running.shutdown()).await.is_err() {
            tracing::warn!("the server did not stop within the grace period; webhooks may still be registered");
        }
        drain(&engine, deadline).await
    };
    tokio::select! {
        left = stop => match left {
            0 => eprintln!("stopped"),
            n => eprintln!("stopped; {n} run(s) still executing resume at the next start"),
        },
        signal = signals.next() => eprintln!("{signal}: stopping now; unfinished runs resume at the next start"),
    }
    Ok(Exit::Ok)
}

/// What `worker` was told.
pub(super) struct WorkerOptions {
    pub(super) concurrency: usize,
    pub(super) grace: Duration,
    pub(super) format: Format,
    /// The store, as messages name it.
    pub(super) place: String,
}

/// Claims and executes runs until a signal, then stops claiming and gives the runs executing
/// here the grace period; what is left is resumed by another worker once its lease lapses.
pub(super) async fn work(engine: Engine, options: WorkerOptions) -> Result<Exit, CliError> {
    let mut signals = Signals::new()?;
    let running = engine
        .start(StartOptions::default().without_triggers())
        .await
        .map_err(|error| CliError::new(Exit::Unavailable, format!("cannot start the worker: {error}")))?;
    let json = json!({ "worker": true, "concurrency": options.concurrency, "store": options.place });
    let text = format!(
        "working on {}: up to {} runs at once\nCtrl-C or SIGTERM stops gracefully",
        options.place, options.concurrency
    );
    match options.format {
        // One line, so a script can wait for it line by line.
        Format::Json => output::stdout(&json.to_string()),
        Format::Human => output::stdout(&text),
    }
    let signal = signals.next().await;
    let deadline = Instant::now() + options.grace;
    eprintln!(
        "{signal}: stopping; runs executing get {} to finish (a second signal stops at once)",
        output::duration(options.grace)
    );
    let stop = async {
        running.stop().await;
        drain(&engine, deadline).await
    };
    tokio::select! {
        left = stop => match left {
            0 => eprintln!("stopped"),
            n => eprintln!("stopped; {n} run(s) still executing are resumed by another worker once their leases lapse"),
        },
        signal = signals.next() => eprintln!("{signal}: stopping now; unfinished runs are resumed by another worker"),
    }
    Ok(Exit::Ok)
}

/// The "ready" report: where the server listens, how to reach it (never the API key itself).
fn ready(serve: &Serve, addr: SocketAddr) -> Report {
    let url = format!("http://{addr}");
    let public_url = serve.config.public_url.clone().unwrap_or_else(|| url.clone());
    let api_open = serve.config.api_key.is_some();
    let json =
        json!({ "url": url, "publicUrl": public_url, "graceMs": serve.grace.as_millis() as u64, "api": api_open });
    let mut text = format!("serving on {url} (webhooks at {public_url}/webhooks/{{connector}}/{{trigger}})\n");
    if api_open {
        text.push_str(&format!("  curl -s -H \"Authorization: Bearer $KEY\" {url}/api/runs\n"));
    } else {
        text.push_str("/api is closed: give it a key with --api-key or the app's API key variable\n");
    }
    text.push_str("Ctrl-C or SIGTERM stops gracefully");
    Report::new(json, text)
}

/// Waits, until `deadline`, for every run executing in this process to finish or to reach a
/// durable wait. Returns how many had not.
async fn drain(engine: &Engine, deadline: Instant) -> usize {
    // Only this process's: on a shared store, other processes' runs are theirs to wait for.
    let running = engine.executing_here();
    let mut settling: FuturesUnordered<_> = running.iter().map(|id| settle(engine, id)).collect();
    let mut left = settling.len();
    while left > 0 {
        match tokio::time::timeout_at(deadline, settling.next()).await {
            Ok(Some(())) => left -= 1,
            Ok(None) => break,
            Err(_) => break,
        }
    }
    left
}

/// Ends when this process's execution of the run ends (at once for a run executing elsewhere),
/// or when the run waits durably: a sleeping run is safe in the store.
async fn settle(engine: &Engine, id: &RunId) {
    let parked = async {
        loop {
            tokio::time::sleep(SETTLE_POLL).await;
            match engine.run(id).await {
                Ok(Some(run)) if run.status == RunStatus::Running => {}
                _ => return,
            }
        }
    };
    tokio::select! {
        _ = engine.wait(id) => {}
        () = parked => {}
    }
}

/// SIGINT (Ctrl-C) and SIGTERM.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Self, CliError> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind| {
                signal(kind)
                    .map_err(|error| CliError::new(Exit::Unavailable, format!("cannot listen for signals: {error}")))
            };
            Ok(Signals { interrupt: listen(SignalKind::interrupt())?, terminate: listen(SignalKind::terminate())? })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// The next signal's name.
    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => "SIGINT",
                _ = self.terminate.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}
