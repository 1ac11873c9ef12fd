//! The bounds a user's types must meet, each a trait with a message that names the derive to add
//! when a type falls short (rustc shows it on the user's own type).

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The bounds on a connector's config type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a connector config",
    label = "needs `Deserialize` and `JsonSchema`",
    note = "add `#[derive(serde::Deserialize, schemars::JsonSchema)]` to `{Self}`"
)]
pub trait ConnectorConfig: DeserializeOwned + JsonSchema + Send + Sync + 'static {}
impl<T: DeserializeOwned + JsonSchema + Send + Sync + 'static> ConnectorConfig for T {}

/// The bounds on an action's input type (also stored on the run, hence `Serialize`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an action input",
    label = "needs `Serialize`, `Deserialize` and `JsonSchema`",
    note = "add `#[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]` to `{Self}`"
)]
pub trait ActionInput: Serialize + DeserializeOwned + JsonSchema + Send + 'static {}
impl<T: Serialize + DeserializeOwned + JsonSchema + Send + 'static> ActionInput for T {}

/// The bounds on an action's output type (stored on the run and read back on resume).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an action output",
    label = "needs `Serialize`, `Deserialize` and `JsonSchema`",
    note = "add `#[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]` to `{Self}`"
)]
pub trait ActionOutput: Serialize + DeserializeOwned + JsonSchema + Send + 'static {}
impl<T: Serialize + DeserializeOwned + JsonSchema + Send + 'static> ActionOutput for T {}

/// The bounds on a payload: what a service sends a trigger, what a trigger hands a job, an event.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a payload",
    label = "needs `Serialize`, `Deserialize` and `JsonSchema`",
    note = "add `#[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]` to `{Self}`"
)]
pub trait Payload: Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static {}
impl<T: Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static> Payload for T {}

/// The bounds on a polling trigger's cursor: it is stored as JSON between polls.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a polling cursor",
    label = "needs `Serialize` and `Deserialize`",
    note = "add `#[derive(serde::Serialize, serde::Deserialize)]` to `{Self}`"
)]
pub trait PollCursor: Serialize + DeserializeOwned + Send + Sync + 'static {}
impl<T: Serialize + DeserializeOwned + Send + Sync + 'static> PollCursor for T {}
