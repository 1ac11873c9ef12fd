//! `tracing` events an action's or a task's own code emits are kept in its run's log, with the
//! step, once a subscriber has a `RunLogLayer`; events outside a step's attempts, outside any
//! run, or of the runtime itself are not.
#![cfg(feature = "log-layer")]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use connector_runtime::prelude::*;
use connector_runtime::{LogLevel, RunLogLayer, RunStatus};
use tracing_subscriber::layer::SubscriberExt;

#[derive(Deserialize, JsonSchema)]
struct TracedConfig {
    token: Secret,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Greet {
    name: String,
}

/// How many times `greet` was called: its first attempt fails.
static GREETS: AtomicU32 = AtomicU32::new(0);

/// A connector whose action reports through `tracing`, as library code does.
struct Traced;

#[connector(id = "traced", name = "Traced", version = "1.0.0", config = TracedConfig)]
impl Traced {
    /// Greets; fails its first attempt, and says so.
    #[action(id = "greet", name = "Greet")]
    async fn greet(ctx: &ActionContext<TracedConfig>, input: Greet) -> Result<String, ActionError> {
        let attempt = GREETS.fetch_add(1, Ordering::SeqCst) + 1;
        tracing::info!(attempt, name = %input.name, "greeting with token {}", ctx.config().token.expose());
        ctx.logger().info("a logger line, kept once");
        if attempt == 1 {
            tracing::warn!("the service is busy");
            return Err(ActionError::transient("busy"));
        }
        tracing::trace!("too fine to keep");
        Ok(format!("hello {}", input.name))
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "traced.wanted")]
struct TracedWanted {
    name: String,
}

#[job(id = "traced-job", name = "Traced job", version = "1.0.0", event = TracedWanted, integrations(traced = Traced))]
async fn traced_job(payload: TracedWanted, io: TracedJobIo<'_>) -> Result<String, JobError> {
    tracing::info!("between steps, not kept");
    let greeting = io.traced.greet("greet", Greet { name: payload.name }).await?;
    let picked: u32 = io
        .run_task("pick", || async {
            tracing::error!(n = 3, "picked");
            Ok::<_, ActionError>(3)
        })
        .await?;
    Ok(format!("{greeting} {picked}"))
}

const TOKEN: &str = "traced-token-0123456789abcdef";

#[tokio::test]
async fn an_actions_and_a_tasks_tracing_events_are_kept_with_their_run_and_step() {
    let subscriber = tracing_subscriber::registry().with(RunLogLayer::new());
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let fast = RetryPolicy::DEFAULT.with_delays(Duration::from_millis(1), Duration::from_millis(1));
    let engine = Engine::builder()
        .store(connector_runtime::store::MemoryStore::new())
        .connector(Traced::init(TracedConfig { token: Secret::new(TOKEN) }))
        .job(TracedJobJob)
        .retry_policy(fast)
        .build()
        .unwrap();

    tracing::info!("outside any run, not kept");
    let run = engine.send(TracedWanted { name: "ada".into() }).await.unwrap().remove(0);
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);

    let log = engine.logs(&run.id).await.unwrap();
    let lines: Vec<(&str, Option<&str>, LogLevel, &str)> = log
        .lines
        .iter()
        .map(|line| (line.source.as_str(), line.step.as_deref(), line.level, line.message.as_str()))
        .collect();
    let greeting = format!("greeting with token {} attempt=1 name=ada", connector_runtime::REDACTED);
    let greeting_again = greeting.replace("attempt=1", "attempt=2");
    let target = "run_log_events";
    assert_eq!(
        lines,
        [
            (target, Some("greet"), LogLevel::Info, greeting.as_str()),
            ("traced", Some("greet"), LogLevel::Info, "a logger line, kept once"),
            (target, Some("greet"), LogLevel::Warn, "the service is busy"),
            (target, Some("greet"), LogLevel::Info, greeting_again.as_str()),
            ("traced", Some("greet"), LogLevel::Info, "a logger line, kept once"),
            (target, Some("pick"), LogLevel::Error, "picked n=3"),
        ]
    );
    assert!(!format!("{log:?}").contains(TOKEN), "the token is masked");
}
