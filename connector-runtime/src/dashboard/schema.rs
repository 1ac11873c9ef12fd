//! A JSON Schema (as schemars writes them for the manifest) shown as a person reads it: a table
//! of the fields, with their types, whether they are required, and their descriptions; nested
//! objects indented under their field. What it cannot read (a `oneOf` of shapes, say) it names
//! by its kind, and the schema itself stays one click away.

use maud::{Markup, html};
use serde_json::Value;

/// How deep nested objects are unfolded: deeper ones are named, not listed.
const MAX_DEPTH: usize = 3;

/// `schema` as a table of its fields (or one line for a schema that is not an object), with the
/// raw schema under a disclosure.
pub(super) fn readable(schema: &Value) -> Markup {
    let root = Root { schema };
    let resolved = root.resolve(schema);
    let mut rows = Vec::new();
    root.fields(resolved, 0, &mut rows);
    html! {
        @if rows.is_empty() { span { (root.kind(resolved)) } }
        @else {
            table.schema {
                thead { tr { th { "Field" } th { "Type" } th { "What it is" } } }
                tbody { @for row in &rows { tr {
                    td style={ "padding-left:" (0.6 + row.depth as f32 * 1.2) "rem" } {
                        code { (row.name) } @if row.required { " " span.muted title="required" { "*" } }
                    }
                    td { (row.kind) @if row.secret { " " span.muted { "(secret)" } } }
                    td { (row.description) }
                } } }
            }
        }
        details { summary { "JSON Schema" } pre { (super::pages::json(schema)) } }
    }
}

/// One field of the table.
struct Row {
    name: String,
    depth: usize,
    required: bool,
    kind: String,
    secret: bool,
    description: String,
}

/// The schema document, for resolving `$ref`s into its `$defs`.
struct Root<'a> {
    schema: &'a Value,
}

impl<'a> Root<'a> {
    /// `schema`, or what its local `$ref` points at (one hop per call; the cycle of a recursive
    /// type ends at `MAX_DEPTH`).
    fn resolve(&self, schema: &'a Value) -> &'a Value {
        let target = schema.get("$ref").and_then(Value::as_str).and_then(|pointer| pointer.strip_prefix('#'));
        match target.and_then(|pointer| self.schema.pointer(pointer)) {
            Some(target) => target,
            // `allOf: [{$ref}]` with a description beside it is how schemars documents a field
            // of a named type.
            None => match schema.get("allOf").and_then(Value::as_array).map(Vec::as_slice) {
                Some([only]) => self.resolve(only),
                _ => schema,
            },
        }
    }

    /// A schema's kind in a few words: `string`, `integer`, `list of string`, `one of "a", "b"`,
    /// `object`, or the name of the type a `$ref` points at.
    fn kind(&self, schema: &Value) -> String {
        let resolved = self.resolve(schema);
        if let Some(values) = resolved.get("enum").and_then(Value::as_array) {
            let values: Vec<String> = values.iter().map(Value::to_string).collect();
            return format!("one of {}", values.join(", "));
        }
        if let Some(value) = resolved.get("const") {
            return format!("always {value}");
        }
        if let Some(items) = resolved.get("items") {
            return format!("list of {}", self.kind(items));
        }
        for combinator in ["oneOf", "anyOf"] {
            if let Some(shapes) = resolved.get(combinator).and_then(Value::as_array) {
                let kinds: Vec<String> = shapes.iter().map(|shape| self.kind(shape)).collect();
                return kinds.join(" or ");
            }
        }
        match resolved.get("type") {
            Some(Value::String(kind)) => with_format(kind, resolved),
            Some(Value::Array(kinds)) => {
                let kinds: Vec<&str> = kinds.iter().filter_map(Value::as_str).filter(|kind| *kind != "null").collect();
                let optional = if kinds.len() == 1 { " (or null)" } else { "" };
                format!(
                    "{}{optional}",
                    kinds.iter().map(|kind| with_format(kind, resolved)).collect::<Vec<_>>().join(" or ")
                )
            }
            _ if resolved.get("properties").is_some() => "object".to_owned(),
            _ => "any JSON".to_owned(),
        }
    }

    /// The fields of object `schema` into `rows`, nested objects under their field.
    fn fields(&self, schema: &Value, depth: usize, rows: &mut Vec<Row>) {
        let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
            return;
        };
        let required: Vec<&str> =
            schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        for (name, field) in properties {
            let resolved = self.resolve(field);
            let description = field
                .get("description")
                .or_else(|| resolved.get("description"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let secret = field.get("writeOnly").or_else(|| resolved.get("writeOnly")) == Some(&Value::Bool(true));
            rows.push(Row {
                name: name.clone(),
                depth,
                required: required.contains(&name.as_str()),
                kind: self.kind(field),
                secret,
                description,
            });
            if depth + 1 < MAX_DEPTH {
                self.fields(resolved, depth + 1, rows);
            }
        }
    }
}

/// A type with its format when it has one: `string (date-time)`.
fn with_format(kind: &str, schema: &Value) -> String {
    match schema.get("format").and_then(Value::as_str) {
        Some(format) => format!("{kind} ({format})"),
        None => kind.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn fields_read_with_their_types_requirements_and_nesting() {
        let schema = json!({
            "type": "object",
            "required": ["channel", "to"],
            "properties": {
                "channel": { "type": "string", "description": "Where to post." },
                "count": { "type": ["integer", "null"], "format": "uint32" },
                "token": { "type": "string", "writeOnly": true },
                "to": { "description": "Who.", "allOf": [{ "$ref": "#/$defs/Person" }] },
                "tags": { "type": "array", "items": { "enum": ["a", "b"] } }
            },
            "$defs": { "Person": { "type": "object", "properties": { "name": { "type": "string" } } } }
        });
        let root = Root { schema: &schema };
        let mut rows = Vec::new();
        root.fields(&schema, 0, &mut rows);
        let shown: Vec<(String, usize, bool, String, bool, String)> = rows
            .into_iter()
            .map(|row| (row.name, row.depth, row.required, row.kind, row.secret, row.description))
            .collect();
        let row = |name: &str, depth, required, kind: &str, secret, description: &str| {
            (name.to_owned(), depth, required, kind.to_owned(), secret, description.to_owned())
        };
        assert_eq!(
            shown,
            [
                row("channel", 0, true, "string", false, "Where to post."),
                row("count", 0, false, "integer (uint32) (or null)", false, ""),
                row("tags", 0, false, "list of one of \"a\", \"b\"", false, ""),
                row("to", 0, true, "object", false, "Who."),
                row("name", 1, false, "string", false, ""),
                row("token", 0, false, "string", true, ""),
            ]
        );
    }
}
