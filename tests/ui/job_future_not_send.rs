// A job holds a value that is not `Send` across an `.await`, so its future cannot run on the engine.
use std::rc::Rc;

use connector_runtime::prelude::*;

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "chat.requested")]
struct ChatRequested {
    text: String,
}

async fn pause() {}

#[job(id = "count", name = "Count", version = "1.0.0", event = ChatRequested)]
async fn count(payload: ChatRequested, _io: CountIo<'_>) -> Result<usize, JobError> {
    let text = Rc::new(payload.text);
    pause().await;
    Ok(text.len())
}

fn main() {}
