// A payload type sent with `engine.send` that was never bound to an event name.
use connector_runtime::prelude::*;

#[derive(Serialize, Deserialize, JsonSchema)]
struct Hello {
    text: String,
}

async fn greet(engine: &Engine) -> Result<(), Box<dyn std::error::Error>> {
    engine.send(Hello { text: "hi".into() }).await?;
    Ok(())
}

fn main() {
    let _ = greet;
}
