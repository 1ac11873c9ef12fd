//! A secret inside an action's input reaches the service intact on every attempt and after a
//! resume, while the store and the run's record hold it only redacted.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use connector_runtime::prelude::*;
use connector_runtime::store::SqliteStore;
use serde_json::{Value, json};

#[derive(Deserialize, JsonSchema)]
struct VaultConfig {
    base_url: String,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Unlock {
    door: String,
    code: Secret,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Unlocked {
    door: String,
}

struct Vault;

#[connector(id = "vault", name = "Vault", version = "1.0.0", config = VaultConfig)]
impl Vault {
    /// Sends the code to the vault service.
    #[action(id = "unlock", name = "Unlock", retry(max_attempts = 2, min_delay = "1ms", max_delay = "1ms"))]
    async fn unlock(ctx: &ActionContext<VaultConfig>, input: Unlock) -> Result<Unlocked, ActionError> {
        let body = json!({ "door": input.door, "code": input.code.expose() });
        ctx.http().post(format!("{}/unlock", ctx.config().base_url)).json(&body).send().await?;
        Ok(Unlocked { door: input.door })
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "door.requested")]
struct DoorRequested {
    door: String,
}

const CODE: &str = "vault-code-0451-secret";

#[job(id = "open-door", name = "Open door", version = "1.0.0", event = DoorRequested, integrations(vault = Vault))]
async fn open_door(payload: DoorRequested, io: OpenDoorIo<'_>) -> Result<String, JobError> {
    // The code comes from this execution (config, an env var): never from the store.
    let input = Unlock { door: payload.door, code: Secret::new(CODE) };
    Ok(io.vault.unlock("unlock", input).await?.door)
}

/// Answers 503, then 400, then 200, recording every body it gets.
async fn vault_service() -> (String, Arc<Mutex<Vec<Value>>>) {
    let bodies: Arc<Mutex<Vec<Value>>> = Arc::default();
    let app = axum::Router::new()
        .route(
            "/unlock",
            post(|State(bodies): State<Arc<Mutex<Vec<Value>>>>, axum::Json(body): axum::Json<Value>| async move {
                let mut bodies = bodies.lock().unwrap();
                bodies.push(body);
                match bodies.len() {
                    1 => StatusCode::SERVICE_UNAVAILABLE,
                    2 => StatusCode::BAD_REQUEST,
                    _ => StatusCode::OK,
                }
            }),
        )
        .with_state(Arc::clone(&bodies));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, bodies)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_in_an_input_arrives_intact_on_every_attempt_and_after_a_resume() {
    let (url, bodies) = vault_service().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("runs.sqlite3");
    let engine = Engine::builder()
        .store(SqliteStore::open(&db).unwrap())
        .connector(Vault::init(VaultConfig { base_url: url }))
        .job(OpenDoorJob)
        .build()
        .unwrap();
    // 503 (retried), then 400: the run fails; resumed, the step is tried again and succeeds.
    let failed = engine.send(DoorRequested { door: "north".into() }).await.unwrap().remove(0);
    assert_eq!(failed.status, RunStatus::Failed, "{:?}", failed.error);
    engine.resume(&failed.id).await.unwrap();
    let run = engine.wait(&failed.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);

    let bodies = bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 3);
    for body in &bodies {
        assert_eq!(body["code"], CODE, "the service got the real code: {body}");
    }
    assert_eq!(run.steps[0].input["code"], "[redacted]", "the record holds it redacted");
    drop(engine);
    for file in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(file.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(CODE), "the code is in a store file");
    }
}
