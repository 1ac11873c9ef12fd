//! The OpenAI connector against a loopback fake of the API: request shapes, typed answers with
//! their token usage, structured output parsed into a Rust type, and every failure classified
//! the way the engine needs (rate limits waited out, refusals and misfits not retried).

mod fake;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use connector_openai::{ChatMessage, ChatRequest, EmbeddingsRequest, OpenAi, OpenAiConfig, StructuredRequest, Usage};
use connector_runtime::prelude::*;
use connector_runtime::testing::JobTest;
use connector_runtime::{CheckError, Integration, RateLimit, RetryPolicy, RunStatus};
use fake::{API_KEY, FakeOpenAi, Reply};
use serde_json::json;

fn openai(fake: &FakeOpenAi) -> Integration<OpenAi> {
    OpenAi::init(OpenAiConfig::new(Secret::new(API_KEY)).base_url(&fake.base_url))
}

fn hello() -> ChatRequest {
    ChatRequest::new("gpt-4o-mini", vec![ChatMessage::system("Be brief."), ChatMessage::user("Hello!")])
}

/// What the structured tests ask for.
#[derive(Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
struct Recipe {
    /// The dish.
    name: String,
    /// Minutes it takes.
    minutes: u32,
    /// A remark, if any.
    note: Option<String>,
}

#[tokio::test]
async fn a_chat_completion_sends_the_conversation_and_returns_the_typed_answer() {
    let fake = FakeOpenAi::start().await;
    let completion = openai(&fake).call(OpenAi::CREATE_CHAT_COMPLETION, hello().temperature(0.2)).await.unwrap();
    assert_eq!(completion.text(), Some("Hello! How can I help you today?"));
    assert_eq!(completion.model, "gpt-4o-mini-2024-07-18");
    assert_eq!(completion.choices[0].finish_reason.as_deref(), Some("stop"));
    assert_eq!(completion.usage, Usage { prompt_tokens: 19, completion_tokens: 10, total_tokens: 29 });
    let sent = &fake.received()[0];
    assert_eq!(sent.path, "/chat/completions");
    assert_eq!(sent.headers["authorization"], format!("Bearer {API_KEY}").as_str());
    assert_eq!(
        sent.body,
        json!({"model": "gpt-4o-mini", "temperature": 0.2, "messages": [
            {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello!"}
        ]})
    );
}

#[tokio::test]
async fn embeddings_come_back_one_per_text_in_order() {
    let fake = FakeOpenAi::start().await;
    let request = EmbeddingsRequest {
        model: "text-embedding-3-small".into(),
        input: vec!["a".into(), "abc".into()],
        dimensions: None,
    };
    let embeddings = openai(&fake).call(OpenAi::CREATE_EMBEDDINGS, request).await.unwrap();
    assert_eq!(embeddings.data.len(), 2);
    assert_eq!((embeddings.data[1].index, embeddings.data[1].embedding[2]), (1, 3.0));
    assert_eq!(embeddings.usage, Usage { prompt_tokens: 8, completion_tokens: 0, total_tokens: 8 });
    assert_eq!(fake.received()[0].body["encoding_format"], "float");
}

#[tokio::test]
async fn the_check_lists_the_models() {
    let fake = FakeOpenAi::start().await;
    openai(&fake).check().await.unwrap();
    assert_eq!(fake.received()[0].path, "/models");
}

#[tokio::test]
async fn structured_output_sends_the_types_schema_strictly_and_parses_the_answer() {
    let fake = FakeOpenAi::start().await;
    fake.reply(Reply::content(r#"{"name":"Tomato soup","minutes":25,"note":null}"#));
    let request = StructuredRequest::from_chat::<Recipe>(hello());
    let output = openai(&fake).call(OpenAi::CREATE_STRUCTURED_OUTPUT, request).await.unwrap();
    assert_eq!(output.usage.total_tokens, 29);
    let recipe = output.parse::<Recipe>().unwrap().value;
    assert_eq!(recipe, Recipe { name: "Tomato soup".into(), minutes: 25, note: None });

    let format = &fake.received()[0].body["response_format"];
    assert_eq!(format["type"], "json_schema");
    assert_eq!(format["json_schema"]["name"], "Recipe");
    assert_eq!(format["json_schema"]["strict"], true);
    let schema = &format["json_schema"]["schema"];
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(schema["required"], json!(["minutes", "name", "note"]));
    assert_eq!(schema["properties"]["minutes"]["description"], "Minutes it takes.");
}

#[tokio::test]
async fn a_refusal_is_a_permanent_error() {
    let fake = FakeOpenAi::start().await;
    fake.reply(Reply::refusal("I'm sorry, I cannot help with that request."));
    let error = openai(&fake)
        .call(OpenAi::CREATE_STRUCTURED_OUTPUT, StructuredRequest::from_chat::<Recipe>(hello()))
        .await
        .unwrap_err();
    assert!(matches!(&error, ActionError::Permanent(message) if message.contains("cannot help")), "{error:?}");
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn an_answer_that_does_not_fit_the_type_is_invalid_output() {
    let fake = FakeOpenAi::start().await;
    fake.reply(Reply::content(r#"{"name":"Tomato soup","minutes":"twenty-five","note":null}"#));
    fake.reply(Reply::content(r#"{"name":"Tomato soup","minu"#));
    let openai = openai(&fake);
    for _ in 0..2 {
        let error = openai
            .call(OpenAi::CREATE_STRUCTURED_OUTPUT, StructuredRequest::from_chat::<Recipe>(hello()))
            .await
            .unwrap_err();
        assert!(matches!(error, ActionError::InvalidOutput(_)), "{error:?}");
    }
}

#[tokio::test]
async fn an_answer_cut_at_the_token_limit_is_invalid_output() {
    let fake = FakeOpenAi::start().await;
    let message = json!({"role": "assistant", "content": "{\"name\":\"Tomato", "refusal": null});
    fake.reply(Reply::ok(fake::completion(message, "length")));
    let error = openai(&fake)
        .call(OpenAi::CREATE_STRUCTURED_OUTPUT, StructuredRequest::from_chat::<Recipe>(hello()))
        .await
        .unwrap_err();
    assert!(matches!(&error, ActionError::InvalidOutput(message) if message.contains("max_completion_tokens")));
}

#[tokio::test]
async fn a_wrong_key_is_unauthorized_and_the_key_is_not_in_the_error() {
    let fake = FakeOpenAi::start().await;
    let wrong = "sk-wrong-key-0123456789abcdef";
    let openai = OpenAi::init(OpenAiConfig::new(Secret::new(wrong)).base_url(&fake.base_url));
    let error = openai.call(OpenAi::CREATE_CHAT_COMPLETION, hello()).await.unwrap_err();
    assert!(matches!(&error, ActionError::Unauthorized { status: 401, .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("Incorrect API key provided") && text.contains("invalid_api_key"), "{text}");
    assert!(!text.contains(wrong), "{text}");
    assert!(matches!(openai.check().await, Err(CheckError::BadCredentials { .. })));
}

#[tokio::test]
async fn a_429_waits_as_long_as_retry_after_ms_says() {
    let fake = FakeOpenAi::start().await;
    let limited = || {
        Reply::error(
            StatusCode::TOO_MANY_REQUESTS,
            "Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3, Used 3, Requested 1.",
            "requests",
            Some("rate_limit_exceeded"),
        )
    };
    fake.reply(limited().header("retry-after-ms", "1250").header("retry-after", "2"));
    fake.reply(limited().header("retry-after", "7"));
    let openai = openai(&fake);
    let first = openai.call(OpenAi::CREATE_CHAT_COMPLETION, hello()).await.unwrap_err();
    assert!(
        matches!(first, ActionError::RateLimited { retry_after: Some(wait), .. } if wait == Duration::from_millis(1250)),
        "{first:?}"
    );
    let second = openai.call(OpenAi::CREATE_CHAT_COMPLETION, hello()).await.unwrap_err();
    assert!(
        matches!(second, ActionError::RateLimited { retry_after: Some(wait), .. } if wait == Duration::from_secs(7))
    );
}

#[tokio::test]
async fn server_errors_are_transient_and_bad_requests_rejected() {
    let fake = FakeOpenAi::start().await;
    fake.reply(Reply::error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
    ));
    let openai = openai(&fake);
    let error = openai.call(OpenAi::CREATE_CHAT_COMPLETION, hello()).await.unwrap_err();
    assert!(matches!(error, ActionError::Transient { .. }), "{error:?}");
    let unknown = ChatRequest::new("gpt-nonexistent", vec![ChatMessage::user("hi")]);
    fake.reply(Reply::error(
        StatusCode::NOT_FOUND,
        "The model `gpt-nonexistent` does not exist or you do not have access to it.",
        "invalid_request_error",
        Some("model_not_found"),
    ));
    let error = openai.call(OpenAi::CREATE_CHAT_COMPLETION, unknown).await.unwrap_err();
    assert!(
        matches!(&error, ActionError::Rejected { status: 404, message } if message.contains("model_not_found")),
        "{error:?}"
    );
}

// A job using the typed helper, run by the engine with its retries.

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "dish.named")]
struct DishNamed {
    dish: String,
}

#[job(id = "plan-dish", name = "Plan a dish", version = "1.0.0", event = DishNamed, integrations(openai = OpenAi))]
async fn plan_dish(payload: DishNamed, io: PlanDishIo<'_>) -> Result<Recipe, JobError> {
    let request = ChatRequest::new("gpt-4o-mini", vec![ChatMessage::user(format!("A recipe for {}", payload.dish))]);
    Ok(io.openai.structured::<Recipe>("recipe", request).await?.value)
}

fn quick_retries() -> RetryPolicy {
    RetryPolicy::DEFAULT.with_delays(Duration::from_millis(1), Duration::from_millis(5)).without_jitter()
}

#[tokio::test]
async fn a_job_waits_out_the_rate_limit_and_gets_the_typed_value() {
    let fake = FakeOpenAi::start().await;
    fake.reply(
        Reply::error(StatusCode::TOO_MANY_REQUESTS, "Rate limit reached", "tokens", Some("rate_limit_exceeded"))
            .header("retry-after-ms", "400"),
    );
    fake.reply(Reply::content(r#"{"name":"Ratatouille","minutes":60,"note":"summer"}"#));
    let started = Instant::now();
    let run = JobTest::new(PlanDishJob)
        .connector(openai(&fake))
        .retry_policy(quick_retries())
        .run(DishNamed { dish: "ratatouille".into() })
        .await
        .unwrap();
    assert_eq!(run.status(), RunStatus::Succeeded, "{:?}", run.error());
    assert!(started.elapsed() >= Duration::from_millis(400), "waited {:?}", started.elapsed());
    assert_eq!(run.output::<Recipe>().note.as_deref(), Some("summer"));
    let step = &run.steps()[0];
    assert_eq!(step.attempts, 2);
    assert_eq!(step.output.as_ref().unwrap()["usage"]["total_tokens"], 29, "the usage is in the step's output");
}

#[tokio::test]
async fn a_refusal_fails_the_job_after_one_attempt() {
    let fake = FakeOpenAi::start().await;
    fake.reply(Reply::refusal("I can't assist with that."));
    let run = JobTest::new(PlanDishJob)
        .connector(openai(&fake))
        .retry_policy(quick_retries())
        .run(DishNamed { dish: "something odd".into() })
        .await
        .unwrap();
    assert_eq!(run.status(), RunStatus::Failed);
    assert!(run.error().unwrap().contains("refused"), "{:?}", run.error());
    assert_eq!(run.steps()[0].attempts, 1);
    assert_eq!(fake.received().len(), 1, "not retried");
}

// The runtime's request helper sends the requests: the step's idempotency key, the instance's
// rate limit.

#[tokio::test]
async fn a_steps_post_carries_its_idempotency_key_and_a_read_none() {
    let fake = FakeOpenAi::start().await;
    fake.reply(Reply::content(r#"{"name":"Pho","minutes":180,"note":null}"#));
    let openai = openai(&fake);
    let run = JobTest::new(PlanDishJob)
        .connector(openai.clone())
        .retry_policy(quick_retries())
        .run(DishNamed { dish: "pho".into() })
        .await
        .unwrap();
    assert_eq!(run.status(), RunStatus::Succeeded, "{:?}", run.error());
    let sent = &fake.received()[0];
    assert_eq!(sent.headers["idempotency-key"], format!("{}:recipe", run.run().id).as_str());
    assert_eq!(sent.headers["authorization"], format!("Bearer {API_KEY}").as_str(), "the connector's auth");
    openai.check().await.unwrap();
    assert!(fake.received()[1].headers.get("idempotency-key").is_none(), "a GET carries no key");
}

#[tokio::test]
async fn the_instances_rate_limit_spaces_the_requests() {
    let fake = FakeOpenAi::start().await;
    let limit = RateLimit { per_second: Some(10), burst: Some(1), concurrency: None };
    let openai =
        Integration::<OpenAi>::with_rate_limit(OpenAiConfig::new(Secret::new(API_KEY)).base_url(&fake.base_url), limit);
    let started = Instant::now();
    for _ in 0..4 {
        openai.call(OpenAi::CREATE_CHAT_COMPLETION, hello()).await.unwrap();
    }
    // One at once, then one every 100 ms.
    assert!(started.elapsed() >= Duration::from_millis(290), "{:?}", started.elapsed());
    assert_eq!(fake.received().len(), 4);
}

#[tokio::test]
async fn the_organization_and_project_are_sent_as_headers() {
    let fake = FakeOpenAi::start().await;
    let mut config = OpenAiConfig::new(Secret::new(API_KEY)).base_url(&fake.base_url);
    config.organization = Some("org-abc123".into());
    config.project = Some("proj_xyz".into());
    OpenAi::init(config).call(OpenAi::CREATE_CHAT_COMPLETION, hello()).await.unwrap();
    let sent = &fake.received()[0];
    assert_eq!(sent.headers["openai-organization"], "org-abc123");
    assert_eq!(sent.headers["openai-project"], "proj_xyz");
}
