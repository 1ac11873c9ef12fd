//! Requests to the OpenAI API and its answers classified: OpenAI's error bodies
//! (`{"error": {"message", "type", "code"}}`) and rate-limit headers (`retry-after-ms`,
//! `retry-after`) turned into the right [`ActionError`].
//!
//! Requests go through the runtime's request helper, so the API key (the connector's
//! [`Auth`](connector_runtime::client::Auth)), the instance's rate limit and concurrency, the
//! step's `Idempotency-Key` on `POST`s, and the pause on an answer's rate-limit headers apply
//! to them. The helper hands every answer back unchecked: telling an exhausted quota from a
//! rate limit takes OpenAI's error body, which [`classify`] reads.

use connector_runtime::prelude::*;
use connector_runtime::redact;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use crate::OpenAiConfig;

/// OpenAI's wait: `retry-after-ms` (milliseconds, possibly fractional), else `retry-after`
/// (seconds or an HTTP date), as the runtime reads it.
pub use connector_runtime::client::http::retry_after;

/// Sends `body` (if any) to `{base_url}{path}` and reads a JSON answer.
pub(crate) async fn send<T: DeserializeOwned>(
    ctx: &ActionContext<OpenAiConfig>,
    method: Method,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Result<T, ActionError> {
    let config = ctx.config();
    let mut request = ctx.http().request(method, format!("{}{path}", config.base_url.trim_end_matches('/')));
    if let Some(body) = body {
        request = request.json(body);
    }
    if let Some(organization) = &config.organization {
        request =
            request.header(HeaderName::from_static("openai-organization"), header_value("organization", organization)?);
    }
    if let Some(project) = &config.project {
        request = request.header(HeaderName::from_static("openai-project"), header_value("project", project)?);
    }
    let response = request.send_unchecked().await?;
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await?;
    if !status.is_success() {
        return Err(classify(status, &headers, &String::from_utf8_lossy(&bytes)));
    }
    serde_json::from_slice(&bytes).map_err(|error| ActionError::InvalidOutput(format!("OpenAI's answer: {error}")))
}

/// A config field as a header value.
fn header_value(field: &str, value: &str) -> Result<HeaderValue, ActionError> {
    HeaderValue::from_str(value)
        .map_err(|_| ActionError::permanent(format!("`{field}` holds characters a header cannot carry")))
}

/// OpenAI's error body.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    message: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    code: Option<serde_json::Value>,
}

/// Classifies a non-2xx answer: 401/403 credentials; 429 a rate limit with OpenAI's wait, except
/// an exhausted quota (`insufficient_quota`), which waiting does not fix; 408, 409 and 5xx
/// transient; other 4xx rejected. Messages are OpenAI's own, with any secret masked.
pub fn classify(status: StatusCode, headers: &HeaderMap, body: &str) -> ActionError {
    let (message, code) = match serde_json::from_str::<ErrorBody>(body) {
        Ok(ErrorBody { error }) => {
            let code = match error.code {
                Some(serde_json::Value::String(code)) => Some(code),
                Some(serde_json::Value::Number(code)) => Some(code.to_string()),
                _ => None,
            };
            let label = [error.kind.as_deref(), code.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(", ");
            let message = if label.is_empty() { error.message } else { format!("{} ({label})", error.message) };
            (message, code)
        }
        Err(_) => (body.chars().take(512).collect::<String>(), None),
    };
    let message = redact(&message).into_owned();
    let code_is = |expected: &str| code.as_deref() == Some(expected);
    match status.as_u16() {
        401 | 403 => ActionError::Unauthorized { status: status.as_u16(), message },
        429 if code_is("insufficient_quota") => ActionError::Rejected { status: 429, message },
        429 => ActionError::RateLimited { retry_after: retry_after(headers), message },
        408 | 409 | 500..=599 => ActionError::Transient { message: format!("HTTP {}: {message}", status.as_u16()) },
        code => ActionError::Rejected { status: code, message },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn retry_after_ms_wins_over_retry_after() {
        let both = headers(&[("retry-after-ms", "1500"), ("retry-after", "9")]);
        assert_eq!(retry_after(&both), Some(Duration::from_millis(1500)));
        assert_eq!(retry_after(&headers(&[("retry-after", "9")])), Some(Duration::from_secs(9)));
        assert_eq!(retry_after(&headers(&[("retry-after-ms", "20.5")])), Some(Duration::from_micros(20_500)));
        assert_eq!(retry_after(&headers(&[("retry-after-ms", "soon")])), None);
    }

    #[test]
    fn an_exhausted_quota_is_not_retried() {
        let body = r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
        let error = classify(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), body);
        assert!(matches!(&error, ActionError::Rejected { status: 429, .. }), "{error:?}");
        assert!(!error.is_retryable());
    }
}
