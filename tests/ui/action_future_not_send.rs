// An action holds a value that is not `Send` across an `.await`, so its future cannot run on the engine.
use std::rc::Rc;

use connector_runtime::prelude::*;

#[derive(Deserialize, JsonSchema)]
struct ChatConfig {
    token: String,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct SendMessage {
    channel: String,
    text: String,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct SentMessage {
    id: String,
}

async fn pause() {}

struct Chat;

#[connector(id = "chat", name = "Chat", version = "1.0.0", config = ChatConfig)]
impl Chat {
    #[action(id = "sendMessage", name = "Send Message")]
    async fn send_message(_ctx: &ActionContext<ChatConfig>, input: SendMessage) -> Result<SentMessage, ActionError> {
        let text = Rc::new(input.text);
        pause().await;
        Ok(SentMessage { id: text.to_string() })
    }
}

fn main() {}
