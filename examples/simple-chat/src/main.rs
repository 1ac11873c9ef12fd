//! `cargo run -p simple-chat`: the seed's scenario end to end against a real Simple Chat
//! service on loopback. `-- manifest` prints the manifest document instead.

use std::process::ExitCode;

use chrono::Utc;
use clap::{Parser, Subcommand};
use connector_runtime::{Run, RunStatus, Secret};
use simple_chat::connector::{MessageReceived, SimpleChat};
use simple_chat::jobs::{GetChannelInfoEvent, SendMessageEvent};
use simple_chat::service::ChatService;
use simple_chat::SimpleChatConfig;

/// The Simple Chat example: a typed connector, its jobs, and the chat service it talks to.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
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
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Demo) {
        Command::Demo => demo().await,
        Command::Manifest => print_manifest(),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

type AnyError = Box<dyn std::error::Error + Send + Sync>;

fn print_manifest() -> Result<ExitCode, AnyError> {
    println!("{}", serde_json::to_string_pretty(&simple_chat::manifest())?);
    Ok(ExitCode::SUCCESS)
}

async fn demo() -> Result<ExitCode, AnyError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();

    let api_key = format!("demo-{}", uuid::Uuid::new_v4());
    let service = ChatService::start(api_key.clone()).await?;
    println!("Simple Chat service listening on {}", service.base_url());

    let engine = simple_chat::engine(SimpleChatConfig {
        api_key: Secret::new(api_key),
        base_url: service.base_url(),
    })?;

    let mut runs = Vec::new();
    println!("\n== event manual.send.message");
    runs.extend(
        engine
            .send(SendMessageEvent { channel: "general".into(), message: "Hello from Rust!".into() })
            .await?,
    );
    println!("\n== event manual.get.channel.info (dev-team, then an unknown channel)");
    runs.extend(engine.send(GetChannelInfoEvent { channel_id: "dev-team".into() }).await?);
    runs.extend(engine.send(GetChannelInfoEvent { channel_id: "random".into() }).await?);

    println!("\n== trigger simple-chat/message.received");
    let received = MessageReceived {
        channel: "general".into(),
        sender: "ada".into(),
        text: "Is the build green?".into(),
        timestamp: Utc::now(),
    };
    let ids = engine.deliver(SimpleChat::MESSAGE_RECEIVED, received).await?;
    runs.extend(engine.wait_all(&ids).await?);

    println!();
    for run in &runs {
        print_run(run);
    }
    let posted = service.posted_messages();
    println!("\nThe chat service stored {} message(s).", posted.len());

    let failed = runs.iter().filter(|run| run.status != RunStatus::Succeeded).count();
    if failed > 0 {
        println!("{failed} run(s) failed");
        return Ok(ExitCode::FAILURE);
    }
    println!("All {} runs succeeded.", runs.len());
    Ok(ExitCode::SUCCESS)
}

fn print_run(run: &Run) {
    println!("run {} · job {} · {}", run.id, run.job_id, run.status);
    for step in &run.steps {
        println!(
            "  step {:<24} {:<8} attempts {}  output {}",
            step.key,
            format!("{:?}", step.status).to_lowercase(),
            step.attempts,
            step.output.as_ref().map(|o| o.to_string()).unwrap_or_else(|| "-".into()),
        );
        if let Some(error) = &step.error {
            println!("    error: {error}");
        }
    }
    match (&run.output, &run.error) {
        (Some(output), _) => println!("  result {output}"),
        (_, Some(error)) => println!("  error {error}"),
        _ => {}
    }
}
