//! [`Exit`]: what a command's exit code says happened, and [`CliError`], a failure with its code.

use std::fmt;
use std::process::ExitCode;

use serde_json::{Map, Value, json};

use crate::connector::CheckError;
use crate::engine::{CallError, DeliveryError, EngineError};
use crate::model::PayloadError;
use crate::store::StoreError;

/// What a command's exit code says happened. The codes are part of the CLI's contract: scripts
/// may rely on them.
///
/// | code | variant | when |
/// | --- | --- | --- |
/// | 0 | [`Exit::Ok`] | done: the run succeeded, the call answered, the credentials were accepted |
/// | 1 | [`Exit::Failed`] | the thing itself failed: a run failed, an action or a credential check failed |
/// | 2 | [`Exit::Usage`] | the command line is wrong (an unknown command or flag, a missing argument) |
/// | 3 | [`Exit::NotFound`] | no such run, connector, action, event or token |
/// | 4 | [`Exit::BadInput`] | the input was refused: JSON that does not parse or does not fit its type (the error names the field), an ambiguous id prefix, a run that cannot be resumed or cancelled, a token completed already |
/// | 5 | [`Exit::Unavailable`] | the app cannot work: its setup failed, the store cannot be opened or failed, the server cannot listen |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Exit {
    /// 0: done.
    Ok,
    /// 1: the thing itself failed (a run, an action, a credential check).
    Failed,
    /// 2: the command line is wrong.
    Usage,
    /// 3: no such run, connector, action, event or token.
    NotFound,
    /// 4: the input was refused.
    BadInput,
    /// 5: the app, its store or its server is not available.
    Unavailable,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failed => 1,
            Exit::Usage => 2,
            Exit::NotFound => 3,
            Exit::BadInput => 4,
            Exit::Unavailable => 5,
        }
    }

    /// The name `--json` errors carry as `"kind"`: `failed`, `usage`, `notFound`, `badInput`,
    /// `unavailable` (and `ok`).
    pub fn name(self) -> &'static str {
        match self {
            Exit::Ok => "ok",
            Exit::Failed => "failed",
            Exit::Usage => "usage",
            Exit::NotFound => "notFound",
            Exit::BadInput => "badInput",
            Exit::Unavailable => "unavailable",
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

/// The exit codes, for `--help`.
pub(super) const EXIT_CODES_HELP: &str = "\
Exit codes: 0 done; 1 the thing failed (a run, an action, a credential check); 2 usage error;
3 not found (run, connector, action, event, token); 4 input refused (JSON that does not fit, an
ambiguous id prefix, a run that cannot be resumed or cancelled, a token completed already);
5 unavailable (setup, store or server).";

/// A command that did not do what was asked: the message for people (on stderr), the exit code,
/// and details for `--json` (`{"error": {"kind", "message", ..details}}` on stdout).
#[derive(Debug, Clone)]
pub struct CliError {
    exit: Exit,
    message: String,
    details: Map<String, Value>,
}

impl CliError {
    /// A failure with this exit code and message.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        CliError { exit, message: message.into(), details: Map::new() }
    }

    /// Adds a field to the `--json` error document (a field path, candidate ids).
    pub fn with_detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    /// The exit code it ends the command with.
    pub fn exit(&self) -> Exit {
        self.exit
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The `--json` error document.
    pub(super) fn to_json(&self) -> Value {
        let mut error = Map::new();
        error.insert("kind".into(), json!(self.exit.name()));
        error.insert("code".into(), json!(self.exit.code()));
        error.insert("message".into(), json!(self.message));
        error.extend(self.details.clone());
        json!({ "error": error })
    }

    /// The input does not fit its type: the path of the first field that does not.
    pub(super) fn payload(context: &str, error: &PayloadError) -> Self {
        CliError::new(Exit::BadInput, format!("{context} does not fit: {error}"))
            .with_detail("path", error.path.clone())
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

impl From<StoreError> for CliError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::RunNotFound(_) => CliError::new(Exit::NotFound, error.to_string()),
            _ => CliError::new(Exit::Unavailable, error.to_string()),
        }
    }
}

impl From<EngineError> for CliError {
    fn from(error: EngineError) -> Self {
        if let EngineError::TokenPayload { error, .. } = &error {
            return CliError::payload("the token's payload", error);
        }
        let exit = match &error {
            EngineError::RunNotFound(_) | EngineError::TokenNotFound(_) | EngineError::JobNotRegistered(_) => {
                Exit::NotFound
            }
            EngineError::NotResumable { .. }
            | EngineError::NotCancellable { .. }
            | EngineError::TokenClosed { .. }
            | EngineError::Payload { .. } => Exit::BadInput,
            EngineError::Store(StoreError::RunNotFound(_)) => Exit::NotFound,
            // Registrations that do not fit together, a missing store, a failing store: the app
            // cannot work as built.
            _ => Exit::Unavailable,
        };
        CliError::new(exit, error.to_string())
    }
}

impl From<DeliveryError> for CliError {
    fn from(error: DeliveryError) -> Self {
        match error {
            DeliveryError::NotFound(message) => CliError::new(Exit::NotFound, message),
            DeliveryError::InvalidPayload(error) => CliError::payload("the payload", &error),
            DeliveryError::Engine(error) => error.into(),
            other => CliError::new(Exit::Failed, other.to_string()),
        }
    }
}

impl From<CallError> for CliError {
    fn from(error: CallError) -> Self {
        match error {
            CallError::NotFound(message) => CliError::new(Exit::NotFound, message),
            CallError::InvalidInput(error) => CliError::payload("the input", &error),
            other => CliError::new(Exit::Failed, other.to_string()),
        }
    }
}

impl From<CheckError> for CliError {
    fn from(error: CheckError) -> Self {
        let exit = match error {
            CheckError::UnknownConnector(_) => Exit::NotFound,
            _ => Exit::Failed,
        };
        CliError::new(exit, error.to_string())
    }
}
