// An action's input type derives serde but not `JsonSchema`.
use connector_runtime::prelude::*;

#[derive(Deserialize, JsonSchema)]
struct ChatConfig {
    token: String,
}

#[derive(Serialize, Deserialize)]
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
    #[action(id = "sendMessage", name = "Send Message")]
    async fn send_message(_ctx: &ActionContext<ChatConfig>, input: SendMessage) -> Result<SentMessage, ActionError> {
        Ok(SentMessage { id: input.text })
    }
}

fn main() {}
