// `retry(min_delay = .., max_delay = ..)` with the minimum over the maximum.
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
    #[action(id = "sendMessage", name = "Send Message", retry(min_delay = "10s", max_delay = "1s"))]
    async fn send_message(_ctx: &ActionContext<ChatConfig>, input: SendMessage) -> Result<SentMessage, ActionError> {
        Ok(SentMessage { id: input.text })
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "chat.requested")]
struct ChatRequested {
    text: String,
}

#[job(id = "post", name = "Post", version = "1.0.0", event = ChatRequested, integrations(chat = Chat))]
async fn post(payload: ChatRequested, io: PostIo<'_>) -> Result<String, JobError> {
    let sent = io.chat.send_message("send", SendMessage { channel: "general".into(), text: payload.text }).await?;
    Ok(sent.id)
}

fn main() {
    let _engine = Engine::builder().connector(Chat::init(ChatConfig { token: "t".into() })).job(PostJob).build();
}
