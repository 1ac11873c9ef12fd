//! The forms that change something (cancel, retry, replay, complete a token, check, sign out):
//! each carries the CSRF token, checked by the extractor before any handler runs, so no handler
//! can forget it.

use std::sync::Arc;

use axum::extract::{Form, FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::session;
use crate::model::Secret;

/// A form with its CSRF token.
pub(super) trait WithCsrf {
    /// The token the form carried.
    fn csrf(&self) -> &str;
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
pub(super) struct Action {
    #[serde(default)]
    csrf: String,
}

impl WithCsrf for Action {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// The token form: which step, with what payload.
#[derive(Deserialize)]
pub(super) struct Completion {
    #[serde(default)]
    csrf: String,
    pub(super) step: String,
    pub(super) payload: String,
}

impl WithCsrf for Completion {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// A form of `T` whose CSRF token is this dashboard's; any other request is refused with 403.
pub(super) struct Checked<T>(pub(super) T);

impl<T, S> FromRequest<S> for Checked<T>
where
    T: DeserializeOwned + WithCsrf + Send,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let key = request.extensions().get::<Arc<Option<Secret>>>().cloned();
        let Form(form) = Form::<T>::from_request(request, state).await.map_err(IntoResponse::into_response)?;
        let expected = key.as_ref().and_then(|key| key.as_ref().as_ref().map(session::csrf));
        match expected {
            Some(expected) if session::same(form.csrf(), &expected) => Ok(Checked(form)),
            _ => Err((StatusCode::FORBIDDEN, "the form is not from this dashboard (CSRF token)").into_response()),
        }
    }
}
