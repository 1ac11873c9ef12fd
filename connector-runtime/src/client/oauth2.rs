//! [`OAuth2`]: tokens got, refreshed before they expire and after a 401, one refresh at a time,
//! and kept through a [`TokenStore`] (the engine hands its run store in) so a restart does not
//! ask for new ones.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::model::{ActionError, Secret};

/// Where connector clients keep what outlives a request: OAuth2 tokens between processes, and,
/// in a store several processes share, the state that makes token refreshes and rate limits
/// hold across all of them. Run stores implement it; the tokens are as sensitive as the
/// connector's config, and kept apart from anything else.
#[async_trait]
pub trait TokenStore: Send + Sync + 'static {
    /// The tokens kept under `key`, as the client stored them.
    async fn tokens(&self, key: &str) -> Result<Option<Value>, TokenStoreError>;
    /// Keeps `tokens` under `key`, replacing what was there.
    async fn save_tokens(&self, key: &str, tokens: &Value) -> Result<(), TokenStoreError>;

    /// Locks the tokens under `key` for every process sharing the store until the guard is
    /// dropped: one process refreshes an expired token while the others wait, then read the
    /// token it saved. `None` (the default) for a store one process owns, whose client
    /// refreshes single-flight already.
    async fn lock_tokens(&self, key: &str) -> Result<Option<SharedGuard>, TokenStoreError> {
        let _ = key;
        Ok(None)
    }

    /// Reserves the next request under the rate limit `key` (`per_second` on average, `burst`
    /// at once) for every process sharing the store, and says how long to wait before sending
    /// it. `None` (the default): the store is one process's, and the client's own limiter counts.
    async fn reserve_request(
        &self,
        key: &str,
        per_second: u32,
        burst: u32,
    ) -> Result<Option<Duration>, TokenStoreError> {
        let _ = (key, per_second, burst);
        Ok(None)
    }

    /// Takes one of `limit` request slots under `key` for every process sharing the store,
    /// waiting while all are taken, until the guard is dropped. `None` (the default): the
    /// client's own semaphore counts.
    async fn acquire_request_slot(&self, key: &str, limit: u32) -> Result<Option<SharedGuard>, TokenStoreError> {
        let _ = (key, limit);
        Ok(None)
    }
}

/// Holds something a [`TokenStore`] shares between processes (a lock, a request slot) until
/// dropped.
pub struct SharedGuard {
    /// Released when dropped.
    _held: Box<dyn Send + Sync>,
}

impl SharedGuard {
    /// A guard whose `inner` releases what it holds when dropped.
    pub fn new(inner: impl Send + Sync + 'static) -> Self {
        SharedGuard { _held: Box::new(inner) }
    }
}

impl std::fmt::Debug for SharedGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedGuard")
    }
}

/// Why a [`TokenStore`] could not read or keep tokens.
#[derive(Debug, thiserror::Error)]
#[error("token store: {0}")]
pub struct TokenStoreError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

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
    store: OnceLock<(Arc<dyn TokenStore>, String)>,
    refreshes: std::sync::atomic::AtomicU64,
}

/// The tokens held, as kept in the store, with the client and server they are for: tokens of
/// another client id or token URL (the config changed) are not used.
#[derive(Clone, Serialize, Deserialize)]
struct Tokens {
    access_token: String,
    refresh_token: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    /// When to refresh: `refresh_before` ahead of the expiry, but never more than half the
    /// token's lifetime ahead, so a short-lived token is used for half its life, not refreshed
    /// on every call.
    #[serde(default)]
    refresh_at: Option<DateTime<Utc>>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    token_url: Option<String>,
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
        if let Some(tokens) = state.as_ref().filter(|tokens| self.is_fresh(tokens)) {
            return Ok(Secret::new(tokens.access_token.clone()));
        }
        // Across processes: the first to get here refreshes; the others wait for its lock, then
        // find the token it saved, unless it is the very token they found stale.
        let _lock = self.lock_shared().await;
        if _lock.is_some() {
            let stale = state.as_ref().map(|tokens| tokens.access_token.clone());
            if let Some(stored) = self.load().await {
                let newer = stale.as_deref() != Some(stored.access_token.as_str());
                let usable = self.is_fresh(&stored) && newer;
                *state = Some(stored);
                if usable && let Some(tokens) = state.as_ref() {
                    return Ok(Secret::new(tokens.access_token.clone()));
                }
            }
        }
        let refresh_token = state.as_ref().and_then(|tokens| tokens.refresh_token.clone());
        let tokens = match refresh_token {
            Some(held) => match self.fetch(Some(held.clone())).await {
                // A refresh token the server no longer honours (revoked, from a server that
                // forgot it): start over the way the grant starts, unless that is the same token.
                Err(ActionError::Unauthorized { .. }) if self.can_start_over(&held) => {
                    tracing::info!("the OAuth2 server refused the refresh token; asking for new tokens");
                    self.fetch(None).await?
                }
                other => other?,
            },
            None => self.fetch(None).await?,
        };
        let access = Secret::new(tokens.access_token.clone());
        self.save(&tokens).await;
        *state = Some(tokens);
        Ok(access)
    }

    /// Whether `tokens` need no refresh yet.
    fn is_fresh(&self, tokens: &Tokens) -> bool {
        let refresh_at = tokens.refresh_at.or(tokens.expires_at.map(|at| at - chrono_duration(self.refresh_before)));
        refresh_at.is_none_or(|at| Utc::now() < at)
    }

    /// The store's lock on this client's tokens, when the store is shared between processes.
    async fn lock_shared(&self) -> Option<SharedGuard> {
        let (store, key) = self.store.get()?;
        match store.lock_tokens(key).await {
            Ok(lock) => lock,
            Err(error) => {
                tracing::warn!(%error, "cannot lock the OAuth2 tokens in the store; refreshing without the lock");
                None
            }
        }
    }

    /// Whether the grant can get tokens without the refresh token `held`: client credentials
    /// always can, a refresh-token grant if `held` is not its initial token.
    fn can_start_over(&self, held: &str) -> bool {
        match &self.grant {
            Grant::ClientCredentials { .. } => true,
            Grant::RefreshToken(initial) => initial.expose() != held,
        }
    }

    /// Drops `token` if it is still the one held, so the next caller refreshes.
    pub(super) async fn invalidate(&self, token: &Secret) {
        let mut state = self.state.lock().await;
        if let Some(tokens) = state.as_mut()
            && tokens.access_token == token.expose()
        {
            let past = Utc::now() - chrono::Duration::seconds(1);
            tokens.expires_at = Some(past);
            tokens.refresh_at = Some(past);
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
            return Err(match super::http::classify(status, &headers, &body) {
                ActionError::Rejected { status, message } => ActionError::Unauthorized { status, message },
                other => other,
            });
        }
        let answer: TokenResponse =
            response.json().await.map_err(|error| ActionError::InvalidOutput(error.without_url().to_string()))?;
        tracing::info!(expires_in = answer.expires_in, "got a new OAuth2 access token");
        let now = Utc::now();
        let lifetime = answer.expires_in.map(|seconds| chrono::Duration::seconds(seconds as i64));
        let expires_at = lifetime.map(|lifetime| now + lifetime);
        let refresh_at =
            lifetime.map(|lifetime| now + lifetime - chrono_duration(self.refresh_before).min(lifetime / 2));
        let refresh_token = answer.refresh_token.or_else(|| match &self.grant {
            Grant::RefreshToken(initial) => Some(initial.expose().to_owned()),
            Grant::ClientCredentials { .. } => None,
        });
        // Known as secrets from now on, so they are masked wherever they might appear.
        crate::model::secret::remember(&answer.access_token);
        if let Some(refresh) = &refresh_token {
            crate::model::secret::remember(refresh);
        }
        Ok(Tokens {
            access_token: answer.access_token,
            refresh_token,
            expires_at,
            refresh_at,
            client_id: Some(self.client_id.clone()),
            token_url: Some(self.token_url.clone()),
        })
    }

    /// Keeps the tokens in `store` under `key` from now on (the first store given wins).
    pub(super) fn attach_store(&self, store: Arc<dyn TokenStore>, key: String) {
        let _ = self.store.set((store, key));
    }

    /// Whether an answer with `status` means the token is no longer good.
    pub(super) fn refreshes_on(&self, status: StatusCode) -> bool {
        self.refresh_on.contains(&status)
    }

    async fn load(&self) -> Option<Tokens> {
        let (store, key) = self.store.get()?;
        let value = store.tokens(key).await.ok()??;
        let tokens: Tokens = serde_json::from_value(value).ok()?;
        let ours = tokens.client_id.as_deref() == Some(self.client_id.as_str())
            && tokens.token_url.as_deref() == Some(self.token_url.as_str());
        if !ours {
            tracing::info!("the stored OAuth2 tokens are for another client or server; not using them");
            return None;
        }
        // Both, masked from now on: a refresh token the server rotated is a secret no config holds.
        crate::model::secret::remember(&tokens.access_token);
        if let Some(refresh) = &tokens.refresh_token {
            crate::model::secret::remember(refresh);
        }
        Some(tokens)
    }

    async fn save(&self, tokens: &Tokens) {
        let Some((store, key)) = self.store.get() else { return };
        let value = serde_json::to_value(tokens).unwrap_or(Value::Null);
        if let Err(error) = store.save_tokens(key, &value).await {
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
