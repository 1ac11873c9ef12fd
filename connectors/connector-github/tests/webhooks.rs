//! The webhook trigger against GitHub's published webhook examples
//! (`@octokit/webhooks-examples`): every example of a supported event deserializes into its
//! typed payload and, delivered signed to the engine, starts a job with the event its
//! `X-GitHub-Event` names; every other event is acknowledged and ignored. Signatures
//! (`X-Hub-Signature-256`) and deduplication (`X-GitHub-Delivery`) as GitHub sends them.

mod support;

use std::sync::{Arc, LazyLock};
use std::time::SystemTime;

use connector_github::{Delivery, GitHub, GitHubConfig, GitHubEvent};
use connector_runtime::prelude::*;
use connector_runtime::store::{MemoryStore, RunStore};
use connector_runtime::webhook::SignatureScheme;
use connector_runtime::{DeliveryError, RunStatus};
use http::HeaderMap;
use serde_json::Value;

const SECRET: &str = "It's a Secret to Everybody";

/// The examples, by event name, loaded once per test binary.
static EXAMPLES: LazyLock<Vec<(String, Vec<Value>)>> = LazyLock::new(|| {
    let all = support::npm::json("@octokit/webhooks-examples/api.github.com/index.json");
    all.as_array()
        .expect("a list of events")
        .iter()
        .map(|event| {
            let name = event["name"].as_str().expect("an event name").to_owned();
            (name, event["examples"].as_array().cloned().unwrap_or_default())
        })
        .collect()
});

fn examples(name: &str) -> &'static [Value] {
    let (_, examples) =
        EXAMPLES.iter().find(|(event, _)| event == name).unwrap_or_else(|| panic!("no {name} examples"));
    assert!(!examples.is_empty(), "{name} has examples");
    examples
}

/// Records the event each delivery started a run with.
#[job(id = "record-event", name = "Record a GitHub event", version = "1.0.0", trigger = GitHub::webhook)]
async fn record_event(event: GitHubEvent, _io: RecordEventIo<'_>) -> Result<String, JobError> {
    Ok(format!("{} in {}", event.name(), event.repository().full_name))
}

fn github_engine(secret: Option<&str>) -> Engine {
    let mut config = GitHubConfig::token(Secret::new("ghp_unused")).api_url("http://127.0.0.1:9");
    if let Some(secret) = secret {
        config = config.webhook_secret(Secret::new(secret));
    }
    let store: Arc<dyn RunStore> = Arc::new(MemoryStore::new());
    Engine::builder().shared_store(store).connector(GitHub::init(config)).job(RecordEventJob).build().unwrap()
}

/// The headers GitHub sends with a delivery of `event`, signed with `secret`.
fn signed(event: &str, delivery: &str, body: &[u8], secret: &str) -> HeaderMap {
    let mut headers = SignatureScheme::github(Secret::new(secret)).sign_at(body, delivery, SystemTime::now()).unwrap();
    headers.insert("x-github-event", event.parse().unwrap());
    headers.insert("content-type", "application/json".parse().unwrap());
    headers
}

#[test]
fn every_example_of_a_supported_event_fits_its_type_and_is_told_apart_by_its_name() {
    let mut count = 0;
    for name in GitHubEvent::SUPPORTED {
        for (i, example) in examples(name).iter().enumerate() {
            let delivery: Delivery = serde_json::from_value(example.clone())
                .unwrap_or_else(|error| panic!("{name} example {i} is not a delivery: {error}"));
            let event = delivery
                .into_event(name)
                .unwrap_or_else(|error| panic!("{name} example {i} does not fit: {error}"))
                .unwrap_or_else(|| panic!("{name} example {i} was ignored"));
            assert_eq!(event.name(), name, "example {i}");
            // Straight from the body with the header's name, without the guess.
            let direct = GitHubEvent::from_delivery(name, example.clone()).unwrap().unwrap();
            assert_eq!(direct, event, "{name} example {i}");
            count += 1;
        }
    }
    assert!(count >= 70, "{count} examples");
}

#[tokio::test]
async fn every_example_delivered_signed_starts_a_run_with_its_event() {
    let engine = github_engine(Some(SECRET));
    let mut started = Vec::new();
    for name in GitHubEvent::SUPPORTED {
        for (i, example) in examples(name).iter().enumerate() {
            let body = serde_json::to_vec(example).unwrap();
            let delivery = format!("{name}-{i}");
            let receipt = engine
                .accept_webhook("github", "webhook", &signed(name, &delivery, &body, SECRET), body.into())
                .await
                .unwrap_or_else(|error| panic!("{name} example {i}: {error}"));
            assert!(!receipt.ignored && !receipt.duplicate, "{name} example {i}: {receipt:?}");
            assert_eq!(receipt.delivery_id, delivery);
            assert_eq!(receipt.runs.len(), 1);
            started.push((name, example["repository"]["full_name"].clone(), receipt.runs[0].clone()));
        }
    }
    for (name, repository, id) in started {
        let run = engine.wait(&id).await.unwrap();
        assert_eq!(run.status, RunStatus::Succeeded, "{name}: {:?}", run.error);
        assert_eq!(run.payload["event"], name, "the job got the event the header named");
        assert_eq!(run.output, Some(Value::String(format!("{name} in {}", repository.as_str().unwrap()))));
    }
}

#[tokio::test]
async fn other_events_are_acknowledged_and_ignored() {
    let engine = github_engine(Some(SECRET));
    let mut ignored = 0;
    for (name, examples) in EXAMPLES.iter().filter(|(name, _)| !GitHubEvent::SUPPORTED.contains(&name.as_str())) {
        for (i, example) in examples.iter().enumerate() {
            let body = serde_json::to_vec(example).unwrap();
            let receipt = engine
                .accept_webhook("github", "webhook", &signed(name, &format!("{name}-{i}"), &body, SECRET), body.into())
                .await
                .unwrap_or_else(|error| panic!("{name} example {i}: {error}"));
            assert!(receipt.ignored && receipt.runs.is_empty(), "{name} example {i}: {receipt:?}");
            ignored += 1;
        }
    }
    assert!(ignored > 100, "{ignored}");
    assert!(EXAMPLES.iter().any(|(name, _)| name == "ping"), "GitHub's first delivery, `ping`, is among them");
}

#[tokio::test]
async fn a_repeated_delivery_id_starts_nothing_new() {
    let engine = github_engine(Some(SECRET));
    let body = serde_json::to_vec(&examples("issues")[0]).unwrap();
    let headers = signed("issues", "72d3162e-cc78-11e3-81ab-4c9367dc0958", &body, SECRET);
    let first = engine.accept_webhook("github", "webhook", &headers, body.clone().into()).await.unwrap();
    let again = engine.accept_webhook("github", "webhook", &headers, body.into()).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(again.runs, first.runs);
}

#[tokio::test]
async fn a_tampered_body_a_wrong_secret_and_no_secret_are_refused() {
    let engine = github_engine(Some(SECRET));
    let body = serde_json::to_vec(&examples("push")[0]).unwrap();
    let headers = signed("push", "d-1", &body, SECRET);
    let mut tampered = body.clone();
    let at = tampered.iter().position(|byte| *byte == b'1').unwrap();
    tampered[at] = b'2';
    let error = engine.accept_webhook("github", "webhook", &headers, tampered.into()).await.unwrap_err();
    assert!(matches!(error, DeliveryError::Signature(_)), "{error}");
    let wrong = signed("push", "d-2", &body, "another secret");
    let error = engine.accept_webhook("github", "webhook", &wrong, body.clone().into()).await.unwrap_err();
    assert!(matches!(error, DeliveryError::Signature(_)), "{error}");
    let unsigned =
        engine.accept_webhook("github", "webhook", &HeaderMap::new(), body.clone().into()).await.unwrap_err();
    assert!(matches!(unsigned, DeliveryError::Signature(_)), "{unsigned}");

    let without_secret = github_engine(None);
    let error = without_secret.accept_webhook("github", "webhook", &headers, body.into()).await.unwrap_err();
    assert!(matches!(error, DeliveryError::Signature(_)), "{error}");
}

#[tokio::test]
async fn the_header_decides_the_event() {
    let engine = github_engine(Some(SECRET));
    // An issues body announced as a push does not fit a push.
    let body = serde_json::to_vec(&examples("issues")[0]).unwrap();
    let error = engine
        .accept_webhook("github", "webhook", &signed("push", "d-3", &body, SECRET), body.clone().into())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, DeliveryError::Trigger(ActionError::InvalidInput(message)) if message.contains("`push`")),
        "{error}"
    );
    // An issue_comment body announced as `issues` is read as one (it carries an issue).
    let body = serde_json::to_vec(&examples("issue_comment")[0]).unwrap();
    let receipt = engine
        .accept_webhook("github", "webhook", &signed("issues", "d-4", &body, SECRET), body.clone().into())
        .await
        .unwrap();
    let run = engine.wait(&receipt.runs[0]).await.unwrap();
    assert_eq!(run.payload["event"], "issues");
    // No header at all.
    let mut headers = signed("issues", "d-5", &body, SECRET);
    headers.remove("x-github-event");
    let error = engine.accept_webhook("github", "webhook", &headers, body.into()).await.unwrap_err();
    assert!(matches!(error, DeliveryError::Trigger(ActionError::InvalidInput(_))), "{error}");
}
