//! The app the scale-out test runs as one `serve` and several `worker` processes on one
//! PostgreSQL database: the runtime's command line over a three-step job that posts three chat
//! messages, named by the run's tag and the step.
//!
//! The chat service is the test's: `SCALE_CHAT_URL` and `SCALE_CHAT_KEY` say where it is.

use std::process::ExitCode;

use connector_runtime::cli::App;
use connector_runtime::prelude::*;
use simple_chat::SimpleChatConfig;
use simple_chat::connector::{SendMessage, SimpleChat};

/// Starts one three-step run.
#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "scale.test")]
pub struct ScaleTest {
    /// Names the run's messages.
    pub tag: String,
}

#[job(id = "three-messages", name = "Three messages", version = "1.0.0", event = ScaleTest,
      integrations(chat = SimpleChat))]
async fn three_messages(payload: ScaleTest, io: ThreeMessagesIo<'_>) -> Result<u32, JobError> {
    for step in 1..=3 {
        let message = format!("{}-{step}", payload.tag);
        io.chat.send_message(&format!("send-{step}"), SendMessage { channel: "general".into(), message }).await?;
    }
    Ok(3)
}

fn main() -> ExitCode {
    let url = std::env::var("SCALE_CHAT_URL").unwrap_or_else(|_| "http://127.0.0.1:9".to_owned());
    let key = std::env::var("SCALE_CHAT_KEY").unwrap_or_default();
    let config = SimpleChatConfig::new(Secret::new(key)).base_url(url);
    App::new("scale-app").connector(SimpleChat::init(config)).job(ThreeMessagesJob).run_cli()
}
