//! The OpenAPI 3.1 document of the JSON API, served at `GET /api/openapi.json` (without the
//! key: it describes the API, it holds no data). aide builds it from the routes themselves: a
//! route enters the API router only through `api_route`, which documents its extractors
//! (path, query, body) and its answers from their schemars schemas, the same schemas the
//! manifest shows, so the document cannot list a route the server does not answer or miss one
//! it does.

use std::sync::Arc;

use aide::axum::ApiRouter;
use aide::openapi::{OpenApi, SecurityScheme};
use aide::transform::{TransformOpenApi, TransformOperation};
use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use super::body::JsonBody;
use crate::engine::Engine;

/// The name the document gives the API key's security scheme.
const API_KEY: &str = "apiKey";

/// Turns the documented routes into the router that serves them, plus
/// `GET /api/openapi.json` serving their document.
pub(super) fn finish(documented: ApiRouter<Engine>) -> Router<Engine> {
    let mut document = OpenApi::default();
    let router = documented.finish_api_with(&mut document, describe);
    // Serialized once: the document does not change while the server runs.
    let json: Arc<str> = serde_json::to_string(&document).expect("an OpenAPI document serializes").into();
    router.route(
        "/api/openapi.json",
        get(move || {
            let json = json.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], json.to_string()).into_response() }
        }),
    )
}

fn describe(api: TransformOpenApi<'_>) -> TransformOpenApi<'_> {
    api.title("connector-runtime")
        .version(env!("CARGO_PKG_VERSION"))
        .description(
            "Runs, their steps and logs, and what can be done to them; events in; the manifest. Every `/api` \
             route needs the server's API key as a bearer token. Every error is `{\"error\": .., \"path\": ..}`.",
        )
        .security_scheme(
            API_KEY,
            SecurityScheme::Http {
                scheme: "bearer".into(),
                bearer_format: None,
                description: Some("The server's API key: `Authorization: Bearer <key>`.".into()),
                extensions: Default::default(),
            },
        )
}

/// `docs`, and: the operation needs the API key, and answers 401 without it.
pub(super) fn keyed(
    docs: fn(TransformOperation<'_>) -> TransformOperation<'_>,
) -> impl for<'a> FnOnce(TransformOperation<'a>) -> TransformOperation<'a> {
    move |op| {
        docs(op).security_requirement(API_KEY).response_with::<401, super::ApiError, _>(|r| {
            r.description("No API key, or not the server's: send `Authorization: Bearer <key>`.")
        })
    }
}

// The raw body is documented per operation (`op.input::<Json<T>>()`), as the type it is parsed
// into after its signature or media type is checked.
impl aide::OperationInput for JsonBody {}
