//! TEMPORARY STUB (being written): do not commit.
#![allow(missing_docs, dead_code)]
use crate::Secret;
use axum::http::HeaderMap;
use std::time::Duration;
#[derive(Clone)]
pub enum SignatureScheme {
    GitHub { secret: Secret },
    Stripe { secret: Secret, tolerance: Duration },
    StandardWebhooks { secret: Secret, tolerance: Duration },
    HmacSha256 { header: &'static str, prefix: &'static str, secret: Secret, delivery_id_header: Option<&'static str> },
    Custom(std::sync::Arc<dyn Fn(&HeaderMap, &[u8]) -> Result<(), SignatureError> + Send + Sync>),
}
impl std::fmt::Debug for SignatureScheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignatureScheme")
    }
}
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("stub")]
    Mismatch,
    #[error("{0}")]
    Custom(String),
}
impl SignatureScheme {
    pub fn github(secret: Secret) -> Self {
        SignatureScheme::GitHub { secret }
    }
    pub fn stripe(secret: Secret) -> Self {
        SignatureScheme::Stripe { secret, tolerance: Duration::from_secs(300) }
    }
    pub fn standard_webhooks(secret: Secret) -> Self {
        SignatureScheme::StandardWebhooks { secret, tolerance: Duration::from_secs(300) }
    }
    pub fn verify(&self, _headers: &HeaderMap, _body: &[u8]) -> Result<(), SignatureError> {
        Err(SignatureError::Mismatch)
    }
    pub fn delivery_id(&self, _headers: &HeaderMap, _body: &[u8]) -> Option<String> {
        None
    }
}
