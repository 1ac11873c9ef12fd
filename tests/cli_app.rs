//! The app the CLI tests run: the runtime's command line over a job that works on a slow step,
//! waits durably, then takes one more step (the one the shutdown test stops mid-run), and a job
//! that waits for a token (the one `cancel` and `complete` work on).
//!
//! Every call of the `work` action appends `start {name}` and `end {name}` lines to the file
//! `CLI_APP_CALLS` names, so the test sees which steps ran, and how often.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use connector_runtime::cli::App;
use connector_runtime::prelude::*;

#[derive(Deserialize, JsonSchema)]
struct SlowConfig {
    /// The file calls are written to.
    calls: String,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Work {
    name: String,
    millis: u64,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Done {
    name: String,
}

/// A connector whose one action takes its time, locally.
struct Slow;

#[connector(id = "slow", name = "Slow", version = "1.0.0", config = SlowConfig)]
impl Slow {
    /// Works for `millis` milliseconds.
    #[action(id = "work", name = "Work")]
    async fn work(ctx: &ActionContext<SlowConfig>, input: Work) -> Result<Done, ActionError> {
        record(&ctx.config().calls, &format!("start {}", input.name));
        tokio::time::sleep(Duration::from_millis(input.millis)).await;
        record(&ctx.config().calls, &format!("end {}", input.name));
        Ok(Done { name: input.name })
    }
}

fn record(path: &str, line: &str) {
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("the calls file opens");
    writeln!(file, "{line}").expect("the calls file is writable");
}

/// Someone asked for slow work.
#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "slow.requested")]
#[serde(rename_all = "camelCase")]
struct SlowRequested {
    /// How long the first step takes.
    step_ms: u64,
    /// How long the durable wait after it lasts.
    pause_ms: u64,
}

#[job(id = "slow-job", name = "Slow job", version = "1.0.0", event = SlowRequested, integrations(slow = Slow))]
async fn slow_job(payload: SlowRequested, io: SlowJobIo<'_>) -> Result<String, JobError> {
    io.slow.work("before", Work { name: "before".into(), millis: payload.step_ms }).await?;
    io.wait_for("pause", Duration::from_millis(payload.pause_ms)).await?;
    let done = io.slow.work("after", Work { name: "after".into(), millis: 0 }).await?;
    Ok(done.name)
}

/// Someone asked for an approval.
#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "approval.requested")]
struct ApprovalRequested {
    /// What is to be approved.
    what: String,
}

/// What completes the token.
#[derive(Deserialize, JsonSchema)]
struct Approval {
    by: String,
}

#[job(id = "approval-job", name = "Approval job", version = "1.0.0", event = ApprovalRequested)]
async fn approval_job(payload: ApprovalRequested, io: ApprovalJobIo<'_>) -> Result<String, JobError> {
    let approval: Approval = io.wait_for_token("approval", Duration::from_secs(3_600)).await?;
    Ok(format!("{} approved by {}", payload.what, approval.by))
}

fn main() -> ExitCode {
    App::new("cli-app")
        .job(SlowJobJob)
        .job(ApprovalJobJob)
        .setup(|engine| async move {
            let calls = std::env::var("CLI_APP_CALLS")?;
            Ok(engine.connector(Slow::init(SlowConfig { calls })).into())
        })
        .run_cli()
}
