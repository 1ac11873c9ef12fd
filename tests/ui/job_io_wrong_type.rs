// A job's `io` parameter names another type than the one `#[job]` generates.
use connector_runtime::prelude::*;

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "chat.requested")]
struct ChatRequested {
    text: String,
}

#[job(id = "count", name = "Count", version = "1.0.0", event = ChatRequested)]
async fn count(payload: ChatRequested, _io: &connector_runtime::Io) -> Result<usize, JobError> {
    Ok(payload.text.len())
}

fn main() {}
