//! The connector's manifest: a snapshot of what tools read, with secrets write-only, every
//! schema valid JSON Schema, and doc comments as descriptions.

use connector_github::GitHub;
use connector_runtime::Connector;
use serde_json::json;

#[test]
fn connector_manifest() {
    insta::assert_json_snapshot!("github_connector", GitHub::manifest());
}

#[test]
fn credentials_are_write_only_and_the_shared_state_is_not_config() {
    let config = GitHub::manifest().config;
    for secret in ["token", "privateKey", "webhookSecret"] {
        assert_eq!(config["properties"][secret]["writeOnly"], json!(true), "{secret}");
    }
    assert_eq!(config["properties"].get("shared"), None);
    assert_eq!(config["properties"]["appId"].get("writeOnly"), None);
}

#[test]
fn members_and_their_schemas() {
    let manifest = GitHub::manifest();
    let actions: Vec<&str> = manifest.actions.iter().map(|action| action.id.as_str()).collect();
    assert_eq!(
        actions,
        ["getRepository", "listIssues", "createIssue", "createIssueComment", "addLabels", "createCheckRun"]
    );
    let triggers: Vec<&str> = manifest.triggers.iter().map(|trigger| trigger.id.as_str()).collect();
    assert_eq!(triggers, ["webhook"]);
    let schemas = manifest
        .actions
        .iter()
        .flat_map(|action| [&action.input, &action.output])
        .chain(manifest.triggers.iter().flat_map(|trigger| [&trigger.payload, &trigger.output]));
    for schema in schemas {
        if let Err(error) = jsonschema::meta::validate(schema) {
            panic!("an invalid schema: {error}");
        }
    }
    let event = &manifest.triggers[0].output;
    assert!(event.to_string().contains("\"issue_comment\""), "the job's payload names its events");
    assert!(manifest.actions.iter().all(|action| action.description.as_deref().is_some_and(|text| !text.is_empty())));
}

#[test]
fn config_from_the_environment() {
    let vars = std::collections::HashMap::from([
        ("GITHUB_APP_ID", "123456"),
        ("GITHUB_INSTALLATION_ID", "42000001"),
        ("GITHUB_PRIVATE_KEY", "-----BEGIN RSA PRIVATE KEY-----\\n..."),
        ("GITHUB_WEBHOOK_SECRET", "0123"),
    ]);
    let config: connector_github::GitHubConfig =
        connector_runtime::config_from_vars("GITHUB", |name| vars.get(name).map(|value| value.to_string())).unwrap();
    assert_eq!((config.app_id.as_deref(), config.installation_id), (Some("123456"), Some(42_000_001)));
    assert_eq!(config.webhook_secret.as_ref().map(|secret| secret.expose()), Some("0123"));
    assert_eq!(config.api_url, "https://api.github.com");
    assert!(config.token.is_none());
    assert!(!format!("{config:?}").contains("BEGIN"), "the key stays out of Debug");
}
