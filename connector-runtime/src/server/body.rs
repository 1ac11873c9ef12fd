//! [`JsonBody`]: a request body declared as JSON and within the size limit, kept raw (webhook
//! signatures are computed over the exact bytes).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};

use super::error::ApiError;

/// The raw body of a request sent with `Content-Type: application/json` (or `*+json`).
pub(super) struct JsonBody(pub(super) Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let content_type =
            request.headers().get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("").to_owned();
        let body = Bytes::from_request(request, state).await.map_err(|rejection| {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(status, "the body is over the size limit")
            } else {
                ApiError::new(status, format!("the body could not be read: {rejection}"))
            }
        })?;
        let media_type = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if media_type != "application/json" && !media_type.ends_with("+json") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("send JSON with `Content-Type: application/json` (got `{content_type}`)"),
            ));
        }
        Ok(JsonBody(body))
    }
}
