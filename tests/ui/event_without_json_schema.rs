// An event payload derives `Event` but not `JsonSchema`.
use connector_runtime::prelude::*;

#[derive(Serialize, Deserialize, Event)]
#[event(name = "chat.requested")]
struct ChatRequested {
    text: String,
}

fn main() {}
