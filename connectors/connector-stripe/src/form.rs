//! Stripe's form encoding: what a typed input becomes on the wire, with nested keys spelt out.
//!
//! Objects nest with brackets (`metadata[order]=6735`, `automatic_payment_methods[enabled]=true`),
//! lists of plain values repeat with `[]` (`expand[]=customer&expand[]=latest_charge`), lists of
//! objects are indexed (`items[0][price]=..`), and absent values (`null`) are left out.
//!
//! ```
//! use std::collections::BTreeMap;
//! use connector_stripe::form::encode;
//!
//! #[derive(serde::Serialize)]
//! struct Input { amount: u64, metadata: BTreeMap<String, String>, expand: Vec<String>, note: Option<String> }
//!
//! let input = Input {
//!     amount: 2000,
//!     metadata: BTreeMap::from([("order".to_owned(), "6735".to_owned())]),
//!     expand: vec!["customer".into()],
//!     note: None,
//! };
//! let pairs = encode(&input).unwrap();
//! assert_eq!(pairs, [
//!     ("amount".to_owned(), "2000".to_owned()),
//!     ("expand[]".to_owned(), "customer".to_owned()),
//!     ("metadata[order]".to_owned(), "6735".to_owned()),
//! ]);
//! ```

use connector_runtime::ActionError;
use serde::Serialize;
use serde_json::Value;

/// The `(name, value)` pairs of `input`, as Stripe reads a form body or query: fields in name
/// order at every level (so the same input always encodes the same way), list items in order.
///
/// `input` must serialize as an object (a struct or a map); anything else is
/// [`ActionError::InvalidInput`].
pub fn encode<T: Serialize + ?Sized>(input: &T) -> Result<Vec<(String, String)>, ActionError> {
    let value = serde_json::to_value(input).map_err(|error| ActionError::InvalidInput(error.to_string()))?;
    let Value::Object(fields) = value else {
        return Err(ActionError::InvalidInput("a form body must be an object of fields".into()));
    };
    let mut pairs = Vec::new();
    for (name, value) in fields {
        push(&mut pairs, name, value);
    }
    Ok(pairs)
}

fn push(pairs: &mut Vec<(String, String)>, name: String, value: Value) {
    match value {
        Value::Null => {}
        Value::Bool(flag) => pairs.push((name, flag.to_string())),
        Value::Number(number) => pairs.push((name, number.to_string())),
        Value::String(text) => pairs.push((name, text)),
        Value::Object(fields) => {
            for (key, value) in fields {
                push(pairs, format!("{name}[{key}]"), value);
            }
        }
        Value::Array(items) => {
            let plain = items.iter().all(|item| !matches!(item, Value::Object(_) | Value::Array(_)));
            for (index, item) in items.into_iter().enumerate() {
                let key = if plain { format!("{name}[]") } else { format!("{name}[{index}]") };
                push(pairs, key, item);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(value: Value) -> Vec<(String, String)> {
        encode(&value).unwrap()
    }

    #[test]
    fn nested_objects_and_lists_get_bracketed_names() {
        let encoded = pairs(json!({
            "amount": 2000, "confirm": true, "currency": "usd", "description": null,
            "automatic_payment_methods": {"enabled": true},
            "payment_method_types": ["card", "link"],
            "items": [{"price": "price_1", "quantity": 2}, {"price": "price_2"}],
            "shipping": {"address": {"line1": "1 Main St", "city": "Springfield"}}
        }));
        let expected = [
            ("amount", "2000"),
            ("automatic_payment_methods[enabled]", "true"),
            ("confirm", "true"),
            ("currency", "usd"),
            ("items[0][price]", "price_1"),
            ("items[0][quantity]", "2"),
            ("items[1][price]", "price_2"),
            ("payment_method_types[]", "card"),
            ("payment_method_types[]", "link"),
            ("shipping[address][city]", "Springfield"),
            ("shipping[address][line1]", "1 Main St"),
        ];
        let expected: Vec<(String, String)> = expected.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(encoded, expected);
    }

    #[test]
    fn only_objects_make_a_form() {
        assert!(matches!(encode(&json!([1, 2])), Err(ActionError::InvalidInput(_))));
        assert!(matches!(encode("text"), Err(ActionError::InvalidInput(_))));
        assert!(pairs(json!({})).is_empty());
    }
}
