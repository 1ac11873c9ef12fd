//! The issue-tracker connector against its real loopback service: OAuth2 tokens refreshed
//! proactively before they expire and reactively on a 401, one refresh for many callers,
//! pagination through every page, the credential check, and a job end to end.

use std::sync::Arc;
use std::time::Duration;

use connector_runtime::CheckError;
use connector_runtime::prelude::*;
use connector_runtime::store::MemoryStore;
use issue_tracker::connector::{IssueRef, ListIssues, NewIssue};
use issue_tracker::jobs::{BugReported, FileBugJob};
use issue_tracker::service::{TrackerOptions, TrackerService, TrackerServiceHandle};
use issue_tracker::{IssueTracker, TrackerConfig};

const CLIENT_ID: &str = "tracker-client";
const CLIENT_SECRET: &str = "tracker-client-secret-5f2a";

async fn start(token_ttl: Duration) -> (TrackerServiceHandle, Integration<IssueTracker>) {
    let service = TrackerService::start_with(TrackerOptions::new(CLIENT_ID, CLIENT_SECRET).with_token_ttl(token_ttl))
        .await
        .unwrap();
    let config = TrackerConfig {
        base_url: service.base_url(),
        token_url: service.token_url(),
        client_id: CLIENT_ID.into(),
        client_secret: Secret::new(CLIENT_SECRET),
    };
    (service, IssueTracker::init(config))
}

fn new_issue(title: &str) -> NewIssue {
    NewIssue { title: title.into(), body: None, labels: vec![] }
}

#[tokio::test]
async fn a_token_about_to_expire_is_refreshed_once_before_the_call() {
    // Tokens live 2 s; the 60 s margin is capped at half the lifetime, so they are refreshed 1 s
    // before they expire: fresh for 1 s, then refreshed before the call while still valid.
    let (service, tracker) = start(Duration::from_secs(2)).await;
    tracker.call(IssueTracker::CREATE_ISSUE, new_issue("first")).await.unwrap();
    tracker.call(IssueTracker::GET_ISSUE, IssueRef { number: 1 }).await.unwrap();
    assert_eq!(service.token_grants(), 1, "one token while it is fresh");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let requests_before = service.request_count();
    tracker.call(IssueTracker::GET_ISSUE, IssueRef { number: 1 }).await.unwrap();
    assert_eq!(service.token_grants(), 2, "refreshed once, proactively");
    assert_eq!(service.request_count(), requests_before + 1, "no request was refused first");
}

#[tokio::test]
async fn a_refused_token_is_refreshed_once_and_the_call_goes_through() {
    let (service, tracker) = start(Duration::from_secs(3600)).await;
    tracker.call(IssueTracker::CREATE_ISSUE, new_issue("first")).await.unwrap();
    service.expire_tokens();
    let requests_before = service.request_count();
    let issue = tracker.call(IssueTracker::GET_ISSUE, IssueRef { number: 1 }).await.unwrap();
    assert_eq!(issue.title, "first");
    assert_eq!(service.token_grants(), 2, "one reactive refresh");
    assert_eq!(service.request_count(), requests_before + 2, "the refused request, then the same one again");
}

#[tokio::test]
async fn concurrent_calls_share_one_refresh() {
    let (service, tracker) = start(Duration::from_secs(3600)).await;
    tracker.call(IssueTracker::CREATE_ISSUE, new_issue("first")).await.unwrap();
    service.expire_tokens();
    let calls = (0..20).map(|_| {
        let tracker = tracker.clone();
        tokio::spawn(async move { tracker.call(IssueTracker::GET_ISSUE, IssueRef { number: 1 }).await })
    });
    for call in futures::future::join_all(calls).await {
        call.unwrap().unwrap();
    }
    assert_eq!(service.token_grants(), 2, "twenty callers, one refresh");
}

#[tokio::test]
async fn listing_follows_every_page() {
    let (service, tracker) = start(Duration::from_secs(3600)).await;
    for n in 0..250 {
        tracker.call(IssueTracker::CREATE_ISSUE, new_issue(&format!("issue {n}"))).await.unwrap();
    }
    let requests_before = service.request_count();
    let listed = tracker.call(IssueTracker::LIST_ISSUES, ListIssues::default()).await.unwrap();
    let numbers: Vec<u64> = listed.issues.iter().map(|issue| issue.number).collect();
    assert_eq!(numbers, (1..=250).collect::<Vec<_>>());
    assert_eq!(service.request_count(), requests_before + 3, "three pages of 100");
    let limited = tracker.call(IssueTracker::LIST_ISSUES, ListIssues { state: None, limit: Some(5) }).await.unwrap();
    assert_eq!(limited.issues.len(), 5);
}

#[tokio::test]
async fn the_check_tells_bad_credentials_from_an_unreachable_service() {
    let (service, tracker) = start(Duration::from_secs(3600)).await;
    tracker.check().await.unwrap();

    let wrong =
        IssueTracker::init(TrackerConfig { client_secret: Secret::new("not-the-secret"), ..tracker.config().clone() });
    let error = wrong.check().await.unwrap_err();
    assert!(matches!(error, CheckError::BadCredentials { .. }), "{error}");
    assert!(!error.to_string().contains("not-the-secret"), "{error}");

    let base_url = service.base_url();
    service.shutdown().await.unwrap();
    let gone = IssueTracker::init(TrackerConfig { base_url, ..tracker.config().clone() });
    let error = gone.check().await.unwrap_err();
    assert!(matches!(error, CheckError::Unreachable { .. }), "{error}");
}

#[tokio::test]
async fn the_file_bug_job_runs_end_to_end_and_tokens_persist_in_the_store() {
    let (service, tracker) = start(Duration::from_secs(3600)).await;
    let store: Arc<dyn connector_runtime::store::RunStore> = Arc::new(MemoryStore::new());
    let engine = Engine::builder().shared_store(Arc::clone(&store)).connector(tracker).job(FileBugJob).build().unwrap();
    let run = engine.send(BugReported { title: "Crash on start".into(), details: "stack trace".into() }).await.unwrap();
    assert_eq!(run[0].status, RunStatus::Succeeded, "{:?}", run[0].error);
    assert_eq!(run[0].output, Some(serde_json::json!({"number": 1, "openIssues": 1})));
    assert_eq!(service.issues()[0].labels, vec!["bug".to_owned()]);
    let kept = store.tokens("issue-tracker").await.unwrap().expect("the tokens are kept in the store");
    assert!(kept["access_token"].is_string());
    assert_eq!(store.cursor("oauth2:issue-tracker").await.unwrap(), None, "tokens are not polling cursors");
    assert!(engine.check("issue-tracker").await.is_ok());
    let called = engine.call_action("issue-tracker", "getIssue", serde_json::json!({"number": 1})).await.unwrap();
    assert_eq!(called["title"], "Crash on start");
    let misfit =
        engine.call_action("issue-tracker", "getIssue", serde_json::json!({"number": "one"})).await.unwrap_err();
    assert!(misfit.to_string().contains("at `number`"), "{misfit}");
}

#[tokio::test]
async fn a_refused_refresh_token_falls_back_to_client_credentials() {
    let (service, tracker) = start(Duration::from_secs(3600)).await;
    let store: Arc<dyn connector_runtime::store::RunStore> = Arc::new(MemoryStore::new());
    // Tokens from before: expired, with a refresh token this server never issued.
    let stale = serde_json::json!({
        "access_token": "stale-access", "refresh_token": "rt-the-server-forgot",
        "expires_at": "2020-01-01T00:00:00Z",
        "client_id": CLIENT_ID, "token_url": service.token_url(),
    });
    store.save_tokens("issue-tracker", &stale).await.unwrap();
    let engine = Engine::builder().shared_store(Arc::clone(&store)).connector(tracker).job(FileBugJob).build().unwrap();
    let run = engine.send(BugReported { title: "After a restart".into(), details: "..".into() }).await.unwrap();
    assert_eq!(run[0].status, RunStatus::Succeeded, "{:?}", run[0].error);
    let kept = store.tokens("issue-tracker").await.unwrap().unwrap();
    assert_ne!(kept["access_token"], "stale-access", "new tokens replaced the refused ones");
    // Tokens loaded from the store are masked, the refresh token too (no config holds it).
    let line = "retrying with rt-the-server-forgot";
    assert_eq!(connector_runtime::redact(line), "retrying with [redacted]");
}

#[tokio::test]
async fn tokens_of_another_server_are_not_used() {
    let (first, tracker) = start(Duration::from_secs(3600)).await;
    let store: Arc<dyn connector_runtime::store::RunStore> = Arc::new(MemoryStore::new());
    let engine = Engine::builder().shared_store(Arc::clone(&store)).connector(tracker).job(FileBugJob).build().unwrap();
    engine.send(BugReported { title: "one".into(), details: "..".into() }).await.unwrap();
    let before = store.tokens("issue-tracker").await.unwrap().unwrap();
    drop(first);
    // The config now points at another tracker (another token URL): its tokens are its own.
    let (_second, tracker) = start(Duration::from_secs(3600)).await;
    let engine = Engine::builder().shared_store(Arc::clone(&store)).connector(tracker).job(FileBugJob).build().unwrap();
    let run = engine.send(BugReported { title: "two".into(), details: "..".into() }).await.unwrap();
    assert_eq!(run[0].status, RunStatus::Succeeded, "{:?}", run[0].error);
    let after = store.tokens("issue-tracker").await.unwrap().unwrap();
    assert_ne!(before["token_url"], after["token_url"]);
}

#[tokio::test]
async fn short_lived_tokens_are_refreshed_once_per_expiry_not_on_every_call() {
    // Tokens live 2 s: shorter than the 60 s margin, which is capped at half the lifetime.
    let (service, tracker) = start(Duration::from_secs(2)).await;
    tracker.call(IssueTracker::CREATE_ISSUE, new_issue("first")).await.unwrap();
    let calls = |n| {
        let tracker = tracker.clone();
        futures::future::join_all((0..n).map(move |_| {
            let tracker = tracker.clone();
            tokio::spawn(async move { tracker.call(IssueTracker::GET_ISSUE, IssueRef { number: 1 }).await })
        }))
    };
    for call in calls(20).await {
        call.unwrap().unwrap();
    }
    assert_eq!(service.token_grants(), 1, "twenty callers within the token's first half-life: no refresh");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for call in calls(20).await {
        call.unwrap().unwrap();
    }
    assert_eq!(service.token_grants(), 2, "past half its life: one refresh for twenty callers");
}
