// A `#[job]` fn is not `async`.
use connector_runtime::prelude::*;

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "chat.requested")]
struct ChatRequested {
    text: String,
}

#[job(id = "count", name = "Count", version = "1.0.0", event = ChatRequested)]
fn count(payload: ChatRequested, _io: CountIo<'_>) -> Result<usize, JobError> {
    Ok(payload.text.len())
}

fn main() {}
