//! The OpenAPI document at `/api/openapi.json`: valid OpenAPI 3.1 (checked against the
//! specification's own JSON Schema, `fixtures/openapi-3.1.schema.json`, as the OpenAPI
//! Initiative publishes it), listing exactly the API's operations; and every operation, called
//! for real on a running server, answers a status its entry lists (or its default) with a body
//! that fits the schema documented for that status. Without the key, each answers 401 in the
//! one error shape.

use std::collections::BTreeSet;
use std::time::Duration;

use connector_runtime::RunStatus;
use connector_runtime::prelude::*;
use connector_runtime::server::{self, ServerConfig};
use connector_runtime::store::MemoryStore;
use serde_json::{Value, json};

const KEY: &str = "openapi-test-key";

#[path = "support/review_note.rs"]
mod review_note;
use review_note::{Approval, NoteFiled, ReviewNoteJob};

#[derive(Deserialize, JsonSchema)]
struct ProbeConfig {
    /// Never sent anywhere: here so the connector has a secret the document must not show.
    #[allow(dead_code)]
    token: Secret,
}

/// A connector whose credential check passes.
struct Probe;

#[connector(id = "probe", name = "Probe", version = "1.0.0", config = ProbeConfig, check = Self::check)]
impl Probe {
    async fn check(_ctx: &ActionContext<ProbeConfig>) -> Result<(), ActionError> {
        Ok(())
    }

    /// Gives its input back.
    #[action(id = "echo", name = "Echo", read_only)]
    async fn echo(_ctx: &ActionContext<ProbeConfig>, input: Approval) -> Result<Approval, ActionError> {
        Ok(input)
    }
}

/// `document`'s schema at the JSON pointer `pointer`, as a schema whose `$ref`s into
/// `#/components/schemas` resolve (the document's components go along).
fn validator(document: &Value, pointer: &str) -> jsonschema::Validator {
    let mut root = document.pointer(pointer).unwrap_or_else(|| panic!("the document has {pointer}")).clone();
    root["components"] = document["components"].clone();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&root)
        .unwrap_or_else(|error| panic!("the schema at {pointer} compiles: {error}"))
}

/// `segment` escaped for a JSON pointer.
fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

async fn wait_for(engine: &Engine, run: &connector_runtime::RunId, status: RunStatus) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while engine.run(run).await.unwrap().unwrap().status != status {
        assert!(std::time::Instant::now() < deadline, "run {run} reaches {status}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_document_is_openapi_3_1_and_matches_what_the_server_answers() {
    let engine = Engine::builder()
        .store(MemoryStore::new())
        .connector(Probe::init(ProbeConfig { token: Secret::new("probe-secret") }))
        .job(ReviewNoteJob)
        .build()
        .unwrap();
    let waiting = engine.dispatch(NoteFiled { text: "first".into() }).await.unwrap().remove(0);
    let to_cancel = engine.dispatch(NoteFiled { text: "second".into() }).await.unwrap().remove(0);
    wait_for(&engine, &waiting, RunStatus::Waiting).await;
    wait_for(&engine, &to_cancel, RunStatus::Waiting).await;
    let config = ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        api_key: Some(Secret::new(KEY)),
        ..ServerConfig::default()
    };
    let running = server::start(engine.clone(), config).await.unwrap();
    let base = running.url();
    let http = reqwest::Client::new();

    // The document needs no key, and is OpenAPI 3.1 by the specification's own schema.
    let answer = http.get(format!("{base}/api/openapi.json")).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let document: Value = answer.json().await.unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1."), "{}", document["openapi"]);
    let specification: Value =
        serde_json::from_str(include_str!("fixtures/openapi-3.1.schema.json")).expect("the specification's schema");
    let specification = jsonschema::validator_for(&specification).expect("the specification's schema compiles");
    let problems: Vec<String> =
        specification.iter_errors(&document).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(problems.is_empty(), "not valid OpenAPI 3.1: {problems:#?}");

    // Exactly the API's operations.
    let operations: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| item.as_object().unwrap().keys().map(move |method| (method.clone(), path.clone())))
        .collect();
    let expected: BTreeSet<(String, String)> = [
        ("post", "/api/events"),
        ("get", "/api/runs"),
        ("get", "/api/runs/{id}"),
        ("get", "/api/runs/{id}/logs"),
        ("post", "/api/runs/{id}/cancel"),
        ("post", "/api/runs/{id}/resume"),
        ("post", "/api/runs/{id}/replay"),
        ("post", "/api/tokens/{token}/complete"),
        ("get", "/api/manifest"),
        ("post", "/api/connectors/{id}/check"),
        ("get", "/healthz"),
    ]
    .into_iter()
    .map(|(method, path)| (method.to_owned(), path.to_owned()))
    .collect();
    assert_eq!(operations, expected);

    // Each operation for real, in an order where each finds the state it needs; the status is
    // one its entry lists (else its default), and the body fits that entry's schema.
    let token = format!("{waiting}:review");
    let calls: Vec<(&str, &str, String, Option<Value>)> = vec![
        ("get", "/healthz", "/healthz".into(), None),
        ("get", "/api/manifest", "/api/manifest".into(), None),
        ("post", "/api/connectors/{id}/check", "/api/connectors/probe/check".into(), None),
        ("post", "/api/connectors/{id}/check", "/api/connectors/nobody/check".into(), None),
        (
            "post",
            "/api/events",
            "/api/events".into(),
            Some(json!({ "name": "note.filed", "payload": { "text": "third" } })),
        ),
        ("post", "/api/events", "/api/events".into(), Some(json!({ "name": "note.filed", "payload": { "text": 3 } }))),
        ("get", "/api/runs", "/api/runs?status=waiting&limit=2".into(), None),
        ("get", "/api/runs", "/api/runs?status=done".into(), None),
        ("get", "/api/runs/{id}", format!("/api/runs/{waiting}"), None),
        ("get", "/api/runs/{id}", "/api/runs/no-such-run".into(), None),
        ("get", "/api/runs/{id}/logs", format!("/api/runs/{waiting}/logs"), None),
        ("post", "/api/tokens/{token}/complete", format!("/api/tokens/{token}/complete"), Some(json!({ "ok": "yes" }))),
        ("post", "/api/tokens/{token}/complete", format!("/api/tokens/{token}/complete"), Some(json!({ "ok": true }))),
        ("post", "/api/tokens/{token}/complete", format!("/api/tokens/{token}/complete"), Some(json!({ "ok": true }))),
        ("post", "/api/runs/{id}/cancel", format!("/api/runs/{to_cancel}/cancel"), None),
        ("post", "/api/runs/{id}/resume", format!("/api/runs/{to_cancel}/resume"), None),
        ("post", "/api/runs/{id}/replay", format!("/api/runs/{to_cancel}/replay"), None),
    ];
    let mut statuses = BTreeSet::new();
    for (method, path, url, body) in &calls {
        let request = match *method {
            "get" => http.get(format!("{base}{url}")),
            _ => http.post(format!("{base}{url}")),
        };
        let request = match body {
            Some(body) => request.json(body),
            None => request,
        };
        let answer = request.bearer_auth(KEY).send().await.unwrap();
        let status = answer.status().as_u16().to_string();
        let body: Value = answer.json().await.unwrap_or_else(|e| panic!("{method} {url}: the answer is JSON: {e}"));
        let responses = &document["paths"][path][method]["responses"];
        let documented = if responses.get(&status).is_some() { status.clone() } else { "default".to_owned() };
        assert!(responses.get(&documented).is_some(), "{method} {url} answered {status}, which {path} does not list");
        let pointer =
            format!("/paths/{}/{method}/responses/{documented}/content/application~1json/schema", escape(path));
        let schema = validator(&document, &pointer);
        let problems: Vec<String> =
            schema.iter_errors(&body).map(|e| format!("{e} at {}", e.instance_path())).collect();
        assert!(
            problems.is_empty(),
            "{method} {url} answered {status} with {body}, not its documented shape: {problems:#?}"
        );
        statuses.insert((url.clone(), status));
    }
    // The calls reached what they were meant to (so the shapes checked are the real ones).
    for (url, status) in [
        ("/api/connectors/probe/check", "200"),
        ("/api/connectors/nobody/check", "404"),
        ("/api/runs?status=done", "400"),
        ("/api/runs/no-such-run", "404"),
    ] {
        assert!(statuses.contains(&(url.to_owned(), status.to_owned())), "{url} answered {status}: {statuses:?}");
    }
    let answered = |url: String| statuses.iter().filter(|(u, _)| *u == url).map(|(_, s)| s.clone()).collect::<Vec<_>>();
    assert_eq!(answered("/api/events".into()), ["202", "422"]);
    assert_eq!(answered(format!("/api/tokens/{token}/complete")), ["200", "409", "422"]);
    for action in ["cancel", "resume", "replay"] {
        assert_eq!(answered(format!("/api/runs/{to_cancel}/{action}")), ["200"], "{action}");
    }
    assert_eq!(engine.wait(&waiting).await.unwrap().output, Some(json!(true)));

    // Without the key: 401 in the one error shape, for every `/api` operation.
    let error = validator(&document, "/components/schemas/ErrorBody");
    for (method, path, url, _) in &calls {
        if !path.starts_with("/api/") {
            continue;
        }
        let request = match *method {
            "get" => http.get(format!("{base}{url}")),
            _ => http.post(format!("{base}{url}")),
        };
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), 401, "{method} {url} without the key");
        let body: Value = answer.json().await.unwrap();
        assert!(error.is_valid(&body), "{body}");
        assert!(document["paths"][path][method]["responses"].get("401").is_some(), "{path} documents its 401");
    }
    // And what no route answers, in the same shape.
    let answer = http.get(format!("{base}/api/nothing-here")).bearer_auth(KEY).send().await.unwrap();
    assert_eq!(answer.status(), 404);
    assert!(error.is_valid(&answer.json::<Value>().await.unwrap()));
    let answer = http.delete(format!("{base}/api/runs")).bearer_auth(KEY).send().await.unwrap();
    assert_eq!(answer.status(), 405);
    assert!(error.is_valid(&answer.json::<Value>().await.unwrap()));
    running.shutdown().await.unwrap();
}
