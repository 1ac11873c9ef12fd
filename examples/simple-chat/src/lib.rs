//! Simple Chat: a connector to a small chat HTTP API, the two jobs that use it, one job started
//! by its trigger, and the chat service itself (on loopback), as Trigger.dev's custom-connector
//! guide has them in TypeScript.

pub mod connector;
pub mod jobs;
pub mod service;

use connector_runtime::{Engine, EngineBuilder, Manifest};

pub use connector::{SimpleChat, SimpleChatConfig};

/// The engine of this example, to finish with a store and `.build()`: the Simple Chat connector
/// with `config` and all three jobs.
pub fn engine(config: SimpleChatConfig) -> EngineBuilder {
    Engine::builder()
        .connector(SimpleChat::init(config))
        .job(jobs::SendChatMessageJob)
        .job(jobs::GetChatChannelInfoJob)
        .job(jobs::AcknowledgeMessageJob)
}

/// The manifest document of the example: `{"connectors": [...], "jobs": [...]}`.
pub fn manifest() -> Manifest {
    Manifest::new()
        .connector::<SimpleChat>()
        .job::<jobs::SendChatMessageJob>()
        .job::<jobs::GetChatChannelInfoJob>()
        .job::<jobs::AcknowledgeMessageJob>()
}
