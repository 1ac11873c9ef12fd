//! `cargo run -p issue-tracker`: the issue-tracker connector against its loopback service —
//! OAuth2 tokens, a credential check, a job, a paginated list, and a polling trigger.

use std::process::ExitCode;
use std::time::Duration;

use connector_runtime::store::MemoryStore;
use connector_runtime::{Engine, RunStatus, Secret};
use issue_tracker::jobs::{BugReported, FileBugJob, TriageNewIssueJob};
use issue_tracker::service::{TrackerOptions, TrackerService};
use issue_tracker::{IssueTracker, TrackerConfig};

type AnyError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> ExitCode {
    match demo().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn demo() -> Result<bool, AnyError> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let secret = format!("client-secret-{}", uuid::Uuid::new_v4());
    let service = TrackerService::start_with(TrackerOptions::new("demo-client", secret.clone())).await?;
    println!("issue tracker listening on {}", service.base_url());

    let config = TrackerConfig {
        base_url: service.base_url(),
        token_url: service.token_url(),
        client_id: "demo-client".into(),
        client_secret: Secret::new(secret),
    };
    let engine = Engine::builder()
        .store(MemoryStore::new())
        .connector(IssueTracker::init(config))
        .job(FileBugJob)
        .job(TriageNewIssueJob)
        .build()?;
    engine.check("issue-tracker").await?;
    println!("credentials accepted (one OAuth2 token so far: {})", service.token_grants());

    let triggers = engine.start_triggers();
    let mut ok = true;
    for (title, details) in [("Crash on start", "stack trace attached"), ("Typo in the footer", "teh -> the")] {
        let run = engine.send(BugReported { title: title.into(), details: details.into() }).await?.remove(0);
        println!("run {} · {} · {}", run.id, run.job_id, run.status);
        println!("  result {}", run.output.clone().unwrap_or_default());
        ok &= run.status == RunStatus::Succeeded;
    }

    // The polling trigger finds both new issues within a poll or two, and starts one triage run each.
    let mut triaged = Vec::new();
    for _ in 0..100 {
        triaged = engine
            .runs(&Default::default())
            .await?
            .into_iter()
            .filter(|run| run.job_id == "triage-new-issue")
            .collect();
        if triaged.len() == 2 && triaged.iter().all(|run| run.status.is_finished()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for run in &triaged {
        println!("run {} · {} · {} · {}", run.id, run.job_id, run.status, run.output.clone().unwrap_or_default());
    }
    ok &= triaged.len() == 2 && triaged.iter().all(|run| run.status == RunStatus::Succeeded);
    triggers.stop().await;
    println!("{} OAuth2 token grant(s), {} API request(s)", service.token_grants(), service.request_count());
    Ok(ok)
}
