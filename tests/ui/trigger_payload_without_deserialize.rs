// A trigger's payload type has no `Deserialize`: one error, on the type, though the type is
// also what the trigger hands its jobs.
use connector_runtime::prelude::*;

#[derive(Deserialize, JsonSchema)]
struct ChatConfig {
    token: String,
}

#[derive(Serialize, JsonSchema)]
struct MessageReceived {
    channel: String,
    text: String,
}

struct Chat;

#[connector(id = "chat", name = "Chat", version = "1.0.0", config = ChatConfig)]
impl Chat {
    #[trigger(id = "message.received", name = "Message Received")]
    async fn message_received(
        _ctx: &TriggerContext<ChatConfig>,
        payload: MessageReceived,
    ) -> Result<Option<MessageReceived>, ActionError> {
        Ok(Some(payload))
    }
}

#[job(id = "count", name = "Count", version = "1.0.0", trigger = Chat::message_received)]
async fn count(payload: MessageReceived, _io: CountIo<'_>) -> Result<usize, JobError> {
    Ok(payload.text.len())
}

fn main() {
    let _engine = Engine::builder().connector(Chat::init(ChatConfig { token: "t".into() })).job(CountJob).build();
}
