// Members disabled with `#[cfg(..)]` are left out of everything generated for them; enabled
// ones work as any other.
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
    /// Gone: its constant, client method, impls and manifest entry with it.
    #[cfg(any())]
    #[action(id = "sendMessage", name = "Send Message")]
    async fn send_message(_ctx: &ActionContext<ChatConfig>, input: SendMessage) -> Result<SentMessage, ActionError> {
        Ok(SentMessage { id: input.text })
    }

    /// The same action under the other configuration: one of the two is compiled.
    #[cfg(not(any()))]
    #[action(id = "sendMessage", name = "Send Message")]
    async fn send_message(_ctx: &ActionContext<ChatConfig>, input: SendMessage) -> Result<SentMessage, ActionError> {
        Ok(SentMessage { id: format!("sent: {}", input.text) })
    }

    #[action(id = "echo", name = "Echo")]
    #[cfg(all())]
    async fn echo(_ctx: &ActionContext<ChatConfig>, input: SendMessage) -> Result<SentMessage, ActionError> {
        Ok(SentMessage { id: input.text })
    }

    #[cfg(any())]
    #[trigger(id = "message.received", name = "Message Received")]
    async fn message_received(
        _ctx: &TriggerContext<ChatConfig>,
        payload: SendMessage,
    ) -> Result<Option<SendMessage>, ActionError> {
        Ok(Some(payload))
    }

    #[cfg(any())]
    #[trigger(id = "messages.new", name = "New Messages", poll(every = "30s"))]
    async fn new_messages(
        _ctx: &TriggerContext<ChatConfig>,
        _cursor: Option<u64>,
    ) -> Result<Polled<SendMessage, u64>, ActionError> {
        Ok(Polled::nothing())
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
    let echoed = io.chat.echo("echo", SendMessage { channel: "general".into(), text: sent.id }).await?;
    Ok(echoed.id)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let ids: Vec<String> = Chat::actions().into_iter().map(|action| action.id).collect();
    assert_eq!(ids, ["sendMessage", "echo"]);
    assert!(Chat::triggers().is_empty());
    let chat = Chat::init(ChatConfig { token: "t".into() });
    let sent = chat.call(Chat::SEND_MESSAGE, SendMessage { channel: "c".into(), text: "hi".into() }).await.unwrap();
    assert_eq!(sent.id, "sent: hi");
    let engine = Engine::builder()
        .store(connector_runtime::store::MemoryStore::new())
        .connector(chat)
        .job(PostJob)
        .build()
        .unwrap();
    let runs = engine.send(ChatRequested { text: "hello".into() }).await.unwrap();
    assert_eq!(runs[0].output, Some(connector_runtime::serde_json::json!("sent: hello")));
}
