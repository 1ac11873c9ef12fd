// A job returns an error type that does not convert into `JobError`.
use connector_runtime::prelude::*;

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "chat.requested")]
struct ChatRequested {
    text: String,
}

struct NotAnError;

#[job(id = "count", name = "Count", version = "1.0.0", event = ChatRequested)]
async fn count(payload: ChatRequested, _io: CountIo<'_>) -> Result<usize, NotAnError> {
    Ok(payload.text.len())
}

fn main() {}
