//! What the engine knows: the registered connector instances and jobs, type-erased.

use std::any::Any;
use std::collections::HashMap;

use futures::future::BoxFuture;
use serde_json::Value;

use crate::connector::{Connector, Integration};
use crate::error::JobError;
use crate::io::Io;
use crate::job::{Job, JobTrigger, TriggerRef};
use crate::manifest::{ConnectorManifest, JobManifest};
use crate::retry::RetryPolicy;

/// A registered connector instance.
pub(crate) struct IntegrationEntry {
    pub(crate) instance: Box<dyn Any + Send + Sync>,
    pub(crate) manifest: fn() -> ConnectorManifest,
}

/// A registered job, erased to JSON in and out.
pub(crate) struct JobEntry {
    pub(crate) id: &'static str,
    pub(crate) version: &'static str,
    pub(crate) trigger: TriggerRef,
    pub(crate) manifest: fn() -> JobManifest,
    pub(crate) retry: Option<RetryPolicy>,
    pub(crate) concurrency: Option<usize>,
    pub(crate) execute: for<'io> fn(Value, &'io Io) -> BoxFuture<'io, Result<Value, JobError>>,
}

impl JobEntry {
    pub(crate) fn of<J: Job>() -> Self {
        JobEntry {
            id: J::ID,
            version: J::VERSION,
            trigger: <J::Trigger as JobTrigger>::trigger_ref(),
            manifest: J::manifest,
            retry: J::RETRY,
            concurrency: J::CONCURRENCY,
            execute: execute::<J>,
        }
    }
}

fn execute<J: Job>(payload: Value, io: &Io) -> BoxFuture<'_, Result<Value, JobError>> {
    Box::pin(async move {
        let payload = serde_json::from_value(payload)
            .map_err(|error| format!("the payload does not fit job `{}`: {error}", J::ID))?;
        let output = J::run(payload, io).await?;
        Ok(serde_json::to_value(output)?)
    })
}

/// The registered connector instances (by connector id) and jobs.
#[derive(Default)]
pub(crate) struct Registry {
    pub(crate) integrations: HashMap<&'static str, IntegrationEntry>,
    pub(crate) jobs: Vec<JobEntry>,
}

impl Registry {
    pub(crate) fn integration<C: Connector>(&self) -> Option<&Integration<C>> {
        self.integrations
            .get(C::ID)?
            .instance
            .downcast_ref::<Integration<C>>()
    }

    pub(crate) fn jobs_for<'a>(
        &'a self,
        trigger: &'a TriggerRef,
    ) -> impl Iterator<Item = &'a JobEntry> + 'a {
        self.jobs.iter().filter(move |job| &job.trigger == trigger)
    }

    pub(crate) fn job(&self, id: &str) -> Option<&JobEntry> {
        self.jobs.iter().find(|job| job.id == id)
    }
}
