//! A loopback fake of api.github.com driven by GitHub's OpenAPI description: each request is
//! matched to its operation, its parameters and body validated against the operation's
//! schemas (422 with GitHub's message shape when they do not fit), and answered with the
//! operation's documented example. On top, what the description cannot say: bearer tokens
//! checked (401 `Bad credentials`), GitHub App JWTs verified (RS256 with the app's public key,
//! `iss`, `iat`, `exp`) before an installation token is issued, `Link` headers on lists, and
//! answers a test queues for an operation (rate limits, say).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use serde_json::{Value, json};
use sha2::Sha256;

use super::openapi::SPEC;

/// The test app's private key (PKCS#1 PEM, as GitHub hands them out) and its public key
/// (PKCS#1 DER), made with openssl for these tests only.
pub const APP_KEY_PEM: &str = include_str!("../fixtures/test-app-key.pem");
const APP_PUBLIC_KEY_DER: &[u8] = include_bytes!("../fixtures/test-app-key.pub.der");
pub const APP_ID: &str = "123456";
pub const INSTALLATION_ID: u64 = 42_000_001;
pub const TOKEN: &str = "ghp_16C7e42F292c6912E7710c838347Ae178B4a";

const DOCS: &str = "https://docs.github.com/rest";

/// One request the fake received, with the operation it matched.
#[derive(Debug, Clone)]
pub struct Received {
    pub operation: String,
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Option<Value>,
    pub status: u16,
}

/// An answer a test queues for an operation.
pub struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(&'static str, String)>,
    pub body: Value,
}

#[derive(Default)]
struct Shared {
    tokens: Mutex<HashSet<String>>,
    replies: Mutex<HashMap<String, VecDeque<Reply>>>,
    received: Mutex<Vec<Received>>,
    issued: AtomicU32,
    /// How long installation tokens live.
    token_ttl: Mutex<Option<Duration>>,
    /// How long the token exchange takes (to see concurrent callers wait for one).
    exchange_delay: Mutex<Duration>,
    /// How many pages the issue list has.
    pages: AtomicU32,
}

#[derive(Clone)]
pub struct FakeGitHub {
    pub api_url: String,
    shared: Arc<Shared>,
}

impl FakeGitHub {
    pub async fn start() -> Self {
        // The description loads before the first request, outside any request's timing.
        std::sync::LazyLock::force(&SPEC);
        let shared = Arc::new(Shared { pages: AtomicU32::new(1), ..Shared::default() });
        shared.tokens.lock().unwrap().insert(TOKEN.to_owned());
        *shared.token_ttl.lock().unwrap() = Some(Duration::from_secs(3600));
        let app = Router::new().fallback(handle).with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeGitHub { api_url, shared }
    }

    /// Queues an answer for the next request to `operation` (an operation id, like
    /// `issues/create`), given instead of the example once the request is validated.
    pub fn reply(&self, operation: &str, reply: Reply) {
        self.shared.replies.lock().unwrap().entry(operation.to_owned()).or_default().push_back(reply);
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// The requests that matched `operation`.
    pub fn calls(&self, operation: &str) -> Vec<Received> {
        self.received().into_iter().filter(|received| received.operation == operation).collect()
    }

    /// How many installation tokens were issued.
    pub fn issued(&self) -> u32 {
        self.shared.issued.load(Ordering::SeqCst)
    }

    pub fn set_token_ttl(&self, ttl: Duration) {
        *self.shared.token_ttl.lock().unwrap() = Some(ttl);
    }

    pub fn set_exchange_delay(&self, delay: Duration) {
        *self.shared.exchange_delay.lock().unwrap() = delay;
    }

    pub fn set_issue_pages(&self, pages: u32) {
        self.shared.pages.store(pages, Ordering::SeqCst);
    }

    /// Revokes every installation token issued so far (the personal token stays good).
    pub fn revoke_installation_tokens(&self) {
        self.shared.tokens.lock().unwrap().retain(|token| !token.starts_with("ghs_"));
    }
}

fn github_error(status: StatusCode, message: &str) -> Response {
    let body = json!({ "message": message, "documentation_url": DOCS, "status": status.as_str() });
    (status, axum::Json(body)).into_response()
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let query: Vec<(String, String)> = uri.query().map(url_pairs).unwrap_or_default();
    let Some(matched) = SPEC.find(method.as_str(), &path) else {
        return github_error(StatusCode::NOT_FOUND, "Not Found");
    };
    let operation = matched.operation.id.clone();
    let record = |status: u16| {
        shared.received.lock().unwrap().push(Received {
            operation: operation.clone(),
            method: method.to_string(),
            path: path.clone(),
            query: query.clone(),
            headers: headers.clone(),
            body: serde_json::from_slice(&body).ok(),
            status,
        });
    };
    let bearer = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_owned();
    let exchange = operation == "apps/create-installation-access-token";
    let authorized = if exchange { verify_jwt(&bearer) } else { Ok(shared.tokens.lock().unwrap().contains(&bearer)) };
    match authorized {
        Ok(true) => {}
        Ok(false) => {
            record(401);
            return github_error(StatusCode::UNAUTHORIZED, "Bad credentials");
        }
        Err(reason) => {
            record(401);
            return github_error(StatusCode::UNAUTHORIZED, &format!("A JSON web token could not be decoded: {reason}"));
        }
    }
    if let Err(problems) = SPEC.validate(&matched, &query, &body) {
        record(422);
        return github_error(StatusCode::UNPROCESSABLE_ENTITY, &format!("Invalid request.\n\n{}", problems.join("\n")));
    }
    let queued = shared.replies.lock().unwrap().get_mut(&operation).and_then(VecDeque::pop_front);
    if let Some(reply) = queued {
        record(reply.status.as_u16());
        let mut response = (reply.status, axum::Json(reply.body)).into_response();
        for (name, value) in reply.headers {
            response.headers_mut().insert(name, value.parse().unwrap());
        }
        return response;
    }
    let (status, example) = SPEC.example(matched.operation);
    let mut example = example.unwrap_or(Value::Null);
    let mut link = None;
    if exchange {
        // The documented example, with a token of its own and an expiry in the future.
        let delay = *shared.exchange_delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        let serial = shared.issued.fetch_add(1, Ordering::SeqCst) + 1;
        let token = format!("ghs_fake{serial:032}");
        shared.tokens.lock().unwrap().insert(token.clone());
        let ttl = shared.token_ttl.lock().unwrap().unwrap_or(Duration::from_secs(3600));
        let expires_at = chrono::Utc::now() + chrono::Duration::from_std(ttl).unwrap();
        example["token"] = json!(token);
        example["expires_at"] = json!(expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }
    if operation == "issues/list-for-repo" {
        let pages = shared.pages.load(Ordering::SeqCst);
        let page: u32 =
            query.iter().find(|(key, _)| key == "page").and_then(|(_, value)| value.parse().ok()).unwrap_or(1);
        if page < pages {
            let mut next: Vec<(String, String)> = query.iter().filter(|(key, _)| key != "page").cloned().collect();
            next.push(("page".into(), (page + 1).to_string()));
            let query =
                next.iter().map(|(key, value)| format!("{key}={}", encode(value))).collect::<Vec<_>>().join("&");
            link = Some(format!("<{path}?{query}>; rel=\"next\", <{path}?page={pages}>; rel=\"last\""));
        }
    }
    record(status);
    let status = StatusCode::from_u16(status).unwrap();
    let mut response =
        if example.is_null() { status.into_response() } else { (status, axum::Json(example)).into_response() };
    response.headers_mut().insert("x-ratelimit-limit", "5000".parse().unwrap());
    response.headers_mut().insert("x-ratelimit-remaining", "4999".parse().unwrap());
    if let Some(link) = link {
        response.headers_mut().insert("link", link.parse().unwrap());
    }
    response
}

/// Checks a GitHub App JWT as GitHub does: RS256 under the app's public key, issued by the app,
/// `iat` not in the future, `exp` at most ten minutes after `iat` and not passed.
fn verify_jwt(jwt: &str) -> Result<bool, String> {
    let mut parts = jwt.split('.');
    let (Some(header), Some(claims), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a JWT".into());
    };
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|error| error.to_string());
    let header: Value = serde_json::from_slice(&decode(header)?).map_err(|error| error.to_string())?;
    if header["alg"] != "RS256" {
        return Err(format!("alg {} is not RS256", header["alg"]));
    }
    let key = rsa::PublicKey::from_pkcs1_der(APP_PUBLIC_KEY_DER).expect("the test public key");
    let signature = Signature::try_from(decode(signature)?.as_slice()).map_err(|error| error.to_string())?;
    let signed = jwt.rsplit_once('.').unwrap().0;
    if VerifyingKey::<Sha256>::new(key).verify(signed.as_bytes(), &signature).is_err() {
        return Err("the signature does not verify under the app's public key".into());
    }
    let claims: Value = serde_json::from_slice(&decode(claims)?).map_err(|error| error.to_string())?;
    let now = chrono::Utc::now().timestamp();
    let (iat, exp) = (claims["iat"].as_i64().unwrap_or(i64::MAX), claims["exp"].as_i64().unwrap_or(0));
    if claims["iss"] != APP_ID {
        return Err(format!("iss {} is not the app", claims["iss"]));
    }
    if iat > now || exp <= now || exp - iat > 600 {
        return Err(format!("'Issued at' or 'Expiration' is not valid (iat {iat}, exp {exp}, now {now})"));
    }
    Ok(true)
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{query}"))
        .map(|url| url.query_pairs().map(|(key, value)| (key.into_owned(), value.into_owned())).collect())
        .unwrap_or_default()
}

fn encode(value: &str) -> String {
    reqwest::Url::parse_with_params("http://x/", [("v", value)])
        .map(|url| url.query().unwrap_or("v=").trim_start_matches("v=").to_owned())
        .unwrap_or_default()
}
