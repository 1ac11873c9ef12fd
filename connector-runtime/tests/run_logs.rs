//! What a job and its actions log is kept with the run: `io.logger()` lines between steps,
//! `ctx.logger()` lines of an action under its step, in order, secrets masked, on a real SQLite
//! store, and read back through the engine and `GET /api/runs/{id}/logs`.

use connector_runtime::prelude::*;
use connector_runtime::server::ServerConfig;
use connector_runtime::{LogLevel, RunStatus};

#[derive(Deserialize, JsonSchema)]
struct ChattyConfig {
    token: Secret,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Greet {
    name: String,
}

/// A connector whose action talks about what it does.
struct Chatty;

#[connector(id = "chatty", name = "Chatty", version = "1.0.0", config = ChattyConfig)]
impl Chatty {
    /// Greets, and logs that it did (with its token, which must not show).
    #[action(id = "greet", name = "Greet")]
    async fn greet(ctx: &ActionContext<ChattyConfig>, input: Greet) -> Result<String, ActionError> {
        ctx.logger().info(format!("greeting {} with token {}", input.name, ctx.config().token.expose()));
        ctx.logger().warn("greetings are rate limited");
        Ok(format!("hello {}", input.name))
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "greet.wanted")]
struct GreetWanted {
    name: String,
}

#[job(id = "greeter", name = "Greeter", version = "1.0.0", event = GreetWanted, integrations(chatty = Chatty))]
async fn greeter(payload: GreetWanted, io: GreeterIo<'_>) -> Result<String, JobError> {
    io.logger().info(format!("about to greet {}", payload.name));
    let greeting = io.chatty.greet("greet", Greet { name: payload.name }).await?;
    io.logger().info("greeted");
    Ok(greeting)
}

const TOKEN: &str = "chatty-token-0123456789abcdef";

fn engine(dir: &std::path::Path) -> Engine {
    Engine::builder()
        .sqlite(dir.join("runs.sqlite3"))
        .connector(Chatty::init(ChattyConfig { token: Secret::new(TOKEN) }))
        .job(GreeterJob)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_runs_job_and_action_lines_are_kept_with_it_in_order_under_their_steps() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let run = engine.send(GreetWanted { name: "ada".into() }).await.unwrap().remove(0);
    assert_eq!(run.status, RunStatus::Succeeded);
    let log = engine.logs(&run.id).await.unwrap();
    let masked = format!("greeting ada with token {}", connector_runtime::REDACTED);
    let lines: Vec<(&str, Option<&str>, LogLevel, &str)> = log
        .lines
        .iter()
        .map(|line| (line.source.as_str(), line.step.as_deref(), line.level, line.message.as_str()))
        .collect();
    assert_eq!(
        lines,
        [
            ("greeter", None, LogLevel::Info, "about to greet ada"),
            ("chatty", Some("greet"), LogLevel::Info, masked.as_str()),
            ("chatty", Some("greet"), LogLevel::Warn, "greetings are rate limited"),
            ("greeter", None, LogLevel::Info, "greeted"),
        ]
    );
    assert_eq!(log.dropped, 0);
    let text = serde_json::to_string(&log).unwrap();
    assert!(!text.contains(TOKEN), "the token is masked in what is kept: {text}");

    // Kept in the store: another engine on the same file reads them.
    drop(engine);
    let again = self::engine(dir.path());
    assert_eq!(again.logs(&run.id).await.unwrap(), log);

    // And served by the API.
    let config = ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        api_key: Some(Secret::new("api-key")),
        ..ServerConfig::default()
    };
    let server = connector_runtime::server::start(again, config).await.unwrap();
    let url = format!("http://{}/api/runs/{}/logs", server.addr(), run.id);
    let client = reqwest::Client::new();
    let answer = client.get(&url).bearer_auth("api-key").send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let served: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(served, serde_json::to_value(&log).unwrap());
    assert_eq!(client.get(&url).send().await.unwrap().status(), 401, "not without the key");
    let unknown = format!("http://{}/api/runs/nope/logs", server.addr());
    assert_eq!(client.get(&unknown).bearer_auth("api-key").send().await.unwrap().status(), 404);
    server.shutdown().await.unwrap();
}
