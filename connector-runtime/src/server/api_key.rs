//! The API key the `/api` routes (and `/mcp`) require: a middleware layer, so no handler checks
//! it itself.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use crate::model::Secret;

/// Lets a request through when it carries `Authorization: Bearer <api key>` (compared in
/// constant time); without a configured key, `/api` refuses every request.
pub(super) async fn require_api_key(
    State(key): State<Arc<Option<Secret>>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(key) = key.as_ref() else {
        return Err(ApiError::unauthorized("this server has no API key configured, so /api and /mcp are closed"));
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")))
        .unwrap_or("");
    // Digests of equal length, compared in constant time: neither the key's length nor where a
    // guess goes wrong shows in the time the answer takes.
    let (presented, expected) = (Sha256::digest(presented.as_bytes()), Sha256::digest(key.expose().as_bytes()));
    if bool::from(presented.as_slice().ct_eq(expected.as_slice())) {
        Ok(next.run(request).await)
    } else {
        Err(ApiError::unauthorized("send the API key as `Authorization: Bearer <key>`"))
    }
}
