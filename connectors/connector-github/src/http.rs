//! Requests to the GitHub API and its answers classified, rate limits first: GitHub answers an
//! exhausted limit with 403 or 429 and `x-ratelimit-remaining: 0` (the wait in
//! `x-ratelimit-reset`), and a secondary limit with `retry-after`; both are
//! [`ActionError::RateLimited`] with that wait, and pause the connector instance until then.
//!
//! Requests go through the runtime's request helper, so the token (the connector's [`Auth`]; a
//! GitHub App's installation token is set on each request), the instance's rate limit and
//! concurrency, the step's `Idempotency-Key` on unsafe methods, and the pause on an answer's
//! rate-limit headers apply to them. The helper hands every answer back unchecked: telling a
//! rate-limited 403 from a refused credential takes the answer's headers, which [`classify`]
//! reads.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use connector_runtime::client::Request;
use connector_runtime::prelude::*;
use connector_runtime::redact;
use futures::Stream;
use reqwest::header::{ACCEPT, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;

use crate::{GitHubConfig, auth};

/// The REST API version the connector is written against.
pub const API_VERSION: &str = "2022-11-28";

/// How long GitHub asks to wait after a secondary rate limit that gives no `retry-after`.
const SECONDARY_WAIT: Duration = Duration::from_secs(60);

/// `{api_url}/seg/ments`, each segment percent-encoded.
pub(crate) fn url(config: &GitHubConfig, segments: &[&str]) -> Result<Url, ActionError> {
    let mut url = Url::parse(config.api_url.trim_end_matches('/'))
        .map_err(|error| ActionError::permanent(format!("`apiUrl` is not a URL: {error}")))?;
    url.path_segments_mut()
        .map_err(|_| ActionError::permanent("`apiUrl` cannot be a base URL"))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// The headers GitHub asks every client to send.
pub(crate) fn with_github_headers(config: &GitHubConfig, request: Request) -> Result<Request, ActionError> {
    let user_agent = HeaderValue::from_str(&config.user_agent)
        .map_err(|_| ActionError::permanent("`userAgent` holds characters a header cannot carry"))?;
    Ok(request
        .header(ACCEPT, HeaderValue::from_static("application/vnd.github+json"))
        .header(HeaderName::from_static("x-github-api-version"), HeaderValue::from_static(API_VERSION))
        .header(USER_AGENT, user_agent))
}

/// Sends a request with the instance's credentials and returns the successful answer (with
/// its headers, for pagination), or the classified failure. A GitHub App's token that GitHub
/// refuses is replaced once.
pub(crate) async fn send(
    ctx: &ActionContext<GitHubConfig>,
    method: Method,
    url: Url,
    body: Option<&serde_json::Value>,
) -> Result<reqwest::Response, ActionError> {
    let config = ctx.config();
    if let Some(wait) = auth::paused_for(config) {
        return Err(ActionError::RateLimited {
            retry_after: Some(wait),
            message: "GitHub's rate limit for these credentials is used up; the connector waits for its reset".into(),
        });
    }
    for attempt in 0..2 {
        // Built before a token exchange can be, so the first request of an attempt takes the
        // step's idempotency key whether the installation token was cached or not.
        let mut request = with_github_headers(config, ctx.http().request(method.clone(), url.clone()))?;
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(token) = auth::app_token(ctx).await? {
            request = request.bearer_auth(&token);
        }
        let response = request.send_unchecked().await?;
        let status = response.status();
        if let Some(reset) = exhausted_until(response.headers()) {
            // The next request would be refused: pause the instance until the reset, answering
            // at once meanwhile rather than waiting in the runtime's limiter.
            auth::pause_until(config, reset);
        }
        if status.is_success() {
            return Ok(response);
        }
        if status == StatusCode::UNAUTHORIZED && attempt == 0 && auth::is_app(config) {
            ctx.logger().info("GitHub refused the installation token; exchanging a new one");
            auth::forget_token(config).await;
            continue;
        }
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_default();
        return Err(classify(status, &headers, &body));
    }
    unreachable!("the loop returns on its second attempt")
}

/// Sends a request and reads a JSON answer of type `T`.
pub(crate) async fn send_json<T: DeserializeOwned>(
    ctx: &ActionContext<GitHubConfig>,
    method: Method,
    url: Url,
    body: Option<&serde_json::Value>,
) -> Result<T, ActionError> {
    let bytes = send(ctx, method, url, body).await?.bytes().await?;
    serde_json::from_slice(&bytes).map_err(|error| ActionError::InvalidOutput(format!("GitHub's answer: {error}")))
}

/// Every item of a list endpoint, page after page, following `Link: <..>; rel="next"`.
pub(crate) fn paginate<'a, T: DeserializeOwned + 'a>(
    ctx: &'a ActionContext<GitHubConfig>,
    first: Url,
) -> impl Stream<Item = Result<T, ActionError>> + 'a {
    let pages = futures::stream::try_unfold(Some(first), move |next| async move {
        let Some(url) = next else { return Ok(None) };
        let response = send(ctx, Method::GET, url.clone(), None).await?;
        let next = response
            .headers()
            .get_all(reqwest::header::LINK)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find_map(next_link)
            .and_then(|next| url.join(&next).ok());
        let bytes = response.bytes().await?;
        let items: Vec<T> = serde_json::from_slice(&bytes)
            .map_err(|error| ActionError::InvalidOutput(format!("a page of GitHub's list: {error}")))?;
        Ok::<_, ActionError>(Some((futures::stream::iter(items.into_iter().map(Ok)), next)))
    });
    futures::TryStreamExt::try_flatten(pages)
}

/// The `rel="next"` target of a `Link` header.
pub fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|link| {
        let (target, params) = link.split_once(';')?;
        let is_next = params.split(';').any(|param| {
            let param = param.trim();
            param.strip_prefix("rel=").is_some_and(|rel| rel.trim_matches('"').split_whitespace().any(|r| r == "next"))
        });
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| target.to_owned())
    })
}

/// When an exhausted primary rate limit resets, if the answer says it is exhausted.
fn exhausted_until(headers: &HeaderMap) -> Option<SystemTime> {
    let remaining = header_number(headers, "x-ratelimit-remaining")?;
    if remaining > 0 {
        return None;
    }
    let reset = header_number(headers, "x-ratelimit-reset")?;
    Some(UNIX_EPOCH + Duration::from_secs(reset))
}

fn header_number(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// GitHub's error body.
#[derive(Deserialize)]
struct ErrorBody {
    message: String,
}

/// Classifies a non-2xx answer from GitHub: a 403 or 429 that is a rate limit (`retry-after`,
/// `x-ratelimit-remaining: 0`, or a secondary limit's message) is
/// [`ActionError::RateLimited`] with GitHub's wait; everything else as the runtime classifies
/// it (401/403 credentials, 5xx transient, other 4xx rejected).
pub fn classify(status: StatusCode, headers: &HeaderMap, body: &str) -> ActionError {
    if matches!(status.as_u16(), 403 | 429) {
        let message = serde_json::from_str::<ErrorBody>(body)
            .map(|error| error.message)
            .unwrap_or_else(|_| status.canonical_reason().unwrap_or("rate limited").to_owned());
        let message = redact(&message).into_owned();
        if let Some(wait) = connector_runtime::client::http::retry_after(headers) {
            return ActionError::RateLimited { retry_after: Some(wait), message };
        }
        if let Some(reset) = exhausted_until(headers) {
            let wait = reset.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO);
            return ActionError::RateLimited { retry_after: Some(wait), message };
        }
        if message.to_ascii_lowercase().contains("secondary rate limit") || status == StatusCode::TOO_MANY_REQUESTS {
            return ActionError::RateLimited { retry_after: Some(SECONDARY_WAIT), message };
        }
    }
    connector_runtime::client::http::classify(status, headers, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_is_found_among_others() {
        let header = r#"<https://api.github.com/repositories/1300192/issues?page=2>; rel="prev", <https://api.github.com/repositories/1300192/issues?page=4>; rel="next", <https://api.github.com/repositories/1300192/issues?page=515>; rel="last""#;
        assert_eq!(next_link(header).as_deref(), Some("https://api.github.com/repositories/1300192/issues?page=4"));
        assert_eq!(next_link(r#"<https://api.github.com/x?page=1>; rel="first""#), None);
    }

    #[test]
    fn a_forbidden_answer_with_the_limit_used_up_is_a_rate_limit_until_the_reset() {
        let reset = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 120;
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
        headers.insert("x-ratelimit-reset", reset.to_string().parse().unwrap());
        let body = r#"{"message":"API rate limit exceeded for user ID 1.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}"#;
        let error = classify(StatusCode::FORBIDDEN, &headers, body);
        let ActionError::RateLimited { retry_after: Some(wait), message } = error else { panic!("{error:?}") };
        assert!(wait > Duration::from_secs(115) && wait <= Duration::from_secs(120), "{wait:?}");
        assert!(message.contains("API rate limit exceeded"));
    }

    #[test]
    fn a_secondary_limit_waits_as_retry_after_says() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "30".parse().unwrap());
        let body = r#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}"#;
        let error = classify(StatusCode::FORBIDDEN, &headers, body);
        assert!(
            matches!(error, ActionError::RateLimited { retry_after: Some(wait), .. } if wait == Duration::from_secs(30))
        );
        let error = classify(StatusCode::FORBIDDEN, &HeaderMap::new(), body);
        assert!(matches!(error, ActionError::RateLimited { retry_after: Some(wait), .. } if wait == SECONDARY_WAIT));
    }

    #[test]
    fn a_forbidden_answer_without_a_limit_is_a_credentials_error() {
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-remaining", "4999".parse().unwrap());
        let body = r#"{"message":"Resource not accessible by integration"}"#;
        assert!(matches!(
            classify(StatusCode::FORBIDDEN, &headers, body),
            ActionError::Unauthorized { status: 403, .. }
        ));
    }
}
