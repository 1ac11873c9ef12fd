//! Authentication: a token as it is, or as a GitHub App — an RS256 JWT signed with the app's
//! private key, exchanged at `POST /app/installations/{id}/access_tokens` for an installation
//! token, which is cached until shortly before it expires. One exchange at a time per
//! connector instance: callers arriving during one wait for its token.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use connector_runtime::prelude::*;
use rsa::PrivateKey;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use sha2::Sha256;

use crate::GitHubConfig;

/// How long before its `expires_at` an installation token is replaced.
pub const REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);

/// How far in the past a JWT's `iat` is set, against clock drift (GitHub's advice).
const ISSUED_BEFORE: i64 = 60;

/// A JWT's lifetime from now; GitHub refuses more than ten minutes.
const JWT_LIFETIME: i64 = 9 * 60;

/// What a connector instance keeps between calls: the installation token, and until when
/// GitHub's rate limit pauses the instance.
#[derive(Clone, Default)]
pub(crate) struct Shared {
    token: Arc<tokio::sync::Mutex<Option<InstallationToken>>>,
    paused_until: Arc<Mutex<Option<SystemTime>>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a credential: never printed.
        f.write_str("Shared { .. }")
    }
}

/// An installation token and when it expires.
#[derive(Clone)]
struct InstallationToken {
    token: Secret,
    expires_at: DateTime<Utc>,
}

/// What `POST /app/installations/{id}/access_tokens` answers.
#[derive(Deserialize)]
struct IssuedToken {
    token: String,
    expires_at: DateTime<Utc>,
}

/// The claims of a GitHub App JWT.
#[derive(Serialize)]
struct Claims<'a> {
    iat: i64,
    exp: i64,
    iss: &'a str,
}

/// An RS256 JWT for the app `app_id` (its numeric id or its client id), issued at `now`.
pub fn app_jwt(app_id: &str, private_key_pem: &Secret, now: DateTime<Utc>) -> Result<Secret, ActionError> {
    let key = parse_private_key(private_key_pem.expose())?;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let now = now.timestamp();
    let claims = Claims { iat: now - ISSUED_BEFORE, exp: now + JWT_LIFETIME, iss: app_id };
    let claims = serde_json::to_vec(&claims).map_err(|error| ActionError::permanent(error.to_string()))?;
    let signing_input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims));
    let signature = SigningKey::<Sha256>::new(key).sign(signing_input.as_bytes());
    Ok(Secret::new(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))))
}

/// The app's private key, PKCS#1 (`BEGIN RSA PRIVATE KEY`, what GitHub hands out) or PKCS#8.
fn parse_private_key(pem: &str) -> Result<PrivateKey, ActionError> {
    // Environment variables often carry the PEM with `\n` written out.
    let pem = pem.trim().replace("\\n", "\n");
    let parsed = if pem.contains("BEGIN RSA PRIVATE KEY") {
        PrivateKey::from_pkcs1_pem(&pem).map_err(|error| error.to_string())
    } else {
        PrivateKey::from_pkcs8_pem(&pem).map_err(|error| error.to_string())
    };
    parsed.map_err(|reason| {
        ActionError::permanent(format!(
            "the GitHub App's private key (`privateKey`) is not an RSA key in PEM form ({reason}): \
             give the .pem file GitHub generated for the app"
        ))
    })
}

/// The connector's [`Auth`]: a configured token as a bearer token on every request. A GitHub
/// App's installation token is not known up front; [`app_token`] gives it per request.
pub(crate) fn connector_auth(config: &GitHubConfig) -> Auth {
    match &config.token {
        Some(token) => Auth::Bearer(token.clone()),
        None => Auth::None,
    }
}

/// The installation token to send as a bearer token when the instance authenticates as a
/// GitHub App; `None` when a configured token goes with every request already.
pub(crate) async fn app_token(ctx: &ActionContext<GitHubConfig>) -> Result<Option<Secret>, ActionError> {
    let config = ctx.config();
    match (&config.token, &config.app_id, &config.installation_id, &config.private_key) {
        (Some(_), ..) => Ok(None),
        (None, Some(app_id), Some(installation_id), Some(key)) => {
            installation_token(ctx, app_id, *installation_id, key).await.map(Some)
        }
        _ => Err(ActionError::permanent(
            "the GitHub connector has no credentials: set `token`, or `appId`, `installationId` and \
             `privateKey` for a GitHub App",
        )),
    }
}

/// Whether the instance authenticates as a GitHub App (so a 401 may mean a revoked token).
pub(crate) fn is_app(config: &GitHubConfig) -> bool {
    config.token.is_none() && config.app_id.is_some()
}

/// Forgets the installation token, so the next request exchanges a new one.
pub(crate) async fn forget_token(config: &GitHubConfig) {
    *config.shared.token.lock().await = None;
}

/// The cached installation token, or a new one if it is missing or expires within
/// [`REFRESH_BEFORE`]. The lock is held across the exchange: concurrent callers share it.
async fn installation_token(
    ctx: &ActionContext<GitHubConfig>,
    app_id: &str,
    installation_id: u64,
    private_key: &Secret,
) -> Result<Secret, ActionError> {
    let config = ctx.config();
    let mut cached = config.shared.token.lock().await;
    if let Some(token) = cached.as_ref() {
        let fresh_until = token.expires_at - chrono::Duration::from_std(REFRESH_BEFORE).unwrap_or_default();
        if Utc::now() < fresh_until {
            return Ok(token.token.clone());
        }
    }
    let jwt = app_jwt(app_id, private_key, Utc::now())?;
    let url = crate::http::url(config, &["app", "installations", &installation_id.to_string(), "access_tokens"])?;
    let response =
        crate::http::with_github_headers(config, ctx.http().post(url))?.bearer_auth(&jwt).send_unchecked().await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.text().await?;
    if !status.is_success() {
        let error = crate::http::classify(status, &headers, &body);
        return Err(match error {
            ActionError::Unauthorized { status, message } => ActionError::Unauthorized {
                status,
                message: format!(
                    "GitHub refused the app's JWT for installation {installation_id} ({message}); check `appId`, \
                     `installationId` and `privateKey`"
                ),
            },
            ActionError::Rejected { status: 404, message } => ActionError::Unauthorized {
                status: 404,
                message: format!("installation {installation_id} of the app was not found ({message})"),
            },
            other => other,
        });
    }
    let issued: IssuedToken = serde_json::from_str(&body)
        .map_err(|error| ActionError::InvalidOutput(format!("GitHub's installation token: {error}")))?;
    ctx.logger().info(format!("installation token for {installation_id} issued, expires {}", issued.expires_at));
    // `Secret::new` also teaches the redactor the token, so an echo of it is masked.
    let token = InstallationToken { token: Secret::new(issued.token), expires_at: issued.expires_at };
    *cached = Some(token.clone());
    Ok(token.token)
}

/// Until when the rate limit pauses the instance, if it still does.
pub(crate) fn paused_for(config: &GitHubConfig) -> Option<Duration> {
    let until = (*config.shared.paused_until.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))?;
    until.duration_since(SystemTime::now()).ok().filter(|wait| !wait.is_zero())
}

/// Pauses the instance until `until` (a rate limit's reset).
pub(crate) fn pause_until(config: &GitHubConfig, until: SystemTime) {
    let mut paused = config.shared.paused_until.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if paused.is_none_or(|current| current < until) {
        *paused = Some(until);
    }
}
