//! [`Auth`]: how a connector authenticates, declared once on the connector and applied by the
//! HTTP helper to every request — never written per action.
//!
//! ```
//! use connector_runtime::client::{Auth, OAuth2};
//! use connector_runtime::Secret;
//!
//! let bearer = Auth::Bearer(Secret::new("token"));
//! let header = Auth::api_key_header("X-Api-Key", Secret::new("key"));
//! let oauth = Auth::oauth2(OAuth2::client_credentials("http://127.0.0.1:1/oauth/token", "id", Secret::new("s")));
//! # let _ = (bearer, header, oauth);
//! ```

use std::sync::Arc;

use base64::Engine as _;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};

use super::oauth2::{OAuth2, TokenStore};
use crate::model::{ActionError, Secret};

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
        let username = username.into();
        // What goes on the wire, which a service may echo back: masked like the password.
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{}", password.expose()));
        crate::model::secret::remember(&encoded);
        Auth::Basic { username, password }
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
            (Auth::OAuth2(oauth), Some(token)) if oauth.refreshes_on(status) => {
                oauth.invalidate(token).await;
                true
            }
            _ => false,
        }
    }

    /// Lets an OAuth2 flow keep its tokens in `store`, under `key`.
    pub(crate) fn attach_token_store(&self, store: Arc<dyn TokenStore>, key: String) {
        if let Auth::OAuth2(oauth) = self {
            oauth.attach_store(store, key);
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
