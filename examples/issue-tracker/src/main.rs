//! `cargo run -p issue-tracker`: the demo, the issue-tracker connector against its loopback
//! service: OAuth2 tokens, a credential check, a job, a paginated list, and a polling trigger.
//! Every other command (`serve`, `runs`, `send`, `call`, `check`, ..; `--help` lists them) is the
//! runtime's command line. Each starts its own tracker service, empty, so runs are kept in
//! memory too: the OAuth2 tokens and the poll cursor kept with them would not fit the next
//! process's service. (`--db PATH` keeps them in SQLite anyway.)

use std::process::ExitCode;
use std::time::Duration;

use connector_runtime::cli::{self, App, BoxError, Context, Exit, Setup};
use connector_runtime::store::{MemoryStore, RunFilter};
use connector_runtime::{EngineBuilder, RunStatus, Secret};
use issue_tracker::jobs::{BugReported, FileBugJob, TriageNewIssueJob};
use issue_tracker::service::{TrackerOptions, TrackerService, TrackerServiceHandle};
use issue_tracker::{IssueTracker, TrackerConfig};

fn main() -> ExitCode {
    App::new("issue-tracker")
        .about("The issue-tracker example: OAuth2, pagination and a polling trigger against a loopback tracker.")
        .version(env!("CARGO_PKG_VERSION"))
        .job(FileBugJob)
        .job(TriageNewIssueJob)
        .store(MemoryStore::new())
        .setup(start_tracker)
        .default_command(
            "demo",
            "Run the demo end to end: check the credentials, file two bugs, let the polling trigger triage them",
            demo,
        )
        .run_cli()
}

/// Starts the tracker service (with its authorization server) on loopback and registers the
/// connector with client credentials for it.
async fn start_tracker(engine: EngineBuilder) -> Result<Setup, BoxError> {
    let secret = format!("client-secret-{}", uuid::Uuid::new_v4());
    let service = TrackerService::start_with(TrackerOptions::new("demo-client", secret.clone())).await?;
    let config = TrackerConfig {
        base_url: service.base_url(),
        token_url: service.token_url(),
        client_id: "demo-client".into(),
        client_secret: Secret::new(secret),
    };
    Ok(Setup::new(engine.connector(IssueTracker::init(config))).keep(service))
}

async fn demo(mut ctx: Context) -> Result<Exit, BoxError> {
    // In memory, always: the polling trigger's cursor must start from nothing, as the service does.
    let engine = ctx.engine_on(MemoryStore::new())?;
    let service = ctx.take::<TrackerServiceHandle>().ok_or("the setup keeps the tracker service")?;
    eprintln!("issue tracker listening on {}", service.base_url());

    engine.check("issue-tracker").await?;
    eprintln!("credentials accepted (one OAuth2 token so far: {})", service.token_grants());

    let triggers = engine.start_triggers();
    let mut runs = Vec::new();
    for (title, details) in [("Crash on start", "stack trace attached"), ("Typo in the footer", "teh -> the")] {
        runs.extend(engine.send(BugReported { title: title.into(), details: details.into() }).await?);
    }

    // The polling trigger finds both new issues within a poll or two, and starts one triage run each.
    let triage = RunFilter { job_id: Some("triage-new-issue".into()), ..RunFilter::default() };
    let mut triaged = Vec::new();
    for _ in 0..100 {
        triaged = engine.runs(&triage).await?;
        if triaged.len() == 2 && triaged.iter().all(|run| run.status.is_finished()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    triggers.stop().await;
    for run in &triaged {
        runs.push(engine.wait(&run.id).await?);
    }
    let (grants, requests) = (service.token_grants(), service.request_count());
    if ctx.json() {
        let report = serde_json::json!({ "runs": runs, "tokenGrants": grants, "requests": requests });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for run in &runs {
            println!("{}\n", cli::timeline(run).trim_end());
        }
        println!("{grants} OAuth2 token grant(s), {requests} API request(s)");
    }
    let ok = triaged.len() == 2 && runs.iter().all(|run| run.status == RunStatus::Succeeded);
    Ok(if ok { Exit::Ok } else { Exit::Failed })
}
