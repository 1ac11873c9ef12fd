//! Reading Web API answers: Slack answers most failures with HTTP 200 and `{"ok": false,
//! "error": "<code>"}`, so the status alone does not say whether a call worked.

use std::time::Duration;

use connector_runtime::ActionError;
use connector_runtime::client::Request;
use connector_runtime::client::http::retry_after;
use http::HeaderMap;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// The part every Web API answer has.
#[derive(Deserialize)]
struct Status {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
    /// With `missing_scope`: the scope the call needs.
    #[serde(default)]
    needed: Option<String>,
}

/// Sends a Web API request and reads its answer as `T`: a non-2xx status is classified by the
/// HTTP helper (429 with `Retry-After` is [`ActionError::RateLimited`]), an `ok: false` body by
/// [`error_for`].
pub(crate) async fn call<T: DeserializeOwned>(request: Request) -> Result<T, ActionError> {
    let response = request.send().await?;
    let headers = response.headers().clone();
    let body = response.bytes().await?;
    read(&headers, &body)
}

/// Reads a 2xx answer's body: `T` when `ok` is true, the error's class otherwise.
pub(crate) fn read<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, ActionError> {
    let status: Status = serde_json::from_slice(body)
        .map_err(|error| ActionError::InvalidOutput(format!("not a Slack Web API answer: {error}")))?;
    if !status.ok {
        let code = status.error.unwrap_or_else(|| "unknown_error".to_owned());
        let code = match status.needed {
            Some(needed) => format!("{code} (the token needs the `{needed}` scope)"),
            None => code,
        };
        return Err(error_for(&code, retry_after(headers)));
    }
    serde_json::from_slice(body).map_err(|error| ActionError::InvalidOutput(error.to_string()))
}

/// The [`ActionError`] of a Slack error code (`channel_not_found`, ..), which decides whether the
/// engine retries:
///
/// - `ratelimited`: [`ActionError::RateLimited`], after `retry_after` (Slack's `Retry-After`);
/// - `invalid_auth`, `not_authed`, `account_inactive`, `token_revoked`, `token_expired`:
///   [`ActionError::Unauthorized`] with status 401; `missing_scope`, `no_permission`,
///   `not_allowed_token_type`, `ekm_access_denied`: with status 403;
/// - `internal_error`, `fatal_error`, `service_unavailable`, `request_timeout`:
///   [`ActionError::Transient`];
/// - `channel_not_found`, `user_not_found`, `thread_not_found`, `message_not_found`:
///   [`ActionError::Rejected`] with status 404; any other code (`not_in_channel`,
///   `is_archived`, `msg_too_long`, `invalid_arguments`, ..) with status 400.
///
/// Slack sends these with HTTP 200; the statuses are those a REST API would use, for messages
/// and for code that matches on them.
pub fn error_for(code: &str, retry_after: Option<Duration>) -> ActionError {
    let message = format!("Slack answered `{code}`");
    let bare = code.split_whitespace().next().unwrap_or(code);
    match bare {
        "ratelimited" | "rate_limited" => ActionError::RateLimited { retry_after, message },
        "invalid_auth" | "not_authed" | "account_inactive" | "token_revoked" | "token_expired" => {
            ActionError::Unauthorized { status: 401, message }
        }
        "missing_scope" | "no_permission" | "not_allowed_token_type" | "ekm_access_denied" => {
            ActionError::Unauthorized { status: 403, message }
        }
        "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
            ActionError::Transient { message }
        }
        "channel_not_found" | "user_not_found" | "thread_not_found" | "message_not_found" => {
            ActionError::Rejected { status: 404, message }
        }
        _ => ActionError::Rejected { status: 400, message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_fall_in_their_classes() {
        let wait = Some(Duration::from_secs(3));
        assert!(
            matches!(error_for("ratelimited", wait), ActionError::RateLimited { retry_after, .. } if retry_after == wait)
        );
        for code in ["invalid_auth", "not_authed", "account_inactive"] {
            assert!(matches!(error_for(code, None), ActionError::Unauthorized { status: 401, .. }), "{code}");
        }
        assert!(matches!(error_for("missing_scope", None), ActionError::Unauthorized { status: 403, .. }));
        for code in ["internal_error", "fatal_error"] {
            assert!(matches!(error_for(code, None), ActionError::Transient { .. }), "{code}");
        }
        for code in ["channel_not_found", "user_not_found"] {
            assert!(matches!(error_for(code, None), ActionError::Rejected { status: 404, .. }), "{code}");
        }
        assert!(matches!(error_for("is_archived", None), ActionError::Rejected { status: 400, .. }));
        assert!(!error_for("channel_not_found", None).is_retryable());
        assert!(error_for("internal_error", None).is_retryable());
    }

    #[test]
    fn a_missing_scope_names_the_scope_needed() {
        let body = br#"{"ok":false,"error":"missing_scope","needed":"chat:write","provided":"users:read"}"#;
        let error = read::<serde_json::Value>(&HeaderMap::new(), body).unwrap_err();
        assert!(error.to_string().contains("chat:write"), "{error}");
        assert!(matches!(error, ActionError::Unauthorized { status: 403, .. }), "{error}");
    }
}
