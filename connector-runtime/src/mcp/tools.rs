//! The tool list: one tool per registered action, and one per job, from the engine's manifest.

use std::collections::HashMap;
use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::Value;

use super::names::{hashed, tool_name};
use crate::model::{ActionManifest, JobManifest, Manifest};

/// The connector id that job tools are named under: `job__{job id}`.
pub(super) const JOB_PREFIX: &str = "job";

/// What a tool calls.
#[derive(Debug, Clone)]
pub(super) enum Target {
    /// Action `action` of connector `connector`.
    Action { connector: String, action: String },
    /// A run of job `job`.
    Job { job: String },
}

/// Every tool, and what each calls.
#[derive(Debug, Default)]
pub(super) struct Tools {
    pub(super) list: Vec<Tool>,
    /// By tool name.
    pub(super) targets: HashMap<String, Target>,
}

impl Tools {
    /// The tools of every action in `manifest`, in connector and action id order.
    pub(super) fn of(manifest: &Manifest) -> Self {
        let mut actions: Vec<(&str, &ActionManifest)> = manifest
            .connectors
            .iter()
            .flat_map(|connector| connector.actions.iter().map(move |action| (connector.id.as_str(), action)))
            .collect();
        actions.sort_by(|a, b| (a.0, &a.1.id).cmp(&(b.0, &b.1.id)));
        let mut tools = Tools::default();
        for (connector, action) in actions {
            let name = tools.free_name(connector, &action.id);
            tools.list.push(tool(&name, action));
            tools.targets.insert(name, Target::Action { connector: connector.to_owned(), action: action.id.clone() });
        }
        let mut jobs: Vec<&JobManifest> = manifest.jobs.iter().collect();
        jobs.sort_by(|a, b| a.id.cmp(&b.id));
        for job in jobs {
            let name = tools.free_name(JOB_PREFIX, &job.id);
            tools.list.push(job_tool(&name, job));
            tools.targets.insert(name, Target::Job { job: job.id.clone() });
        }
        tools
    }

    /// The tool name of `id` under `prefix`, told apart from the names taken already.
    fn free_name(&self, prefix: &str, id: &str) -> String {
        let name = tool_name(prefix, id);
        if self.targets.contains_key(&name) { hashed(&name, prefix, id) } else { name }
    }
}

/// The tool of a job: its payload as input; the result is the run (its id, status, output).
fn job_tool(name: &str, job: &JobManifest) -> Tool {
    let what = job.description.clone().unwrap_or_else(|| job.name.clone());
    let description = format!(
        "{what} Starts a run of job `{}` with this payload and waits up to {} s for it: the result \
         has the run's id, status and output (an unfinished run's id, to look up later).",
        job.id,
        super::server::JOB_WAIT.as_secs()
    );
    Tool::new(name.to_owned(), description, Arc::new(object(&job.payload))).with_title(&job.name)
}

/// The tool of one action: its description, its schemas as the manifest has them, its hints.
fn tool(name: &str, action: &ActionManifest) -> Tool {
    let description = action.description.clone().unwrap_or_else(|| action.name.clone());
    let mut tool = Tool::new(name.to_owned(), description, Arc::new(object(&action.input))).with_title(&action.name);
    // MCP wants an object there; an action returning something else has its result as text.
    if action.output.get("type").and_then(Value::as_str) == Some("object") {
        tool = tool.with_raw_output_schema(Arc::new(object(&action.output)));
    }
    // Only what the action declares: an absent hint keeps MCP's default (not read-only,
    // possibly destructive, not idempotent).
    if action.read_only || action.destructive.is_some() || action.idempotent {
        let mut hints = ToolAnnotations::new();
        if action.read_only {
            hints = hints.read_only(true);
        }
        if let Some(destructive) = action.destructive {
            hints = hints.destructive(destructive);
        }
        if action.idempotent {
            hints = hints.idempotent(true);
        }
        tool = tool.with_annotations(hints);
    }
    tool
}

fn object(schema: &Value) -> JsonObject {
    match schema {
        Value::Object(object) => object.clone(),
        _ => JsonObject::new(),
    }
}

/// Whether a tool's output is structured (its action returns an object).
pub(super) fn structured(tool: &Tool) -> bool {
    tool.output_schema.is_some()
}
