//! An OpenAI connector for typed-connectors: chat completions, embeddings, and structured output
//! typed by a Rust type, with the API key on every request, the token usage in every step's
//! output, and OpenAI's rate-limit answers (`429` with `retry-after-ms`) waited out. Requests go
//! through the runtime's request helper: an instance's rate limit
//! ([`Integration::with_rate_limit`](connector_runtime::Integration::with_rate_limit)) and the
//! step's `Idempotency-Key` apply to them.
//!
//! ```no_run
//! use connector_openai::{ChatMessage, ChatRequest, OpenAi, OpenAiConfig};
//! use connector_runtime::prelude::*;
//!
//! /// What the model must answer: its schema is sent as the response format.
//! #[derive(Debug, Serialize, Deserialize, JsonSchema)]
//! struct Triage {
//!     /// `bug`, `feature` or `question`.
//!     kind: String,
//!     /// How urgent, 1 (least) to 5.
//!     urgency: u8,
//! }
//!
//! #[derive(Serialize, Deserialize, JsonSchema, Event)]
//! #[event(name = "ticket.filed")]
//! struct TicketFiled { text: String }
//!
//! #[job(id = "triage-ticket", name = "Triage a ticket", version = "1.0.0", event = TicketFiled,
//!       integrations(openai = OpenAi))]
//! async fn triage_ticket(ticket: TicketFiled, io: TriageTicketIo<'_>) -> Result<u8, JobError> {
//!     let request = ChatRequest::new("gpt-4o-mini", vec![
//!         ChatMessage::system("Classify the support ticket."),
//!         ChatMessage::user(ticket.text),
//!     ]);
//!     let triage = io.openai.structured::<Triage>("triage", request).await?;
//!     io.logger().info(format!("{} tokens", triage.usage.total_tokens));
//!     Ok(triage.value.urgency)
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = OpenAiConfig::new(Secret::new(std::env::var("OPENAI_API_KEY")?));
//! let engine = Engine::builder().connector(OpenAi::init(config)).job(TriageTicketJob).build()?;
//! engine.send(TicketFiled { text: "The export button does nothing".into() }).await?;
//! # Ok(()) }
//! ```
//!
//! Failures are classified for the engine's retries: a 429 is a rate limit with OpenAI's wait
//! (`retry-after-ms`, else `retry-after`), except an exhausted quota (`insufficient_quota`),
//! which is not retried; 401/403 are credentials; 408, 409 and 5xx are transient; a refusal, or
//! a structured answer that does not fit the schema, fails the step without a retry.

#![warn(missing_docs)]

mod http;
mod structured;
mod types;

use connector_runtime::prelude::*;
use connector_runtime::{Action, StepError};
use reqwest::Method;
use serde::de::DeserializeOwned;

pub use http::{classify, retry_after};
pub use structured::strict_schema;
pub use types::{
    AssistantMessage, ChatCompletion, ChatMessage, ChatRequest, Choice, Embedding, Embeddings, EmbeddingsRequest, Role,
    Structured, StructuredOutput, StructuredRequest, Usage,
};

/// Config of the OpenAI connector.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OpenAiConfig {
    /// The API key (`sk-..`), sent as a bearer token.
    pub api_key: Secret,
    /// Where the API lives (default: `https://api.openai.com/v1`).
    #[serde(default = "OpenAiConfig::public_base_url")]
    pub base_url: String,
    /// The organization to bill (`OpenAI-Organization`), when the key belongs to several.
    #[serde(default)]
    pub organization: Option<String>,
    /// The project to bill (`OpenAI-Project`), when the key belongs to several.
    #[serde(default)]
    pub project: Option<String>,
}

impl OpenAiConfig {
    /// Where the public OpenAI API lives.
    pub const PUBLIC_BASE_URL: &str = "https://api.openai.com/v1";

    /// A config with this API key, for the public API.
    pub fn new(api_key: Secret) -> Self {
        OpenAiConfig { api_key, base_url: Self::public_base_url(), organization: None, project: None }
    }

    /// This config, for the API at `base_url` (a proxy, or a fake in tests).
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    fn public_base_url() -> String {
        Self::PUBLIC_BASE_URL.to_owned()
    }
}

/// The OpenAI API.
pub struct OpenAi;

/// A model of the list `GET /models` answers (the credential check reads it).
#[derive(Deserialize)]
struct ModelList {
    #[allow(dead_code)]
    data: Vec<serde_json::Value>,
}

/// Chat completions, embeddings and structured output from OpenAI's models, with the
/// configured API key.
#[connector(
    id = "openai",
    name = "OpenAI",
    version = "0.1.0",
    config = OpenAiConfig,
    auth = Self::auth,
    check = Self::check
)]
impl OpenAi {
    /// Every request carries the API key as a bearer token.
    fn auth(config: &OpenAiConfig) -> Auth {
        Auth::Bearer(config.api_key.clone())
    }

    /// Lists the models the key may use: a cheap authenticated read.
    async fn check(ctx: &ActionContext<OpenAiConfig>) -> Result<(), ActionError> {
        http::send::<ModelList>(ctx, Method::GET, "/models", None).await.map(drop)
    }

    /// Answers a conversation (`POST /chat/completions`); the output carries the token usage.
    #[action(id = "createChatCompletion", name = "Create Chat Completion")]
    pub async fn create_chat_completion(
        ctx: &ActionContext<OpenAiConfig>,
        input: ChatRequest,
    ) -> Result<ChatCompletion, ActionError> {
        let body = serde_json::to_value(&input).map_err(|error| ActionError::InvalidInput(error.to_string()))?;
        let completion: ChatCompletion = http::send(ctx, Method::POST, "/chat/completions", Some(&body)).await?;
        log_usage(ctx, &completion.model, completion.usage);
        Ok(completion)
    }

    /// Embeds texts as vectors (`POST /embeddings`), one per text, in order.
    #[action(id = "createEmbeddings", name = "Create Embeddings")]
    pub async fn create_embeddings(
        ctx: &ActionContext<OpenAiConfig>,
        input: EmbeddingsRequest,
    ) -> Result<Embeddings, ActionError> {
        let mut body = serde_json::to_value(&input).map_err(|error| ActionError::InvalidInput(error.to_string()))?;
        body["encoding_format"] = "float".into();
        let embeddings: Embeddings = http::send(ctx, Method::POST, "/embeddings", Some(&body)).await?;
        if embeddings.data.len() != input.input.len() {
            return Err(ActionError::InvalidOutput(format!(
                "{} texts were sent and {} vectors came back",
                input.input.len(),
                embeddings.data.len()
            )));
        }
        log_usage(ctx, &embeddings.model, embeddings.usage);
        Ok(embeddings)
    }

    /// Answers a conversation with JSON that fits a schema (`response_format` `json_schema`,
    /// `strict: true`). The answer is checked against the schema; a refusal, an answer cut
    /// short or one that does not fit fails the step, without a retry. Jobs use it through
    /// [`OpenAiClient::structured`], which takes the schema from a Rust type and parses the
    /// answer into it.
    #[action(id = "createStructuredOutput", name = "Create Structured Output")]
    pub async fn create_structured_output(
        ctx: &ActionContext<OpenAiConfig>,
        input: StructuredRequest,
    ) -> Result<StructuredOutput, ActionError> {
        let completion: ChatCompletion =
            http::send(ctx, Method::POST, "/chat/completions", Some(&input.body())).await?;
        log_usage(ctx, &completion.model, completion.usage);
        let Some(choice) = completion.choices.first() else {
            return Err(ActionError::InvalidOutput("OpenAI answered with no choice".into()));
        };
        if let Some(refusal) = &choice.message.refusal {
            return Err(ActionError::permanent(format!("the model refused to answer: {refusal}")));
        }
        if choice.finish_reason.as_deref() == Some("length") {
            return Err(ActionError::InvalidOutput(
                "the answer was cut short at the token limit (`finish_reason: length`); raise `max_completion_tokens`"
                    .into(),
            ));
        }
        let Some(content) = &choice.message.content else {
            return Err(ActionError::InvalidOutput("the answer has no content".into()));
        };
        let value = structured::checked_answer(&input.schema, content)?;
        Ok(StructuredOutput { id: completion.id, model: completion.model, value, usage: completion.usage })
    }
}

fn log_usage(ctx: &ActionContext<OpenAiConfig>, model: &str, usage: Usage) {
    ctx.logger().info(format!(
        "{model}: {} tokens ({} prompt, {} completion)",
        usage.total_tokens, usage.prompt_tokens, usage.completion_tokens
    ));
}

/// The connector's id, for the errors of the typed helpers.
const OPENAI_ID: &str = <OpenAi as Connector>::ID;

/// The id of `createStructuredOutput`.
fn structured_id() -> &'static str {
    fn id<A: Action>(_action: A) -> &'static str {
        A::ID
    }
    id(OpenAi::CREATE_STRUCTURED_OUTPUT)
}

impl StructuredRequest {
    /// The structured form of `request`: its answer must be a `T`, whose schema (named after
    /// the type) is sent as the response format. See [`StructuredRequest::of`].
    pub fn from_chat<T: JsonSchema>(request: ChatRequest) -> Self {
        let name: String = T::schema_name()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
            .take(64)
            .collect();
        let mut structured = StructuredRequest::of::<T>(request.model, name, request.messages);
        structured.temperature = request.temperature;
        structured.max_completion_tokens = request.max_completion_tokens;
        structured
    }
}

impl OpenAiClient<'_> {
    /// Asks for an answer that is a `T` and parses it: `T`'s JSON Schema is sent as the
    /// response format (strict), and the answer comes back as a `T` with the token usage.
    ///
    /// Runs `createStructuredOutput` as the step `key`; a refusal or an answer that does not
    /// fit `T` fails the step without a retry.
    pub async fn structured<T: JsonSchema + DeserializeOwned>(
        &self,
        key: &str,
        request: ChatRequest,
    ) -> Result<Structured<T>, StepError> {
        let output = self.create_structured_output(key, StructuredRequest::from_chat::<T>(request)).await?;
        structured::parse_step(key, output)
    }
}
