//! The process the primitives crash test kills: an engine on a SQLite file that resumes what it
//! finds unfinished and, given a log file, starts one run of the primitives job; then it waits to
//! be killed.
//!
//! `primitives-worker <db> [<log>]`

use std::process::ExitCode;

use connector_runtime::StartOptions;
use connector_tests::primitives::{Start, engine};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(db) = args.first() else {
        eprintln!("usage: primitives-worker <db> [<log>]");
        return ExitCode::from(2);
    };
    let engine = match engine(db.as_ref()) {
        Ok(engine) => engine,
        Err(error) => {
            eprintln!("primitives-worker: {error}");
            return ExitCode::FAILURE;
        }
    };
    let _running = match engine.start(StartOptions::default()).await {
        Ok(running) => running,
        Err(error) => {
            eprintln!("primitives-worker: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(log) = args.get(1)
        && let Err(error) = engine.dispatch(Start { log: log.clone() }).await
    {
        eprintln!("primitives-worker: {error}");
        return ExitCode::FAILURE;
    }
    std::future::pending::<()>().await;
    ExitCode::SUCCESS
}
