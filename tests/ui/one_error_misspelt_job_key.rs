// A misspelt key in `#[job(..)]`, for a job whose body uses its `io` and which `main` registers:
// one error, on the key.
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

#[derive(Serialize, Deserialize, JsonSchema)]
struct MessageReceived {
    channel: String,
    text: String,
}

struct Chat;

#[connector(id = "chat", name = "Chat", version = "1.0.0", config = ChatConfig)]
impl Chat {
    #[action(id = "sendMessage", name = "Send Message")]
    async fn send_message(_ctx: &ActionContext<ChatConfig>, input: SendMessage) -> Result<SentMessage, ActionError> {
        Ok(SentMessage { id: input.text })
    }

    #[trigger(id = "message.received", name = "Message Received")]
    async fn message_received(
        _ctx: &TriggerContext<ChatConfig>,
        payload: MessageReceived,
    ) -> Result<Option<MessageReceived>, ActionError> {
        Ok(Some(payload))
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "chat.requested")]
struct ChatRequested {
    text: String,
}

#[job(id = "post", name = "Post", verison = "1.0.0", event = ChatRequested, integrations(chat = Chat))]
async fn post(payload: ChatRequested, io: PostIo<'_>) -> Result<String, JobError> {
    io.logger().info("posting");
    let sent = io.chat.send_message("send", SendMessage { channel: "general".into(), text: payload.text }).await?;
    Ok(sent.id)
}

#[job(id = "answer", name = "Answer", version = "1.0.0", trigger = Chat::message_received, integrations(chat = Chat))]
async fn answer(payload: MessageReceived, io: AnswerIo<'_>) -> Result<String, JobError> {
    let sent = io.chat.send_message("answer", SendMessage { channel: payload.channel, text: payload.text }).await?;
    Ok(sent.id)
}

fn main() {
    let chat = Chat::init(ChatConfig { token: "t".into() });
    let _ = Chat::SEND_MESSAGE;
    let _engine = Engine::builder().connector(chat).job(PostJob).job(AnswerJob).build();
}
