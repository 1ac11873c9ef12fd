//! `cargo run -p simple-chat`: the demo, the Simple Chat jobs end to end against a real Simple
//! Chat service on loopback. Every other command (`serve`, `runs`, `send`, `call`, `check`, ..;
//! `--help` lists them) is the runtime's command line; each starts its own chat service.

use std::process::ExitCode;
use std::time::Duration;

use connector_runtime::cli::{self, App, BoxError, Context, Exit, Setup};
use connector_runtime::server::{self, ServerConfig};
use connector_runtime::store::RunFilter;
use connector_runtime::{Engine, EngineBuilder, Run, RunStatus, Secret};
use simple_chat::jobs::{
    AcknowledgeMessageJob, GetChannelInfoEvent, GetChatChannelInfoJob, SendChatMessageJob, SendMessageEvent,
};
use simple_chat::service::{ChatService, ChatServiceHandle};
use simple_chat::{SimpleChat, SimpleChatConfig};

fn main() -> ExitCode {
    App::new("simple-chat")
        .about("The Simple Chat example: a typed connector, its jobs, and the chat service it talks to.")
        .version(env!("CARGO_PKG_VERSION"))
        .job(SendChatMessageJob)
        .job(GetChatChannelInfoJob)
        .job(AcknowledgeMessageJob)
        .setup(start_chat_service)
        .api_key_env("SIMPLE_CHAT_SERVER_API_KEY")
        .default_command(
            "demo",
            "Run the demo end to end: start the chat service, send both events, deliver a received \
             message, show every run's steps and result",
            demo,
        )
        .run_cli()
}

/// Starts the chat service on loopback and registers the connector, configured for it: the
/// service's own key unless SIMPLE_CHAT_API_KEY says otherwise, and a webhook secret
/// (SIMPLE_CHAT_WEBHOOK_SECRET, random when unset).
async fn start_chat_service(engine: EngineBuilder) -> Result<Setup, BoxError> {
    let service_key = format!("demo-{}", uuid::Uuid::new_v4());
    let service = ChatService::start(service_key.clone()).await?;
    let api_key = std::env::var("SIMPLE_CHAT_API_KEY").unwrap_or(service_key);
    let webhook_secret =
        std::env::var("SIMPLE_CHAT_WEBHOOK_SECRET").unwrap_or_else(|_| format!("whsec-{}", uuid::Uuid::new_v4()));
    let config = SimpleChatConfig::new(Secret::new(api_key))
        .base_url(service.base_url())
        .webhook_secret(Secret::new(webhook_secret));
    Ok(Setup::new(engine.connector(SimpleChat::init(config))).keep(service))
}

async fn demo(mut ctx: Context) -> Result<Exit, BoxError> {
    let engine = ctx.engine()?;
    let service = ctx.take::<ChatServiceHandle>().ok_or("the setup keeps the chat service")?;
    let json = ctx.json();
    let say = |text: &str| {
        if !json {
            println!("{text}");
        }
    };
    say(&format!("Simple Chat service on {}; runs are kept in {}", service.base_url(), ctx.store_location()));

    let mut runs = Vec::new();
    say("\n== event manual.send.message (the service fails the first two tries with 503)");
    service.fail_next(2, 503);
    runs.extend(engine.send(SendMessageEvent { channel: "general".into(), message: "Hello from Rust!".into() }).await?);
    say("\n== event manual.get.channel.info (dev-team, then an unknown channel)");
    runs.extend(engine.send(GetChannelInfoEvent { channel_id: "dev-team".into() }).await?);
    runs.extend(engine.send(GetChannelInfoEvent { channel_id: "random".into() }).await?);

    say("\n== trigger simple-chat/message.received: a member posts, the service calls our webhook");
    let local = ServerConfig { bind: std::net::SocketAddr::from(([127, 0, 0, 1], 0)), ..ServerConfig::default() };
    let server = server::start(engine.clone(), local).await?;
    say(&format!("webhook server listening on {} (the trigger registered its webhook with the service)", server.url()));
    let since = chrono::Utc::now();
    service.receive_message("general", "ada", "Is the build green?")?;
    runs.push(wait_for_job(&engine, "acknowledge-message", since).await?);
    server.shutdown().await?;

    for run in &runs {
        say(&format!("\n{}", cli::timeline(run).trim_end()));
    }
    let messages = service.posted_messages().len();
    say(&format!("\nThe chat service stored {messages} message(s)."));
    let failed = runs.iter().filter(|run| run.status != RunStatus::Succeeded).count();
    if json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "runs": runs, "messages": messages }))?);
    } else if failed > 0 {
        say(&format!("{failed} run(s) failed"));
    } else {
        say(&format!("All {} runs succeeded. List them with `cargo run -p simple-chat -- runs`.", runs.len()));
    }
    Ok(if failed > 0 { Exit::Failed } else { Exit::Ok })
}

/// Waits (up to 10 s) for a run of `job` created since `since` to finish (the store may hold
/// runs of earlier demos).
async fn wait_for_job(engine: &Engine, job: &str, since: chrono::DateTime<chrono::Utc>) -> Result<Run, BoxError> {
    let filter = RunFilter { job_id: Some(job.to_owned()), ..RunFilter::default() };
    for _ in 0..200 {
        let runs = engine.runs(&filter).await?;
        if let Some(run) = runs.iter().find(|run| run.created_at >= since && run.status.is_finished()) {
            return Ok(engine.wait(&run.id).await?);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("no run of `{job}` finished within 10 s").into())
}
