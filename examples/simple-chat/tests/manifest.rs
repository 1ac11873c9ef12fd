//! The example's manifests: snapshots of the documents tools read, and a check that every
//! schema in them is valid JSON Schema that judges instances the way serde does.

use connector_runtime::{Connector, Job, Manifest, schema_of};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use simple_chat::SimpleChatConfig;
use simple_chat::connector::{GetChannelInfo, MessageReceived, SendMessage, SentMessage, SimpleChat};
use simple_chat::jobs::{AcknowledgeMessageJob, GetChatChannelInfoJob, SendChatMessageJob, SendMessageEvent};

#[test]
fn connector_manifest() {
    insta::assert_json_snapshot!("simple_chat_connector", SimpleChat::manifest());
}

#[test]
fn job_manifests() {
    insta::assert_json_snapshot!("send_chat_message_job", SendChatMessageJob::manifest());
    insta::assert_json_snapshot!("get_chat_channel_info_job", GetChatChannelInfoJob::manifest());
    insta::assert_json_snapshot!("acknowledge_message_job", AcknowledgeMessageJob::manifest());
}

#[test]
fn manifest_document_lists_everything_once() {
    let document = serde_json::to_value(simple_chat::manifest()).unwrap();
    let connectors: Vec<&str> =
        document["connectors"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    let jobs: Vec<&str> = document["jobs"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap()).collect();
    assert_eq!(connectors, ["simple-chat"]);
    assert_eq!(jobs, ["send-chat-message", "get-chat-channel-info", "acknowledge-message"]);
    let back: Manifest = serde_json::from_value(document).unwrap();
    assert_eq!(back, simple_chat::manifest(), "the manifest reads back as it was written");
}

#[test]
fn secret_fields_are_write_only() {
    let manifest = SimpleChat::manifest();
    assert_eq!(manifest.config["properties"]["apiKey"]["writeOnly"], json!(true));
    assert_eq!(manifest.config["properties"]["webhookSecret"]["writeOnly"], json!(true));
    assert_eq!(manifest.config["properties"]["baseUrl"].get("writeOnly"), None);
}

#[test]
fn doc_comments_become_descriptions() {
    let manifest = SimpleChat::manifest();
    assert_eq!(manifest.description.as_deref(), Some("Talks to the Simple Chat HTTP API with the configured API key."));
    let send = manifest.actions.iter().find(|a| a.id == "sendMessage").unwrap();
    assert_eq!(send.description.as_deref(), Some("Posts a message to a channel."));
    assert_eq!(send.input["properties"]["channel"]["description"], json!("The channel to post in, like `general`."));
}

/// Every schema the example publishes.
fn all_schemas() -> Vec<(String, Value)> {
    let document = serde_json::to_value(simple_chat::manifest()).unwrap();
    let mut schemas = Vec::new();
    for connector in document["connectors"].as_array().unwrap() {
        let id = connector["id"].as_str().unwrap();
        schemas.push((format!("{id} config"), connector["config"].clone()));
        for action in connector["actions"].as_array().unwrap() {
            for part in ["input", "output"] {
                schemas.push((format!("{id}.{} {part}", action["id"]), action[part].clone()));
            }
        }
        for trigger in connector["triggers"].as_array().unwrap() {
            for part in ["payload", "output"] {
                schemas.push((format!("{id}.{} {part}", trigger["id"]), trigger[part].clone()));
            }
        }
    }
    for job in document["jobs"].as_array().unwrap() {
        schemas.push((format!("job {} payload", job["id"]), job["payload"].clone()));
    }
    schemas
}

#[test]
fn every_schema_is_valid_draft_2020_12() {
    let schemas = all_schemas();
    assert!(schemas.len() >= 10, "expected every config, input, output and payload, got {}", schemas.len());
    for (name, schema) in schemas {
        assert_eq!(schema["$schema"], json!("https://json-schema.org/draft/2020-12/schema"), "{name}");
        if let Err(error) = jsonschema::meta::validate(&schema) {
            panic!("{name} is not a valid JSON Schema: {error}");
        }
    }
}

/// Asserts that the schema of `T` and serde agree on each instance.
fn agree<T: DeserializeOwned + schemars::JsonSchema>(instances: &[(Value, bool)]) {
    let schema = schema_of::<T>();
    let validator = jsonschema::options().should_validate_formats(true).build(&schema).unwrap();
    for (instance, expected) in instances {
        let by_serde = serde_json::from_value::<T>(instance.clone()).is_ok();
        let by_schema = validator.is_valid(instance);
        assert_eq!(by_serde, *expected, "serde on {instance}");
        assert_eq!(by_schema, *expected, "schema on {instance}");
    }
}

#[test]
fn schemas_accept_and_reject_what_serde_does() {
    agree::<SendMessage>(&[
        (json!({"channel": "general", "message": "hi"}), true),
        (json!({"channel": "general"}), false),
        (json!({"channel": 7, "message": "hi"}), false),
        (json!("general"), false),
    ]);
    agree::<GetChannelInfo>(&[(json!({"channelId": "general"}), true), (json!({"channel_id": "general"}), false)]);
    agree::<SentMessage>(&[
        (json!({"messageId": "msg_1", "channel": "general", "timestamp": "2026-11-26T10:00:00Z"}), true),
        (json!({"messageId": "msg_1", "channel": "general", "timestamp": "yesterday"}), false),
    ]);
    agree::<MessageReceived>(&[
        (json!({"channel": "c", "sender": "s", "text": "t", "timestamp": "2026-11-26T10:00:00+01:00"}), true),
        (json!({"channel": "c", "sender": "s", "timestamp": "2026-11-26T10:00:00Z"}), false),
    ]);
    agree::<SendMessageEvent>(&[(json!({"channel": "c", "message": "m"}), true), (json!({"message": "m"}), false)]);
    agree::<SimpleChatConfig>(&[
        (json!({"apiKey": "k", "baseUrl": "http://127.0.0.1:1", "webhookSecret": "w"}), true),
        (json!({"baseUrl": "http://127.0.0.1:1", "webhookSecret": "w"}), false),
        (json!({"apiKey": 5, "baseUrl": "http://127.0.0.1:1", "webhookSecret": "w"}), false),
    ]);
}

#[test]
fn connector_identity_comes_from_the_attribute() {
    assert_eq!(<SimpleChat as Connector>::ID, "simple-chat");
    assert_eq!(<SimpleChat as Connector>::VERSION, "1.0.0");
    assert_eq!(SendChatMessageJob::manifest().integrations[0].key, "chat");
}
