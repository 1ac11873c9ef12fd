// `trigger = ..` names a fn of a type that is not a connector.
use connector_runtime::prelude::*;

#[derive(Serialize, Deserialize, JsonSchema)]
struct Received {
    text: String,
}

struct Inbox;

impl Inbox {
    #[allow(dead_code)]
    async fn received(payload: Received) -> Option<Received> {
        Some(payload)
    }
}

#[job(id = "count", name = "Count", version = "1.0.0", trigger = Inbox::received)]
async fn count(payload: Received, _io: CountIo<'_>) -> Result<usize, JobError> {
    Ok(payload.text.len())
}

fn main() {
    let _engine = Engine::builder().job(CountJob).build();
}
