//! The inputs and outputs of the OpenAI actions, as the API documents them (the fields a job
//! needs; unknown fields of an answer are ignored).

use connector_runtime::prelude::*;

/// Who wrote a message of a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions from the application (`developer` in newer models' terms).
    System,
    /// Instructions from the application, for models that take `developer` messages.
    Developer,
    /// The end user.
    User,
    /// The model.
    Assistant,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChatMessage {
    /// Who wrote it.
    pub role: Role,
    /// Its text.
    pub content: String,
}

impl ChatMessage {
    /// A `system` message.
    pub fn system(content: impl Into<String>) -> Self {
        ChatMessage { role: Role::System, content: content.into() }
    }

    /// A `developer` message.
    pub fn developer(content: impl Into<String>) -> Self {
        ChatMessage { role: Role::Developer, content: content.into() }
    }

    /// A `user` message.
    pub fn user(content: impl Into<String>) -> Self {
        ChatMessage { role: Role::User, content: content.into() }
    }

    /// An `assistant` message (an earlier answer of the model).
    pub fn assistant(content: impl Into<String>) -> Self {
        ChatMessage { role: Role::Assistant, content: content.into() }
    }
}

/// Input of `createChatCompletion`: a model and a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChatRequest {
    /// The model, like `gpt-4o-mini`.
    pub model: String,
    /// The conversation so far, oldest first.
    pub messages: Vec<ChatMessage>,
    /// Sampling temperature, 0 to 2 (the API's default when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// At most this many tokens in the answer, reasoning tokens included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    /// A seed, for answers as repeatable as the model allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// A stable id of the end user, which OpenAI uses to detect abuse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

impl ChatRequest {
    /// A request to `model` with these messages and the API's defaults for the rest.
    pub fn new(model: impl Into<String>, messages: Vec<ChatMessage>) -> Self {
        ChatRequest {
            model: model.into(),
            messages,
            temperature: None,
            max_completion_tokens: None,
            seed: None,
            user: None,
        }
    }

    /// This request with a sampling temperature.
    pub fn temperature(mut self, temperature: f64) -> Self {
        self.temperature = Some(temperature);
        self
    }

    /// This request with a cap on the answer's tokens.
    pub fn max_completion_tokens(mut self, tokens: u32) -> Self {
        self.max_completion_tokens = Some(tokens);
        self
    }
}

/// Tokens a request used, as OpenAI bills them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Usage {
    /// Tokens of the prompt.
    pub prompt_tokens: u64,
    /// Tokens of the answer (for embeddings: none).
    #[serde(default)]
    pub completion_tokens: u64,
    /// Both together.
    pub total_tokens: u64,
}

/// The answer's message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AssistantMessage {
    /// Always `assistant`.
    pub role: Role,
    /// The text of the answer; none when the model refused or called a tool.
    #[serde(default)]
    pub content: Option<String>,
    /// Why the model refused to answer, when it did.
    #[serde(default)]
    pub refusal: Option<String>,
}

/// One answer of a chat completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Choice {
    /// Its position among the answers.
    pub index: u32,
    /// The message.
    pub message: AssistantMessage,
    /// Why the model stopped: `stop`, `length` (the token cap), `content_filter`, `tool_calls`.
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// Output of `createChatCompletion`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChatCompletion {
    /// The completion's id, like `chatcmpl-..`.
    pub id: String,
    /// When it was created (Unix seconds).
    pub created: i64,
    /// The model that answered (the exact version).
    pub model: String,
    /// The answers (one unless more were asked for).
    pub choices: Vec<Choice>,
    /// Tokens used.
    pub usage: Usage,
    /// The backend configuration the model ran with, when OpenAI says.
    #[serde(default)]
    pub system_fingerprint: Option<String>,
}

impl ChatCompletion {
    /// The first answer's text, if it has one.
    pub fn text(&self) -> Option<&str> {
        self.choices.first()?.message.content.as_deref()
    }
}

/// Input of `createEmbeddings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EmbeddingsRequest {
    /// The model, like `text-embedding-3-small`.
    pub model: String,
    /// The texts to embed (one vector each, in order).
    pub input: Vec<String>,
    /// Fewer dimensions than the model's own (models `text-embedding-3` and later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
}

/// One text's vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Embedding {
    /// The position of its text in the input.
    pub index: u32,
    /// The vector.
    pub embedding: Vec<f32>,
}

/// Output of `createEmbeddings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Embeddings {
    /// The model that embedded them.
    pub model: String,
    /// One vector per input text, in the input's order.
    pub data: Vec<Embedding>,
    /// Tokens used.
    pub usage: Usage,
}

/// Input of `createStructuredOutput`: a conversation and the JSON Schema the answer must fit.
///
/// Build it from a Rust type with [`StructuredRequest::of`], which sends the type's schema; the
/// typed client's [`OpenAiClient::structured`](crate::OpenAiClient::structured) parses the
/// answer into the type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StructuredRequest {
    /// The model, like `gpt-4o-mini` (one that supports structured outputs).
    pub model: String,
    /// The conversation so far, oldest first.
    pub messages: Vec<ChatMessage>,
    /// The schema's name (`[a-zA-Z0-9_-]`, at most 64 characters), like `recipe`.
    pub name: String,
    /// The JSON Schema of the answer, in the subset OpenAI's strict mode accepts (every object
    /// closed, every property required; [`StructuredRequest::of`] makes it so).
    pub schema: serde_json::Value,
    /// Sampling temperature, 0 to 2 (the API's default when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// At most this many tokens in the answer, reasoning tokens included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
}

/// Output of `createStructuredOutput`: the answer, checked against the schema sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StructuredOutput {
    /// The completion's id.
    pub id: String,
    /// The model that answered.
    pub model: String,
    /// The answer, a JSON value that fits the request's schema (its type is the caller's: see
    /// [`StructuredOutput::parse`]).
    pub value: serde_json::Value,
    /// Tokens used.
    pub usage: Usage,
}

/// A structured answer parsed into the caller's type, with what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Structured<T> {
    /// The answer.
    pub value: T,
    /// The completion's id.
    pub id: String,
    /// The model that answered.
    pub model: String,
    /// Tokens used.
    pub usage: Usage,
}
