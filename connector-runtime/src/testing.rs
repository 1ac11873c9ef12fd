//! Testing jobs without their services and without a store on disk (feature `testing`).
//!
//! [`JobTest`] runs one job on an in-memory store, with chosen actions answered by closures
//! ([`JobTest::mock`]) and the others calling whatever the connector's config points at (a fake
//! service on loopback, say). Durable waits and token timeouts follow tokio's clock, so on a
//! paused runtime (`#[tokio::test(start_paused = true)]`) a day-long wait passes at once.
//!
//! ```
//! use connector_runtime::prelude::*;
//! use connector_runtime::testing::JobTest;
//!
//! # #[derive(Deserialize, JsonSchema)] struct Config {}
//! #[derive(Serialize, Deserialize, JsonSchema)]
//! struct Greet { name: String }
//! #[derive(Serialize, Deserialize, JsonSchema)]
//! struct Greeting { text: String }
//!
//! struct Greeter;
//! #[connector(id = "greeter", name = "Greeter", version = "1.0.0", config = Config)]
//! impl Greeter {
//!     #[action(id = "greet", name = "Greet")]
//!     async fn greet(_ctx: &ActionContext<Config>, input: Greet) -> Result<Greeting, ActionError> {
//!         unreachable!("the test answers instead of the service")
//!     }
//! }
//!
//! #[derive(Serialize, Deserialize, JsonSchema, Event)]
//! #[event(name = "user.joined")]
//! struct Joined { name: String }
//!
//! #[job(id = "welcome", name = "Welcome", version = "1.0.0", event = Joined, integrations(greeter = Greeter))]
//! async fn welcome(payload: Joined, io: WelcomeIo<'_>) -> Result<String, JobError> {
//!     io.wait_for("let-them-settle", std::time::Duration::from_secs(24 * 3600)).await?;
//!     Ok(io.greeter.greet("greet", Greet { name: payload.name }).await?.text)
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let run = JobTest::new(WelcomeJob)
//!     .connector(Greeter::init(Config {}))
//!     .mock(Greeter::GREET, |input| Ok(Greeting { text: format!("hello {}", input.name) }))
//!     .run(Joined { name: "ada".into() })
//!     .await
//!     .unwrap();
//! assert_eq!(run.status(), RunStatus::Succeeded);
//! assert_eq!(run.output::<String>(), "hello ada");
//! assert_eq!(run.calls(Greeter::GREET)[0].name, "ada");
//! # }
//! ```

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::connector::{Action, Connector, Integration};
use crate::engine::{ConnectorMembers, Engine, EngineBuilder, EngineError, Job, JobTrigger};
use crate::model::{ActionError, RetryPolicy, Run, RunId, RunStatus, StepKind, StepRecord};
use crate::store::MemoryStore;

/// A test of job `J`: its connectors, the actions answered by the test, and the other jobs it
/// starts (`io.run_job`, `io.send_event`).
#[must_use = "call `.run(payload)` or `.start(payload)`"]
pub struct JobTest<J: Job> {
    builder: EngineBuilder,
    job: PhantomData<fn() -> J>,
}

impl<J: Job> JobTest<J> {
    /// A test of `job`, on an in-memory store, with tokio's clock.
    pub fn new(job: J) -> Self {
        JobTest { builder: Engine::builder().store(MemoryStore::new()).tokio_clock().job(job), job: PhantomData }
    }

    /// Registers a connector instance the job uses (its config may be a dummy when every action
    /// the job calls is mocked).
    pub fn connector<C: ConnectorMembers>(mut self, integration: Integration<C>) -> Self {
        self.builder = self.builder.connector(integration);
        self
    }

    /// Answers action `A` with `answer` instead of calling the service.
    pub fn mock<A: Action>(
        mut self,
        action: A,
        answer: impl Fn(A::Input) -> Result<A::Output, ActionError> + Send + Sync + 'static,
    ) -> Self {
        self.builder = self.builder.mock(action, answer);
        self
    }

    /// Registers another job, one this job starts.
    pub fn job<K: Job>(mut self, job: K) -> Self {
        self.builder = self.builder.job(job);
        self
    }

    /// The retry policy of the steps (say, fewer attempts and no delay, for failure tests).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.builder = self.builder.retry_policy(policy);
        self
    }

    /// Runs the job on `payload` to its end.
    pub async fn run(self, payload: <J::Trigger as JobTrigger>::Payload) -> Result<TestRun, EngineError> {
        self.start(payload).await?.finish().await
    }

    /// Starts the job on `payload`, for a test that acts while it runs (completes a token,
    /// cancels it).
    pub async fn start(self, payload: <J::Trigger as JobTrigger>::Payload) -> Result<TestHandle, EngineError> {
        let engine = self.builder.build()?;
        let payload = serde_json::to_value(&payload)
            .map_err(|error| EngineError::Payload { name: J::ID.to_owned(), message: error.to_string() })?;
        let trigger = <J::Trigger as JobTrigger>::trigger_ref();
        let id = RunId::new();
        engine.start_child(J::ID, id.clone(), trigger, payload, None).await?;
        Ok(TestHandle { engine, id })
    }
}

/// A job's run under test, still going.
#[derive(Debug)]
pub struct TestHandle {
    engine: Engine,
    id: RunId,
}

impl TestHandle {
    /// The run's id.
    pub fn id(&self) -> &RunId {
        &self.id
    }

    /// The engine the run executes on.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Completes the token the run waits for at step `key`, once it waits there.
    pub async fn complete_token(&self, key: &str, payload: impl Serialize) -> Result<(), EngineError> {
        let token = self.id.step_id(key);
        let payload = serde_json::to_value(payload)
            .map_err(|error| EngineError::Payload { name: token.clone(), message: error.to_string() })?;
        loop {
            match self.engine.complete_token(&token, payload.clone()).await {
                // Not there yet: the run has not reached the wait.
                Err(EngineError::TokenNotFound(_)) => tokio::task::yield_now().await,
                other => return other,
            }
        }
    }

    /// Cancels the run.
    pub async fn cancel(&self) -> Result<RunStatus, EngineError> {
        self.engine.cancel(&self.id).await
    }

    /// Waits for the run to finish.
    pub async fn finish(self) -> Result<TestRun, EngineError> {
        let run = self.engine.wait(&self.id).await?;
        Ok(TestRun { run })
    }
}

/// A finished run under test: its status, output and steps, and what it asked of each action.
#[derive(Debug, Clone)]
pub struct TestRun {
    run: Run,
}

impl TestRun {
    /// The run as recorded.
    pub fn run(&self) -> &Run {
        &self.run
    }

    /// How it ended.
    pub fn status(&self) -> RunStatus {
        self.run.status
    }

    /// Why it failed, if it did.
    pub fn error(&self) -> Option<&str> {
        self.run.error.as_deref()
    }

    /// The job's output, as `T`.
    ///
    /// # Panics
    ///
    /// If the run has no output (it did not succeed), or the output is not a `T`.
    pub fn output<T: DeserializeOwned>(&self) -> T {
        let output = self.run.output.clone().unwrap_or_else(|| panic!("the run has no output: {:?}", self.run.error));
        serde_json::from_value(output).unwrap_or_else(|error| panic!("the output is not that type: {error}"))
    }

    /// The run's steps, in the order they started.
    pub fn steps(&self) -> &[StepRecord] {
        &self.run.steps
    }

    /// The step keys, in the order they started.
    pub fn step_keys(&self) -> Vec<&str> {
        self.run.steps.iter().map(|step| step.key.as_str()).collect()
    }

    /// The inputs the run called action `A` with, in order.
    pub fn calls<A: Action>(&self, _action: A) -> Vec<A::Input> {
        let connector = <A::Connector as Connector>::ID;
        self.run
            .steps
            .iter()
            .filter(|step| matches!(&step.kind, StepKind::Action { connector: c, action } if c == connector && action == A::ID))
            .filter_map(|step| serde_json::from_value(step.input.clone()).ok())
            .collect()
    }
}
