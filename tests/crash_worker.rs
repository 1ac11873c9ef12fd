//! The process the crash test kills: an engine on a SQLite file that resumes every unfinished
//! run it finds (five chat steps each) and exits 0 when they have all finished.
//!
//! `crash-worker <db> <chat base url> <chat api key>`

use std::process::ExitCode;

use connector_runtime::RunStatus;
use connector_runtime::prelude::*;
use simple_chat::SimpleChatConfig;
use simple_chat::connector::{GetChannelInfo, SendMessage, SimpleChat};

/// Five steps, one message each except the fourth.
#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "crash.test")]
pub struct CrashTest {
    /// Names the run's messages.
    pub tag: String,
}

#[job(id = "five-steps", name = "Five steps", version = "1.0.0", event = CrashTest, integrations(chat = SimpleChat))]
async fn five_steps(payload: CrashTest, io: FiveStepsIo<'_>) -> Result<u32, JobError> {
    for step in 1..=3 {
        let message = format!("{}-{step}", payload.tag);
        io.chat.send_message(&format!("send-{step}"), SendMessage { channel: "general".into(), message }).await?;
    }
    let info = io.chat.get_channel_info("info", GetChannelInfo { channel_id: "general".into() }).await?;
    let message = format!("{}-5", payload.tag);
    io.chat.send_message("send-5", SendMessage { channel: "general".into(), message }).await?;
    Ok(info.member_count)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [db, base_url, api_key] = args.as_slice() else {
        eprintln!("usage: crash-worker <db> <chat base url> <chat api key>");
        return ExitCode::from(2);
    };
    let config = SimpleChatConfig::new(Secret::new(api_key.as_str())).base_url(base_url.as_str());
    let engine = match Engine::builder().sqlite(db).connector(SimpleChat::init(config)).job(FiveStepsJob).build() {
        Ok(engine) => engine,
        Err(error) => {
            eprintln!("crash-worker: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = async {
        let ids = engine.recover().await?;
        let runs = engine.wait_all(&ids).await?;
        Ok::<_, connector_runtime::EngineError>(runs.iter().all(|run| run.status == RunStatus::Succeeded))
    };
    match outcome.await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(3),
        Err(error) => {
            eprintln!("crash-worker: {error}");
            ExitCode::FAILURE
        }
    }
}
