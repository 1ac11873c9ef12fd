//! Durable tool calls, at the engine and over `/mcp` with plain JSON-RPC: a repeated
//! idempotency key waits for the first call and calls the action once; a client retrying a
//! request with the same id in its session gets the recorded result; a failed action is a tool
//! error with its secrets masked.

#![cfg(feature = "mcp")]

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use connector_runtime::prelude::*;
use connector_runtime::server::{self, ServerConfig};
use connector_runtime::store::{MemoryStore, RunStore as _};
use connector_runtime::{TOOL_CALL_JOB, ToolCallError, ToolCallOptions, TriggerRef};
use serde_json::{Value, json};

/// Calls of `work`, by tag: each test uses tags of its own.
static CALLS: Mutex<Option<HashMap<String, usize>>> = Mutex::new(None);

fn calls(tag: &str) -> usize {
    CALLS.lock().unwrap().as_ref().and_then(|calls| calls.get(tag).copied()).unwrap_or(0)
}

#[derive(Deserialize, JsonSchema)]
struct WorkConfig {
    token: Secret,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Work {
    /// Counts the calls.
    tag: String,
    /// How long the call takes.
    millis: u64,
    /// Fail, with the token in the message.
    #[serde(default)]
    fail: bool,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Worked {
    tag: String,
    call: usize,
}

/// Works locally.
struct Worker;

#[connector(id = "worker", name = "Worker", version = "1.0.0", config = WorkConfig)]
impl Worker {
    /// Counts a call, takes its time, and fails if asked to.
    #[action(id = "work", name = "Work", retry(max_attempts = 1))]
    async fn work(ctx: &ActionContext<WorkConfig>, input: Work) -> Result<Worked, ActionError> {
        let call = {
            let mut calls = CALLS.lock().unwrap();
            let count = calls.get_or_insert_with(HashMap::new).entry(input.tag.clone()).or_default();
            *count += 1;
            *count
        };
        tokio::time::sleep(Duration::from_millis(input.millis)).await;
        if input.fail {
            return Err(ActionError::permanent(format!("refused token {}", ctx.config().token.expose())));
        }
        Ok(Worked { tag: input.tag, call })
    }
}

const TOKEN: &str = "tok-7b1e0c55d2";

/// Someone asked for approval.
#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "approval.asked")]
struct ApprovalAsked {
    what: String,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Approval {
    by: String,
}

#[job(id = "approve", name = "Approve", version = "1.0.0", event = ApprovalAsked)]
async fn approve(payload: ApprovalAsked, io: ApproveIo<'_>) -> Result<String, JobError> {
    let approval: Approval = io.wait_for_token("approval", Duration::from_secs(3_600)).await?;
    Ok(format!("{} approved by {}", payload.what, approval.by))
}

fn engine() -> Engine {
    Engine::builder()
        .store(MemoryStore::new())
        .connector(Worker::init(WorkConfig { token: Secret::new(TOKEN) }))
        .job(ApproveJob)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_job_started_as_a_tool_returns_its_run_when_it_does_not_finish_in_time() {
    let engine = engine();
    let payload = json!({ "what": "the budget" });
    let options = ToolCallOptions::default().idempotency_key("approve-1").caller("agent");
    let started =
        engine.run_durably("approve", payload.clone(), options.clone(), Duration::from_millis(200)).await.unwrap();
    assert_eq!(started.status, RunStatus::Waiting);
    assert_eq!(started.output, None);
    let run = engine.run(&started.run).await.unwrap().unwrap();
    assert_eq!(run.trigger, TriggerRef::ToolJob { job: "approve".into(), caller: Some("agent".into()) });

    // The same key is the same run, not a second one.
    let again =
        engine.run_durably("approve", payload.clone(), options.clone(), Duration::from_millis(10)).await.unwrap();
    assert_eq!((again.run.clone(), again.duplicate), (started.run.clone(), true));

    engine.complete_token(&started.run.step_id("approval"), json!({ "by": "ada" })).await.unwrap();
    let done = engine.run_durably("approve", payload, options, Duration::from_secs(5)).await.unwrap();
    assert_eq!(done.status, RunStatus::Succeeded);
    assert_eq!(done.output, Some(json!("the budget approved by ada")));
    assert_eq!(engine.runs(&Default::default()).await.unwrap().len(), 1);

    let invalid = engine.run_durably("approve", json!({}), ToolCallOptions::default(), Duration::from_secs(1)).await;
    assert!(matches!(invalid, Err(ToolCallError::InvalidInput(_))), "{invalid:?}");
}

#[tokio::test]
async fn a_repeated_key_waits_for_the_first_call_and_calls_once() {
    let engine = engine();
    let input = json!({ "tag": "concurrent", "millis": 200 });
    let options = ToolCallOptions::default().idempotency_key("k-1").caller("agent");
    let (first, second) = tokio::join!(
        engine.call_durably("worker", "work", input.clone(), options.clone()),
        engine.call_durably("worker", "work", input.clone(), options.clone()),
    );
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(first.run, second.run);
    assert_eq!(first.output, second.output);
    assert_eq!(first.output["call"], 1);
    assert!(first.duplicate != second.duplicate, "one of them is the repeat");
    assert_eq!(calls("concurrent"), 1);

    let run = engine.run(&first.run).await.unwrap().unwrap();
    assert_eq!(run.job_id, TOOL_CALL_JOB);
    assert_eq!(
        run.trigger,
        TriggerRef::Tool { connector: "worker".into(), action: "work".into(), caller: Some("agent".into()) }
    );
    assert_eq!(run.steps.len(), 1);
    assert_eq!(run.steps[0].key, "work");

    // Another key is another call; the same key with other input is refused.
    let other = engine.call_durably("worker", "work", input, ToolCallOptions::default().idempotency_key("k-2")).await;
    assert_eq!(other.unwrap().output["call"], 2);
    let changed = json!({ "tag": "concurrent", "millis": 1 });
    let refused = engine.call_durably("worker", "work", changed, options).await;
    assert!(matches!(refused, Err(ToolCallError::KeyReused { .. })), "{refused:?}");
    assert_eq!(calls("concurrent"), 2);

    // Input that does not fit records nothing.
    let before = engine.runs(&Default::default()).await.unwrap().len();
    let invalid = engine.call_durably("worker", "work", json!({ "tag": 1 }), ToolCallOptions::default()).await;
    match invalid {
        Err(ToolCallError::InvalidInput(error)) => assert_eq!(error.path, "tag"),
        other => panic!("an input error: {other:?}"),
    }
    assert_eq!(engine.runs(&Default::default()).await.unwrap().len(), before);
}

#[tokio::test]
async fn a_repeated_key_resumes_a_call_its_first_process_left_unfinished() {
    // What a process that died mid-call leaves: the delivery and its run, `running`, no step.
    let store = MemoryStore::new();
    let run = connector_runtime::Run {
        id: connector_runtime::RunId::new(),
        job_id: TOOL_CALL_JOB.into(),
        job_version: "1".into(),
        trigger: TriggerRef::Tool { connector: "worker".into(), action: "work".into(), caller: None },
        payload: json!({ "connector": "worker", "action": "work", "input": { "tag": "stranded", "millis": 0 } }),
        status: RunStatus::Running,
        output: None,
        error: None,
        created_at: chrono::Utc::now(),
        updated_at: chrono::Utc::now(),
        wake_at: None,
        executions: 1,
        steps: Vec::new(),
    };
    let delivery = connector_runtime::store::Delivery {
        source: "tool:worker/work".into(),
        id: "k-stranded".into(),
        received_at: chrono::Utc::now(),
    };
    store.accept_delivery(&delivery, std::slice::from_ref(&run)).await.unwrap();
    let engine = Engine::builder()
        .store(store)
        .connector(Worker::init(WorkConfig { token: Secret::new(TOKEN) }))
        .build()
        .unwrap();
    let input = json!({ "tag": "stranded", "millis": 0 });
    let retried = tokio::time::timeout(
        Duration::from_secs(5),
        engine.call_durably("worker", "work", input, ToolCallOptions::default().idempotency_key("k-stranded")),
    )
    .await
    .expect("the repeat does not wait for a run nobody executes")
    .unwrap();
    assert_eq!((retried.run, retried.duplicate), (run.id, true));
    assert_eq!(retried.output["call"], 1);
    assert_eq!(calls("stranded"), 1);
}

/// A JSON-RPC session on `/mcp`, as a client without an SDK would hold one.
struct Session {
    http: reqwest::Client,
    url: String,
    id: String,
}

impl Session {
    async fn open(url: &str) -> Session {
        let http = reqwest::Client::new();
        let initialize = json!({ "jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": { "name": "raw-client", "version": "1" } } });
        let response = request(&http, url, None).json(&initialize).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let id = response.headers().get("mcp-session-id").expect("a session").to_str().unwrap().to_owned();
        let session = Session { http, url: url.to_owned(), id };
        let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
        let response = request(&session.http, url, Some(&session.id)).json(&initialized).send().await.unwrap();
        assert_eq!(response.status(), 202);
        session
    }

    /// `tools/call` with JSON-RPC id `id`; returns the result.
    async fn call(&self, id: u64, arguments: Value) -> Value {
        let call = json!({ "jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": { "name": "worker__work", "arguments": arguments } });
        let response = request(&self.http, &self.url, Some(&self.id)).json(&call).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let body = response.text().await.unwrap();
        // An SSE stream: the answer is the `data:` line with this id.
        let answer = body
            .lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
            .find(|message| message["id"] == id)
            .unwrap_or_else(|| panic!("no answer to request {id} in {body}"));
        answer["result"].clone()
    }
}

fn request(http: &reqwest::Client, url: &str, session: Option<&str>) -> reqwest::RequestBuilder {
    let mut request = http
        .post(format!("{url}/mcp"))
        .bearer_auth("key-for-mcp")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18");
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    request
}

#[tokio::test]
async fn over_http_a_retried_request_id_is_answered_from_its_run_and_failures_mask_secrets() {
    let engine = engine();
    let config = ServerConfig {
        bind: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        api_key: Some(Secret::new("key-for-mcp")),
        ..ServerConfig::default()
    };
    let running = server::start(engine.clone(), config).await.unwrap();
    let session = Session::open(&running.url()).await;

    let args = json!({ "tag": "http-retry", "millis": 0 });
    let first = session.call(7, args.clone()).await;
    let retried = session.call(7, args.clone()).await;
    assert_eq!(first["isError"], false, "{first}");
    assert_eq!(first["structuredContent"], json!({ "tag": "http-retry", "call": 1 }));
    assert_eq!(retried["structuredContent"], first["structuredContent"]);
    assert_eq!(retried["_meta"]["runId"], first["_meta"]["runId"]);
    assert_eq!(retried["_meta"]["duplicate"], true);
    assert_eq!(calls("http-retry"), 1);
    // A new request id is a new call; the same id in another session is too.
    assert_eq!(session.call(8, args.clone()).await["structuredContent"]["call"], 2);
    let other = Session::open(&running.url()).await;
    assert_eq!(other.call(7, args).await["structuredContent"]["call"], 3);

    let failed = session.call(9, json!({ "tag": "http-fail", "millis": 0, "fail": true })).await;
    assert_eq!(failed["isError"], true, "{failed}");
    let text = failed["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("refused token"), "{text}");
    assert!(!failed.to_string().contains(TOKEN), "the token is masked: {failed}");
    let run = engine.run(&failed["_meta"]["runId"].as_str().unwrap().into()).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Failed);
    assert!(!run.error.unwrap_or_default().contains(TOKEN));

    running.shutdown().await.unwrap();
}
