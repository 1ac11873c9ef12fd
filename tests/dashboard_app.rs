//! The app the dashboard's browser tests serve: the runtime's command line with the Simple Chat
//! connector (its service started on loopback by the setup, as the demo does) and four jobs made
//! for the dashboard's scenarios: three logged chat messages, a second step that fails until a
//! marker file exists, a wait for a typed token, and a durable hour-long sleep.
//!
//! The API key is in `DASHBOARD_APP_API_KEY`.

use std::process::ExitCode;
use std::time::Duration;

use connector_runtime::EngineBuilder;
use connector_runtime::cli::{App, BoxError, Setup};
use connector_runtime::prelude::*;
use simple_chat::SimpleChatConfig;
use simple_chat::connector::{SendMessage, SimpleChat};
use simple_chat::service::ChatService;

/// Starts [`ThreeMessagesJob`].
#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "e2e.three")]
pub struct ThreeMessages {
    /// Names the run's messages.
    pub tag: String,
}

/// Three chat messages, one step each, each logged.
#[job(id = "three-messages", name = "Three messages", version = "1.0.0", event = ThreeMessages,
      integrations(chat = SimpleChat))]
async fn three_messages(payload: ThreeMessages, io: ThreeMessagesIo<'_>) -> Result<u32, JobError> {
    for step in 1..=3 {
        let message = format!("{} {step} of 3", payload.tag);
        let sent =
            io.chat.send_message(&format!("send-{step}"), SendMessage { channel: "general".into(), message }).await?;
        io.logger().info(format!("message {step} of 3 posted as {}", sent.message_id));
    }
    Ok(3)
}

/// Starts [`FlakyJob`].
#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "e2e.flaky")]
pub struct Flaky {
    /// The file whose existence lets the second step succeed.
    pub marker: String,
}

/// A first step that always succeeds, and a second that fails (not retried) until the marker
/// file exists: a run to retry from its failed step once the test has made the file.
#[job(id = "flaky", name = "Fails at its second step", version = "1.0.0", event = Flaky)]
async fn flaky(payload: Flaky, io: FlakyIo<'_>) -> Result<String, JobError> {
    let first: String = io.run_task("first", || async { Ok::<_, ActionError>("done once".to_owned()) }).await?;
    io.logger().info("the first step is done");
    let marker = payload.marker;
    let second: String = io
        .run_task("second", || {
            let marker = marker.clone();
            async move {
                if std::path::Path::new(&marker).exists() {
                    Ok("the marker is there".to_owned())
                } else {
                    Err(ActionError::permanent("the marker file is missing"))
                }
            }
        })
        .await?;
    Ok(format!("{first}; {second}"))
}

/// Starts [`ApprovalJob`].
#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "e2e.approval")]
pub struct ApprovalWanted {
    /// What is to be approved (shown, and logged, as given).
    pub title: String,
}

/// What completes the approval's token.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct Approval {
    /// Whether it is approved.
    pub approved: bool,
    /// Who decided.
    pub by: String,
}

/// Logs the title, then waits for an [`Approval`] token and returns it.
#[job(id = "approval", name = "Waits for an approval", version = "1.0.0", event = ApprovalWanted)]
async fn approval(payload: ApprovalWanted, io: ApprovalIo<'_>) -> Result<Approval, JobError> {
    io.logger().info(format!("approval asked for: {}", payload.title));
    Ok(io.wait_for_token("approval", Duration::from_secs(3600)).await?)
}

/// Starts [`NapJob`].
#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "e2e.nap")]
pub struct Nap {}

/// Sleeps durably for an hour: a waiting run to cancel.
#[job(id = "nap", name = "Sleeps for an hour", version = "1.0.0", event = Nap)]
async fn nap(_payload: Nap, io: NapIo<'_>) -> Result<(), JobError> {
    Ok(io.wait_for("nap", Duration::from_secs(3600)).await?)
}

/// The chat service on loopback, and the connector configured for it.
async fn setup(engine: EngineBuilder) -> Result<Setup, BoxError> {
    let key = "dashboard-app-chat-key";
    let service = ChatService::start(key).await?;
    // With a webhook secret, so the connector's trigger registers its webhook as it does in the
    // demo (nothing here starts from it).
    let config = SimpleChatConfig::new(Secret::new(key))
        .base_url(service.base_url())
        .webhook_secret(Secret::new("dashboard-app-webhook-secret"));
    Ok(Setup::new(engine.connector(SimpleChat::init(config))).keep(service))
}

fn main() -> ExitCode {
    App::new("dashboard-app")
        .job(ThreeMessagesJob)
        .job(FlakyJob)
        .job(ApprovalJob)
        .job(NapJob)
        .setup(setup)
        .api_key_env("DASHBOARD_APP_API_KEY")
        .run_cli()
}
