// A `#[trigger]` fn returns `Result<T, E>` instead of `Result<Option<T>, E>`.
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

struct Chat;

#[connector(id = "chat", name = "Chat", version = "1.0.0", config = ChatConfig)]
impl Chat {
    #[trigger(id = "message.received", name = "Message Received")]
    async fn message_received(_ctx: &TriggerContext<ChatConfig>, payload: SendMessage) -> Result<SendMessage, ActionError> {
        Ok(payload)
    }
}

fn main() {}
