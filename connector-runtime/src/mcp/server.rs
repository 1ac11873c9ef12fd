//! [`McpServer`]: the MCP handler both transports serve.

use std::sync::Arc;

use rmcp::ErrorData;
use rmcp::handler::server::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, ListToolsResult, MetaObject,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use serde_json::{Value, json};

use super::tools::{Target, Tools, structured};
use crate::engine::{Engine, JobCallOutcome, ToolCallError, ToolCallOptions, ToolCallOutcome};
use crate::model::redact;

/// The `_meta` key of a `tools/call` request that carries an explicit idempotency key: a call
/// repeated with the same key (for the same tool) returns the first call's result.
pub const IDEMPOTENCY_KEY_META: &str = "idempotencyKey";

/// How long a job's tool waits for its run before it returns the run's id and status.
pub const JOB_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The `_meta` key of a tool result that names the run recording the call.
pub const RUN_ID_META: &str = "runId";

/// The `_meta` key of a tool result that says whether it is a recorded result returned again
/// (the call's idempotency key, or request id, was seen before).
pub const DUPLICATE_META: &str = "duplicate";

/// An MCP server over an engine: every registered connector action is a tool
/// (see [`tool_name`](super::tool_name)), each call a durable run of one step
/// ([`Engine::call_durably`]).
///
/// A call is deduplicated by the `idempotencyKey` in its request's `_meta` when there is one,
/// otherwise by its JSON-RPC request id within this session (a client retrying a request with
/// the same id gets the recorded result). Cheap to clone; one value serves one session.
#[derive(Clone)]
pub struct McpServer {
    engine: Engine,
    tools: Arc<Tools>,
    /// Scopes request ids: unique per session.
    session: Arc<str>,
}

impl McpServer {
    /// A server of the engine's actions (the tool list is made now, from its manifest).
    pub fn new(engine: Engine) -> Self {
        let tools = Arc::new(Tools::of(&engine.manifest()));
        McpServer { engine, tools, session: Arc::from(uuid::Uuid::new_v4().to_string()) }
    }

    /// The same tools, for a new session.
    pub(super) fn session(&self) -> Self {
        McpServer {
            engine: self.engine.clone(),
            tools: Arc::clone(&self.tools),
            session: Arc::from(uuid::Uuid::new_v4().to_string()),
        }
    }

    /// The tools this server lists.
    pub fn tools(&self) -> &[Tool] {
        &self.tools.list
    }

    async fn call(&self, request: CallToolRequestParams, context: RequestContext<RoleServer>) -> CallToolResult {
        let Some(target) = self.tools.targets.get(request.name.as_ref()) else {
            return tool_error(format!("no tool `{}`: tools/list names every tool", request.name), None);
        };
        let explicit = [request.meta.as_deref(), Some(&*context.meta)]
            .into_iter()
            .flatten()
            .find_map(|meta| meta.get(IDEMPOTENCY_KEY_META).and_then(Value::as_str).map(str::to_owned));
        let key = explicit.unwrap_or_else(|| format!("request:{}:{}", self.session, context.id));
        let caller = context
            .peer
            .peer_info()
            .map(|info| info.client_info.name.clone())
            .or_else(|| context.meta.client_info().map(|info| info.name));
        let mut options = ToolCallOptions::default().idempotency_key(key);
        if let Some(caller) = caller {
            options = options.caller(caller);
        }
        let input = Value::Object(request.arguments.unwrap_or_default());
        let structured_output = self.tools.list.iter().find(|tool| tool.name == request.name).is_some_and(structured);
        match target {
            Target::Action { connector, action } => {
                match self.engine.call_durably(connector, action, input, options).await {
                    Ok(outcome) => success(outcome, structured_output),
                    Err(error) => failure(error),
                }
            }
            Target::Job { job } => match self.engine.run_durably(job, input, options, JOB_WAIT).await {
                Ok(outcome) => job_result(outcome),
                Err(error) => failure(error),
            },
        }
    }
}

impl std::fmt::Debug for McpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.tools.list.iter().map(|tool| tool.name.as_ref()).collect();
        f.debug_struct("McpServer").field("tools", &names).finish_non_exhaustive()
    }
}

fn success(outcome: ToolCallOutcome, structured_output: bool) -> CallToolResult {
    let ToolCallOutcome { run, output, duplicate, .. } = outcome;
    let result = if structured_output {
        CallToolResult::structured(output)
    } else {
        CallToolResult::success(vec![ContentBlock::text(output.to_string())])
    };
    result.with_meta(Some(meta(json!({ RUN_ID_META: run, DUPLICATE_META: duplicate }))))
}

/// A job's run as a result: its id, status and output; a failed run is a tool error.
fn job_result(outcome: JobCallOutcome) -> CallToolResult {
    let JobCallOutcome { run, status, output, error, duplicate, .. } = outcome;
    let meta = meta(json!({ RUN_ID_META: run, DUPLICATE_META: duplicate }));
    let mut document = json!({ "runId": run, "status": status });
    if let Some(output) = output {
        document["output"] = output;
    }
    if let Some(error) = error {
        document["error"] = Value::String(redact(&error).into_owned());
    }
    let result = if status == crate::model::RunStatus::Failed || status == crate::model::RunStatus::Cancelled {
        CallToolResult::structured_error(document)
    } else {
        CallToolResult::structured(document)
    };
    result.with_meta(Some(meta))
}

/// Every failure of a call is a tool error, its message masked of secrets: the agent reads it
/// and may correct itself; the session goes on.
fn failure(error: ToolCallError) -> CallToolResult {
    match error {
        ToolCallError::InvalidInput(error) => {
            let message = match error.path.as_str() {
                // The whole document: serde's message names the field (`missing field `x``).
                "." => format!("invalid arguments: {}", error.message),
                path => format!("invalid arguments at `{path}`: {}", error.message),
            };
            tool_error(message, Some(json!({ "path": error.path })))
        }
        ToolCallError::Failed { run, status, error } => {
            tool_error(format!("the call {status}: {error}"), Some(json!({ RUN_ID_META: run })))
        }
        ToolCallError::KeyReused { ref run, .. } => {
            let run = json!({ RUN_ID_META: run });
            tool_error(error.to_string(), Some(run))
        }
        error => tool_error(error.to_string(), None),
    }
}

fn tool_error(message: String, extra: Option<Value>) -> CallToolResult {
    let result = CallToolResult::error(vec![ContentBlock::text(redact(&message).into_owned())]);
    result.with_meta(extra.map(meta))
}

fn meta(value: Value) -> MetaObject {
    match value {
        Value::Object(object) => MetaObject(object),
        _ => MetaObject::default(),
    }
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("connector-runtime", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Each tool calls one action of a connector; every call is recorded as a run. Retrying a \
                 call with the same `idempotencyKey` in `_meta` returns the first call's result.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.list.clone()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.list.iter().find(|tool| tool.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        Ok(self.call(request, context).await.into())
    }
}
