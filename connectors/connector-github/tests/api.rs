//! The GitHub actions against a loopback fake driven by GitHub's published OpenAPI
//! description: every request the connector sends must match an operation and fit its schemas,
//! and every documented example answer must deserialize into the action's output type. Then
//! GitHub App authentication (JWT, installation token, cache, single flight), rate limits, and
//! what the runtime's request helper adds (the step's idempotency key, the instance's limit).

mod support;

use std::time::{Duration, Instant};

use connector_github::{
    AddLabels, CheckConclusion, CheckOutput, CheckStatus, GitHub, GitHubConfig, IssueState, ListIssues, NewCheckRun,
    NewComment, NewIssue, RepoRef, StateFilter,
};
use connector_runtime::prelude::*;
use connector_runtime::{CheckError, Integration};
use reqwest::StatusCode;
use serde_json::json;
use support::fake::{APP_ID, APP_KEY_PEM, FakeGitHub, INSTALLATION_ID, Reply, TOKEN};
use support::openapi::SPEC;

fn with_token(fake: &FakeGitHub) -> Integration<GitHub> {
    GitHub::init(GitHubConfig::token(Secret::new(TOKEN)).api_url(&fake.api_url))
}

fn as_app(fake: &FakeGitHub) -> Integration<GitHub> {
    GitHub::init(GitHubConfig::app(APP_ID, INSTALLATION_ID, Secret::new(APP_KEY_PEM)).api_url(&fake.api_url))
}

fn hello_world() -> RepoRef {
    RepoRef { owner: "octocat".into(), repo: "Hello-World".into() }
}

/// Every request the fake answered was valid for its operation.
fn assert_all_valid(fake: &FakeGitHub) {
    for received in fake.received() {
        assert!(
            received.status < 400,
            "{} {} was refused ({}): {:?}",
            received.method,
            received.path,
            received.status,
            received.body
        );
    }
}

// The fake itself: it refuses what GitHub's description refuses.

#[tokio::test]
async fn the_fake_refuses_an_issue_without_a_title() {
    let fake = FakeGitHub::start().await;
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}/repos/octocat/Hello-World/issues", fake.api_url))
        .bearer_auth(TOKEN)
        .json(&json!({"nope": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = response.json().await.unwrap();
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("\"title\" is a required property"), "{message}");
    assert_eq!(fake.calls("issues/create").len(), 1, "matched to `issues/create`");
}

#[tokio::test]
async fn the_fake_refuses_bad_parameters_and_unknown_paths() {
    let fake = FakeGitHub::start().await;
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("{}{path}", fake.api_url)).bearer_auth(TOKEN).send();
    let wrong_state = get("/repos/octocat/Hello-World/issues?state=opne").await.unwrap();
    assert_eq!(wrong_state.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let wrong_page = get("/repos/octocat/Hello-World/issues?per_page=many").await.unwrap();
    assert_eq!(wrong_page.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let typo = get("/repos/octocat/Hello-World/issues?sate=open").await.unwrap();
    assert_eq!(typo.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let comment_on_nothing = client
        .post(format!("{}/repos/octocat/Hello-World/issues/x/comments", fake.api_url))
        .bearer_auth(TOKEN)
        .json(&json!({"body": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(comment_on_nothing.status(), StatusCode::UNPROCESSABLE_ENTITY, "issue_number is an integer");
    assert_eq!(get("/no/such/operation/here/at/all").await.unwrap().status(), StatusCode::NOT_FOUND);
    let labels_without_any = client
        .post(format!("{}/repos/octocat/Hello-World/issues/1/labels", fake.api_url))
        .bearer_auth(TOKEN)
        .json(&json!({"labels": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(labels_without_any.status(), StatusCode::UNPROCESSABLE_ENTITY, "labels has minItems 1");
}

#[test]
fn nullable_becomes_a_type_union() {
    let nullable = json!({"type": "string", "nullable": true, "enum": ["a"]});
    let converted = support::openapi::to_json_schema(&nullable);
    assert_eq!(converted, json!({"type": ["string", "null"], "enum": ["a", null]}));
    let issue_body =
        &SPEC.operation(SPEC.by_id("issues/create"))["requestBody"]["content"]["application/json"]["schema"];
    assert!(SPEC.check(issue_body, &json!({"title": "t", "milestone": null, "assignee": null})).is_empty());
    assert!(!SPEC.check(issue_body, &json!({"title": "t", "body": null})).is_empty(), "body is not nullable");
}

// The actions, against the description.

#[tokio::test]
async fn get_repository_reads_the_documented_repository() {
    let fake = FakeGitHub::start().await;
    let repository = with_token(&fake).call(GitHub::GET_REPOSITORY, hello_world()).await.unwrap();
    assert_eq!(repository.full_name, "octocat/Hello-World");
    assert_eq!(repository.owner.login, "octocat");
    assert_eq!(repository.default_branch, "master");
    let sent = &fake.calls("repos/get")[0];
    assert_eq!(sent.path, "/repos/octocat/Hello-World");
    assert_eq!(sent.headers["authorization"], format!("Bearer {TOKEN}").as_str());
    assert_eq!(sent.headers["accept"], "application/vnd.github+json");
    assert_eq!(sent.headers["x-github-api-version"], "2022-11-28");
    assert_eq!(sent.headers["user-agent"], "typed-connectors-github");
    assert_all_valid(&fake);
}

#[tokio::test]
async fn create_issue_sends_a_body_the_description_accepts() {
    let fake = FakeGitHub::start().await;
    let input = NewIssue {
        owner: "octocat".into(),
        repo: "Hello-World".into(),
        title: "Found a bug".into(),
        body: Some("I'm having a problem with this.".into()),
        labels: vec!["bug".into()],
        assignees: vec!["octocat".into()],
    };
    let issue = with_token(&fake).call(GitHub::CREATE_ISSUE, input).await.unwrap();
    assert_eq!((issue.number, issue.state), (1347, Some(IssueState::Open)));
    assert_eq!(issue.label_names(), ["bug"]);
    let sent = &fake.calls("issues/create")[0];
    assert_eq!(sent.status, 201);
    assert_eq!(
        sent.body,
        Some(
            json!({"title": "Found a bug", "body": "I'm having a problem with this.", "labels": ["bug"], "assignees": ["octocat"]})
        )
    );
    assert_all_valid(&fake);
}

#[tokio::test]
async fn comments_labels_and_check_runs_fit_the_description() {
    let fake = FakeGitHub::start().await;
    let github = with_token(&fake);
    let comment =
        NewComment { owner: "octocat".into(), repo: "Hello-World".into(), issue_number: 1347, body: "Me too".into() };
    let comment = github.call(GitHub::CREATE_ISSUE_COMMENT, comment).await.unwrap();
    assert_eq!(comment.body.as_deref(), Some("Me too"));
    assert_eq!(fake.calls("issues/create-comment")[0].path, "/repos/octocat/Hello-World/issues/1347/comments");

    let labels = AddLabels {
        owner: "octocat".into(),
        repo: "Hello-World".into(),
        issue_number: 1347,
        labels: vec!["bug".into(), "enhancement".into()],
    };
    let labels = github.call(GitHub::ADD_LABELS, labels).await.unwrap();
    assert_eq!(labels.labels.iter().map(|label| label.name.as_str()).collect::<Vec<_>>(), ["bug", "enhancement"]);

    let check = NewCheckRun {
        owner: "octocat".into(),
        repo: "Hello-World".into(),
        name: "mighty_readme".into(),
        head_sha: "ce587453ced02b1526dfb4cb910479d431683101".into(),
        status: Some(CheckStatus::Completed),
        conclusion: Some(CheckConclusion::Neutral),
        details_url: Some("https://example.com".into()),
        external_id: Some("42".into()),
        output: Some(CheckOutput {
            title: "Mighty Readme report".into(),
            summary: "There are 0 failures.".into(),
            text: None,
        }),
    };
    let run = github.call(GitHub::CREATE_CHECK_RUN, check).await.unwrap();
    assert_eq!((run.id, run.status, run.conclusion), (4, CheckStatus::Completed, Some(CheckConclusion::Neutral)));
    assert_eq!(fake.calls("checks/create")[0].body.as_ref().unwrap()["output"]["summary"], "There are 0 failures.");
    assert_all_valid(&fake);
}

#[tokio::test]
async fn listing_follows_the_link_header_through_every_page() {
    let fake = FakeGitHub::start().await;
    fake.set_issue_pages(3);
    let github = with_token(&fake);
    let input = ListIssues {
        state: StateFilter::All,
        include_pull_requests: true,
        ..ListIssues::open("octocat", "Hello-World")
    };
    let list = github.call(GitHub::LIST_ISSUES, input.clone()).await.unwrap();
    assert_eq!(list.issues.len(), 3, "one documented item per page");
    let pages: Vec<Option<String>> = fake
        .calls("issues/list-for-repo")
        .iter()
        .map(|call| call.query.iter().find(|(key, _)| key == "page").map(|(_, value)| value.clone()))
        .collect();
    assert_eq!(pages, [None, Some("2".into()), Some("3".into())]);
    let first = &fake.calls("issues/list-for-repo")[0].query;
    assert!(first.contains(&("state".into(), "all".into())) && first.contains(&("per_page".into(), "100".into())));

    let limited = github.call(GitHub::LIST_ISSUES, ListIssues { limit: Some(2), ..input }).await.unwrap();
    assert_eq!(limited.issues.len(), 2);
    assert_eq!(fake.calls("issues/list-for-repo").len(), 5, "the limit stops before the third page");
    assert_all_valid(&fake);
}

#[tokio::test]
async fn pull_requests_are_left_out_of_issues_unless_asked_for() {
    let fake = FakeGitHub::start().await;
    let input = ListIssues {
        labels: vec!["bug".into(), "ui".into()],
        since: Some("2011-04-22T13:33:48Z".parse().unwrap()),
        ..ListIssues::open("octocat", "Hello-World")
    };
    let list = with_token(&fake).call(GitHub::LIST_ISSUES, input).await.unwrap();
    assert!(list.issues.is_empty(), "the documented item is a pull request");
    let query = &fake.calls("issues/list-for-repo")[0].query;
    assert!(query.contains(&("labels".into(), "bug,ui".into())), "{query:?}");
    assert!(query.contains(&("since".into(), "2011-04-22T13:33:48Z".into())), "{query:?}");
    assert_all_valid(&fake);
}

#[tokio::test]
async fn the_check_reads_the_rate_limit() {
    let fake = FakeGitHub::start().await;
    with_token(&fake).check().await.unwrap();
    assert_eq!(fake.calls("rate-limit/get").len(), 1);
    let wrong = GitHub::init(GitHubConfig::token(Secret::new("ghp_not_a_token_anyone_issued")).api_url(&fake.api_url));
    let error = wrong.check().await.unwrap_err();
    assert!(matches!(error, CheckError::BadCredentials { .. }), "{error:?}");
    assert!(!error.to_string().contains("ghp_not_a_token"), "{error}");
}

#[test]
fn every_documented_answer_of_the_actions_deserializes_into_its_output_type() {
    fn fits<T: serde::de::DeserializeOwned>(operation: &str) {
        let (_, example) = SPEC.example(SPEC.by_id(operation));
        let example = example.unwrap_or_else(|| panic!("{operation} has no example"));
        if let Err(error) = serde_json::from_value::<T>(example) {
            panic!("the example of {operation} does not fit: {error}");
        }
    }
    fits::<connector_github::Repository>("repos/get");
    fits::<Vec<connector_github::Issue>>("issues/list-for-repo");
    fits::<connector_github::Issue>("issues/create");
    fits::<connector_github::IssueComment>("issues/create-comment");
    fits::<Vec<connector_github::Label>>("issues/add-labels");
    fits::<connector_github::CheckRun>("checks/create");
}

// GitHub App authentication.

#[tokio::test]
async fn an_app_exchanges_a_signed_jwt_once_and_reuses_the_installation_token() {
    let fake = FakeGitHub::start().await;
    let github = as_app(&fake);
    github.call(GitHub::GET_REPOSITORY, hello_world()).await.unwrap();
    github.call(GitHub::GET_REPOSITORY, hello_world()).await.unwrap();
    assert_eq!(fake.issued(), 1, "one exchange while the token is fresh");
    let exchange = &fake.calls("apps/create-installation-access-token")[0];
    assert_eq!(exchange.path, format!("/app/installations/{INSTALLATION_ID}/access_tokens"));
    assert_eq!(exchange.status, 201, "the fake verified the JWT");
    let used: Vec<_> = fake.calls("repos/get").iter().map(|call| call.headers["authorization"].clone()).collect();
    assert_eq!(used[0], used[1]);
    assert!(used[0].to_str().unwrap().starts_with("Bearer ghs_"));
}

#[tokio::test]
async fn concurrent_calls_wait_for_one_exchange() {
    let fake = FakeGitHub::start().await;
    fake.set_exchange_delay(Duration::from_millis(200));
    let github = as_app(&fake);
    let calls = (0..12).map(|_| {
        let github = github.clone();
        tokio::spawn(async move { github.call(GitHub::GET_REPOSITORY, hello_world()).await })
    });
    for call in futures::future::join_all(calls).await {
        call.unwrap().unwrap();
    }
    assert_eq!(fake.issued(), 1, "twelve callers, one exchange");
}

#[tokio::test]
async fn a_token_close_to_expiry_is_replaced_before_use() {
    let fake = FakeGitHub::start().await;
    fake.set_token_ttl(Duration::from_secs(4 * 60));
    let github = as_app(&fake);
    github.call(GitHub::GET_REPOSITORY, hello_world()).await.unwrap();
    github.call(GitHub::GET_REPOSITORY, hello_world()).await.unwrap();
    assert_eq!(fake.issued(), 2, "a token with less than five minutes left is not used");
    assert!(fake.calls("repos/get").iter().all(|call| call.status == 200), "no request was refused first");
}

#[tokio::test]
async fn a_revoked_installation_token_is_replaced_once() {
    let fake = FakeGitHub::start().await;
    let github = as_app(&fake);
    github.call(GitHub::GET_REPOSITORY, hello_world()).await.unwrap();
    fake.revoke_installation_tokens();
    github.call(GitHub::GET_REPOSITORY, hello_world()).await.unwrap();
    assert_eq!(fake.issued(), 2);
    let statuses: Vec<u16> = fake.calls("repos/get").iter().map(|call| call.status).collect();
    assert_eq!(statuses, [200, 401, 200]);
}

#[tokio::test]
async fn a_key_that_is_not_the_apps_is_refused_and_a_malformed_one_is_permanent() {
    let fake = FakeGitHub::start().await;
    let garbage =
        GitHub::init(GitHubConfig::app(APP_ID, INSTALLATION_ID, Secret::new("not a key")).api_url(&fake.api_url));
    let error = garbage.call(GitHub::GET_REPOSITORY, hello_world()).await.unwrap_err();
    assert!(matches!(&error, ActionError::Permanent(message) if message.contains("privateKey")), "{error:?}");
    assert!(fake.received().is_empty());

    let other_app =
        GitHub::init(GitHubConfig::app("999", INSTALLATION_ID, Secret::new(APP_KEY_PEM)).api_url(&fake.api_url));
    let error = other_app.call(GitHub::GET_REPOSITORY, hello_world()).await.unwrap_err();
    assert!(
        matches!(&error, ActionError::Unauthorized { status: 401, message } if message.contains("appId")),
        "{error:?}"
    );
    assert!(!error.to_string().contains("PRIVATE KEY"), "{error}");
}

#[test]
fn the_jwt_claims_follow_githubs_rules() {
    let now = chrono::Utc::now();
    let jwt = connector_github::auth::app_jwt(APP_ID, &Secret::new(APP_KEY_PEM), now).unwrap();
    let claims = jwt.expose().split('.').nth(1).unwrap();
    use base64::Engine as _;
    let claims: serde_json::Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
    assert_eq!(claims["iss"], APP_ID);
    assert_eq!(claims["iat"], now.timestamp() - 60, "60 s in the past against clock drift");
    let lifetime = claims["exp"].as_i64().unwrap() - now.timestamp();
    assert!(lifetime > 0 && lifetime <= 600, "{lifetime}");
    assert!(format!("{jwt:?}").contains("redacted"));
}

// Rate limits and errors.

fn epoch_in(seconds: u64) -> String {
    (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + seconds).to_string()
}

#[tokio::test]
async fn an_exhausted_rate_limit_pauses_the_connector_until_the_reset() {
    let fake = FakeGitHub::start().await;
    fake.reply(
        "repos/get",
        Reply {
            status: StatusCode::FORBIDDEN,
            headers: vec![("x-ratelimit-remaining", "0".into()), ("x-ratelimit-reset", epoch_in(30))],
            body: json!({"message": "API rate limit exceeded for installation ID 42000001.", "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}),
        },
    );
    let github = with_token(&fake);
    let error = github.call(GitHub::GET_REPOSITORY, hello_world()).await.unwrap_err();
    let ActionError::RateLimited { retry_after: Some(wait), message } = &error else { panic!("{error:?}") };
    assert!(*wait > Duration::from_secs(25) && *wait <= Duration::from_secs(30), "{wait:?}");
    assert!(message.contains("API rate limit exceeded"));
    let started = Instant::now();
    let paused = github
        .call(
            GitHub::CREATE_ISSUE_COMMENT,
            NewComment { owner: "octocat".into(), repo: "Hello-World".into(), issue_number: 1, body: "later".into() },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(paused, ActionError::RateLimited { retry_after: Some(wait), .. } if wait > Duration::from_secs(25))
    );
    assert!(started.elapsed() < Duration::from_secs(1), "answered at once, not by waiting");
    assert_eq!(fake.received().len(), 1, "nothing was sent while paused");
}

#[tokio::test]
async fn a_secondary_rate_limit_waits_as_retry_after_says() {
    let fake = FakeGitHub::start().await;
    let limited = |status| Reply {
        status,
        headers: vec![("retry-after", "7".into())],
        body: json!({"message": "You have exceeded a secondary rate limit and have been temporarily blocked from content creation. Please retry your request again later."}),
    };
    fake.reply("issues/create", limited(StatusCode::FORBIDDEN));
    fake.reply("issues/create", limited(StatusCode::TOO_MANY_REQUESTS));
    let github = with_token(&fake);
    let input = NewIssue {
        owner: "octocat".into(),
        repo: "Hello-World".into(),
        title: "t".into(),
        body: None,
        labels: vec![],
        assignees: vec![],
    };
    for _ in 0..2 {
        let error = github.call(GitHub::CREATE_ISSUE, input.clone()).await.unwrap_err();
        assert!(
            matches!(error, ActionError::RateLimited { retry_after: Some(wait), .. } if wait == Duration::from_secs(7)),
            "{error:?}"
        );
    }
}

#[tokio::test]
async fn refusals_are_classified() {
    let fake = FakeGitHub::start().await;
    fake.reply("repos/get", Reply { status: StatusCode::NOT_FOUND, headers: vec![], body: json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest/repos/repos#get-a-repository"}) });
    fake.reply(
        "repos/get",
        Reply {
            status: StatusCode::FORBIDDEN,
            headers: vec![("x-ratelimit-remaining", "4999".into())],
            body: json!({"message": "Resource not accessible by integration"}),
        },
    );
    fake.reply(
        "repos/get",
        Reply { status: StatusCode::BAD_GATEWAY, headers: vec![], body: json!({"message": "Server Error"}) },
    );
    let github = with_token(&fake);
    let call = || github.call(GitHub::GET_REPOSITORY, hello_world());
    assert!(
        matches!(call().await.unwrap_err(), ActionError::Rejected { status: 404, message } if message == "Not Found")
    );
    assert!(matches!(call().await.unwrap_err(), ActionError::Unauthorized { status: 403, .. }));
    assert!(matches!(call().await.unwrap_err(), ActionError::Transient { .. }));
    let wrong = GitHub::init(GitHubConfig::token(Secret::new("ghp_wrong_token_0000")).api_url(&fake.api_url));
    let error = wrong.call(GitHub::GET_REPOSITORY, hello_world()).await.unwrap_err();
    assert!(
        matches!(&error, ActionError::Unauthorized { status: 401, message } if message == "Bad credentials"),
        "{error:?}"
    );
}

#[tokio::test]
async fn no_credentials_is_a_permanent_error_that_says_what_to_set() {
    let config: GitHubConfig = serde_json::from_value(json!({"apiUrl": "http://127.0.0.1:9"})).unwrap();
    let error = GitHub::init(config).call(GitHub::GET_REPOSITORY, hello_world()).await.unwrap_err();
    assert!(matches!(&error, ActionError::Permanent(message) if message.contains("`token`")), "{error:?}");
}

#[tokio::test]
async fn a_success_that_uses_up_the_limit_pauses_the_next_calls() {
    let fake = FakeGitHub::start().await;
    let (_, example) = SPEC.example(SPEC.by_id("repos/get"));
    fake.reply(
        "repos/get",
        Reply {
            status: StatusCode::OK,
            headers: vec![("x-ratelimit-remaining", "0".into()), ("x-ratelimit-reset", epoch_in(60))],
            body: example.unwrap(),
        },
    );
    let github = with_token(&fake);
    github.call(GitHub::GET_REPOSITORY, hello_world()).await.unwrap();
    let error = github.call(GitHub::GET_REPOSITORY, hello_world()).await.unwrap_err();
    assert!(
        matches!(error, ActionError::RateLimited { retry_after: Some(wait), .. } if wait > Duration::from_secs(55))
    );
    assert_eq!(fake.received().len(), 1);
}

// A job, with the engine's retries.

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "bug.reported")]
struct BugReported {
    title: String,
}

#[job(id = "file-bug", name = "File a bug", version = "1.0.0", event = BugReported, integrations(github = GitHub))]
async fn file_bug(bug: BugReported, io: FileBugIo<'_>) -> Result<u64, JobError> {
    let issue = io
        .github
        .create_issue(
            "file",
            NewIssue {
                owner: "octocat".into(),
                repo: "Hello-World".into(),
                title: bug.title,
                body: None,
                labels: vec!["bug".into()],
                assignees: vec![],
            },
        )
        .await?;
    Ok(issue.number)
}

#[tokio::test]
async fn a_job_waits_for_the_rate_limit_reset_then_files_the_issue() {
    let fake = FakeGitHub::start().await;
    fake.reply(
        "issues/create",
        Reply {
            status: StatusCode::TOO_MANY_REQUESTS,
            headers: vec![("x-ratelimit-remaining", "0".into()), ("x-ratelimit-reset", epoch_in(1))],
            body: json!({"message": "API rate limit exceeded for user ID 1."}),
        },
    );
    let quick = connector_runtime::RetryPolicy::DEFAULT
        .with_delays(Duration::from_millis(1), Duration::from_millis(5))
        .without_jitter();
    let run = connector_runtime::testing::JobTest::new(FileBugJob)
        .connector(as_app(&fake))
        .retry_policy(quick)
        .run(BugReported { title: "Crash on start".into() })
        .await
        .unwrap();
    assert_eq!(run.status(), connector_runtime::RunStatus::Succeeded, "{:?}", run.error());
    assert_eq!(run.output::<u64>(), 1347);
    assert_eq!(run.steps()[0].attempts, 2, "retried once, after the reset");
    let statuses: Vec<u16> = fake.calls("issues/create").iter().map(|call| call.status).collect();
    assert_eq!(statuses, [429, 201], "nothing was sent while paused");
    assert_all_valid_but(&fake, 429);
}

/// Every request the fake answered was valid for its operation, apart from `status` answers
/// a test queued.
fn assert_all_valid_but(fake: &FakeGitHub, status: u16) {
    for received in fake.received().into_iter().filter(|received| received.status != status) {
        assert!(received.status < 400, "{} {} was refused ({})", received.method, received.path, received.status);
    }
}

// The runtime's request helper sends the requests: the step's idempotency key, the instance's
// rate limit.

#[tokio::test]
async fn a_steps_post_carries_its_idempotency_key_even_when_a_token_exchange_comes_first() {
    let fake = FakeGitHub::start().await;
    let run = connector_runtime::testing::JobTest::new(FileBugJob)
        .connector(as_app(&fake))
        .run(BugReported { title: "Crash on start".into() })
        .await
        .unwrap();
    assert_eq!(run.status(), connector_runtime::RunStatus::Succeeded, "{:?}", run.error());
    let created = &fake.calls("issues/create")[0];
    assert_eq!(created.headers["idempotency-key"], format!("{}:file", run.run().id).as_str());
    assert!(created.headers["authorization"].to_str().unwrap().starts_with("Bearer ghs_"));
    assert_eq!(fake.issued(), 1, "the exchange ran within the step");
    assert_all_valid(&fake);
}

#[tokio::test]
async fn the_instances_rate_limit_spaces_the_requests_and_reads_carry_no_key() {
    let fake = FakeGitHub::start().await;
    let limit = connector_runtime::RateLimit { per_second: Some(10), burst: Some(1), concurrency: None };
    let github =
        Integration::<GitHub>::with_rate_limit(GitHubConfig::token(Secret::new(TOKEN)).api_url(&fake.api_url), limit);
    let started = Instant::now();
    for _ in 0..4 {
        github.call(GitHub::GET_REPOSITORY, hello_world()).await.unwrap();
    }
    // One at once, then one every 100 ms.
    assert!(started.elapsed() >= Duration::from_millis(290), "{:?}", started.elapsed());
    let received = fake.received();
    assert_eq!(received.len(), 4);
    assert!(received.iter().all(|call| call.headers.get("idempotency-key").is_none()));
    assert!(received.iter().all(|call| call.headers["authorization"] == format!("Bearer {TOKEN}").as_str()));
}
