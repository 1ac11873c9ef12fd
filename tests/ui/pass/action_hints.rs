// Effect hints on actions: bare flags, `= false`, and every one in the action's manifest.
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
    #[action(id = "getChannel", name = "Get Channel", read_only, idempotent)]
    async fn get_channel(_ctx: &ActionContext<ChatConfig>, input: ChannelId) -> Result<Channel, ActionError> {
        Ok(Channel { name: input.id })
    }

    #[action(id = "deleteChannel", name = "Delete Channel", destructive, idempotent = true)]
    async fn delete_channel(_ctx: &ActionContext<ChatConfig>, input: ChannelId) -> Result<Channel, ActionError> {
        Ok(Channel { name: input.id })
    }

    #[action(id = "createChannel", name = "Create Channel", destructive = false)]
    async fn create_channel(_ctx: &ActionContext<ChatConfig>, input: ChannelId) -> Result<Channel, ActionError> {
        Ok(Channel { name: input.id })
    }

    #[action(id = "renameChannel", name = "Rename Channel")]
    async fn rename_channel(_ctx: &ActionContext<ChatConfig>, input: ChannelId) -> Result<Channel, ActionError> {
        Ok(Channel { name: input.id })
    }
}

fn main() {
    let actions = Chat::manifest().actions;
    let hints: Vec<_> = actions.iter().map(|action| (action.id.as_str(), action.read_only, action.destructive, action.idempotent)).collect();
    assert_eq!(
        hints,
        [
            ("getChannel", true, None, true),
            ("deleteChannel", false, Some(true), true),
            ("createChannel", false, Some(false), false),
            ("renameChannel", false, None, false),
        ]
    );
}
