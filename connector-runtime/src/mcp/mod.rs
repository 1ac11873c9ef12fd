//! An MCP server (feature `mcp`): every registered connector's actions as tools for AI agents,
//! each tool call a durable, recorded step.
//!
//! - Tools: one per action, named `{connector}__{action}` ([`tool_name`] has the rule), its
//!   description the action's doc comment, its `inputSchema` and `outputSchema` the manifest's,
//!   its annotations what the action declares (`#[action(read_only, destructive, idempotent)]`).
//! - Calls: [`Engine::call_durably`](crate::Engine::call_durably): a run of the built-in job
//!   `tool-call` with one step, in `runs` with the client's name; retried by the client with the
//!   same request id, or the same `idempotencyKey` in the request's `_meta`, it returns the
//!   recorded result without calling the service again. The result is structured content (and
//!   its JSON as text), with the run's id in `_meta.runId`.
//! - Jobs: one tool per job too, `job__{job}`, its payload's schema as input: a call starts a run
//!   of that job ([`Engine::run_durably`](crate::Engine::run_durably)) and waits up to
//!   [`JOB_WAIT`] for it; the result is `{"runId", "status", "output"}` (an unfinished run's
//!   id and status if it did not finish in time), a failed run a tool error.
//! - Errors: arguments that do not fit the input schema, and a failed action, are tool errors
//!   (`isError: true`) whose text names the field or gives the action's error with secrets
//!   masked; never a protocol error.
//! - Transports: stdin/stdout ([`serve_stdio`], the CLI's `mcp` command) and streamable HTTP
//!   ([`http_service`], mounted by the server at `/mcp` behind its API key).

mod http;
mod names;
mod server;
mod stdio;
mod tools;

pub use http::{McpHttpService, http_service};
pub use names::{MAX_TOOL_NAME, tool_name};
pub use server::{DUPLICATE_META, IDEMPOTENCY_KEY_META, JOB_WAIT, McpServer, RUN_ID_META};
pub use stdio::serve_stdio;
