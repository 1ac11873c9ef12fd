//! The MCP server with rmcp's own client, against the Simple Chat service on loopback: over
//! stdio (the `mcp` command of an app's CLI, as a desktop agent starts it) and over streamable
//! HTTP (`/mcp` of the server, behind its API key). Tools and their schemas are the manifest's;
//! calls reach the service; bad arguments and failures are tool errors; a call retried with the
//! same idempotency key is answered from its run without calling the service again.

use std::time::Duration;

use connector_runtime::model::ActionManifest;
use connector_runtime::server::{self, ServerConfig};
use connector_runtime::store::{MemoryStore, RunFilter, RunStore, SqliteStore};
use connector_runtime::{Engine, RunId, RunStatus, Secret, TOOL_CALL_JOB, TriggerRef};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation, MetaObject,
    RequestMetaObject, Tool,
};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ServiceExt as _, transport::streamable_http_client::StreamableHttpClientTransportConfig};
use serde_json::{Value, json};
use simple_chat::SimpleChatConfig;
use simple_chat::service::{ChatService, ChatServiceHandle};

const CLIENT: &str = "mcp-test-agent";
const SEND: &str = "simple-chat__sendMessage";
const INFO: &str = "simple-chat__getChannelInfo";

type Client = RunningService<RoleClient, ClientConfig>;

fn client_info() -> ClientConfig {
    ClientConfig::new(ClientCapabilities::default(), Implementation::new(CLIENT, "0.1.0"))
}

fn action(id: &str) -> ActionManifest {
    let manifest = simple_chat::manifest();
    manifest.connectors[0]
        .actions
        .iter()
        .find(|action| action.id == id)
        .cloned()
        .expect("the action is in the manifest")
}

fn arguments(value: Value) -> serde_json::Map<String, Value> {
    match value {
        Value::Object(object) => object,
        _ => panic!("arguments are an object"),
    }
}

fn call(name: &'static str, args: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(name).with_arguments(arguments(args))
}

/// `call` with an idempotency key in the request's `_meta`.
fn keyed(name: &'static str, args: Value, key: &str) -> CallToolRequestParams {
    let mut meta = RequestMetaObject::default();
    meta.insert("idempotencyKey".into(), json!(key));
    let mut params = call(name, args);
    params.meta = Some(meta);
    params
}

fn text(result: &CallToolResult) -> String {
    result.content.iter().filter_map(|block| block.as_text().map(|text| text.text.clone())).collect()
}

fn run_id(result: &CallToolResult) -> RunId {
    let meta: &MetaObject = result.meta.as_ref().expect("the result names its run");
    RunId::from(meta.get("runId").and_then(Value::as_str).expect("runId is a string"))
}

/// The tools are the manifest's actions: names by the rule, descriptions from the doc
/// comments, schemas equal to the manifest's, hints as declared.
fn check_tools(tools: &[Tool]) {
    let tools: Vec<Tool> = tools.iter().filter(|tool| !tool.name.starts_with("job__")).cloned().collect();
    let names: Vec<&str> = tools.iter().map(|tool| tool.name.as_ref()).collect();
    assert_eq!(names, [INFO, SEND]);
    for (tool, id) in tools.iter().zip(["getChannelInfo", "sendMessage"]) {
        let manifest = action(id);
        assert_eq!(Value::Object((*tool.input_schema).clone()), manifest.input, "{id}'s input schema");
        let output = tool.output_schema.as_ref().map(|schema| Value::Object((**schema).clone()));
        assert_eq!(output, Some(manifest.output), "{id}'s output schema");
        assert_eq!(tool.description.as_deref(), manifest.description.as_deref());
        assert_eq!(tool.title.as_deref(), Some(manifest.name.as_str()));
    }
    let info = tools[0].annotations.as_ref().expect("getChannelInfo declares hints");
    assert_eq!((info.read_only_hint, info.idempotent_hint, info.destructive_hint), (Some(true), Some(true), None));
    let send = tools[1].annotations.as_ref().expect("sendMessage declares a hint");
    assert_eq!((send.read_only_hint, send.idempotent_hint, send.destructive_hint), (None, None, Some(false)));
}

/// Calls both actions and a bad one; returns the run of the message sent.
async fn check_calls(client: &Client, service: &ChatServiceHandle) -> RunId {
    let info = client.call_tool(call(INFO, json!({ "channelId": "general" }))).await.expect("tools/call answers");
    assert_eq!(info.is_error, Some(false), "{}", text(&info));
    let channel = info.structured_content.clone().expect("structured content");
    assert_eq!(channel["name"], "General Chat");
    assert_eq!(channel["memberCount"], 123);
    assert_eq!(serde_json::from_str::<Value>(&text(&info)).unwrap(), channel, "the text is the same JSON");

    let sent = client
        .call_tool(call(SEND, json!({ "channel": "general", "message": "Hello from an agent" })))
        .await
        .expect("tools/call answers");
    assert_eq!(sent.is_error, Some(false), "{}", text(&sent));
    let message = sent.structured_content.clone().expect("structured content");
    let posted = service.posted_messages();
    assert_eq!(posted.len(), 1);
    assert_eq!(message["messageId"], posted[0].message_id.as_str());
    assert_eq!(posted[0].text, "Hello from an agent");

    // A missing field and a wrong type: tool errors naming the field, nothing sent.
    let missing = client
        .call_tool(call(SEND, json!({ "channel": "general" })))
        .await
        .expect("a tool error, not a protocol error");
    assert_eq!(missing.is_error, Some(true));
    assert_eq!(text(&missing), "invalid arguments: missing field `message`");
    let wrong =
        client.call_tool(call(INFO, json!({ "channelId": 7 }))).await.expect("a tool error, not a protocol error");
    assert_eq!(wrong.is_error, Some(true));
    assert!(text(&wrong).starts_with("invalid arguments at `channelId`: invalid type"), "{}", text(&wrong));
    assert_eq!(service.posted_messages().len(), 1);
    run_id(&sent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_tools_call_the_service_and_are_recorded_as_runs() {
    let key = format!("chat-key-{}", fastrand::u64(..));
    let service = ChatService::start(key.clone()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("runs.sqlite3");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-app"));
    command
        .args(["--db", db.to_str().unwrap(), "mcp"])
        .env("MCP_APP_CHAT_URL", service.base_url())
        .env("MCP_APP_CHAT_KEY", &key)
        .env("RUST_LOG", "warn");
    let transport = TokioChildProcess::new(command).expect("mcp-app starts");
    let client = tokio::time::timeout(Duration::from_secs(20), client_info().serve(transport))
        .await
        .expect("initialize within 20 s")
        .expect("initialize succeeds");
    let server = client.peer_info().expect("the server introduced itself");
    assert_eq!(server.server_info.as_ref().map(|info| info.name.as_str()), Some("connector-runtime"));
    assert!(server.capabilities.tools.is_some());

    check_tools(&client.list_all_tools().await.unwrap());
    let sent = check_calls(&client, &service).await;
    client.cancel().await.unwrap();

    // Each call is a run of one step, with the client's name; the invalid ones recorded nothing.
    let store = SqliteStore::open(&db).unwrap();
    let runs = store.list_runs(&RunFilter::default()).await.unwrap();
    assert_eq!(runs.len(), 2, "two calls went through: {runs:#?}");
    for run in &runs {
        assert_eq!(run.job_id, TOOL_CALL_JOB);
        assert_eq!(run.status, RunStatus::Succeeded);
        let TriggerRef::Tool { connector, caller, .. } = &run.trigger else {
            panic!("a tool trigger: {:?}", run.trigger)
        };
        assert_eq!((connector.as_str(), caller.as_deref()), ("simple-chat", Some(CLIENT)));
    }
    let run = store.run(&sent).await.unwrap().expect("the sent message's run");
    assert_eq!(run.steps.len(), 1);
    assert_eq!(run.steps[0].key, "sendMessage");
    // The step's idempotency key went to the service with the one request it made.
    assert_eq!(service.requests_with_idempotency_key(&sent.step_id("sendMessage")), 1);
}

/// An engine on the chat service, served with an API key.
async fn http_server(service: &ChatServiceHandle, key: &str) -> (Engine, server::RunningServer) {
    let config = SimpleChatConfig::new(Secret::new(key.to_owned())).base_url(service.base_url());
    let engine = simple_chat::engine(config).store(MemoryStore::new()).build().unwrap();
    let config = ServerConfig {
        bind: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        api_key: Some(Secret::new("mcp-api-key")),
        ..ServerConfig::default()
    };
    let running = server::start(engine.clone(), config).await.unwrap();
    (engine, running)
}

async fn http_client(url: &str, api_key: &str) -> Client {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("{url}/mcp")).auth_header(api_key),
    );
    client_info().serve(transport).await.expect("initialize over HTTP succeeds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_tools_need_the_api_key_and_a_repeated_key_calls_once() {
    let chat_key = format!("chat-key-{}", fastrand::u64(..));
    let service = ChatService::start(chat_key.clone()).await.unwrap();
    let (engine, running) = http_server(&service, &chat_key).await;
    let url = running.url();

    // Without the key, or with another: 401, before any MCP.
    let http = reqwest::Client::new();
    let initialize = json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": { "name": "x", "version": "1" } } });
    for auth in [None, Some("Bearer wrong-key")] {
        let mut request =
            http.post(format!("{url}/mcp")).header("accept", "application/json, text/event-stream").json(&initialize);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        assert_eq!(request.send().await.unwrap().status(), 401, "auth {auth:?}");
    }

    let client = http_client(&url, "mcp-api-key").await;
    let tools = client.list_all_tools().await.unwrap();
    check_tools(&tools);
    check_calls(&client, &service).await;

    // Each job is a tool too: its payload's schema as input, the run as the result.
    let jobs: Vec<&Tool> = tools.iter().filter(|tool| tool.name.starts_with("job__")).collect();
    let names: Vec<&str> = jobs.iter().map(|tool| tool.name.as_ref()).collect();
    assert_eq!(names, ["job__acknowledge-message", "job__get-chat-channel-info", "job__send-chat-message"]);
    let manifest = simple_chat::manifest();
    let send_job = manifest.jobs.iter().find(|job| job.id == "send-chat-message").unwrap();
    assert_eq!(Value::Object((*jobs[2].input_schema).clone()), send_job.payload);
    let ran = client
        .call_tool(call("job__send-chat-message", json!({ "channel": "general", "message": "from a job" })))
        .await
        .unwrap();
    assert_eq!(ran.is_error, Some(false), "{}", text(&ran));
    let document = ran.structured_content.clone().unwrap();
    assert_eq!(document["status"], "succeeded");
    assert_eq!(document["output"]["status"], "message_processed");
    let job_run = engine.run(&run_id(&ran)).await.unwrap().unwrap();
    assert_eq!(job_run.job_id, "send-chat-message");
    assert_eq!(job_run.trigger, TriggerRef::ToolJob { job: "send-chat-message".into(), caller: Some(CLIENT.into()) });
    let bad = client.call_tool(call("job__send-chat-message", json!({ "channel": "general" }))).await.unwrap();
    assert_eq!(bad.is_error, Some(true));
    assert_eq!(text(&bad), "invalid arguments: missing field `message`");
    assert_eq!(service.posted_messages().len(), 2);

    // The agent retries a call with the same key: one message, one request to the service,
    // the same answer twice.
    let args = json!({ "channel": "dev-team", "message": "deploying now" });
    let first = client.call_tool(keyed(SEND, args.clone(), "deploy-42")).await.unwrap();
    let again = client.call_tool(keyed(SEND, args.clone(), "deploy-42")).await.unwrap();
    assert_eq!(first.is_error, Some(false), "{}", text(&first));
    assert_eq!(again.structured_content, first.structured_content);
    let run = run_id(&first);
    assert_eq!(run_id(&again), run);
    assert_eq!(again.meta.as_ref().unwrap().get("duplicate"), Some(&json!(true)));
    assert_eq!(first.meta.as_ref().unwrap().get("duplicate"), Some(&json!(false)));
    let deploys = service.posted_messages().into_iter().filter(|message| message.text == "deploying now").count();
    assert_eq!(deploys, 1);
    assert_eq!(service.requests_with_idempotency_key(&run.step_id("sendMessage")), 1);
    // The same key from another session is the same call too.
    let other = http_client(&url, "mcp-api-key").await;
    let third = other.call_tool(keyed(SEND, args, "deploy-42")).await.unwrap();
    assert_eq!(run_id(&third), run);
    // The same key with other arguments is refused, not answered with the first result.
    let changed = json!({ "channel": "dev-team", "message": "rolling back" });
    let refused = other.call_tool(keyed(SEND, changed, "deploy-42")).await.unwrap();
    assert_eq!(refused.is_error, Some(true));
    assert!(text(&refused).contains("deploy-42"), "{}", text(&refused));
    assert_eq!(service.posted_messages().len(), 3);

    // A failing action is a tool error with the service's complaint, never the key.
    service.fail_next(1, 401);
    let failed = client.call_tool(call(INFO, json!({ "channelId": "general" }))).await.unwrap();
    assert_eq!(failed.is_error, Some(true));
    assert!(text(&failed).contains("401"), "{}", text(&failed));
    assert!(!text(&failed).contains(&chat_key));
    let run = engine.run(&run_id(&failed)).await.unwrap().expect("the failed call's run");
    assert_eq!(run.status, RunStatus::Failed);

    client.cancel().await.unwrap();
    other.cancel().await.unwrap();
    running.shutdown().await.unwrap();
}
