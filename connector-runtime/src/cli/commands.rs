//! `send`, `complete`, `call`, `check`, `manifest` and `mcp`: the commands that work through a
//! built engine.

use std::io::Read as _;

use serde_json::{Value, json};

use super::exit::{CliError, Exit};
use super::output::{Report, Table};
use super::runs;
use crate::connector::CheckError;
use crate::engine::Engine;
use crate::model::RunId;

/// A JSON argument; `-` reads it from stdin.
pub(super) fn json_argument(what: &str, text: &str) -> Result<Value, CliError> {
    let text = if text == "-" {
        let mut read = String::new();
        std::io::stdin()
            .read_to_string(&mut read)
            .map_err(|error| CliError::new(Exit::BadInput, format!("cannot read the {what} from stdin: {error}")))?;
        read
    } else {
        text.to_owned()
    };
    serde_json::from_str(&text).map_err(|error| {
        CliError::new(Exit::BadInput, format!("the {what} is not JSON: {error}")).with_detail("path", ".")
    })
}

/// `send EVENT JSON`: accepts the event as the API does (payload checked against the type of
/// every job it starts, the delivery recorded with its runs), then waits for the runs to finish
/// or to park on a token.
pub(super) async fn send(
    engine: &Engine,
    event: &str,
    payload: Value,
    id: Option<String>,
) -> Result<(Report, Exit), CliError> {
    let receipt = engine.accept_event(event, payload, id).await?;
    let mut runs = Vec::with_capacity(receipt.runs.len());
    for id in &receipt.runs {
        runs.push(runs::settled(engine, id).await?);
    }
    let exit = runs.iter().map(runs::outcome).find(|exit| *exit != Exit::Ok).unwrap_or(Exit::Ok);
    let mut text = match (receipt.duplicate, runs.len()) {
        (true, _) => format!("delivery {} was sent before; its runs:\n\n", receipt.delivery_id),
        (false, 1) => String::new(),
        (false, n) => format!("event `{event}` started {n} runs\n\n"),
    };
    for (n, run) in runs.iter().enumerate() {
        if n > 0 {
            text.push('\n');
        }
        text.push_str(&runs::timeline(run));
    }
    let json = json!({
        "deliveryId": receipt.delivery_id,
        "duplicate": receipt.duplicate,
        "runs": runs,
    });
    Ok((Report::new(json, text), exit))
}

/// `complete TOKEN JSON`: completes the token; the run it resumes executes here, and is waited
/// for like `resume`'s.
pub(super) async fn complete(engine: &Engine, token: &str, payload: Value) -> Result<(Report, Exit), CliError> {
    engine.complete_token(token, payload).await?;
    // A token is `{run id}:{step key}`; one that completed names its run.
    let run = RunId::from(token.split_once(':').map_or(token, |(run, _)| run));
    let run = runs::settled(engine, &run).await?;
    let exit = runs::outcome(&run);
    Ok((Report::new(json!({ "token": token, "run": run }), runs::timeline(&run)), exit))
}

/// `call CONNECTOR ACTION JSON`.
pub(super) async fn call(engine: &Engine, connector: &str, action: &str, input: Value) -> Result<Report, CliError> {
    let output = engine.call_action(connector, action, input).await?;
    let text = serde_json::to_string_pretty(&output).unwrap_or_else(|_| output.to_string());
    Ok(Report::new(json!({ "connector": connector, "action": action, "output": output }), text))
}

/// `check [CONNECTOR]`: each connector's credentials, `ok`, `failed` or `unchecked` (the
/// connector declares no check). Fails if any check failed.
pub(super) async fn check(engine: &Engine, connector: Option<&str>) -> Result<(Report, Exit), CliError> {
    let ids: Vec<String> = match connector {
        Some(id) => vec![id.to_owned()],
        None => engine.manifest().connectors.into_iter().map(|manifest| manifest.id).collect(),
    };
    let mut results = Vec::new();
    let mut table = Table::new(["CONNECTOR", "CREDENTIALS", "DETAIL"]);
    let mut exit = Exit::Ok;
    for id in &ids {
        let (status, detail) = match engine.check(id).await {
            Ok(()) => ("ok", None),
            Err(CheckError::NoCheck { .. }) => ("unchecked", Some("declares no check".to_owned())),
            Err(error @ CheckError::UnknownConnector(_)) => return Err(error.into()),
            Err(error) => {
                exit = Exit::Failed;
                ("failed", Some(error.to_string()))
            }
        };
        table.row(vec![id.clone(), status.into(), detail.clone().unwrap_or_default()]);
        results.push(match detail {
            Some(detail) => json!({ "id": id, "status": status, "detail": detail }),
            None => json!({ "id": id, "status": status }),
        });
    }
    let text = if ids.is_empty() { "no connectors are registered".to_owned() } else { table.render("") };
    Ok((Report::new(json!({ "connectors": results }), text), exit))
}

/// `manifest`: the same document either way.
pub(super) fn manifest(engine: &Engine) -> Report {
    let manifest = json!(engine.manifest());
    let text = serde_json::to_string_pretty(&manifest).unwrap_or_else(|_| manifest.to_string());
    Report::new(manifest, text)
}

/// `mcp`: serves the engine's actions as MCP tools on stdin and stdout until stdin closes.
#[cfg(feature = "mcp")]
pub(super) async fn mcp(engine: Engine) -> Result<Exit, CliError> {
    crate::mcp::serve_stdio(engine).await.map_err(|error| {
        CliError::new(Exit::Unavailable, format!("the MCP session on stdin/stdout failed: {error}"))
    })?;
    Ok(Exit::Ok)
}
