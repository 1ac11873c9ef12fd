//! The tool list: one tool per registered action, from the engine's manifest.

use std::collections::HashMap;
use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::Value;

use super::names::{hashed, tool_name};
use crate::model::{ActionManifest, Manifest};

/// Every tool, and what each calls.
#[derive(Debug, Default)]
pub(super) struct Tools {
    pub(super) list: Vec<Tool>,
    /// By tool name: the connector's and the action's ids.
    pub(super) targets: HashMap<String, (String, String)>,
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
            let mut name = tool_name(connector, &action.id);
            if tools.targets.contains_key(&name) {
                name = hashed(&name, connector, &action.id);
            }
            tools.list.push(tool(&name, action));
            tools.targets.insert(name, (connector.to_owned(), action.id.clone()));
        }
        tools
    }
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
