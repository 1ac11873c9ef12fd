// An action declared both read-only and destructive, and a trigger given an action's hint.
use connector_runtime::prelude::*;

#[derive(Deserialize, JsonSchema)]
struct ChatConfig {
    token: String,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct ChannelId {
    id: String,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Channel {
    name: String,
}

struct Chat;

#[connector(id = "chat", name = "Chat", version = "1.0.0", config = ChatConfig)]
impl Chat {
    #[action(id = "deleteChannel", name = "Delete Channel", read_only, destructive)]
    async fn delete_channel(_ctx: &ActionContext<ChatConfig>, input: ChannelId) -> Result<Channel, ActionError> {
        Ok(Channel { name: input.id })
    }

    #[trigger(id = "channel.created", name = "Channel Created", webhook(unsigned), idempotent)]
    async fn channel_created(_ctx: &TriggerContext<ChatConfig>, payload: Channel) -> Result<Option<Channel>, ActionError> {
        Ok(Some(payload))
    }
}

fn main() {}
