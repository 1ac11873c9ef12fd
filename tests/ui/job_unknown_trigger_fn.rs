// `trigger = Connector::..` names a fn the connector does not have.
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
    async fn message_received(_ctx: &TriggerContext<ChatConfig>, payload: SendMessage) -> Result<Option<SendMessage>, ActionError> {
        Ok(Some(payload))
    }
}

#[job(id = "count", name = "Count", version = "1.0.0", trigger = Chat::message_recieved)]
async fn count(payload: SendMessage, _io: CountIo<'_>) -> Result<usize, JobError> {
    Ok(payload.text.len())
}

fn main() {}
