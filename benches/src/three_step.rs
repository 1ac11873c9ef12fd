//! The three-step job of benches (7) and (8): a loopback echo connector, and a job that posts
//! three short notes through it, one durable step each.

use connector_runtime::prelude::*;

/// What each step posts, and the service echoes.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Note {
    /// Which step posted it.
    pub step: u32,
    /// A short text, as a chat message would be.
    pub text: String,
}

/// A note for `step`.
pub fn note(step: u32) -> Note {
    Note { step, text: "a short note, as a chat message would be".to_owned() }
}

/// Where the echo service listens.
#[derive(Deserialize, JsonSchema)]
pub struct EchoConfig {
    /// The service's base URL.
    pub url: String,
}

/// The loopback echo service (`POST {url}/echo` answers with the note it got).
pub struct Echo;

#[connector(id = "echo", name = "Echo", version = "1.0.0", config = EchoConfig)]
impl Echo {
    /// Posts a note and returns what the service echoes.
    #[action(id = "echo", name = "Echo")]
    pub async fn echo(ctx: &ActionContext<EchoConfig>, input: Note) -> Result<Note, ActionError> {
        ctx.http().post(format!("{}/echo", ctx.config().url)).json(&input).send_json().await
    }
}

/// Starts one three-step run.
#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "bench.three")]
pub struct Three {}

/// Three steps, each an echo of a note.
#[job(id = "three", name = "Three steps", version = "1.0.0", event = Three, integrations(echo = Echo))]
pub async fn three(_payload: Three, io: ThreeIo<'_>) -> Result<u32, JobError> {
    let mut total = 0;
    for (step, key) in [(1, "one"), (2, "two"), (3, "three")] {
        total += io.echo.echo(key, note(step)).await?.step;
    }
    Ok(total)
}
