//! The connector's manifest: a snapshot of what tools read, with secrets write-only and every
//! schema valid JSON Schema.

use connector_openai::OpenAi;
use connector_runtime::Connector;
use serde_json::json;

#[test]
fn connector_manifest() {
    insta::assert_json_snapshot!("openai_connector", OpenAi::manifest());
}

#[test]
fn the_api_key_is_write_only_and_doc_comments_are_descriptions() {
    let manifest = OpenAi::manifest();
    assert_eq!(manifest.config["properties"]["apiKey"]["writeOnly"], json!(true));
    let ids: Vec<&str> = manifest.actions.iter().map(|action| action.id.as_str()).collect();
    assert_eq!(ids, ["createChatCompletion", "createEmbeddings", "createStructuredOutput"]);
    assert!(manifest.actions.iter().all(|action| action.description.as_deref().is_some_and(|text| !text.is_empty())));
    for action in &manifest.actions {
        for schema in [&action.input, &action.output] {
            if let Err(error) = jsonschema::meta::validate(schema) {
                panic!("{} has an invalid schema: {error}", action.id);
            }
        }
    }
}
