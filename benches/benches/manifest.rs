//! (5) Manifest generation for a connector with 50 actions (each with its own input and output
//! types), against its baseline: the same 101 JSON Schemas made by schemars directly.
//!
//! `cargo bench -p connector-benches --bench manifest`

use connector_runtime::prelude::*;
use connector_runtime::store::MemoryStore;
use schemars::generate::SchemaSettings;
use serde_json::Value;

include!(concat!(env!("OUT_DIR"), "/wide.rs"));

fn main() {
    divan::main();
}

/// What the runtime's `schema_of` does, written out: a draft 2020-12 root schema. (Not inlined
/// into `raw_schemas`, as the runtime's is not inlined into the manifest.)
#[inline(never)]
fn schema_of<T: JsonSchema>() -> Value {
    SchemaSettings::draft2020_12().into_generator().into_root_schema_for::<T>().to_value()
}

/// The baseline: the 101 schemas (config, 50 inputs, 50 outputs), nothing else.
#[divan::bench]
fn schemars_only() -> Vec<Value> {
    raw_schemas()
}

/// `Connector::manifest()`: ids, names, descriptions and the 101 schemas.
#[divan::bench]
fn connector_manifest() -> connector_runtime::ConnectorManifest {
    <Wide as Connector>::manifest()
}

/// The manifest as the JSON document tools read.
#[divan::bench]
fn connector_manifest_json() -> String {
    serde_json::to_string(&<Wide as Connector>::manifest()).expect("JSON")
}

/// `Engine::manifest()` of an engine with the connector registered.
#[divan::bench]
fn engine_manifest(bencher: divan::Bencher) {
    let engine = Engine::builder()
        .store(MemoryStore::new())
        .connector(Wide::init(WideConfig { api_key: Secret::new("k"), base_url: "http://127.0.0.1:1".into() }))
        .build()
        .expect("the engine");
    bencher.bench_local(|| engine.manifest());
}
