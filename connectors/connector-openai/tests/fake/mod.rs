//! A loopback fake of the OpenAI API, answering with the shapes OpenAI documents: chat
//! completions, embeddings, model lists, and errors as `{"error": {"message", "type", "param",
//! "code"}}`. A test queues the answers it wants; without one, the fake answers a completion
//! with the text it was given by `reply_text`, or embeds every input.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

pub const API_KEY: &str = "sk-test-4f9d2c81b7e6a0c3";

/// One queued answer.
pub struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(&'static str, String)>,
    pub body: Value,
}

impl Reply {
    /// A 200 chat completion whose first message has this content (and no refusal).
    pub fn content(content: &str) -> Self {
        Reply::ok(completion(json!({"role": "assistant", "content": content, "refusal": null}), "stop"))
    }

    /// A 200 chat completion in which the model refuses.
    pub fn refusal(refusal: &str) -> Self {
        Reply::ok(completion(json!({"role": "assistant", "content": null, "refusal": refusal}), "stop"))
    }

    pub fn ok(body: Value) -> Self {
        Reply { status: StatusCode::OK, headers: Vec::new(), body }
    }

    /// An error answer with OpenAI's error body.
    pub fn error(status: StatusCode, message: &str, kind: &str, code: Option<&str>) -> Self {
        let body = json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
        Reply { status, headers: Vec::new(), body }
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }
}

/// A chat completion as `POST /chat/completions` documents it.
pub fn completion(message: Value, finish_reason: &str) -> Value {
    json!({
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion",
        "created": 1741569952,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": 19,
            "completion_tokens": 10,
            "total_tokens": 29,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
        },
        "service_tier": "default",
        "system_fingerprint": "fp_06737a9306"
    })
}

/// One request the fake received.
#[derive(Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Default)]
struct Shared {
    replies: Mutex<VecDeque<Reply>>,
    received: Mutex<Vec<Received>>,
}

pub struct FakeOpenAi {
    pub base_url: String,
    shared: Arc<Shared>,
}

impl FakeOpenAi {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/v1/embeddings", post(embeddings))
            .route("/v1/models", get(models))
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeOpenAi { base_url, shared }
    }

    /// Queues answers, given in order to the next requests.
    pub fn reply(&self, reply: Reply) {
        self.shared.replies.lock().unwrap().push_back(reply);
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }
}

/// The checks OpenAI makes before anything else: the key, then the body's required fields.
fn admit(shared: &Shared, path: &str, headers: &HeaderMap, body: &Value, required: &[&str]) -> Option<Response> {
    shared.received.lock().unwrap().push(Received { path: path.into(), headers: headers.clone(), body: body.clone() });
    let authorization = headers.get("authorization").and_then(|value| value.to_str().ok()).unwrap_or("");
    let Some(key) = authorization.strip_prefix("Bearer ") else {
        return Some(answer(Reply::error(
            StatusCode::UNAUTHORIZED,
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            "invalid_request_error",
            None,
        )));
    };
    if key != API_KEY {
        // As OpenAI does, the message shows the key's ends (masked in between).
        let shown = format!("{}***{}", &key[..key.len().min(5)], &key[key.len().saturating_sub(4)..]);
        return Some(answer(Reply::error(
            StatusCode::UNAUTHORIZED,
            &format!(
                "Incorrect API key provided: {shown}. You can find your API key at https://platform.openai.com/account/api-keys."
            ),
            "invalid_request_error",
            Some("invalid_api_key"),
        )));
    }
    for field in required {
        if body.get(*field).is_none() {
            return Some(answer(Reply::error(
                StatusCode::BAD_REQUEST,
                &format!("Missing required parameter: '{field}'."),
                "invalid_request_error",
                Some("missing_required_parameter"),
            )));
        }
    }
    shared.replies.lock().unwrap().pop_front().map(answer)
}

fn answer(reply: Reply) -> Response {
    let mut response = (reply.status, axum::Json(reply.body)).into_response();
    for (name, value) in reply.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

async fn chat(State(shared): State<Arc<Shared>>, headers: HeaderMap, axum::Json(body): axum::Json<Value>) -> Response {
    if let Some(response) = admit(&shared, "/chat/completions", &headers, &body, &["model", "messages"]) {
        return response;
    }
    answer(Reply::content("Hello! How can I help you today?"))
}

async fn embeddings(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if let Some(response) = admit(&shared, "/embeddings", &headers, &body, &["model", "input"]) {
        return response;
    }
    let inputs = body["input"].as_array().cloned().unwrap_or_default();
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let length = text.as_str().unwrap_or("").len() as f64;
            json!({"object": "embedding", "index": index, "embedding": [0.0023064255, -0.009327292, length]})
        })
        .collect();
    answer(Reply::ok(json!({
        "object": "list",
        "data": data,
        "model": body["model"],
        "usage": {"prompt_tokens": 8, "total_tokens": 8}
    })))
}

async fn models(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(response) = admit(&shared, "/models", &headers, &Value::Null, &[]) {
        return response;
    }
    answer(Reply::ok(json!({
        "object": "list",
        "data": [{"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system"}]
    })))
}
