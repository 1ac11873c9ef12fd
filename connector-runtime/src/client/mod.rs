//! The HTTP client toolkit actions use: request building and response classification
//! ([`http`]), authentication declared once per connector ([`Auth`], [`OAuth2`]), the limiter
//! that enforces a connector's [`RateLimit`](crate::RateLimit), and pagination ([`Pages`]).
//!
//! Above the model, below connectors: it knows requests and answers, not runs.

pub mod auth;
pub mod http;
mod limiter;
pub mod oauth2;
pub mod paginate;

pub use auth::Auth;
pub use http::{HttpClient, Request, StepHttp};
pub use oauth2::{Grant, OAuth2, SharedGuard, TokenStore, TokenStoreError};
pub use paginate::Pages;
