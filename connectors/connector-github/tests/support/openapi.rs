//! GitHub's OpenAPI 3.0.3 description of api.github.com, loaded once per test binary: requests
//! matched to their operation by method and path template, their parameters and JSON bodies
//! validated against the operation's schemas (OpenAPI's `nullable` mapped to a type union,
//! `$ref`s to `#/components/..` resolved), and each operation's documented example answer.

use std::collections::{BTreeSet, HashMap};
use std::sync::LazyLock;

use serde_json::{Map, Value, json};

/// The description, parsed and indexed.
pub static SPEC: LazyLock<Spec> = LazyLock::new(Spec::load);

/// The npm path of the description (the plain one, whose `$ref`s are resolved here).
pub const DESCRIPTION: &str = "@octokit/openapi/generated/api.github.com.json";

pub struct Spec {
    doc: Value,
    operations: Vec<Operation>,
}

/// One operation: a method on a path template.
pub struct Operation {
    pub id: String,
    pub method: String,
    pub template: String,
    segments: Vec<Segment>,
    pointer: String,
}

enum Segment {
    Literal(String),
    Param(String),
}

/// What matching a request found.
pub struct Matched<'a> {
    pub operation: &'a Operation,
    pub path_params: HashMap<String, String>,
}

impl Spec {
    fn load() -> Spec {
        let doc = super::npm::json(DESCRIPTION);
        assert_eq!(doc["openapi"], "3.0.3", "the tests are written for OpenAPI 3.0.3");
        let mut operations = Vec::new();
        for (template, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("a path item") {
                let Some(id) = operation.get("operationId").and_then(Value::as_str) else { continue };
                let segments = template
                    .trim_start_matches('/')
                    .split('/')
                    .map(|segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                        Some(name) => Segment::Param(name.to_owned()),
                        None => Segment::Literal(segment.to_owned()),
                    })
                    .collect();
                operations.push(Operation {
                    id: id.to_owned(),
                    method: method.to_ascii_uppercase(),
                    template: template.clone(),
                    segments,
                    pointer: format!("/paths/{}/{method}", template.replace('~', "~0").replace('/', "~1")),
                });
            }
        }
        Spec { doc, operations }
    }

    /// The operation `method path` is, preferring the template with the most literal segments
    /// (`/repos/{owner}/{repo}/issues` over `/repos/{owner}/{repo}/{anything}`).
    pub fn find(&self, method: &str, path: &str) -> Option<Matched<'_>> {
        let parts: Vec<String> = path.trim_start_matches('/').split('/').map(percent_decode).collect();
        self.operations
            .iter()
            .filter(|operation| operation.method == method && operation.segments.len() == parts.len())
            .filter_map(|operation| {
                let mut params = HashMap::new();
                let mut literals = 0;
                for (segment, part) in operation.segments.iter().zip(&parts) {
                    match segment {
                        Segment::Literal(literal) if literal == part => literals += 1,
                        Segment::Literal(_) => return None,
                        Segment::Param(name) if !part.is_empty() => {
                            params.insert(name.clone(), part.clone());
                        }
                        Segment::Param(_) => return None,
                    }
                }
                Some((literals, Matched { operation, path_params: params }))
            })
            .max_by_key(|(literals, _)| *literals)
            .map(|(_, matched)| matched)
    }

    /// The operation's object in the description.
    pub fn operation(&self, operation: &Operation) -> &Value {
        self.doc.pointer(&operation.pointer).expect("the operation is in the description")
    }

    /// The operation with this id.
    pub fn by_id(&self, id: &str) -> &Operation {
        self.operations.iter().find(|operation| operation.id == id).unwrap_or_else(|| panic!("no operation {id}"))
    }

    /// `value`, or what its `$ref` (to `#/..` in the description) points at.
    pub fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let pointer = reference.strip_prefix('#').expect("a local $ref");
                self.resolve(
                    self.doc.pointer(pointer).unwrap_or_else(|| panic!("{reference} is not in the description")),
                )
            }
            None => value,
        }
    }

    /// Checks a request's parameters and body against the operation's schemas; each problem
    /// is one line.
    pub fn validate(&self, matched: &Matched<'_>, query: &[(String, String)], body: &[u8]) -> Result<(), Vec<String>> {
        let operation = self.operation(matched.operation);
        let mut problems = Vec::new();
        let parameters: Vec<&Value> = operation["parameters"]
            .as_array()
            .map(|parameters| parameters.iter().map(|parameter| self.resolve(parameter)).collect())
            .unwrap_or_default();
        for (name, _) in query {
            let known =
                parameters.iter().any(|parameter| parameter["in"] == "query" && parameter["name"] == name.as_str());
            if !known {
                problems.push(format!("unknown query parameter `{name}`"));
            }
        }
        for parameter in &parameters {
            let name = parameter["name"].as_str().unwrap_or_default();
            let value = match parameter["in"].as_str() {
                Some("path") => matched.path_params.get(name).cloned(),
                Some("query") => query.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone()),
                _ => continue,
            };
            let required = parameter["required"] == true || parameter["in"] == "path";
            let Some(value) = value else {
                if required {
                    problems
                        .push(format!("the {} parameter `{name}` is required", parameter["in"].as_str().unwrap_or("")));
                }
                continue;
            };
            let schema = &parameter["schema"];
            let typed = match schema["type"].as_str() {
                Some("integer") => value.parse::<i64>().map(Value::from).unwrap_or(Value::String(value)),
                Some("number") => value.parse::<f64>().map(Value::from).unwrap_or(Value::String(value)),
                Some("boolean") => value.parse::<bool>().map(Value::from).unwrap_or(Value::String(value)),
                _ => Value::String(value),
            };
            for problem in self.check(schema, &typed) {
                problems.push(format!("parameter `{name}`: {problem}"));
            }
        }
        let request_body = operation.get("requestBody").map(|body| self.resolve(body));
        match (request_body, body.is_empty()) {
            (None, false) => problems.push("this operation takes no body".into()),
            (Some(declared), true) if declared["required"] == true => problems.push("a body is required".into()),
            (Some(declared), false) => match serde_json::from_slice::<Value>(body) {
                Ok(instance) => {
                    let schema = &declared["content"]["application/json"]["schema"];
                    for problem in self.check(schema, &instance) {
                        problems.push(format!("body: {problem}"));
                    }
                }
                Err(error) => problems.push(format!("Problems parsing JSON: {error}")),
            },
            _ => {}
        }
        if problems.is_empty() { Ok(()) } else { Err(problems) }
    }

    /// Every way `instance` breaks `schema` (an OpenAPI schema object).
    pub fn check(&self, schema: &Value, instance: &Value) -> Vec<String> {
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .build(&self.self_contained(schema))
            .expect("the description's schema compiles");
        validator.iter_errors(instance).map(|error| format!("{error} (at `{}`)", error.instance_path())).collect()
    }

    /// `schema` as a JSON Schema (draft 4, which OpenAPI 3.0's schemas follow) carrying the
    /// components it refers to, so `#/components/schemas/..` resolves inside it.
    fn self_contained(&self, schema: &Value) -> Value {
        let mut names = BTreeSet::new();
        let mut pending = vec![schema];
        while let Some(next) = pending.pop() {
            collect_refs(next, &mut |name| {
                if names.insert(name.to_owned()) {
                    pending.push(&self.doc["components"]["schemas"][name]);
                }
            });
        }
        let components: Map<String, Value> = names
            .into_iter()
            .map(|name| (name.clone(), to_json_schema(&self.doc["components"]["schemas"][&name])))
            .collect();
        json!({ "allOf": [to_json_schema(schema)], "components": { "schemas": components } })
    }

    /// The operation's first documented success: its status, and its example body (if any).
    pub fn example(&self, operation: &Operation) -> (u16, Option<Value>) {
        let responses = self.operation(operation)["responses"].as_object().expect("responses");
        let (status, response) = responses
            .iter()
            .filter_map(|(status, response)| Some((status.parse::<u16>().ok()?, response)))
            .filter(|(status, _)| (200..300).contains(status))
            .min_by_key(|(status, _)| *status)
            .expect("a documented success");
        let response = self.resolve(response);
        let example = response["content"]["application/json"]["examples"]
            .as_object()
            .and_then(|examples| examples.values().next())
            .map(|example| self.resolve(example)["value"].clone());
        (status, example)
    }
}

fn collect_refs<'a>(value: &'a Value, found: &mut impl FnMut(&'a str)) {
    match value {
        Value::Object(map) => {
            if let Some(name) =
                map.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                found(name);
            }
            for (key, child) in map {
                if !matches!(key.as_str(), "example" | "examples" | "enum" | "default") {
                    collect_refs(child, found);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_refs(item, found)),
        _ => {}
    }
}

/// An OpenAPI 3.0 schema as JSON Schema: `nullable: true` becomes `null` in the type (and the
/// enum), or a union with `{"type": "null"}` for a schema without a `type`; `example` goes.
pub fn to_json_schema(schema: &Value) -> Value {
    let Value::Object(map) = schema else { return schema.clone() };
    let mut out = Map::new();
    for (key, value) in map {
        let converted = match key.as_str() {
            "nullable" | "example" | "examples" | "discriminator" | "xml" | "externalDocs" => continue,
            "enum" | "default" | "const" => value.clone(),
            "properties" | "patternProperties" | "definitions" => Value::Object(
                value
                    .as_object()
                    .map(|props| props.iter().map(|(k, v)| (k.clone(), to_json_schema(v))).collect())
                    .unwrap_or_default(),
            ),
            "items" | "additionalProperties" | "not" => to_json_schema(value),
            "allOf" | "anyOf" | "oneOf" => Value::Array(
                value.as_array().map(|items| items.iter().map(to_json_schema).collect()).unwrap_or_default(),
            ),
            _ => value.clone(),
        };
        out.insert(key.clone(), converted);
    }
    if map.get("nullable") != Some(&Value::Bool(true)) {
        return Value::Object(out);
    }
    match out.get("type").cloned() {
        Some(Value::String(kind)) => {
            out.insert("type".into(), json!([kind, "null"]));
            if let Some(Value::Array(values)) = out.get_mut("enum")
                && !values.contains(&Value::Null)
            {
                values.push(Value::Null);
            }
            Value::Object(out)
        }
        _ => json!({ "anyOf": [Value::Object(out), { "type": "null" }] }),
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(byte) =
                std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
