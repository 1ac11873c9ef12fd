//! [`Io`]: what a job's `io` derefs to. Every connector call goes through [`Io::call`], which makes
//! it a step of the run: keyed, recorded in the store, logged in the step's span.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::connector::{Action, Connector, Integration};
use crate::error::{ActionError, StepError};
use crate::logger::Logger;
use crate::registry::Registry;
use crate::run::{RunId, StepKind, StepRecord, StepStatus};
use crate::store::RunStore;

/// A run's access to the outside world. A job's generated `io` struct derefs to it, so
/// `io.logger()`, `io.run_id()` work beside the typed integrations (`io.chat.send_message(..)`).
pub struct Io {
    run_id: RunId,
    job_id: &'static str,
    store: Arc<dyn RunStore>,
    registry: Arc<Registry>,
    used_keys: Mutex<HashSet<String>>,
    logger: Logger,
}

impl Io {
    pub(crate) fn new(
        run_id: RunId,
        job_id: &'static str,
        store: Arc<dyn RunStore>,
        registry: Arc<Registry>,
    ) -> Self {
        Io {
            run_id,
            job_id,
            store,
            registry,
            used_keys: Mutex::default(),
            logger: Logger::new(job_id),
        }
    }

    /// The run's id.
    pub fn run_id(&self) -> &RunId {
        &self.run_id
    }

    /// The job's id.
    pub fn job_id(&self) -> &'static str {
        self.job_id
    }

    /// A logger whose lines carry the run and job (the seed's `io.logger`).
    pub fn logger(&self) -> &Logger {
        &self.logger
    }

    /// The typed client of connector `C`, for the job's integration `key`. Called by the `io`
    /// struct `#[job]` generates; the engine checked at start-up that the integration exists.
    pub fn client<C: Connector>(&self, key: &'static str) -> Result<C::Client<'_>, StepError> {
        let integration =
            self.registry
                .integration::<C>()
                .ok_or(StepError::MissingIntegration {
                    key,
                    connector: C::ID,
                })?;
        Ok(C::client(self, integration))
    }

    /// Calls action `A` as the step `key` of this run. The typed clients call this; call it
    /// directly only for an action you name by its marker type.
    pub async fn call<A: Action>(
        &self,
        integration: &Integration<A::Connector>,
        key: &str,
        input: A::Input,
    ) -> Result<A::Output, StepError> {
        self.claim_key(key)?;
        let connector = <A::Connector as Connector>::ID;
        let span = tracing::info_span!("step", step_key = %key, action = %format_args!("{connector}.{}", A::ID));
        self.run_action::<A>(integration, key, input)
            .instrument(span)
            .await
    }

    async fn run_action<A: Action>(
        &self,
        integration: &Integration<A::Connector>,
        key: &str,
        input: A::Input,
    ) -> Result<A::Output, StepError> {
        let connector = <A::Connector as Connector>::ID;
        if let Some(done) = self.store.step(&self.run_id, key).await? {
            if done.status == StepStatus::Succeeded {
                tracing::info!(
                    "step already succeeded in an earlier attempt of this run; reusing its output"
                );
                return decode(key, done.output.unwrap_or_default());
            }
        }

        let input = serde_json::to_value(&input).map_err(|e| serialization(key, "input", e))?;
        let mut step = StepRecord {
            key: key.to_owned(),
            kind: StepKind::Action {
                connector: connector.to_owned(),
                action: A::ID.to_owned(),
            },
            status: StepStatus::Running,
            input: input.clone(),
            output: None,
            error: None,
            attempts: 1,
            started_at: Utc::now(),
            finished_at: None,
        };
        self.store.save_step(&self.run_id, &step).await?;
        tracing::info!("step started");

        let ctx = integration.step_context(format!("{}:{key}", self.run_id), step.attempts);
        let result = match serde_json::from_value::<A::Input>(input) {
            Ok(input) => A::run(&ctx, input).await,
            Err(error) => Err(ActionError::InvalidInput(error.to_string())),
        };

        step.finished_at = Some(Utc::now());
        match result {
            Ok(output) => {
                let json =
                    serde_json::to_value(&output).map_err(|e| serialization(key, "output", e))?;
                step.status = StepStatus::Succeeded;
                step.output = Some(json);
                self.store.save_step(&self.run_id, &step).await?;
                tracing::info!("step succeeded");
                Ok(output)
            }
            Err(source) => {
                step.status = StepStatus::Failed;
                step.error = Some(source.to_string());
                self.store.save_step(&self.run_id, &step).await?;
                tracing::warn!(error = %source, "step failed");
                Err(StepError::Action {
                    key: key.to_owned(),
                    connector,
                    action: A::ID,
                    source,
                })
            }
        }
    }

    /// Reserves a step key for this execution: each key names one step.
    fn claim_key(&self, key: &str) -> Result<(), StepError> {
        if key.is_empty() {
            return Err(StepError::EmptyKey);
        }
        let mut used = self
            .used_keys
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !used.insert(key.to_owned()) {
            return Err(StepError::DuplicateKey {
                key: key.to_owned(),
            });
        }
        Ok(())
    }
}

impl std::fmt::Debug for Io {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Io")
            .field("run_id", &self.run_id)
            .field("job_id", &self.job_id)
            .finish_non_exhaustive()
    }
}

fn decode<T: DeserializeOwned>(key: &str, output: serde_json::Value) -> Result<T, StepError> {
    serde_json::from_value(output).map_err(|e| serialization(key, "stored output", e))
}

fn serialization(key: &str, what: &str, error: serde_json::Error) -> StepError {
    StepError::Serialization {
        key: key.to_owned(),
        message: format!("{what}: {error}"),
    }
}
