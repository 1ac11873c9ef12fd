//! The connector's config takes what `simpleChat.init({ apiKey })` takes: an API key is enough.

use connector_runtime::store::{MemoryStore, RunFilter, RunStore};
use connector_runtime::webhook::SignatureError;
use connector_runtime::{ConfigError, DeliveryError, Engine, config_from_vars};
use simple_chat::SimpleChatConfig;
use simple_chat::connector::SimpleChat;
use simple_chat::jobs::AcknowledgeMessageJob;
use std::sync::Arc;

fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    |name| pairs.iter().find(|(key, _)| *key == name).map(|(_, value)| (*value).to_owned())
}

#[test]
fn an_api_key_is_enough() {
    let config: SimpleChatConfig = config_from_vars("SIMPLE_CHAT", vars(&[("SIMPLE_CHAT_API_KEY", "k-1")])).unwrap();
    assert_eq!(config.api_key.expose(), "k-1");
    assert_eq!(config.base_url, SimpleChatConfig::PUBLIC_BASE_URL);
    assert!(config.webhook_secret.is_none());
}

#[test]
fn the_api_key_is_required() {
    let error = config_from_vars::<SimpleChatConfig>("SIMPLE_CHAT", vars(&[])).unwrap_err();
    assert!(matches!(&error, ConfigError::Invalid { reason, .. } if reason.contains("apiKey")), "{error}");
}

#[test]
fn secrets_that_look_like_json_stay_text() {
    let pairs = [("SIMPLE_CHAT_API_KEY", "0123"), ("SIMPLE_CHAT_WEBHOOK_SECRET", "true")];
    let config: SimpleChatConfig = config_from_vars("SIMPLE_CHAT", vars(&pairs)).unwrap();
    assert_eq!(config.api_key.expose(), "0123");
    assert_eq!(config.webhook_secret.as_ref().map(|secret| secret.expose()), Some("true"));
}

#[tokio::test]
async fn without_a_webhook_secret_the_trigger_refuses_deliveries() {
    let store = Arc::new(MemoryStore::new());
    let config = SimpleChatConfig::new(connector_runtime::Secret::new("key")).base_url("http://127.0.0.1:9");
    let engine = Engine::builder()
        .shared_store(store.clone())
        .connector(SimpleChat::init(config))
        .job(AcknowledgeMessageJob)
        .build()
        .unwrap();
    let body = br#"{"channel":"general","sender":"ada","text":"hi","timestamp":"2026-11-26T10:00:00Z"}"#;
    let error = engine
        .accept_webhook("simple-chat", "message.received", &Default::default(), body.to_vec().into())
        .await
        .unwrap_err();
    let DeliveryError::Signature(SignatureError::NoSecretConfigured { field }) = &error else {
        panic!("expected a refusal naming the missing secret, got {error}");
    };
    assert_eq!(*field, "webhook_secret");
    assert!(error.to_string().contains("no webhook secret configured"), "{error}");
    assert!(store.list_runs(&RunFilter::default()).await.unwrap().is_empty(), "nothing was started");
}
