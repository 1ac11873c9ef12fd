//! Schema fingerprints: a short, stable name for the JSON Schema of a Rust type, stored with each
//! step's output so a resumed run notices when the output type changed under it.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use schemars::JsonSchema;
use serde_json::Value;

use super::manifest::schema_of;

/// A type's schema and its fingerprint.
#[derive(Debug)]
pub(crate) struct Fingerprinted {
    pub(crate) fingerprint: String,
    pub(crate) schema: Value,
}

/// The schema of `T` with its fingerprint, computed once per type per process.
pub(crate) fn of<T: JsonSchema + 'static>() -> Arc<Fingerprinted> {
    static CACHE: OnceLock<Mutex<HashMap<TypeId, Arc<Fingerprinted>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Mutex::default);
    let mut cache = cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    Arc::clone(cache.entry(TypeId::of::<T>()).or_insert_with(|| {
        let schema = schema_of::<T>();
        Arc::new(Fingerprinted { fingerprint: fingerprint(&schema), schema })
    }))
}

/// FNV-1a over the schema's compact JSON (serde_json keeps object keys sorted), as 16 hex digits.
fn fingerprint(schema: &Value) -> String {
    let text = schema.to_string();
    format!("{:016x}", super::key::fn_key(&text))
}

#[cfg(test)]
mod tests {
    #[derive(schemars::JsonSchema)]
    #[allow(dead_code)]
    struct A {
        id: String,
    }

    #[derive(schemars::JsonSchema)]
    #[allow(dead_code)]
    struct B {
        id: u64,
    }

    #[test]
    fn fingerprints_differ_by_schema_and_repeat_by_type() {
        assert_eq!(super::of::<A>().fingerprint, super::of::<A>().fingerprint);
        assert_ne!(super::of::<A>().fingerprint, super::of::<B>().fingerprint);
        assert_eq!(super::of::<A>().fingerprint.len(), 16);
    }
}
