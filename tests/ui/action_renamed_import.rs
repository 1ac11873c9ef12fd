// `#[action]` through a renamed import inside a `#[connector]` block: `#[connector]` does not
// see it, and the attribute's own error says what to write.
use connector_runtime::action as op;
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
    #[op(id = "sendMessage", name = "Send Message")]
    async fn send_message(_ctx: &ActionContext<ChatConfig>, input: SendMessage) -> Result<SentMessage, ActionError> {
        Ok(SentMessage { id: input.text })
    }
}

fn main() {}
