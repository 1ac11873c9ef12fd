// A `#[trigger]` fn is not `async`.
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
    fn message_received(_ctx: &TriggerContext<ChatConfig>, payload: SendMessage) -> Result<Option<SendMessage>, ActionError> {
        Ok(Some(payload))
    }
}

fn main() {}
