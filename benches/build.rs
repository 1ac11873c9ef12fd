//! Writes `wide.rs` into `OUT_DIR`: a connector with 50 actions written with the macros, each
//! with its own input and output types, for the manifest bench. `compile-time.sh` generates the
//! same connector (and the same written by hand) for the compile-time measurements.

use std::fmt::Write as _;

const ACTIONS: usize = 50;

fn main() {
    let mut out = String::new();
    out.push_str(
        "/// Config of the wide connector.
#[derive(Deserialize, JsonSchema)]
pub struct WideConfig {
    /// Sent as a bearer token.
    pub api_key: Secret,
    /// Where the API lives.
    pub base_url: String,
}

/// A connector with 50 actions.
pub struct Wide;
",
    );
    for i in 0..ACTIONS {
        write!(
            out,
            "
/// Input of action {i}.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct In{i} {{
    /// The channel.
    pub channel: String,
    /// The text.
    pub text: String,
    /// How many.
    pub count: u32,
    /// Tags.
    pub tags: Vec<String>,
    /// An optional note.
    pub note: Option<String>,
}}

/// Output of action {i}.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = \"camelCase\")]
pub struct Out{i} {{
    /// The new item's id.
    pub id: String,
    /// When it was created.
    pub created_at: String,
    /// How many.
    pub count: u32,
}}
"
        )
        .unwrap();
    }
    out.push_str(
        "\n#[connector(id = \"wide\", name = \"Wide\", version = \"1.0.0\", config = WideConfig)]\nimpl Wide {\n",
    );
    for i in 0..ACTIONS {
        write!(
            out,
            "    /// Action {i}: posts the input to `/a{i}`.
    #[action(id = \"action{i}\", name = \"Action {i}\")]
    pub async fn action_{i}(ctx: &ActionContext<WideConfig>, input: In{i}) -> Result<Out{i}, ActionError> {{
        let config = ctx.config();
        ctx.http().post(format!(\"{{}}/a{i}\", config.base_url)).bearer_auth(&config.api_key).json(&input).send_json().await
    }}
"
        )
        .unwrap();
    }
    out.push_str("}\n\n/// The schemas the manifest holds, made by schemars directly: the baseline.\npub fn raw_schemas() -> Vec<serde_json::Value> {\n    vec![\n        schema_of::<WideConfig>(),\n");
    for i in 0..ACTIONS {
        writeln!(out, "        schema_of::<In{i}>(),\n        schema_of::<Out{i}>(),").unwrap();
    }
    out.push_str("    ]\n}\n");

    let path = std::path::Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("wide.rs");
    std::fs::write(path, out).expect("writing wide.rs");
    println!("cargo::rerun-if-changed=build.rs");
}
