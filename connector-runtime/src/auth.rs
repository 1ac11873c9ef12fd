//! [`Auth`]: how a connector authenticates, declared once on the connector and applied by the
//! HTTP helper to every request — never written per action.
//!
//! ```
//! use connector_runtime::auth::{Auth, OAuth2};
//! use connector_runtime::Secret;
//!
//! let bearer = Auth::Bearer(Secret::new("token"));
//! let header = Auth::api_key_header("X-Api-Key", Secret::new("key"));
//! let oauth = Auth::oauth2(OAuth2::client_credentials("http://127.0.0.1:1/oauth/token", "id", Secret::new("s")));
//! # let _ = (bearer, header, oauth);
//! ```

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::error::ActionError;
use crate::secret::Secret;
use crate::store::RunStore;

/// A request signer: adds whatever the service's custom scheme needs (a signature header over
/// the method, path and body, say).
pub type Signer = Arc<dyn Fn(&mut reqwest::Request) -> Result<(), ActionError> + Send + Sync>;

/// How requests to the service are authenticated.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Auth {
    /// No authentication (or the action adds its own).
    #[default]
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(Secret),
    /// An API key in a header.
    ApiKeyHeader {
        /// The header's name (checked when a request is sent).
        header: String,
        /// The key.
        key: Secret,
    },
    /// An API key in a query parameter.
    ApiKeyQuery {
        /// The parameter's name.
        param: String,
        /// The key.
        key: Secret,
    },
    /// `Authorization: Basic base64(username:password)`.
    Basic {
        /// The user.
        username: String,
        /// The password.
        password: Secret,
    },
    /// A custom signing function, run on each request just before it is sent.
    Sign(Signer),
    /// OAuth2 with token refresh.
    OAuth2(Arc<OAuth2>),
}

impl Auth {
    /// An API key in the header `header`.
    pub fn api_key_header(header: impl Into<String>, key: Secret) -> Self {
        Auth::ApiKeyHeader { header: header.into(), key }
    }

    /// An API key in the query parameter `param`.
    pub fn api_key_query(param: impl Into<String>, key: Secret) -> Self {
        Auth::ApiKeyQuery { param: param.into(), key }
    }

    /// HTTP basic auth.
    pub fn basic(username: impl Into<String>, password: Secret) -> Self {
        Auth::Basic { username: username.into(), password }
    }

    /// OAuth2 (see [`OAuth2`]).
    pub fn oauth2(client: OAuth2) -> Self {
        Auth::OAuth2(Arc::new(client))
    }

    /// A custom signer.
    pub fn sign(signer: impl Fn(&mut reqwest::Request) -> Result<(), ActionError> + Send + Sync + 'static) -> Self {
        Auth::Sign(Arc::new(signer))
    }

    /// Adds the credentials to a request; returns the OAuth2 access token used, if any.
    pub(crate) async fn apply(&self, request: &mut reqwest::Request) -> Result<Option<Secret>, ActionError> {
        let header = |value: String| {
            let mut value = HeaderValue::from_str(&value)
                .map_err(|_| ActionError::permanent("a credential holds characters a header cannot carry"))?;
            value.set_sensitive(true);
            Ok::<_, ActionError>(value)
        };
        match self {
            Auth::None => {}
            Auth::Bearer(token) => {
                request.headers_mut().insert(AUTHORIZATION, header(format!("Bearer {}", token.expose()))?);
            }
            Auth::ApiKeyHeader { header: name, key } => {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| ActionError::permanent(format!("`{name}` is not a valid header name")))?;
                request.headers_mut().insert(name, header(key.expose().to_owned())?);
            }
            Auth::ApiKeyQuery { param, key } => {
                request.url_mut().query_pairs_mut().append_pair(param, key.expose());
            }
            Auth::Basic { username, password } => {
                let encoded =
                    base64::engine::general_purpose::STANDARD.encode(format!("{username}:{}", password.expose()));
                request.headers_mut().insert(AUTHORIZATION, header(format!("Basic {encoded}"))?);
            }
            Auth::Sign(signer) => signer(request)?,
            Auth::OAuth2(oauth) => {
                let token = oauth.access_token().await?;
                request.headers_mut().insert(AUTHORIZATION, header(format!("Bearer {}", token.expose()))?);
                return Ok(Some(token));
            }
        }
        Ok(None)
    }

    /// Whether an answer with `status` to a request made with `token` means the token is no
    /// longer good; if so, it is dropped so the next request gets a fresh one.
    pub(crate) async fn reject(&self, status: StatusCode, token: Option<&Secret>) -> bool {
        match (self, token) {
            (Auth::OAuth2(oauth), Some(token)) if oauth.refresh_on.contains(&status) => {
                oauth.invalidate(token).await;
                true
            }
            _ => false,
        }
    }

    /// Lets an OAuth2 flow keep its tokens in the engine's store, under `key`.
    pub(crate) fn attach_store(&self, store: &Arc<dyn RunStore>, key: String) {
        if let Auth::OAuth2(oauth) = self {
            let _ = oauth.store.set((Arc::clone(store), key));
        }
    }
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The kind only: every variant holds a credential.
        f.write_str(match self {
            Auth::None => "Auth::None",
            Auth::Bearer(_) => "Auth::Bearer",
            Auth::ApiKeyHeader { .. } => "Auth::ApiKeyHeader",
            Auth::ApiKeyQuery { .. } => "Auth::ApiKeyQuery",
            Auth::Basic { .. } => "Auth::Basic",
            Auth::Sign(_) => "Auth::Sign",
            Auth::OAuth2(_) => "Auth::OAuth2",
        })
    }
}

/// How an OAuth2 client gets its tokens.
#[derive(Debug, Clone)]
pub enum Grant {
    /// `grant_type=client_credentials`, with an optional scope.
    ClientCredentials {
        /// The scope to ask for.
        scope: Option<String>,
    },
    /// `grant_type=refresh_token`, starting from this refresh token.
    RefreshToken(Secret),
}

/// An OAuth2 client: gets an access token, refreshes it shortly before it expires (from
/// `expires_in`) and again when the service answers 401, keeps the tokens in the engine's
/// store, and never runs two refreshes at once for one connection (callers wait for the one
/// under way).
pub struct OAuth2 {
    token_url: String,
    client_id: String,
    client_secret: Secret,
    grant: Grant,
    refresh_before: Duration,
    refresh_on: Vec<StatusCode>,
    http: reqwest::Client,
    state: Mutex<Option<Tokens>>,
    store: OnceLock<(Arc<dyn RunStore>, String)>,
    refreshes: std::sync::atomic::AtomicU64,
}

/// The tokens held, as kept in the store.
#[derive(Clone, Serialize, Deserialize)]
struct Tokens {
    access_token: String,
    refresh_token: Option<String>,
    expires_at: Option<DateTime<Utc>>,
}

/// What a token endpoint answers.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<String>,
}

impl OAuth2 {
    /// A client-credentials client.
    pub fn client_credentials(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: Secret,
    ) -> Self {
        Self::new(token_url.into(), client_id.into(), client_secret, Grant::ClientCredentials { scope: None })
    }

    /// A client that starts from a refresh token (the user authorized it earlier).
    pub fn refresh_token(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: Secret,
        refresh_token: Secret,
    ) -> Self {
        Self::new(token_url.into(), client_id.into(), client_secret, Grant::RefreshToken(refresh_token))
    }

    fn new(token_url: String, client_id: String, client_secret: Secret, grant: Grant) -> Self {
        OAuth2 {
            token_url,
            client_id,
            client_secret,
            grant,
            refresh_before: Duration::from_secs(60),
            refresh_on: vec![StatusCode::UNAUTHORIZED],
            http: reqwest::Client::builder().tcp_nodelay(true).build().unwrap_or_default(),
            state: Mutex::new(None),
            store: OnceLock::new(),
            refreshes: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Refresh this long before the token expires (default 60 s).
    pub fn refresh_before(mut self, margin: Duration) -> Self {
        self.refresh_before = margin;
        self
    }

    /// Answers that mean "the token is no longer good" (default: 401 only).
    pub fn refresh_on(mut self, statuses: impl IntoIterator<Item = StatusCode>) -> Self {
        self.refresh_on = statuses.into_iter().collect();
        self
    }

    /// The scope to ask for with client credentials.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        if let Grant::ClientCredentials { scope: wanted } = &mut self.grant {
            *wanted = Some(scope.into());
        }
        self
    }

    /// How many times a token was fetched from the token endpoint.
    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// A valid access token: the one held, or a new one. Concurrent callers during a refresh
    /// wait for it and share its token.
    pub async fn access_token(&self) -> Result<Secret, ActionError> {
        let mut state = self.state.lock().await;
        if state.is_none() {
            *state = self.load().await;
        }
        if let Some(tokens) = state.as_ref() {
            let fresh = tokens.expires_at.is_none_or(|at| at - Utc::now() > chrono_duration(self.refresh_before));
            if fresh {
                return Ok(Secret::new(tokens.access_token.clone()));
            }
        }
        let refresh_token = state.as_ref().and_then(|tokens| tokens.refresh_token.clone());
        let tokens = self.fetch(refresh_token).await?;
        let access = Secret::new(tokens.access_token.clone());
        self.save(&tokens).await;
        *state = Some(tokens);
        Ok(access)
    }

    /// Drops `token` if it is still the one held, so the next caller refreshes.
    async fn invalidate(&self, token: &Secret) {
        let mut state = self.state.lock().await;
        if let Some(tokens) = state.as_mut()
            && tokens.access_token == token.expose()
        {
            tokens.expires_at = Some(Utc::now() - chrono::Duration::seconds(1));
        }
    }

    async fn fetch(&self, held_refresh_token: Option<String>) -> Result<Tokens, ActionError> {
        let secret = self.client_secret.expose();
        let mut form: Vec<(&str, String)> =
            vec![("client_id", self.client_id.clone()), ("client_secret", secret.to_owned())];
        match (&self.grant, held_refresh_token) {
            (_, Some(refresh_token)) => {
                form.push(("grant_type", "refresh_token".into()));
                form.push(("refresh_token", refresh_token));
            }
            (Grant::RefreshToken(initial), None) => {
                form.push(("grant_type", "refresh_token".into()));
                form.push(("refresh_token", initial.expose().to_owned()));
            }
            (Grant::ClientCredentials { scope }, None) => {
                form.push(("grant_type", "client_credentials".into()));
                if let Some(scope) = scope {
                    form.push(("scope", scope.clone()));
                }
            }
        }
        self.refreshes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let response = self.http.post(&self.token_url).form(&form).send().await?;
        let status = response.status();
        if !status.is_success() {
            let headers = response.headers().clone();
            let body = response.text().await.unwrap_or_default();
            return Err(match crate::http::classify(status, &headers, &body) {
                ActionError::Rejected { status, message } => ActionError::Unauthorized { status, message },
                other => other,
            });
        }
        let answer: TokenResponse =
            response.json().await.map_err(|error| ActionError::InvalidOutput(error.without_url().to_string()))?;
        tracing::info!(expires_in = answer.expires_in, "got a new OAuth2 access token");
        let expires_at = answer.expires_in.map(|seconds| Utc::now() + chrono::Duration::seconds(seconds as i64));
        let refresh_token = answer.refresh_token.or_else(|| match &self.grant {
            Grant::RefreshToken(initial) => Some(initial.expose().to_owned()),
            Grant::ClientCredentials { .. } => None,
        });
        // Known as secrets from now on, so they are masked wherever they might appear.
        crate::secret::remember(&answer.access_token);
        if let Some(refresh) = &refresh_token {
            crate::secret::remember(refresh);
        }
        Ok(Tokens { access_token: answer.access_token, refresh_token, expires_at })
    }

    async fn load(&self) -> Option<Tokens> {
        let (store, key) = self.store.get()?;
        let value = store.cursor(key).await.ok()??;
        let tokens: Tokens = serde_json::from_value(value).ok()?;
        crate::secret::remember(&tokens.access_token);
        Some(tokens)
    }

    async fn save(&self, tokens: &Tokens) {
        let Some((store, key)) = self.store.get() else { return };
        let value = serde_json::to_value(tokens).unwrap_or(Value::Null);
        if let Err(error) = store.save_cursor(key, &value).await {
            tracing::warn!(%error, "could not keep the new OAuth2 tokens in the store");
        }
    }
}

impl std::fmt::Debug for OAuth2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth2")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

fn chrono_duration(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}
