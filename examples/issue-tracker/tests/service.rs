//! The issue tracker over real HTTP on loopback: OAuth2 tokens and their expiry, issues,
//! pagination with `Link` headers, injected failures, shutdown.

use std::time::Duration;

use chrono::{DateTime, Utc};
use issue_tracker::service::{IssueState, TrackerOptions, TrackerService, TrackerServiceHandle};
use reqwest::StatusCode;
use serde_json::{Value, json};

const CLIENT_ID: &str = "tracker-client";
const CLIENT_SECRET: &str = "s3cr3t-0123456789";

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().expect("a reqwest client builds")
}

async fn start_with_ttl(ttl: Duration) -> TrackerServiceHandle {
    TrackerService::start_with(TrackerOptions::new(CLIENT_ID, CLIENT_SECRET).with_token_ttl(ttl))
        .await
        .expect("the tracker starts")
}

async fn start() -> TrackerServiceHandle {
    start_with_ttl(Duration::from_secs(600)).await
}

/// `POST /oauth/token` with a form of URL-safe values.
async fn token_request(
    http: &reqwest::Client,
    tracker: &TrackerServiceHandle,
    fields: &[(&str, &str)],
) -> reqwest::Result<reqwest::Response> {
    let body = fields.iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>().join("&");
    http.post(tracker.token_url()).header("content-type", "application/x-www-form-urlencoded").body(body).send().await
}

/// A token response from the client-credentials grant.
async fn grant(http: &reqwest::Client, tracker: &TrackerServiceHandle) -> Result<Value, reqwest::Error> {
    token_request(
        http,
        tracker,
        &[("grant_type", "client_credentials"), ("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)],
    )
    .await?
    .error_for_status()?
    .json()
    .await
}

async fn access_token(http: &reqwest::Client, tracker: &TrackerServiceHandle) -> String {
    let token = grant(http, tracker).await.expect("a token is granted");
    token["access_token"].as_str().expect("access_token is a string").to_owned()
}

async fn create_issue(
    http: &reqwest::Client,
    tracker: &TrackerServiceHandle,
    token: &str,
    body: &Value,
) -> reqwest::Result<reqwest::Response> {
    http.post(format!("{}/api/issues", tracker.base_url())).bearer_auth(token).json(body).send().await
}

#[tokio::test]
async fn client_credentials_grant_issues_bearer_tokens() -> TestResult {
    let tracker = start_with_ttl(Duration::from_secs(90)).await;
    let http = client();

    let response = token_request(
        &http,
        &tracker,
        &[("grant_type", "client_credentials"), ("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)],
    )
    .await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers().get("cache-control").map(|v| v.as_bytes()), Some(&b"no-store"[..]));
    let token: Value = response.json().await?;
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["expires_in"], 90);
    let access = token["access_token"].as_str().ok_or("access_token")?;
    let refresh = token["refresh_token"].as_str().ok_or("refresh_token")?;
    assert!(!access.is_empty() && !refresh.is_empty());
    assert_ne!(access, refresh);
    assert_eq!(tracker.token_grants(), 1);

    let second = grant(&http, &tracker).await?;
    assert_ne!(second["access_token"], token["access_token"]);
    assert_eq!(tracker.token_grants(), 2);
    assert_eq!(tracker.token_requests(), 2);
    assert_eq!(tracker.request_count(), 0);
    Ok(())
}

#[tokio::test]
async fn token_endpoint_refuses_bad_requests_per_rfc_6749() -> TestResult {
    let tracker = start().await;
    let http = client();

    /// Form fields, the expected status and the expected `error`.
    type Case = (&'static [(&'static str, &'static str)], StatusCode, &'static str);
    let cases: [Case; 7] = [
        (
            &[("grant_type", "client_credentials"), ("client_id", CLIENT_ID), ("client_secret", "wrong")],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            &[("grant_type", "client_credentials"), ("client_id", "someone"), ("client_secret", CLIENT_SECRET)],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (&[("grant_type", "client_credentials"), ("client_id", CLIENT_ID)], StatusCode::UNAUTHORIZED, "invalid_client"),
        (&[("grant_type", "client_credentials")], StatusCode::UNAUTHORIZED, "invalid_client"),
        (&[("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)], StatusCode::BAD_REQUEST, "invalid_request"),
        (
            &[("grant_type", "password"), ("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)],
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (&[("grant_type", "refresh_token"), ("refresh_token", "rt_made_up")], StatusCode::BAD_REQUEST, "invalid_grant"),
    ];
    for (fields, status, error) in cases {
        let response = token_request(&http, &tracker, fields).await?;
        assert_eq!(response.status(), status, "{fields:?}");
        let body: Value = response.json().await?;
        assert_eq!(body["error"], error, "{fields:?}");
        assert!(body["error_description"].is_string());
    }

    // A JSON body is not a form.
    let response = http
        .post(tracker.token_url())
        .json(&json!({"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.json::<Value>().await?["error"], "invalid_request");

    assert_eq!(tracker.token_grants(), 0);
    assert_eq!(tracker.token_requests(), 8);
    Ok(())
}

#[tokio::test]
async fn api_needs_a_valid_access_token() -> TestResult {
    let tracker = start().await;
    let http = client();
    let url = format!("{}/api/issues", tracker.base_url());
    let token = grant(&http, &tracker).await?;
    let refresh = token["refresh_token"].as_str().ok_or("refresh_token")?;

    let refused = [
        http.get(&url),
        http.get(&url).bearer_auth("at_made_up"),
        http.get(&url).bearer_auth(refresh),
        http.get(&url).bearer_auth(CLIENT_SECRET),
        http.get(&url).header("authorization", format!("Token {}", token["access_token"].as_str().ok_or("token")?)),
    ];
    let count = refused.len();
    for request in refused {
        let response = request.send().await?;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().contains_key("www-authenticate"));
        assert_eq!(response.json::<Value>().await?, json!({"error": "invalid_token"}));
    }
    let response = create_issue(&http, &tracker, "at_made_up", &json!({"title": "nope"})).await?;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(tracker.issues().is_empty());

    let access = token["access_token"].as_str().ok_or("access_token")?;
    let response = http.get(&url).bearer_auth(access).send().await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await?, json!([]));
    assert_eq!(tracker.request_count(), count + 2);
    Ok(())
}

#[tokio::test]
async fn create_read_and_update_issues() -> TestResult {
    let tracker = start().await;
    let http = client();
    let token = access_token(&http, &tracker).await;
    let before = Utc::now();

    let response = create_issue(
        &http,
        &tracker,
        &token,
        &json!({"title": "  Crash on start  ", "body": "It panics.", "labels": ["bug", "p1"]}),
    )
    .await?;
    assert_eq!(response.status(), StatusCode::CREATED);
    let first: Value = response.json().await?;
    assert_eq!(first["number"], 1);
    assert_eq!(first["title"], "Crash on start");
    assert_eq!(first["body"], "It panics.");
    assert_eq!(first["labels"], json!(["bug", "p1"]));
    assert_eq!(first["state"], "open");
    let created_at: DateTime<Utc> = first["createdAt"].as_str().ok_or("createdAt")?.parse()?;
    assert!(created_at >= before - chrono::Duration::milliseconds(1) && created_at <= Utc::now());

    let second: Value = create_issue(&http, &tracker, &token, &json!({"title": "Docs", "body": null, "labels": []}))
        .await?
        .json()
        .await?;
    assert_eq!(second["number"], 2);
    assert_eq!(second["body"], Value::Null);
    let third: Value = create_issue(&http, &tracker, &token, &json!({"title": "Minimal"})).await?.json().await?;
    assert_eq!(third["number"], 3);
    assert_eq!(third["labels"], json!([]));

    let fetched: Value = http
        .get(format!("{}/api/issues/1", tracker.base_url()))
        .bearer_auth(&token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    assert_eq!(fetched, first);

    let closed: Value = http
        .patch(format!("{}/api/issues/1", tracker.base_url()))
        .bearer_auth(&token)
        .json(&json!({"state": "closed"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    assert_eq!(closed["state"], "closed");
    assert_eq!(closed["title"], "Crash on start");
    let renamed: Value = http
        .patch(format!("{}/api/issues/1", tracker.base_url()))
        .bearer_auth(&token)
        .json(&json!({"title": "Crash on start (fixed)", "state": "open"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    assert_eq!(renamed["title"], "Crash on start (fixed)");
    assert_eq!(renamed["state"], "open");
    assert_eq!(renamed["createdAt"], first["createdAt"]);

    let issues = tracker.issues();
    assert_eq!(issues.len(), 3);
    assert_eq!(issues[0].title, "Crash on start (fixed)");
    assert_eq!(issues[0].state, IssueState::Open);
    assert_eq!(issues[0].created_at, created_at);
    Ok(())
}

#[tokio::test]
async fn bad_issue_requests_are_400_and_unknown_issues_404() -> TestResult {
    let tracker = start().await;
    let http = client();
    let token = access_token(&http, &tracker).await;
    create_issue(&http, &tracker, &token, &json!({"title": "Exists"})).await?.error_for_status()?;

    for body in [
        json!({"title": ""}),
        json!({"title": "   "}),
        json!({"body": "no title"}),
        json!({"title": 7}),
        json!({"title": "x", "labels": "bug"}),
        json!({"title": "x", "labels": [""]}),
        json!({"title": "x".repeat(300)}),
    ] {
        let response = create_issue(&http, &tracker, &token, &body).await?;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        assert!(response.json::<Value>().await?["error"].is_string());
    }
    let response = http
        .post(format!("{}/api/issues", tracker.base_url()))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    for patch in [json!({"state": "reopened"}), json!({"title": ""})] {
        let response =
            http.patch(format!("{}/api/issues/1", tracker.base_url())).bearer_auth(&token).json(&patch).send().await?;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{patch}");
    }
    assert_eq!(tracker.issues().len(), 1);
    assert_eq!(tracker.issues()[0].title, "Exists");
    assert_eq!(tracker.issues()[0].state, IssueState::Open);

    let response = http.get(format!("{}/api/issues/99", tracker.base_url())).bearer_auth(&token).send().await?;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.json::<Value>().await?, json!({"error": "issue not found"}));
    let response = http
        .patch(format!("{}/api/issues/99", tracker.base_url()))
        .bearer_auth(&token)
        .json(&json!({"state": "closed"}))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = http.get(format!("{}/api/issues/one", tracker.base_url())).bearer_auth(&token).send().await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = http.get(format!("{}/api/nothing", tracker.base_url())).bearer_auth(&token).send().await?;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    Ok(())
}

/// The `Link` header's targets by relation.
fn links(response: &reqwest::Response) -> Vec<(String, String)> {
    let Some(header) = response.headers().get("link").and_then(|v| v.to_str().ok()) else {
        return Vec::new();
    };
    header
        .split(", ")
        .filter_map(|link| {
            let (target, rel) = link.split_once("; ")?;
            let target = target.strip_prefix('<')?.strip_suffix('>')?;
            let rel = rel.strip_prefix("rel=\"")?.strip_suffix('"')?;
            Some((rel.to_owned(), target.to_owned()))
        })
        .collect()
}

fn link<'a>(links: &'a [(String, String)], rel: &str) -> Option<&'a str> {
    links.iter().find(|(r, _)| r == rel).map(|(_, target)| target.as_str())
}

fn numbers(page: &Value) -> Vec<u64> {
    page.as_array()
        .map(|issues| issues.iter().filter_map(|issue| issue["number"].as_u64()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn issues_are_listed_in_pages_with_link_headers() -> TestResult {
    let tracker = start().await;
    let http = client();
    let token = access_token(&http, &tracker).await;
    for n in 1..=65 {
        create_issue(&http, &tracker, &token, &json!({"title": format!("Issue {n}")})).await?.error_for_status()?;
    }
    for n in (10..=60).step_by(10) {
        http.patch(format!("{}/api/issues/{n}", tracker.base_url()))
            .bearer_auth(&token)
            .json(&json!({"state": "closed"}))
            .send()
            .await?
            .error_for_status()?;
    }
    let open: Vec<u64> = (1..=65).filter(|n| n % 10 != 0 || *n > 60).collect();
    assert_eq!(open.len(), 59);
    let list = format!("{}/api/issues", tracker.base_url());

    // Defaults: open issues, 30 a page.
    let response = http.get(&list).bearer_auth(&token).send().await?.error_for_status()?;
    assert_eq!(response.headers().get("x-total-count").map(|v| v.as_bytes()), Some(&b"59"[..]));
    let first_links = links(&response);
    let page: Value = response.json().await?;
    assert_eq!(numbers(&page), open[..30]);
    assert!(page.as_array().ok_or("array")?.iter().all(|issue| issue["state"] == "open"));
    assert_eq!(link(&first_links, "next"), Some(format!("{list}?state=open&page=2&per_page=30").as_str()));
    assert_eq!(link(&first_links, "last"), Some(format!("{list}?state=open&page=2&per_page=30").as_str()));
    assert_eq!(link(&first_links, "prev"), None);

    // Following `next` visits every open issue once, in order.
    let mut seen = Vec::new();
    let mut next = Some(format!("{list}?state=open&per_page=7"));
    let mut pages = 0;
    while let Some(url) = next.take() {
        let response = http.get(&url).bearer_auth(&token).send().await?.error_for_status()?;
        next = link(&links(&response), "next").map(str::to_owned);
        let page: Value = response.json().await?;
        assert!(page.as_array().ok_or("array")?.len() <= 7);
        seen.extend(numbers(&page));
        pages += 1;
        assert!(pages <= 9, "more pages than 59 issues need");
    }
    assert_eq!(pages, 9);
    assert_eq!(seen, open);

    // The last page has first/prev links and no next one.
    let response = http.get(&list).query(&[("page", "9"), ("per_page", "7")]).bearer_auth(&token).send().await?;
    let last_links = links(&response);
    assert_eq!(link(&last_links, "next"), None);
    assert_eq!(link(&last_links, "prev"), Some(format!("{list}?state=open&page=8&per_page=7").as_str()));
    assert_eq!(link(&last_links, "first"), Some(format!("{list}?state=open&page=1&per_page=7").as_str()));
    assert_eq!(numbers(&response.json().await?), open[56..]);

    // Past the end: an empty page. per_page is capped at 100.
    let response = http.get(&list).query(&[("page", "20")]).bearer_auth(&token).send().await?;
    assert_eq!(link(&links(&response), "next"), None);
    assert_eq!(response.json::<Value>().await?, json!([]));
    let response = http.get(&list).query(&[("per_page", "1000")]).bearer_auth(&token).send().await?;
    assert!(links(&response).is_empty());
    assert_eq!(numbers(&response.json().await?), open);

    // Other states.
    let closed: Value = http.get(&list).query(&[("state", "closed")]).bearer_auth(&token).send().await?.json().await?;
    assert_eq!(numbers(&closed), vec![10, 20, 30, 40, 50, 60]);
    let response = http.get(&list).query(&[("state", "all"), ("per_page", "50")]).bearer_auth(&token).send().await?;
    assert_eq!(link(&links(&response), "next"), Some(format!("{list}?state=all&page=2&per_page=50").as_str()));
    assert_eq!(numbers(&response.json().await?), (1..=50).collect::<Vec<_>>());

    for query in [[("state", "bogus")], [("page", "0")], [("per_page", "0")], [("per_page", "many")]] {
        let response = http.get(&list).query(&query).bearer_auth(&token).send().await?;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query:?}");
        assert!(response.json::<Value>().await?["error"].is_string());
    }
    Ok(())
}

#[tokio::test]
async fn per_page_is_capped_at_100() -> TestResult {
    let tracker = start().await;
    let http = client();
    let token = access_token(&http, &tracker).await;
    for n in 1..=101 {
        create_issue(&http, &tracker, &token, &json!({"title": format!("Issue {n}")})).await?.error_for_status()?;
    }
    let list = format!("{}/api/issues", tracker.base_url());
    let response = http.get(&list).query(&[("per_page", "1000")]).bearer_auth(&token).send().await?;
    assert_eq!(link(&links(&response), "next"), Some(format!("{list}?state=open&page=2&per_page=100").as_str()));
    assert_eq!(numbers(&response.json().await?), (1..=100).collect::<Vec<_>>());
    Ok(())
}

#[tokio::test]
async fn expired_tokens_are_refused_and_refresh_tokens_rotate() -> TestResult {
    let tracker = start_with_ttl(Duration::from_millis(700)).await;
    let http = client();
    let url = format!("{}/api/issues", tracker.base_url());

    let token = grant(&http, &tracker).await?;
    assert_eq!(token["expires_in"], 0, "the lifetime is in whole seconds, rounded down");
    let access = token["access_token"].as_str().ok_or("access_token")?;
    let refresh = token["refresh_token"].as_str().ok_or("refresh_token")?;
    http.get(&url).bearer_auth(access).send().await?.error_for_status()?;

    tokio::time::sleep(Duration::from_millis(900)).await;
    let response = http.get(&url).bearer_auth(access).send().await?;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.json::<Value>().await?, json!({"error": "invalid_token"}));

    // Refreshing with the wrong client secret fails and keeps the refresh token usable.
    let response = token_request(
        &http,
        &tracker,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", CLIENT_ID),
            ("client_secret", "wrong"),
        ],
    )
    .await?;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let refreshed: Value =
        token_request(&http, &tracker, &[("grant_type", "refresh_token"), ("refresh_token", refresh)])
            .await?
            .error_for_status()?
            .json()
            .await?;
    assert_eq!(refreshed["token_type"], "Bearer");
    assert_ne!(refreshed["access_token"], token["access_token"]);
    assert_ne!(refreshed["refresh_token"], token["refresh_token"]);
    let new_access = refreshed["access_token"].as_str().ok_or("access_token")?;
    http.get(&url).bearer_auth(new_access).send().await?.error_for_status()?;
    assert_eq!(tracker.token_grants(), 2);

    // A refresh token is good once.
    let response =
        token_request(&http, &tracker, &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.json::<Value>().await?["error"], "invalid_grant");
    // The new one works, with the client's credentials too.
    let new_refresh = refreshed["refresh_token"].as_str().ok_or("refresh_token")?;
    token_request(
        &http,
        &tracker,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", new_refresh),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ],
    )
    .await?
    .error_for_status()?;
    assert_eq!(tracker.token_grants(), 3);
    Ok(())
}

#[tokio::test]
async fn expire_tokens_invalidates_every_access_token_at_once() -> TestResult {
    let tracker = start().await;
    let http = client();
    let url = format!("{}/api/issues", tracker.base_url());
    let first = access_token(&http, &tracker).await;
    let second = access_token(&http, &tracker).await;
    for token in [&first, &second] {
        http.get(&url).bearer_auth(token).send().await?.error_for_status()?;
    }
    tracker.expire_tokens();
    for token in [&first, &second] {
        let response = http.get(&url).bearer_auth(token).send().await?;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let third = access_token(&http, &tracker).await;
    http.get(&url).bearer_auth(&third).send().await?.error_for_status()?;
    Ok(())
}

#[tokio::test]
async fn injected_failures_come_after_auth_and_before_work() -> TestResult {
    let tracker = start().await;
    let http = client();
    let token = access_token(&http, &tracker).await;

    tracker.fail_next(2, 502);
    let response = create_issue(&http, &tracker, "at_made_up", &json!({"title": "x"})).await?;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    for _ in 0..2 {
        let response = create_issue(&http, &tracker, &token, &json!({"title": "retried"})).await?;
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(response.json::<Value>().await?, json!({"error": "injected failure"}));
    }
    assert!(tracker.issues().is_empty());
    let response = create_issue(&http, &tracker, &token, &json!({"title": "retried"})).await?;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(tracker.issues().len(), 1);

    tracker.fail_next_with_retry_after(1, 429, 3);
    let response = http.get(format!("{}/api/issues/1", tracker.base_url())).bearer_auth(&token).send().await?;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers().get("retry-after").map(|v| v.as_bytes()), Some(&b"3"[..]));
    // The token endpoint is not affected by injected failures.
    tracker.fail_next(1, 500);
    grant(&http, &tracker).await?;
    let response = http.get(format!("{}/api/issues/1", tracker.base_url())).bearer_auth(&token).send().await?;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let response = http.get(format!("{}/api/issues/1", tracker.base_url())).bearer_auth(&token).send().await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(tracker.request_count(), 7);
    Ok(())
}

#[tokio::test]
async fn bad_options_are_refused() {
    for options in [
        TrackerOptions::new("", CLIENT_SECRET),
        TrackerOptions::new(CLIENT_ID, ""),
        TrackerOptions::new(CLIENT_ID, CLIENT_SECRET).with_token_ttl(Duration::ZERO),
    ] {
        let error = TrackerService::start_with(options.clone()).await.expect_err("bad options are refused");
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput, "{options:?}");
    }
    let debug = format!("{:?}", TrackerOptions::new(CLIENT_ID, CLIENT_SECRET));
    assert!(!debug.contains(CLIENT_SECRET));
}

#[tokio::test]
async fn shutdown_and_drop_stop_the_server() -> TestResult {
    let tracker = start().await;
    assert!(tracker.addr().ip().is_loopback());
    assert_eq!(tracker.base_url(), format!("http://127.0.0.1:{}", tracker.addr().port()));
    let url = tracker.token_url();
    grant(&client(), &tracker).await?;
    tracker.shutdown().await?;
    assert!(client().post(&url).send().await.is_err());

    let tracker = start().await;
    let url = tracker.token_url();
    grant(&client(), &tracker).await?;
    drop(tracker);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(client().post(&url).send().await.is_err());
    Ok(())
}
